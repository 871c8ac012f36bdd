"""The sections of the configuration tree below ``TrainConfig``: ``model``,
``data`` and ``optimizer``. Task side: Python 3.8+ (docs/design.md §7).
"""
from dataclasses import dataclass

from mr_rnn.config.fields import ConfigError, at_most, check_fields, flag_of, option
from mr_rnn.config.limits import LIMITS
from mr_rnn.kernels.network import POOLS
from mr_rnn.kernels.optim import SCHEDULES, STATE_NAMES

CELLS = ('rnn', 'lstm', 'gru')
TASKS = ('lm', 'classify', 'regress')
FORMATS = ('text', 'jsonl', 'csv')
WINDOW_STATES = ('carry', 'reset')
DTYPES = ('float32', 'float64')


@dataclass(frozen=True)
class ModelConfig:
    cell: str = option('lstm', 'the recurrent cell', choices=CELLS)
    hidden: int = option(128, 'hidden units per layer', metavar='N', at_least=1)
    layers: int = option(1, 'stacked recurrent layers', metavar='N', at_least=1)
    task: str = option(None, 'default: inferred from the data', choices=TASKS)
    dtype: str = option('float32', 'of the weights and the maths', choices=DTYPES)
    embed: int = option(0, 'token input: an embedding table of D columns before the first '
                        'recurrent layer, as torch.nn.Embedding (0: one-hot input)',
                        metavar='D', at_least=0, limit=LIMITS.steps)
    pool: str = option('last', 'classify and regress: the head reads the top layer\'s output at '
                       'a record\'s last step, or its mean or elementwise max over all steps',
                       choices=POOLS)

    def __post_init__(self):
        check_fields(self)


TOKENS = ('chars', 'words', 'ids')
KEEP = ('start', 'end')
CASES = ('keep', 'lower')
# --max-vocab when not given: characters as before words came; for words, the
# size bench/VOCAB.md measured: 96.8 % of held-out e-mail tokens covered, where
# 50,000 adds 0.8 points for 2.5 times the weights
MAX_VOCAB = {'chars': 256, 'words': 20000}


