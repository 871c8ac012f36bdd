"""Which records an iteration uses, decided per record (docs/design.md §3.8).

A record is in the sample when a hash of (seed, iteration, its bytes) falls
below the fraction: the same records are chosen whatever the number of mappers,
the input splits or the record order, and a retried task chooses the same.
"""
import hashlib
import struct

_SCALE = float(2 ** 64)


def in_sample(record_bytes, iteration, seed, fraction):
    if fraction >= 1.0:
        return True
    salt = struct.pack('<qq', seed, iteration)
    digest = hashlib.blake2b(record_bytes, digest_size=8, salt=salt[:16]).digest()
    return struct.unpack('<Q', digest)[0] / _SCALE < fraction
