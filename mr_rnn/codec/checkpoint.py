"""Checkpoint files (docs/design.md §3.4): one ``.npz``, no pickle, written atomically.

Arrays: parameters under their PyTorch names, optimizer state under
``optim.<state>.<param>``. Key ``__meta__``: UTF-8 JSON as a uint8 array with
``format``, ``iteration``, ``config``, ``seed``, data facts (vocabulary,
normalisation) and ``checksum``, a SHA-256 over the metadata and every array's
name, dtype, shape and bytes, so any flipped byte is caught on load.
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


def _checksum(arrays, meta):
    digest = hashlib.sha256()
    body = {k: v for k, v in meta.items() if k != 'checksum'}
    digest.update(json.dumps(body, sort_keys=True).encode('utf-8'))
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f'{name}|{array.dtype.str}|{array.shape}'.encode('utf-8'))
        # the array's own bytes in C order, read in place: tobytes() would copy
        # a vocabulary-sized block once more on every save and load
        digest.update(array.reshape(-1).view(np.uint8).data if array.size else b'')
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
    meta['checksum'] = _checksum(arrays, meta)
    blob = np.frombuffer(json.dumps(meta, sort_keys=True).encode('utf-8'), np.uint8)

    def write(f):
        np.savez(f, **arrays, **{META_KEY: blob})
        fault_seams.hold_checkpoint_write()
    write_atomic(path, write)
    return meta


def load_checkpoint(path):
    """Return (arrays, meta); raise CheckpointError for anything unusable."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except FileNotFoundError:
        raise CheckpointError(f'checkpoint {path} does not exist')
    except Exception as e:
        # a damaged zip raises a zoo of types (BadZipFile, EOFError, NotImplementedError for
        # a flipped compression or version byte, RuntimeError for a flipped encryption bit)
        raise CheckpointError(f'checkpoint {path} is corrupted or not an .npz file ({e}); '
                              'use an earlier checkpoint') from None
    try:
        meta = json.loads(arrays.pop(META_KEY).tobytes().decode('utf-8'))
        if not isinstance(meta, dict):
            raise ValueError('not a JSON object')
    except (KeyError, ValueError, AttributeError) as e:
        raise CheckpointError(f'checkpoint {path} has no valid {META_KEY} ({e}); '
                              'it was not written by mr_rnn') from None
    if meta.get('format') != FORMAT:
        raise CheckpointError(f'checkpoint {path} has format {meta.get("format")!r}, '
                              f'this mr_rnn reads format {FORMAT}')
    if meta.get('checksum') != _checksum(arrays, meta):
        raise CheckpointError(f'checkpoint {path} fails its checksum (corrupted); '
                              'use an earlier checkpoint')
    iteration = meta.get('iteration')
    if type(iteration) is not int or iteration < 0:     # it names files: nothing but a number
        raise CheckpointError(f'checkpoint {path} has an invalid iteration {iteration!r}; '
                              'it was not written by mr_rnn')
    return arrays, meta


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
