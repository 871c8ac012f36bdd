"""Readers: raw records in, training sequences (or a BadRecord) out.

A record is one line for text and jsonl (so Hadoop can split the files
anywhere), and one whole file for csv time series (a window needs consecutive
rows). Every reader has two faces: ``facts`` for the describe pass, which
learns the schema, and ``sequences`` for training, which checks each record
against the schema. A record that cannot be used raises BadRecord with a
reason; the caller counts it and goes on.
"""
import csv
import io
import json
import math
from dataclasses import dataclass
from json.decoder import scanstring

import numpy as np

from mr_rnn.config import LIMITS
from mr_rnn.counts import BAD_EXAMPLES
from mr_rnn.errors import MrRnnError


class BadRecord(MrRnnError, ValueError):
    """A record that is skipped and counted; the message says why."""


def as_bad_record(error):
    """Whatever reading one record raised, as the BadRecord it is counted as.

    The jobs catch every exception of a reader (not only BadRecord): on a
    cluster a task that raises is retried and then stops the whole run, and
    one line of terabytes must never do that. The type stays in the reason, so
    that a bug in a reader still shows, as bad records past --max-bad-fraction."""
    if isinstance(error, BadRecord):
        return error
    if isinstance(error, RecursionError):
        return BadRecord('nested too deeply')
    if isinstance(error, MemoryError):
        return BadRecord('too large to hold in memory')
    return BadRecord(f'{type(error).__name__}: {str(error)[:200]}')


@dataclass
class Sequence:
    x: np.ndarray       # (T,) int64 token ids, or (T, D) float64
    y: np.ndarray       # (T,) / () int64 classes, or (T, O) / (O,) float64


def decode_utf8(raw):
    if len(raw) > LIMITS.record_bytes:
        raise BadRecord(f'record of {len(raw)} bytes is past the limit of '
                        f'{LIMITS.record_bytes} bytes')
    try:
        return raw.decode('utf-8')
    except UnicodeDecodeError as e:
        raise BadRecord(f'invalid UTF-8 at byte {e.start}') from None


# ── text: a line is a record, cut into windows of seq_len + 1 characters ──

def text_facts(raw):
    line = decode_utf8(raw) + '\n'
    chars = {}
    for c in line:
        chars[c] = chars.get(c, 0) + 1
    return {'records': 1, 'chars': chars}


class TextReader:
    """Windows of a line (with its newline): input ids[s:s+L], target ids[s+1:s+L+1]."""

    def __init__(self, schema, seq_len):
        # ids by code point, one array lookup per line instead of a dict lookup
        # per character; code points past the vocabulary's largest map to the
        # last slot, 0 (unknown), as do characters outside the vocabulary
        chars = [(ord(c), i) for i, c in enumerate(schema.vocab) if len(c) == 1]
        self.table = np.zeros(max((cp for cp, _ in chars), default=0) + 2, np.int64)
        for cp, i in chars:
            self.table[cp] = i
        self.seq_len = seq_len

    def encode(self, text):
        points = np.frombuffer(text.encode('utf-32-le'), np.uint32)
        return self.table[np.minimum(points, len(self.table) - 1)]

    def sequences(self, raw):
        ids = self.encode(decode_utf8(raw) + '\n')
        L, n = self.seq_len, len(ids)
        # the last window may be short; its input stops where the targets do
        return [Sequence(ids[s:min(s + L, n - 1)], ids[s + 1:s + L + 1])
                for s in range(0, n - 1, L)]


# ── jsonl: {"x": [...], "y": ..., "id": ...} per line ──

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


def _ids(values, what):
    """Token or class ids: ints in [0, LIMITS.vocab), checked before numpy sees them."""
    values = values if isinstance(values, list) else [values]
    if min(values) < 0:
        raise BadRecord(f'{what} must be >= 0')
    if max(values) >= LIMITS.vocab:
        raise BadRecord(f'{what} {max(values)} is past the vocabulary limit of {LIMITS.vocab}')
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


def parse_jsonl(raw):
    """Return (x_kind, y_kind, x, y) of one line, or raise BadRecord."""
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
        x_kind, x = 'tokens', np.array(_ids(x, 'token ids'), np.int64)
    elif all(isinstance(s, list) and s and all(_is_num(v) for v in s) for s in x):
        D = len(x[0])
        if any(len(s) != D for s in x):
            raise BadRecord('steps of "x" have different numbers of features')
        x_kind, x = f'dense:{D}', _floats(x, '"x"')
    else:
        raise BadRecord('each step of "x" must be an int token id or a list of numbers')

    if _is_int(y):
        y_kind, y = 'last:class', np.array(_ids(y, 'class ids')[0], np.int64)
    elif _is_num(y):
        y_kind, y = 'last:vec:1', _floats([y], '"y"')
    elif isinstance(y, list) and y and all(_is_int(v) for v in y) and len(y) == T:
        y_kind, y = 'step:class', np.array(_ids(y, 'class ids'), np.int64)
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


def jsonl_facts(raw):
    x_kind, y_kind, x, y = parse_jsonl(raw)
    facts = {'records': 1, 'x_kind': {x_kind: 1}, 'y_kind': {y_kind: 1}}
    # the largest ids of the two records that reach furthest (schema.top_id): one
    # record alone never sizes the model
    if x_kind == 'tokens':
        facts['top_token'] = [int(x.max())]
    if y.dtype == np.int64:
        facts['top_class'] = [int(y.max())]
    return facts


