"""csv: a whole file is one time series; sliding windows of consecutive good rows
(docs/design.md §3.1)."""
import csv
import functools
import io
import math

import numpy as np

from mr_rnn.counts import BAD_EXAMPLES
from mr_rnn.data.documents import delimiter_of
from mr_rnn.data.records import BadRecord, Sequence, as_bad_record, decode_utf8
from mr_rnn.data.task_input import Record


def _split_csv(raw, delimiter=','):
    """One row's cells, stripped, as the csv module reads them: a quoted field
    may hold commas and doubled quotes. A row the module refuses (a carriage
    return inside an unquoted field, a field past its 131,072 characters) is a
    BadRecord; an empty row is one empty cell, as a split at commas makes it."""
    try:
        cells = next(csv.reader([decode_utf8(raw).rstrip('\r')], delimiter=delimiter,
                                skipinitialspace=True), [])
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


def csv_facts(lines, where, delimiter=','):
    """lines: iterable of raw lines of one file; where(line_no) names a line;
    ``delimiter``: a tab for .tsv files (documents.delimiter_of)."""
    lines = iter(lines)
    try:
        names = _split_csv(next(lines, b''), delimiter)
    except BadRecord as e:      # no header, no columns: the whole file is one bad record
        return {'records': 1, 'bad': 1, 'examples': [f'{where(1)}: {e}']}
    header = header_key(names)
    moments = [[0, 0.0, 0.0] for _ in names]
    facts = {'records': 0, 'bad': 0, 'examples': []}
    for line_no, raw in enumerate(lines, start=2):
        facts['records'] += 1
        try:
            cells = _split_csv(raw, delimiter)
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

    def sequences_from_file(self, lines, where, delimiter=','):
        """Yield Sequence or (description, BadRecord) per window/bad row."""
        lines = iter(lines)
        names = _split_csv(next(lines, b''), delimiter)
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
                row = self._parse_row(raw, len(names), cols + tcols, delimiter)
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

    def records(self, lines, uri):
        """The file's windows and bad rows as task_input.Records, each named by
        its last row's line; a header without the model's columns is one record
        of line 1. A window's key is its values: the same window routes and
        samples alike wherever it is read."""
        line_no = [1]

        def numbered():
            for line_no[0], line in enumerate(lines, start=1):
                yield line
        try:
            for item in self.sequences_from_file(numbered(), lambda n: f'{uri}:{n}',
                                                 delimiter_of(uri)):
                if isinstance(item, Sequence):
                    yield Record(item.x.tobytes() + item.y.tobytes(), f'{uri}:{line_no[0]}', uri,
                                 functools.partial(list, [item]))
                else:
                    yield Record(None, item[0], uri, functools.partial(_raise, item[1]))
        except BadRecord as e:
            yield Record(None, f'{uri}:1', uri, functools.partial(_raise, e))

    @staticmethod
    def _parse_row(raw, width, picks, delimiter=','):
        cells = _split_csv(raw, delimiter)
        if len(cells) != width:
            raise BadRecord(f'{len(cells)} fields, the header has {width}')
        values = [_float_or_none(cells[i]) for i in picks]
        if any(v is None for v in values):
            raise BadRecord('a selected column is not a finite number')
        return np.array(values, np.float64)



def facts_records(lines, uri):
    """The describe pass's one record of a whole csv file: its facts."""
    yield Record(None, f'{uri}:1', uri,
                 lambda: csv_facts(lines, lambda n: f'{uri}:{n}', delimiter_of(uri)))


def _raise(error):
    raise error
