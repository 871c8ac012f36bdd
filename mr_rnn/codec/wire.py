"""The map → reduce wire format: one packet per line.

A packet is a dict ``{'scalars': {...JSON values...}, 'arrays': {name: ndarray}}``.
On the wire it is

    KEY \\t HEADER-JSON \\t BASE64(raw little-endian bytes of every array, in order)

Arrays never travel as JSON lists of floats (docs/design.md §3.7): base64 costs 4/3 of
the raw bytes and round-trips every bit.
"""
import base64
import json

import numpy as np

from mr_rnn.counts import merge_counts


def encode_packet(scalars=None, arrays=None):
    arrays = arrays or {}
    header, chunks = [], []
    for name, array in arrays.items():
        array = np.asarray(array)
        little = array.astype(array.dtype.newbyteorder('<'), copy=False)
        header.append([name, little.dtype.str, list(array.shape)])
        # a byte view of the array, not a copy: base64 reads it in place
        chunks.append(np.ascontiguousarray(little).reshape(-1).view(np.uint8))
    head = json.dumps({'s': scalars or {}, 'a': header}, separators=(',', ':'))
    body = chunks[0] if len(chunks) == 1 else b''.join(chunks)
    return b''.join((head.encode('utf-8'), b'\t', base64.b64encode(body)))


def decode_packet(data):
    head, _, body = data.partition(b'\t')
    meta = json.loads(head)
    raw = base64.b64decode(body)
    arrays, offset = {}, 0
    for name, dtype, shape in meta['a']:
        dtype = np.dtype(dtype)
        size = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
        arrays[name] = np.frombuffer(raw, dtype, offset=offset,
                                     count=size // dtype.itemsize).reshape(shape)
        offset += size
    return {'scalars': meta['s'], 'arrays': arrays}


class PacketProtocol:
    """mrjob protocol: text key, packet value."""

    def read(self, line):
        key, _, value = line.partition(b'\t')
        return key.decode('utf-8'), decode_packet(value)

    def write(self, key, value):
        return key.encode('utf-8') + b'\t' + encode_packet(value.get('scalars'), value.get('arrays'))


def add_packets(packets):
    """Sum packets: scalars add up as counts do (counts.merge_counts: numbers
    add, ``max_*`` take the maximum, ``examples`` keep the first few), arrays
    add in float64."""
    scalars, arrays = {}, {}
    for packet in packets:
        scalars = merge_counts(scalars, packet['scalars'])
        for name, array in packet['arrays'].items():
            if name in arrays:
                arrays[name] += array
            else:
                arrays[name] = np.array(array, np.float64)
    return {'scalars': scalars, 'arrays': arrays}