class JsonlReader:
    def __init__(self, schema):
        self.schema = schema

    def sequences(self, raw):
        x_kind, y_kind, x, y = parse_jsonl(raw)
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


# ── csv: a whole file is one time series ──

def _split_csv(raw):
    """One row's cells, stripped, as the csv module reads them: a quoted field
    may hold commas and doubled quotes. A row the module refuses (a carriage
    return inside an unquoted field, a field past its 131,072 characters) is a
    BadRecord; an empty row is one empty cell, as a split at commas makes it."""
    try:
        cells = next(csv.reader([decode_utf8(raw).rstrip('\r')], skipinitialspace=True), [])
    except csv.Error as e:
        raise BadRecord(f'not a csv row: {e}') from None
    return [cell.strip() for cell in cells] or ['']


def header_key(names):
    """A header's column names as one csv line: the key of its facts (JSON keys
    are strings), read back by header_names however the names are quoted."""
    line = io.StringIO()
    csv.writer(line).writerow(names)    # quotes a name that holds '\r' or '\n' too
    return line.getvalue()[:-len('\r\n')]


def header_names(key):
    return next(csv.reader([key]))


def _float_or_none(cell):
    try:
        v = float(cell)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def csv_facts(lines, where):
    """lines: iterable of raw lines of one file; where(line_no) names a line."""
    lines = iter(lines)
    try:
        names = _split_csv(next(lines, b''))
    except BadRecord as e:      # no header, no columns: the whole file is one bad record
        return {'records': 1, 'bad': 1, 'examples': [f'{where(1)}: {e}']}
    header = header_key(names)
    moments = [[0, 0.0, 0.0] for _ in names]
    facts = {'records': 0, 'bad': 0, 'examples': []}
    for line_no, raw in enumerate(lines, start=2):
        facts['records'] += 1
        try:
            cells = _split_csv(raw)
            if len(cells) != len(names):
                raise BadRecord(f'{len(cells)} fields, the header has {len(names)}')
        except Exception as e:          # any row: a bad record, never a failed task
            facts['bad'] += 1
            if len(facts['examples']) < BAD_EXAMPLES:
                facts['examples'].append(f'{where(line_no)}: {as_bad_record(e)}')
            continue
        for m, cell in zip(moments, cells):
            v = _float_or_none(cell)
            if v is not None:   # Welford's update
                m[0] += 1
                delta = v - m[1]
                m[1] += delta / m[0]
                m[2] += delta * (v - m[1])
    # a column counts as numeric when most of its cells are numbers
    moments = [m if m[0] * 2 > facts['records'] else [0, 0.0, 0.0] for m in moments]
    facts.update(header={header: 1}, moments={header: moments})
    return facts


class CsvReader:
    """Sliding windows (stride 1) of ``window`` rows predicting the next
    ``horizon`` rows of the target columns, normalised with the schema's stats."""

    def __init__(self, schema, window, horizon):
        self.schema, self.window, self.horizon = schema, window, horizon

    def normalise(self, columns):
        norm = self.schema.norm
        mean = np.array([norm[c][0] for c in columns])
        std = np.array([norm[c][1] for c in columns])
        return mean, std

    def sequences_from_file(self, lines, where):
        """Yield Sequence or (description, BadRecord) per window/bad row."""
        lines = iter(lines)
        names = _split_csv(next(lines, b''))
        s = self.schema
        try:
            cols = [names.index(c) for c in s.columns]
            tcols = [names.index(c) for c in s.target_columns]
        except ValueError:
            raise BadRecord(f'header {",".join(names)} lacks the model\'s columns '
                            f'{",".join(s.columns)}') from None
        in_mean, in_std = self.normalise(s.columns)
        out_mean, out_std = self.normalise(s.target_columns)
        run = []     # consecutive good rows: (inputs, targets)
        span = self.window + self.horizon
        for line_no, raw in enumerate(lines, start=2):
            try:
                row = self._parse_row(raw, len(names), cols + tcols)
            except Exception as e:      # any row: a bad record, never a failed task
                run = []
                yield where(line_no), as_bad_record(e)
                continue
            run.append(((row[:len(cols)] - in_mean) / in_std,
                        (row[len(cols):] - out_mean) / out_std))
            if len(run) >= span:
                window = run[-span:]
                x = np.array([r[0] for r in window[:self.window]])
                y = np.concatenate([r[1] for r in window[self.window:]] or [np.empty(0)])
                yield Sequence(x, y)
                run = run[-span + 1:] if span > 1 else []

    @staticmethod
    def _parse_row(raw, width, picks):
        cells = _split_csv(raw)
        if len(cells) != width:
            raise BadRecord(f'{len(cells)} fields, the header has {width}')
        values = [_float_or_none(cells[i]) for i in picks]
        if any(v is None for v in values):
            raise BadRecord('a selected column is not a finite number')
        return np.array(values, np.float64)


def line_reader(schema, data_config):
    """The per-line reader of a line format: raw bytes -> list of Sequence."""
    if schema.format == 'text':
        return TextReader(schema, data_config.seq_len).sequences
    if schema.format == 'jsonl':
        return JsonlReader(schema).sequences
    raise ValueError(f'{schema.format} is not a line format')


LINE_FACTS = {'text': text_facts, 'jsonl': jsonl_facts}
