"""Checkpoint files (docs/design.md §3.4): one ``.npz``, no pickle, written atomically.

Arrays: parameters under their PyTorch names, optimizer state under
``optim.<state>.<param>``. Key ``__meta__``: UTF-8 JSON as a uint8 array with
``format``, ``iteration``, ``config``, ``seed``, data facts (vocabulary,
normalisation), ``checksums`` (a SHA-256 of each array's name, dtype, shape
and bytes) and ``checksum`` (a SHA-256 of the rest of the metadata, those
included), so any flipped byte of what is loaded is caught on load, also
when a task loads only some arrays.
"""
import hashlib
import json
import os
import uuid

import numpy as np

from mr_rnn import fault_seams
from mr_rnn.errors import MrRnnError

FORMAT = 1
META_KEY = '__meta__'
OPTIM_PREFIX = 'optim.'


class CheckpointError(MrRnnError):
    """A checkpoint that cannot be used; the message says why and what to do."""


def _array_digest(name, array, digest=None):
    digest = digest or hashlib.sha256()
    array = np.ascontiguousarray(array)
    digest.update(f'{name}|{array.dtype.str}|{array.shape}'.encode('utf-8'))
    # the array's own bytes in C order, read in place: tobytes() would copy
    # a vocabulary-sized block once more on every save and load
    digest.update(array.reshape(-1).view(np.uint8).data if array.size else b'')
    return digest


def _meta_checksum(meta):
    body = {k: v for k, v in meta.items() if k != 'checksum'}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode('utf-8')).hexdigest()


def _whole_checksum(arrays, meta):
    """The checksum of a checkpoint written before ``checksums`` (docs/design.md
    §3.4): one digest over the metadata and every array, so only a whole load
    can check it."""
    digest = hashlib.sha256()
    body = {k: v for k, v in meta.items() if k != 'checksum'}
    digest.update(json.dumps(body, sort_keys=True).encode('utf-8'))
    for name in sorted(arrays):
        _array_digest(name, arrays[name], digest)
    return digest.hexdigest()


def write_atomic(path, data):
    """Write ``data`` (bytes, or a function that writes to the open binary file)
    so that ``path`` holds the old content or all of the new, whatever happens:
    a temporary file of a unique name in the same folder, fsync, rename over
    ``path``, fsync the folder (so the rename itself survives a crash). The one
    way mr_rnn writes a file that must never be seen half written."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    # unique: two writers of one path never share a temporary file
    tmp = os.path.join(folder, f'.{os.path.basename(path)}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp')
    try:
        with open(tmp, 'xb') as f:
            if callable(data):
                data(f)
            else:
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save_checkpoint(path, arrays, meta):
    """Write atomically (write_atomic)."""
    if META_KEY in arrays:
        raise ValueError(f'{META_KEY} is reserved')
    meta = dict(meta, format=FORMAT)
    meta.pop('checksum', None)
    meta['checksums'] = {name: _array_digest(name, array).hexdigest()
                         for name, array in arrays.items()}
    meta['checksum'] = _meta_checksum(meta)
    blob = np.frombuffer(json.dumps(meta, sort_keys=True).encode('utf-8'), np.uint8)

    def write(f):
        np.savez(f, **arrays, **{META_KEY: blob})
        fault_seams.hold_checkpoint_write()
    write_atomic(path, write)
    return meta


def load_checkpoint(path, names=None):
    """Return (arrays, meta); raise CheckpointError for anything unusable.

    ``names``: a function of an array name saying whether to load it (a map
    task needs the weights, not the optimizer state); None loads every array.
    The arrays not loaded are neither read nor checked: their own checksums
    are checked by whoever loads them (docs/design.md §8.2). A checkpoint
    without per-array checksums is read whole, to check its one checksum."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            meta_array = npz[META_KEY] if META_KEY in npz.files else None
            meta = _read_meta(path, meta_array)
            in_file = set(npz.files) - {META_KEY}
            wanted = [name for name in npz.files if name != META_KEY and
                      (names is None or 'checksums' not in meta or names(name))]
            arrays = {name: npz[name] for name in wanted}
    except CheckpointError:
        raise
    except FileNotFoundError:
        raise CheckpointError(f'checkpoint {path} does not exist')
    except Exception as e:
        # a damaged zip raises a zoo of types (BadZipFile, EOFError, NotImplementedError for
        # a flipped compression or version byte, RuntimeError for a flipped encryption bit)
        raise CheckpointError(f'checkpoint {path} is corrupted or not an .npz file ({e}); '
                              'use an earlier checkpoint') from None
    if meta.get('format') != FORMAT:
        raise CheckpointError(f'checkpoint {path} has format {meta.get("format")!r}, '
                              f'this mr_rnn reads format {FORMAT}')
    if not _checks_out(arrays, meta, in_file):
        raise CheckpointError(f'checkpoint {path} fails its checksum (corrupted); '
                              'use an earlier checkpoint')
    iteration = meta.get('iteration')
    if type(iteration) is not int or iteration < 0:     # it names files: nothing but a number
        raise CheckpointError(f'checkpoint {path} has an invalid iteration {iteration!r}; '
                              'it was not written by mr_rnn')
    if names is not None and 'checksums' not in meta:
        arrays = {name: array for name, array in arrays.items() if names(name)}
    return arrays, meta


def _read_meta(path, meta_array):
    try:
        if meta_array is None:
            raise KeyError(META_KEY)
        meta = json.loads(meta_array.tobytes().decode('utf-8'))
        if not isinstance(meta, dict):
            raise ValueError('not a JSON object')
    except (KeyError, ValueError, AttributeError) as e:
        raise CheckpointError(f'checkpoint {path} has no valid {META_KEY} ({e}); '
                              'it was not written by mr_rnn') from None
    return meta


def _checks_out(arrays, meta, in_file):
    """Whether the metadata and the ``arrays`` loaded are as written: with
    per-array checksums, the metadata's own checksum (which covers the
    table of the others), the file holding exactly the arrays the table
    names, and each loaded array's; without, the one whole checksum."""
    checksums = meta.get('checksums')
    if checksums is None:
        return meta.get('checksum') == _whole_checksum(arrays, meta)
    if meta.get('checksum') != _meta_checksum(meta) or not isinstance(checksums, dict):
        return False
    return set(checksums) == in_file and all(
        checksums[name] == _array_digest(name, array).hexdigest()
        for name, array in arrays.items())


def split_arrays(arrays):
    """Separate parameters from optimizer state {param: {state: array}}."""
    params, state = {}, {}
    for name, array in arrays.items():
        if name.startswith(OPTIM_PREFIX):
            kind, param = name[len(OPTIM_PREFIX):].split('.', 1)
            state.setdefault(param, {})[kind] = array
        else:
            params[name] = array
    return params, state


def join_arrays(params, state):
    arrays = dict(params)
    for param, kinds in state.items():
        for kind, array in kinds.items():
            arrays[f'{OPTIM_PREFIX}{kind}.{param}'] = array
    return arrays
