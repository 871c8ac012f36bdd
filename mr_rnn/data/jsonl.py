"""jsonl: {"x": [...], "y": ..., "id": ...} per line (docs/design.md §3.1), and the
limits that keep a hostile line from costing more than a bad record (§8.1)."""
import json
from json.decoder import scanstring

import numpy as np

from mr_rnn.config import LIMITS, DataConfig
from mr_rnn.data.documents import (ClassIds, capped, document_facts, document_tokens,
                                   token_settings)
from mr_rnn.data.records import BadRecord, Sequence, decode_utf8
from mr_rnn.data.tokens import Encoder


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _finite(values, what):
    if not np.all(np.isfinite(values)):
        raise BadRecord(f'{what} holds NaN or infinite values')
    return values


def _floats(values, what):
    try:
        return _finite(np.array(values, np.float64), what)
    except OverflowError:       # an int past float64's range
        raise BadRecord(f'{what} holds a number too large for a float') from None


def _ids(values, what, limit):
    """Token or class ids: ints in [0, limit), checked before numpy sees them."""
    values = values if isinstance(values, list) else [values]
    if min(values) < 0:
        raise BadRecord(f'{what} must be >= 0')
    if max(values) >= limit:
        raise BadRecord(f'{what} {max(values)} is past the vocabulary limit of {limit} '
                        '(--max-ids)')
    return values


# A record is {"x": [[...], ...], ...}: three levels; an "id" may nest a little more.
MAX_DEPTH = 32
# float64 ends near 1.8e308: an integer of more digits is no number a model can use,
# and Python refuses to convert one of more than 4300 digits (a ValueError)
MAX_DIGITS = 310


def _bounded_int(text):
    if len(text) > MAX_DIGITS:
        raise BadRecord(f'holds a number of {len(text)} digits, too large for a float')
    return int(text)


def _too_deep(text):
    """Whether the JSON text nests past MAX_DEPTH, by counting brackets outside
    strings: checked before parsing, so a hostile record costs one linear scan
    and never a recursion."""
    if text.count('[') + text.count('{') <= MAX_DEPTH:
        return False
    outside, at = [], 0
    while True:                 # strings skipped with json's own (C) string scanner
        quote = text.find('"', at)
        outside.append(text[at:] if quote < 0 else text[at:quote])
        if quote < 0:
            break
        at = scanstring(text, quote + 1)[1]
    codes = np.frombuffer(''.join(outside).encode('utf-8'), np.uint8)
    steps = (np.isin(codes, (91, 123)).astype(np.int8)      # [ {
             - np.isin(codes, (93, 125)).astype(np.int8))    # ] }
    steps = steps[steps != 0].astype(np.int32)
    return steps.size > 0 and int(np.cumsum(steps).max()) > MAX_DEPTH


def load_json(raw):
    """One jsonl line as a Python value, or BadRecord: past the size limit, not
    UTF-8, not JSON, nested past MAX_DEPTH, or an integer past MAX_DIGITS."""
    text = decode_utf8(raw)
    try:
        if _too_deep(text):
            raise BadRecord(f'JSON nested too deeply (more than {MAX_DEPTH} levels)')
        return json.loads(text, parse_int=_bounded_int)
    except json.JSONDecodeError as e:
        raise BadRecord(f'malformed JSON ({e.msg} at column {e.colno})') from None
    except RecursionError:      # not reached past the check above; kept as the last guard
        raise BadRecord('JSON nested too deeply') from None


def _is_name(v):
    return isinstance(v, str) and v != ''


def parse_jsonl(raw, max_ids=None, data=None, documents=False):
    """Return (x_kind, y_kind, x, y) of one line, or raise BadRecord. Ids must be
    below ``max_ids`` (--max-ids; default the safety limit). ``data``: the
    DataConfig naming the fields (--text-field, --label-field) and the cap on
    steps (--max-len); default: "x", "y", no cap.

    x_kind is ``tokens`` or ``dense:D``, and x and y are arrays. With
    ``documents``, x may also be a string (x_kind ``text``: a document, left
    for the caller to tokenize) and y class names (a y_kind ending in
    ``name``: strings)."""
    parsed = _parse(raw, max_ids, data)
    if not documents and (parsed[0] == 'text' or parsed[1].endswith(':name')):
        raise BadRecord('text and class names are read by the describe pass and the model '
                        'readers only')
    return parsed


