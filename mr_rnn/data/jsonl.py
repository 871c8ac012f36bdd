"""jsonl: {"x": [...], "y": ..., "id": ...} per line (docs/design.md §3.1), and the
limits that keep a hostile line from costing more than a bad record (§8.1)."""
import json
from json.decoder import scanstring

import numpy as np

from mr_rnn.config import LIMITS
from mr_rnn.data.records import BadRecord, Sequence, decode_utf8


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


def parse_jsonl(raw, max_ids=None):
    """Return (x_kind, y_kind, x, y) of one line, or raise BadRecord. Ids must be
    below ``max_ids`` (--max-ids; default the safety limit)."""
    limit = LIMITS.vocab if max_ids is None else max_ids
    record = load_json(raw)
    if not isinstance(record, dict) or 'x' not in record or 'y' not in record:
        raise BadRecord('not a JSON object with "x" and "y"')
    x, y = record['x'], record['y']
    if not isinstance(x, list) or not x:
        raise BadRecord('"x" must be a non-empty list of steps')
    T = len(x)
    if T > LIMITS.steps:
        raise BadRecord(f'"x" has {T} steps, past the limit of {LIMITS.steps}')
    if all(_is_int(s) for s in x):
        x_kind, x = 'tokens', np.array(_ids(x, 'token ids', limit), np.int64)
    elif all(isinstance(s, list) and s and all(_is_num(v) for v in s) for s in x):
        D = len(x[0])
        if any(len(s) != D for s in x):
            raise BadRecord('steps of "x" have different numbers of features')
        x_kind, x = f'dense:{D}', _floats(x, '"x"')
    else:
        raise BadRecord('each step of "x" must be an int token id or a list of numbers')

    if _is_int(y):
        y_kind, y = 'last:class', np.array(_ids(y, 'class ids', limit)[0], np.int64)
    elif _is_num(y):
        y_kind, y = 'last:vec:1', _floats([y], '"y"')
    elif isinstance(y, list) and y and all(_is_int(v) for v in y) and len(y) == T:
        y_kind, y = 'step:class', np.array(_ids(y, 'class ids', limit), np.int64)
    elif isinstance(y, list) and y and all(_is_num(v) for v in y):
        y_kind, y = f'last:vec:{len(y)}', _floats(y, '"y"')
    elif (isinstance(y, list) and len(y) == T and
          all(isinstance(s, list) and s and all(_is_num(v) for v in s) for s in y)):
        O = len(y[0])
        if any(len(s) != O for s in y):
            raise BadRecord('steps of "y" have different numbers of values')
        y_kind, y = f'step:vec:{O}', _floats(y, '"y"')
    else:
        raise BadRecord('"y" must be a class id, a number, a list of numbers, '
                        'or one target per step of "x"')
    return x_kind, y_kind, x, y


def jsonl_facts(raw, max_ids=None):
    x_kind, y_kind, x, y = parse_jsonl(raw, max_ids)
    facts = {'records': 1, 'x_kind': {x_kind: 1}, 'y_kind': {y_kind: 1}}
    # the largest ids of the two records that reach furthest (schema.top_id): one
    # record alone never sizes the model
    if x_kind == 'tokens':
        facts['top_token'] = [int(x.max())]
    if y.dtype == np.int64:
        facts['top_class'] = [int(y.max())]
    return facts


class JsonlReader:
    def __init__(self, schema, max_ids=None):
        self.schema, self.max_ids = schema, max_ids

    def sequences(self, raw):
        x_kind, y_kind, x, y = parse_jsonl(raw, self.max_ids)
        s = self.schema
        if x_kind != s.x_kind:
            raise BadRecord(f'"x" is {x_kind}, the model expects {s.x_kind}')
        if y_kind != s.y_kind:
            raise BadRecord(f'"y" is {y_kind}, the model expects {s.y_kind}')
        if x_kind == 'tokens' and x.max() >= s.input_size:
            raise BadRecord(f'token id {x.max()} is outside the vocabulary of {s.input_size}')
        if y.dtype == np.int64 and y.max() >= s.output_size:
            raise BadRecord(f'class id {y.max()} is outside the {s.output_size} classes')
        return [Sequence(x, y)]

