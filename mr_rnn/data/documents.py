"""Documents: a string of text that becomes tokens, and a label that is a class
name (docs/design.md §3.1). A jsonl record whose "x" is a string is one; so is
a row of a csv or tsv table of documents (``--text-column``), read here.

A document's tokens are capped by ``--max-len`` (the first N, or the last N
with ``--keep end``); past the limit of steps without a cap, with no tokens,
or with a class the model does not know, it is a bad record (§8.1).
"""
import csv
import functools

import numpy as np

from mr_rnn.config import LIMITS
from mr_rnn.data import tokens as tokenizer
from mr_rnn.data.records import BadRecord, Sequence
from mr_rnn.data.task_input import Record


def token_settings(data, fmt):
    """``schema.tokens`` of this data: the tokenizer's settings (data/tokens.py)."""
    return tokenizer.settings(data.token_kind(fmt), data.lowercase)


def capped(steps, data):
    """The first (or, with --keep end, the last) --max-len steps; all without it."""
    n = data.max_len
    if not n or len(steps) <= n:
        return steps
    return steps[-n:] if data.keep == 'end' else steps[:n]


def document_tokens(text, settings, data):
    """A document's tokens, capped by --max-len; a BadRecord when there are
    none, or more than the limit of steps."""
    if not text:
        raise BadRecord('the text is empty')
    tokens = capped(tokenizer.tokenize(text, settings), data)
    if not tokens:
        raise BadRecord('the text has no tokens')
    if len(tokens) > LIMITS.steps:
        raise BadRecord(f'the text has {len(tokens)} tokens, past the limit of {LIMITS.steps} '
                        'steps: cap it with --max-len')
    return tokens


def counts(tokens):
    """{token: how often}, without <unk> (a token past max_token_chars), which
    is never a vocabulary entry."""
    out = {}
    for t in tokens:
        out[t] = out.get(t, 0) + 1
    out.pop(tokenizer.UNK, None)
    return out


def class_name(value):
    if not isinstance(value, str) or not value:
        raise BadRecord('a class name must be a non-empty string')
    return value


class ClassIds:
    """Class names -> ids by the schema's classes (sorted names)."""

    def __init__(self, classes):
        self.ids = {name: i for i, name in enumerate(classes or ())}

    def __call__(self, name):
        i = self.ids.get(name)
        if i is None:
            shown = name if len(name) <= 40 else name[:40] + '...'
            raise BadRecord(f'class {shown!r} is not one of the model\'s {len(self.ids)} classes')
        return i


# ── tables of documents: csv or tsv with a header, one document per row ──

def delimiter_of(uri):
    """Tab for a .tsv file (also .tsv.gz, .tsv.bz2), else a comma."""
    name = uri.lower()
    for suffix in ('.gz', '.bz2'):
        if name.endswith(suffix):
            name = name[:-len(suffix)]
    return '\t' if name.endswith('.tsv') else ','


class _Lines:
    """A file's lines for the csv module, counted, and each row's bytes held to
    the record limit. The bytes are decoded with surrogateescape, so that a row
    of invalid UTF-8 is found in its cells and named, not a failed task."""

    def __init__(self, lines):
        self.lines, self.line, self.row_bytes = lines, 0, 0

    def __iter__(self):
        return self

    def __next__(self):
        raw = next(self.lines)
        self.line += 1
        self.row_bytes += len(raw) + 1
        if self.row_bytes > LIMITS.record_bytes:
            raise BadRecord(f'a row of more than {LIMITS.record_bytes} bytes is past the limit')
        return raw.decode('utf-8', 'surrogateescape') + '\n'