def _parse(raw, max_ids, data):
    limit = LIMITS.vocab if max_ids is None else max_ids
    data = DataConfig() if data is None else data
    x_name, y_name = data.text_field, data.label_field
    record = load_json(raw)
    if not isinstance(record, dict) or x_name not in record or y_name not in record:
        raise BadRecord(f'not a JSON object with "{x_name}" and "{y_name}"')
    x, y = record[x_name], record[y_name]
    if isinstance(x, str) and data.tokens == 'ids':
        raise BadRecord(f'"{x_name}" is a string, and --tokens ids reads lists of token ids')
    if isinstance(x, str):
        y_kind, y = _document_target(y, y_name, limit)
        return 'text', y_kind, x, y
    if not isinstance(x, list) or not x:
        raise BadRecord(f'"{x_name}" must be a non-empty list of steps, or a string')
    T = len(x)
    if T > LIMITS.steps and not data.max_len:
        raise BadRecord(f'"{x_name}" has {T} steps, past the limit of {LIMITS.steps}')
    if all(_is_int(s) for s in x):
        x_kind = 'tokens'
    elif all(isinstance(s, list) and s and all(_is_num(v) for v in s) for s in x):
        D = len(x[0])
        if any(len(s) != D for s in x):
            raise BadRecord(f'steps of "{x_name}" have different numbers of features')
        x_kind = f'dense:{D}'
    else:
        raise BadRecord(f'each step of "{x_name}" must be an int token id or a list of numbers')
    x = capped(x, data)
    if x_kind == 'tokens':
        x = np.array(_ids(x, 'token ids', limit), np.int64)
    else:
        x = _floats(x, f'"{x_name}"')

    if _is_int(y):
        y_kind, y = 'last:class', np.array(_ids(y, 'class ids', limit)[0], np.int64)
    elif _is_name(y):
        y_kind = 'last:name'
    elif _is_num(y):
        y_kind, y = 'last:vec:1', _floats([y], f'"{y_name}"')
    elif isinstance(y, list) and y and all(_is_int(v) for v in y) and len(y) == T:
        y_kind, y = 'step:class', np.array(_ids(capped(y, data), 'class ids', limit), np.int64)
    elif isinstance(y, list) and len(y) == T and all(_is_name(v) for v in y):
        y_kind, y = 'step:name', capped(y, data)
    elif isinstance(y, list) and y and all(_is_num(v) for v in y):
        y_kind, y = f'last:vec:{len(y)}', _floats(y, f'"{y_name}"')
    elif (isinstance(y, list) and len(y) == T and
          all(isinstance(s, list) and s and all(_is_num(v) for v in s) for s in y)):
        O = len(y[0])
        if any(len(s) != O for s in y):
            raise BadRecord(f'steps of "{y_name}" have different numbers of values')
        y_kind, y = f'step:vec:{O}', _floats(capped(y, data), f'"{y_name}"')
    else:
        raise BadRecord(f'"{y_name}" must be a class id or name, a number, a list of numbers, '
                        f'or one target per step of "{x_name}"')
    return x_kind, y_kind, x, y


def _document_target(y, y_name, limit):
    """(y_kind, y) of a document's target: one class id or name, a number, a
    list of numbers. A document has no steps before it is tokenized, so no
    per-step targets."""
    if _is_int(y):
        return 'last:class', np.array(_ids(y, 'class ids', limit)[0], np.int64)
    if _is_name(y):
        return 'last:name', y
    if _is_num(y):
        return 'last:vec:1', _floats([y], f'"{y_name}"')
    if isinstance(y, list) and y and all(_is_num(v) for v in y):
        return f'last:vec:{len(y)}', _floats(y, f'"{y_name}"')
    raise BadRecord(f'"{y_name}" of a text must be a class id or name, a number or a list of '
                    'numbers')


def jsonl_facts(raw, max_ids=None, data=None):
    x_kind, y_kind, x, y = parse_jsonl(raw, max_ids, data, documents=True)
    if x_kind == 'text':
        data = data or DataConfig()
        x = document_tokens(x, token_settings(data, 'jsonl'), data)
        facts = document_facts(x, y, y_kind)
    else:
        facts = {'records': 1, 'x_kind': {x_kind: 1}, 'y_kind': {y_kind: 1}}
        if y_kind.endswith(':name'):
            facts['class_names'] = {n: 1 for n in (y if isinstance(y, list) else [y])}
    # the largest ids of the two records that reach furthest (schema.top_id): one
    # record alone never sizes the model
    if x_kind == 'tokens':
        facts['top_token'] = [int(x.max())]
    if isinstance(y, np.ndarray) and y.dtype == np.int64:
        facts['top_class'] = [int(y.max())]
    return facts


_WHAT = {'text': 'a string', 'tokens': 'token ids', 'class': 'a class id',
         'name': 'a class name'}


def _kind_words(kind):
    """How a message names an x or y kind: 'a string', 'a class name per step', ..."""
    place, _, what = kind.partition(':')
    if place in ('last', 'step') and what in _WHAT:
        return _WHAT[what] + (' per step' if place == 'step' else '')
    return _WHAT.get(kind, kind)


class JsonlReader:
    def __init__(self, schema, max_ids=None, data=None):
        self.schema, self.max_ids = schema, max_ids
        self.data = DataConfig() if data is None else data
        if schema.tokens is not None:
            self.encoder = Encoder(schema.tokens, schema.vocab)
        self.class_ids = ClassIds(schema.classes)

    def sequences(self, raw):
        x_kind, y_kind, x, y = parse_jsonl(raw, self.max_ids, self.data, documents=True)
        s, fields = self.schema, (self.data.text_field, self.data.label_field)
        if x_kind != s.x_kind:
            raise BadRecord(f'"{fields[0]}" is {_kind_words(x_kind)}, the model expects '
                            f'{_kind_words(s.x_kind)}')
        if y_kind != s.y_kind:
            raise BadRecord(f'"{fields[1]}" is {_kind_words(y_kind)}, the model expects '
                            f'{_kind_words(s.y_kind)}')
        if x_kind == 'text':
            ids = self.encoder.ids
            x = np.array([ids.get(t, 0) for t in document_tokens(x, s.tokens, self.data)],
                         np.int64)
        if x_kind == 'tokens' and x.max() >= s.input_size:
            raise BadRecord(f'token id {x.max()} is outside the vocabulary of {s.input_size}')
        if y_kind.endswith(':name'):
            y = np.array([self.class_ids(n) for n in y] if isinstance(y, list)
                         else self.class_ids(y), np.int64)
        elif y.dtype == np.int64 and y.max() >= s.output_size:
            raise BadRecord(f'class id {y.max()} is outside the {s.output_size} classes')
        return [Sequence(x, y)]
