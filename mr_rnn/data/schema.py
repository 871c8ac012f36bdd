"""What a data set looks like: learned by one MapReduce pass, kept in the checkpoint.

The describe pass turns each record into *facts* (small JSON-able counters),
sums them across mappers with ``merge_facts``, and ``schema_from_facts`` turns
the totals into a ``DataSchema``: the input kind and size, the target kind and
size, the vocabulary or the normalisation statistics. When records disagree
(say, most steps have 3 features and a few have 4), the majority defines the
schema and the others are counted as bad records by the training pass.
"""
from dataclasses import asdict, dataclass

import numpy as np

from mr_rnn.config import ConfigError
from mr_rnn.counts import merge_counts
from mr_rnn.data.csv_series import header_names
from mr_rnn.data.documents import token_settings
from mr_rnn.data.vocab import UNK, top_of_counts, vocab_of


@dataclass(frozen=True)
class DataSchema:
    format: str                 # text | jsonl | csv
    task: str                   # lm | classify | regress
    token_input: bool
    input_size: int             # features per step, or vocabulary size
    per_step: bool              # a target at every step, or one at the last step
    output_size: int            # classes, or target dimensions
    vocab: tuple = None         # text: characters by id; id 0 is <unk>
    columns: tuple = None       # csv: input columns
    target_columns: tuple = None
    norm: dict = None           # csv: {column: [mean, std]}, applied to inputs and targets
    classes: tuple = None       # class names, sorted: index = class id; None: the ids are the names
    tokens: dict = None         # tokenizer settings ({"kind": "words", ...}, data/tokens.py);
                                # None: chars for text, ids for jsonl (token_settings)

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        for key in ('vocab', 'columns', 'target_columns', 'classes'):
            if d.get(key) is not None:
                d[key] = tuple(d[key])
        return cls(**d)

    def token_settings(self):
        """How text becomes this model's input, as a JSON-able dict: ``tokens``
        when the describe pass set it, else today's meaning of the format
        ({"kind": "chars"} for text, {"kind": "ids"} for jsonl token ids);
        None for a model of feature vectors (docs/design.md §3.4)."""
        if self.tokens is not None:
            return dict(self.tokens)
        if not self.token_input:
            return None
        return {'kind': 'chars'} if self.format == 'text' else {'kind': 'ids'}

    def class_name(self, class_id):
        """A class as a user names it: its name, or its id when there are no names."""
        return self.classes[class_id] if self.classes is not None else class_id

    @property
    def x_kind(self):
        if self.tokens is not None and self.tokens.get('kind') != 'ids':
            return 'text'
        return 'tokens' if self.token_input else f'dense:{self.input_size}'

    @property
    def y_kind(self):
        place = 'step' if self.per_step else 'last'
        if self.task == 'regress':
            return f'{place}:vec:{self.output_size}'
        return f'{place}:name' if self.classes is not None else f'{place}:class'


def merge_facts(a, b):
    """Add two fact dicts as counts add (counts.merge_counts), but for the
    facts that are no sums: the largest ids and the csv moments."""
    return merge_counts(a, b, FACT_RULES)


def _two_largest(a, b):
    """top_token, top_class: the largest ids of the two records that reach furthest"""
    return sorted(a + b, reverse=True)[:2]


def _merge_moments_per_header(a, b):
    """moments {header: per-column moments}: Chan's merge per header"""
    merged = dict(a)
    for header, moments in b.items():
        merged[header] = merge_moments(merged[header], moments) if header in merged else moments
    return merged


def merge_moments(a, b):
    """Chan et al.'s parallel merge of per-column (count, mean, M2) lists."""
    merged = []
    for (na, ma, m2a), (nb, mb, m2b) in zip(a, b):
        n = na + nb
        if n == 0:
            merged.append([0, 0.0, 0.0])
            continue
        delta = mb - ma
        merged.append([n, ma + delta * nb / n, m2a + m2b + delta * delta * na * nb / n])
    return merged


FACT_RULES = {'top_token': _two_largest, 'top_class': _two_largest,
              'moments': _merge_moments_per_header}


def _majority(counter, what):
    if not counter:
        raise ConfigError(f'no valid records to learn the {what} from: check the input paths and --format')
    return max(sorted(counter), key=lambda k: counter[k])


