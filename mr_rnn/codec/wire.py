"""The map → reduce wire format: a typed packet, one per line (docs/design.md §3.7).

A ``Packet`` carries three kinds of values, and each adds up its own way:

    scalars  {name: JSON value}   counts, loss sums, examples: counts.merge_counts
    arrays   {name: ndarray}      dense blocks, added element by element in float64
    rows     {name: Rows}         a block's rows by id (ids sorted, distinct), added by id:
                                  rows only one side has are taken as they are

On the wire it is

    KEY \\t HEADER-JSON \\t BASE64(raw little-endian bytes of every array, in header order)

with HEADER-JSON ``{"s": scalars, "a": [[name, dtype, shape], ...], "r": [[name, dtype,
shape], ...]}``; each of ``r``'s entries stands for two arrays in the body, the ids (int64,
``shape[0]`` of them) and then the values. Arrays never travel as JSON lists of floats:
base64 costs 4/3 of the raw bytes and round-trips every bit.
"""
import base64
import json
from dataclasses import dataclass, field

import numpy as np

from mr_rnn.counts import merge_counts


@dataclass
class Rows:
    """Some rows of a block: ``values[k]`` is row ``ids[k]``; every other row is zero."""
    ids: np.ndarray         # (n,) int64, sorted, distinct
    values: np.ndarray      # (n, ...)

    @classmethod
    def of(cls, ids, values):
        """Rows from ids in any order, with repeats added up (in the order given)."""
        ids = np.asarray(ids, np.int64)
        unique, where = np.unique(ids, return_inverse=True)
        summed = np.zeros((len(unique),) + np.shape(values)[1:], np.float64)
        np.add.at(summed, where, values)
        return cls(unique, summed)

    def dense(self, rows):
        """As a (rows, ...) array, zeros where no row was sent."""
        out = np.zeros((rows,) + self.values.shape[1:], self.values.dtype)
        out[self.ids] = self.values
        return out


@dataclass
class Packet:
    scalars: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)
    rows: dict = field(default_factory=dict)


def _little(array):
    array = np.asarray(array)
    little = array.astype(array.dtype.newbyteorder('<'), copy=False)
    # a byte view of the array, not a copy: base64 reads it in place
    return little.dtype.str, list(array.shape), np.ascontiguousarray(little).reshape(-1).view(np.uint8)


def encode_packet(packet):
    header, chunks = {'s': packet.scalars, 'a': [], 'r': []}, []
    for name, array in packet.arrays.items():
        dtype, shape, raw = _little(array)
        header['a'].append([name, dtype, shape])
        chunks.append(raw)
    for name, rows in packet.rows.items():
        dtype, shape, raw = _little(rows.values)
        header['r'].append([name, dtype, shape])
        chunks += [_little(np.asarray(rows.ids, np.int64))[2], raw]
    head = json.dumps(header, separators=(',', ':'))
    body = chunks[0] if len(chunks) == 1 else b''.join(chunks)
    return b''.join((head.encode('utf-8'), b'\t', base64.b64encode(body)))


def decode_packet(data):
    head, _, body = data.partition(b'\t')
    meta = json.loads(head)
    raw = base64.b64decode(body)
    offset = 0

    def take(dtype, shape):
        nonlocal offset
        dtype = np.dtype(dtype)
        count = int(np.prod(shape, dtype=np.int64))
        array = np.frombuffer(raw, dtype, count=count, offset=offset).reshape(shape)
        offset += dtype.itemsize * count
        return array

    arrays = {name: take(dtype, shape) for name, dtype, shape in meta['a']}
    rows = {}
    for name, dtype, shape in meta.get('r', ()):
        ids = take('<i8', shape[:1])
        rows[name] = Rows(ids, take(dtype, shape))
    return Packet(meta['s'], arrays, rows)


class PacketProtocol:
    """mrjob protocol: text key, Packet value."""

    def read(self, line):
        key, _, value = line.partition(b'\t')
        return key.decode('utf-8'), decode_packet(value)

    def write(self, key, value):
        return key.encode('utf-8') + b'\t' + encode_packet(value)


def add_packets(packets):
    """The sum of ``packets``: scalars as counts add (counts.merge_counts:
    numbers add, ``max_*`` take the maximum, ``examples`` keep the first few),
    arrays element by element and rows by id, in float64, in the order the
    packets come (a row's sum is the one its dense block would have)."""
    total = Packet()
    for packet in packets:
        total.scalars = merge_counts(total.scalars, packet.scalars)
        for name, array in packet.arrays.items():
            if name in total.arrays:
                total.arrays[name] += array
            else:
                total.arrays[name] = np.array(array, np.float64)
        for name, rows in packet.rows.items():
            total.rows[name] = _add_rows(total.rows.get(name), rows)
    return total


def _add_rows(total, rows):
    if total is None:
        return Rows(np.array(rows.ids, np.int64), np.array(rows.values, np.float64))
    ids = np.union1d(total.ids, rows.ids)
    values = np.empty((len(ids),) + total.values.shape[1:], np.float64)
    mine, theirs = np.searchsorted(ids, total.ids), np.searchsorted(ids, rows.ids)
    only_theirs = np.ones(len(ids), bool)
    only_theirs[mine] = False
    values[mine] = total.values
    values[only_theirs] = 0.0
    values[theirs] += rows.values
    return Rows(ids, values)