def table_rows(lines, uri):
    """(line number where the row starts, its cells, or the BadRecord it is) of
    every row of a table of documents, its header first. A quoted field may
    hold line breaks, commas and doubled quotes."""
    source = _Lines(iter(lines))
    reader = csv.reader(source, delimiter=delimiter_of(uri), skipinitialspace=True)
    while True:
        start = source.line + 1
        source.row_bytes = 0
        # a document may be long: the csv module's own limit (131,072 characters,
        # kept for series) gives way to the record limit while a row is read
        old = csv.field_size_limit(LIMITS.record_bytes)
        try:
            cells = next(reader)
        except StopIteration:
            return
        except (csv.Error, BadRecord) as e:
            yield start, BadRecord(f'not a csv row: {e}' if isinstance(e, csv.Error) else str(e))
            if source.line < start:         # nothing read: the end
                return
            continue
        finally:
            csv.field_size_limit(old)
        if any('\udc80' <= c <= '\udcff' for cell in cells for c in cell):
            yield start, BadRecord('invalid UTF-8')
        elif not cells:
            yield start, BadRecord('an empty row')
        else:
            yield start, cells


class Table:
    """The columns of a table of documents: the text's, and the label's (None
    when the model's label column is not there: predict needs none)."""

    def __init__(self, header, data, need_label):
        if isinstance(header, BadRecord):
            raise header
        names = [name.strip() for name in header]
        if data.text_column not in names:
            raise BadRecord(f'the header ({", ".join(names)[:200]}) has no column '
                            f'{data.text_column!r} (--text-column)')
        self.width, self.text = len(names), names.index(data.text_column)
        self.label = names.index(data.label_column) if data.label_column in names else None
        if need_label and self.label is None:
            raise BadRecord(f'the header ({", ".join(names)[:200]}) has no column '
                            f'{data.label_column!r} (--label-column)')

    def cells(self, row):
        """-> (text, label or None) of a row."""
        if isinstance(row, BadRecord):
            raise row
        if len(row) != self.width:
            raise BadRecord(f'{len(row)} fields, the header has {self.width}')
        return row[self.text], None if self.label is None else class_name(row[self.label].strip())


def _raise(error):
    raise error


def _row_key(row):
    """What routing and sampling hash (§3.8): the row's cells."""
    return '\x1f'.join(row).encode('utf-8', 'surrogatepass')


def table_records(lines, uri, read_row, need_label=True, data=None):
    """A table's rows as task_input.Records read by ``read_row(table, row)``;
    a header without the columns is one bad record of the header's line."""
    rows = table_rows(lines, uri)
    first = next(rows, None)
    if first is None:
        return
    try:
        table = Table(first[1], data, need_label)
    except BadRecord as e:
        yield Record(None, f'{uri}:{first[0]}', uri, functools.partial(_raise, e))
        return
    for line, row in rows:
        key = None if isinstance(row, BadRecord) else _row_key(row)
        yield Record(key, f'{uri}:{line}', uri, functools.partial(read_row, table, row))


def table_facts_records(lines, uri, data):
    """The describe pass's records of a table of documents: one per row, read
    into its facts."""
    settings = token_settings(data, 'csv')

    def facts(table, row):
        text, label = table.cells(row)
        return document_facts(document_tokens(text, settings, data), label)
    return table_records(lines, uri, facts, True, data)


def document_facts(tokens, label, y_kind='last:name'):
    """The facts of one document: its kinds, its tokens' counts, its class name."""
    facts = {'records': 1, 'x_kind': {'text': 1}, 'y_kind': {y_kind: 1},
             'tokens': counts(tokens)}
    if y_kind.endswith(':name'):
        facts['class_names'] = {n: 1 for n in (label if isinstance(label, list) else [label])}
    return facts


class TableReader:
    """The sequences of a table of documents: a row's token ids and its class id
    (``targets`` False: predict, which needs no label column, reads class 0)."""

    def __init__(self, schema, data, targets=True):
        self.data, self.targets = data, targets
        self.encoder = tokenizer.Encoder(schema.tokens, schema.vocab)
        self.class_ids = ClassIds(schema.classes)

    def read(self, table, row):
        text, label = table.cells(row)
        ids = [self.encoder.ids.get(t, 0) for t in
               document_tokens(text, self.encoder.settings, self.data)]
        y = self.class_ids(label) if self.targets else 0
        return [Sequence(np.array(ids, np.int64), np.array(y, np.int64))]

    def records(self, lines, uri):
        return table_records(lines, uri, self.read, self.targets, self.data)
