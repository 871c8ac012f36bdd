"""A record, whatever its format: the sequences it gives, or why it cannot be
used (``BadRecord``: skipped and counted by the caller, never a failed task).

A record is one line for text and jsonl (so Hadoop can split the files
anywhere), and one whole file for csv time series (a window needs consecutive
rows): the readers are data/text.py, data/jsonl.py and data/csv_series.py,
each with two faces, ``facts`` for the describe pass, which learns the
schema, and ``sequences`` for training, which checks each record against the
schema; data/readers.py picks them by format.
"""
from dataclasses import dataclass

import numpy as np

from mr_rnn.config import LIMITS
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