@dataclass(frozen=True)
class DataConfig:
    format: str = option(None, 'default: from the file extension', choices=FORMATS)
    tokens: str = option(None, 'how text becomes tokens: chars, words (and punctuation marks), '
                         'or ids (jsonl "x" lists of token ids); default: chars for --format '
                         'text, words for documents (a jsonl string, a csv --text-column)',
                         choices=TOKENS)
    case: str = option('keep', 'keep the case of text, or lowercase it before it becomes '
                       'tokens', choices=CASES)
    seq_len: int = option(64, 'text: tokens per window', metavar='N', at_least=1,
                          limit=LIMITS.steps)
    # why reset is the default: docs/design.md §3.1
    window_state: str = option('reset', 'text: each window of a line starts from the state where '
                               'the line\'s last window ended, the gradient cut at the boundary '
                               '(carry), or from zeros (reset)', choices=WINDOW_STATES)
    max_vocab: int = option(None, 'keep the N - 1 most frequent tokens, and <unk>; default: '
                            f'chars {MAX_VOCAB["chars"]}, words {MAX_VOCAB["words"]}',
                            metavar='N', at_least=2, limit=LIMITS.vocab)
    min_count: int = option(1, 'keep only tokens seen at least N times', metavar='N',
                            at_least=1)
    max_ids: int = option(LIMITS.vocab, 'jsonl: token and class ids must be below N; a record '
                          'past it is a bad record', metavar='N', at_least=2, limit=LIMITS.ids)
    max_len: int = option(0, 'jsonl and csv documents: keep at most N steps of a record (0: '
                          'all; past the limit of steps a record is bad)', metavar='N',
                          at_least=0, limit=LIMITS.steps)
    keep: str = option('start', '--max-len keeps the first N steps, or the last', choices=KEEP)
    text_field: str = option('x', 'jsonl: the field of the input (a string, or a list of '
                             'steps)', metavar='NAME')
    label_field: str = option('y', 'jsonl: the field of the target (a class name or id, a '
                              'number, a list)', metavar='NAME')
    text_column: str = option(None, 'csv: the column of documents; with it a csv file is a '
                              'table of documents, one per row (a quoted field may hold line '
                              'breaks), not a time series', metavar='NAME')
    label_column: str = option(None, 'csv documents: the column of the class name or number '
                               '(required with --text-column to train)', metavar='NAME')
    window: int = option(24, 'csv: input steps per window', metavar='N', at_least=1)
    horizon: int = option(1, 'csv: steps ahead to predict', metavar='N', at_least=1)
    columns: tuple = option((), 'csv: input columns (default: every numeric column)',
                            metavar='A,B')
    target: tuple = option((), 'csv: predicted columns (default: the input columns)',
                           metavar='A,B')

    def __post_init__(self):
        check_fields(self)
        at_most(self, 'window', self.window + self.horizon, LIMITS.steps,
                f'{flag_of(self, "window")} + {flag_of(self, "horizon")}')
        object.__setattr__(self, 'columns', tuple(self.columns))
        object.__setattr__(self, 'target', tuple(self.target))
        if self.format == 'text' and self.tokens == 'ids':
            raise ConfigError(f'{flag_of(self, "tokens")} ids reads jsonl lists of ids; text '
                              'lines are chars or words')
        if self.text_column is not None and self.columns:
            raise ConfigError(f'{flag_of(self, "text_column")} reads documents, '
                              f'{flag_of(self, "columns")} a time series: give one')

    @property
    def lowercase(self):
        return self.case == 'lower'

    @property
    def documents(self):
        """Whether csv files are tables of documents rather than series."""
        return self.text_column is not None

    def token_kind(self, fmt=None):
        """chars or words: how this data's text becomes tokens (--tokens, else
        chars for text lines and words for documents)."""
        if self.tokens in ('chars', 'words'):
            return self.tokens
        return 'chars' if (fmt or self.format) == 'text' else 'words'

    def vocab_size(self, kind):
        """--max-vocab, else its default for the kind of tokens."""
        return self.max_vocab or MAX_VOCAB[kind]


# the learning rate when --lr is not given, per optimizer
DEFAULT_LR = {'sgd': 0.1, 'momentum': 0.05, 'nesterov': 0.05, 'adagrad': 0.05,
              'rmsprop': 1e-3, 'adam': 2e-3, 'adamw': 2e-3}


@dataclass(frozen=True)
class OptimizerConfig:
    """The inner optimizer and its schedule: the settings kernels/optim.py's
    update and schedule functions read. The fields without ``option`` are
    torch.optim's constants, not flags."""
    name: str = option('adam', 'the inner optimizer', choices=tuple(STATE_NAMES),
                       name='optimizer')
    lr: float = option(None, 'learning rate; default: ' + ', '.join(
        f'{k} {v:g}' for k, v in DEFAULT_LR.items()), metavar='X', resumable=True, above=0)
    momentum: float = option(0.9, 'momentum and nesterov: μ', metavar='X')
    beta1: float = 0.9
    beta2: float = 0.999
    alpha: float = 0.99         # rmsprop
    eps: float = 1e-8           # adam, adamw, rmsprop; adagrad uses eps_adagrad
    eps_adagrad: float = 1e-10
    weight_decay: float = option(0.0, 'L2 (adamw: decoupled)', metavar='X')
    schedule: str = option('constant', "learning-rate schedule over the run's rounds",
                           choices=SCHEDULES)
    warmup: int = option(0, 'rounds of linear lr warm-up', metavar='N', at_least=0)
    step_size: int = option(10, 'step schedule: rounds per decay', metavar='N', at_least=1)
    gamma: float = option(0.5, 'step/exponential decay factor', metavar='X')
    min_lr: float = option(0.0, 'cosine schedule floor', metavar='X')
    clip_norm: float = option(0.0, 'clip the gradient to this global L2 norm (0: off)',
                              metavar='X', at_least=0)

    def __post_init__(self):
        check_fields(self)
        if self.lr is None:
            object.__setattr__(self, 'lr', DEFAULT_LR[self.name])