def schema_from_facts(facts, data_config, task=None):
    fmt = data_config.format
    if fmt == 'text':
        schema = _text_schema(facts, data_config)
    elif fmt == 'jsonl':
        schema = _jsonl_schema(facts, data_config)
    elif data_config.documents:
        schema = _jsonl_schema(facts, data_config, 'csv')
    else:
        schema = _csv_schema(facts, data_config)
    if task is not None and task != schema.task:
        raise ConfigError(f'--task {task} does not fit this {fmt} data, which is a {schema.task} '
                          f'task; leave --task out or use other data')
    return schema


def kept_tokens(facts, config, fmt):
    """[[token, count], ...] of the vocabulary: the describe job's ``vocab``
    (data/vocab.py), or the top of counts merged in memory (``chars``,
    ``tokens``: a test's or a bench's facts)."""
    if 'vocab' in facts:
        return facts['vocab']
    counts = facts.get('chars') or facts.get('tokens') or {}
    return top_of_counts(counts, config.vocab_size(config.token_kind(fmt)) - 1, config.min_count)


def class_names(facts):
    """The class names, sorted: the describe job's ``classes``, or names counted in memory."""
    if 'classes' in facts:
        return tuple(sorted(name for name, _ in facts['classes']))
    return tuple(sorted(facts.get('class_names', {})))


def _text_schema(facts, config):
    if not (facts.get('vocab') or facts.get('chars') or facts.get('tokens')):
        raise ConfigError('the text input has no characters: check the input paths')
    vocab = vocab_of(kept_tokens(facts, config, 'text'))
    return DataSchema('text', 'lm', True, len(vocab), True, len(vocab), vocab=vocab,
                      tokens=token_settings(config, 'text'))


def top_id(top):
    """The largest token or class id the model makes room for: the one at least
    two records reach (``top``: the largest ids of the two records that reach
    furthest). So one record cannot size the model: a stray id 131000 among ids
    below 4 leaves 4 ids, and the record holding it is a bad record."""
    return top[1] if len(top) > 1 else top[0]


def _jsonl_schema(facts, config, fmt='jsonl'):
    """The schema of jsonl records, or of a csv table of documents."""
    x_kind = _majority(facts.get('x_kind', {}), 'input shape')
    y_kind = _majority(facts.get('y_kind', {}), 'target shape')
    place, kind = y_kind.split(':')[:2]
    text = {}
    if x_kind == 'text':
        vocab = vocab_of(kept_tokens(facts, config, fmt))
        text = dict(vocab=vocab, tokens=token_settings(config, fmt))
    if kind == 'name':
        classes = class_names(facts)
        if not classes:
            raise ConfigError('no class names to learn: check the labels (--label-field, '
                              '--label-column)')
        return DataSchema(fmt, 'classify', True if text else x_kind == 'tokens',
                          len(text['vocab']) if text else _input_size(facts, x_kind),
                          place == 'step', len(classes), classes=classes, **text)
    token_input = x_kind in ('tokens', 'text')
    input_size = len(text['vocab']) if text else _input_size(facts, x_kind)
    if kind == 'class':
        task = 'lm' if token_input and place == 'step' else 'classify'
        output_size = top_id(facts['top_class']) + 1
        if x_kind == 'tokens' and task == 'lm':
            # a token language model predicts tokens: one vocabulary for both
            input_size = output_size = max(input_size, output_size)
    else:
        task, output_size = 'regress', int(y_kind.split(':')[2])
    return DataSchema(fmt, task, token_input, input_size, place == 'step', output_size, **text)


def _input_size(facts, x_kind):
    return top_id(facts['top_token']) + 1 if x_kind == 'tokens' else int(x_kind.split(':')[1])


def _csv_schema(facts, config):
    header = _majority(facts.get('header', {}), 'csv header')
    names = header_names(header)
    numeric = [n for n, stats in zip(names, facts['moments'].get(header, [])) if stats[0] > 0]
    columns = config.columns or tuple(numeric)
    targets = config.target or columns
    for col in set(columns) | set(targets):
        if col not in names:
            raise ConfigError(f'csv column {col!r} not in the header ({", ".join(names)}); '
                              'fix --columns/--target')
        if col not in numeric:
            raise ConfigError(f'csv column {col!r} is not numeric; choose numeric --columns/--target')
    moments = dict(zip(names, facts['moments'][header]))
    norm = {c: [moments[c][1], _std(moments[c])] for c in sorted(set(columns) | set(targets))}
    return DataSchema('csv', 'regress', False, len(columns), False,
                      len(targets) * config.horizon, columns=tuple(columns),
                      target_columns=tuple(targets), norm=norm)


def _std(moment):
    count, _, m2 = moment
    # a constant column would divide by zero: leave it unscaled
    return float(np.sqrt(m2 / max(count - 1, 1))) or 1.0
