"""The map → reduce wire format: a typed packet, one per line (docs/design.md §3.7).

A ``Packet`` carries three kinds of values, and each adds up its own way:

    scalars  {name: JSON value}   counts, loss sums, examples: counts.merge_counts
    arrays   {name: ndarray}      dense blocks, added element by element in float64
    rows     {name: Rows}         a block's rows by id (kernels/rows.py), added by id:
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
from mr_rnn.kernels.rows import Rows


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
            if name in total.rows:
                total.rows[name] = total.rows[name].plus(rows)
            else:
                total.rows[name] = Rows(np.array(rows.ids, np.int64),
                                        np.array(rows.values, np.float64))
    return total
