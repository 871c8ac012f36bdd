"""A map task's input as records that know where they are (docs/design.md §3.1).

Whatever runs the task (mrjob's runners, Hadoop Streaming, a Spark partition,
a test), it hands over either the lines of a split, one at a time, or whole
files (csv series, whose windows need consecutive rows). Either way the task
sees ``Record``s: the bytes that routing and sampling hash, the record's
place (``FILE:LINE``, or ``FILE at byte OFFSET`` where the lines before a
split cannot be counted), its file, and ``read()``, which gives its sequences
or raises (a bad record, counted by the caller).

A split is a list of ``Piece``s: on Hadoop one (the task's file and start
byte); on the local runners, where several pieces of files may be joined into
one split, each with its number of lines (jobs/mrjob_internals.py).
"""
import bz2
import functools
import gzip
from typing import Callable, NamedTuple, Optional

from mr_rnn.data.records import BadRecord, as_bad_record


class Piece(NamedTuple):
    file: str                   # as the runner names it: a path, file://..., hdfs://...
    start: int                  # byte offset of its first line in the file
    lines: Optional[int]        # how many lines it holds; None: up to the end of the split


class Record(NamedTuple):
    key: Optional[bytes]        # what routing and sampling hash; None: a record that could
                                # not be read far enough to have one (it is bad)
    where: str                  # FILE:LINE
    file: str
    read: Callable              # () -> its sequences (or facts); raises if it is bad


class LineSplit:
    """The lines of one split, pushed one at a time: each becomes a Record
    read by ``read_line(raw)``. The position is state built once, from the
    pieces, and advanced line by line."""

    def __init__(self, pieces, read_line, lines_before=None):
        self.pieces = list(pieces)[::-1]        # popped from the end: first piece first
        self.read_line = read_line
        self.lines_before = lines_before or count_lines_before
        self._start_piece()

    def _start_piece(self):
        piece = self.pieces.pop()
        self.file = local_path(piece.file)
        self.offset, self.lines_left = piece.start, piece.lines
        self.line = self.lines_before(self.file, piece.start)

    def record(self, raw):
        while self.lines_left == 0 and self.pieces:
            self._start_piece()
        if self.lines_left is not None:
            self.lines_left -= 1
        if self.line is None:
            where = f'{self.file} at byte {self.offset}'
        else:
            self.line += 1
            where = f'{self.file}:{self.line}'
        self.offset += len(raw) + 1
        return Record(raw, where, self.file, functools.partial(self.read_line, raw))


def local_path(name):
    return name[len('file://'):] if name.startswith('file://') else name


def count_lines_before(path, offset):
    """Line number where a split starts, when the file can be read here (local
    files: inline, local, Hadoop on file://); None on HDFS, where a byte offset
    names the record instead, and inside a compressed file (Hadoop splits .bz2
    at offsets in the compressed bytes)."""
    if offset == 0:
        return 0
    if path.lower().endswith(('.gz', '.bz2')):
        return None
    try:
        count, left = 0, offset
        with open(path, 'rb') as f:
            while left > 0:
                chunk = f.read(min(left, 1 << 20))
                if not chunk:
                    break
                count += chunk.count(b'\n')
                left -= len(chunk)
        return count
    except OSError:
        return None


def open_decompressed(path, uri):
    """A whole input file as text bytes. The name alone cannot say: mrjob's
    local runner hands over a decompressed copy of a .gz, its inline runner
    and Hadoop the stored bytes, so the file's first bytes decide."""
    with open(path, 'rb') as f:
        magic = f.read(3)
    name = uri.lower()
    if name.endswith('.gz') and magic[:2] == b'\x1f\x8b':
        return gzip.open(path, 'rb')
    if name.endswith('.bz2') and magic == b'BZh':
        return bz2.open(path, 'rb')
    return open(path, 'rb')


def file_lines(f):
    return (line.rstrip(b'\n') for line in f)


def read_file(path, uri, records_of_file):
    """Every Record of one whole file, as ``records_of_file(lines, uri)`` makes them
    (a csv reader's windows, or the describe pass's one record of a file)."""
    with open_decompressed(path, uri) as f:
        yield from records_of_file(file_lines(f), uri)


def line_records(path, read_line):
    """Every line of a local file (decompressed) as a Record: a split of one
    piece, for callers that hold whole files (tests, a Spark partition)."""
    split = LineSplit([Piece(path, 0, None)], read_line)
    with open_decompressed(path, path) as f:
        for raw in file_lines(f):
            yield split.record(raw)


def bytes_records(data, uri, records_of_file):
    """Every Record of one whole file held as bytes (a Spark partition reads
    a csv file whole, as binaryFiles gives it), read through .gz and .bz2 as
    ``read_file`` reads a local file."""
    name = uri.lower()
    if name.endswith('.gz') and data[:2] == b'\x1f\x8b':
        data = gzip.decompress(data)
    elif name.endswith('.bz2') and data[:3] == b'BZh':
        data = bz2.decompress(data)
    lines = data.split(b'\n')
    if lines and lines[-1] == b'':
        lines.pop()
    yield from records_of_file(iter(lines), uri)


class ReadRecord(NamedTuple):
    """A Record already read: its sequences, or why it is bad. What an engine
    that keeps records between rounds holds (a cached Spark partition): plain
    data that pickles, with the ``read()`` of a Record, so a map task takes it
    as it takes a Record. Reading it again gives the same sequences or the
    same BadRecord message."""
    key: Optional[bytes]
    where: str
    file: str
    sequences: Optional[list]
    error: Optional[str]

    @classmethod
    def of(cls, record):
        try:
            return cls(record.key, record.where, record.file, list(record.read()), None)
        except Exception as e:
            return cls(record.key, record.where, record.file, None, str(as_bad_record(e)))

    def read(self):
        if self.error is not None:
            raise BadRecord(self.error)
        return self.sequences
