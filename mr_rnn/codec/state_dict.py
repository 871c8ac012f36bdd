"""The PyTorch-format state dict file (docs/design.md §3.2): ``OUT.npz``, one
array per parameter under torch's name, no pickle, and beside it ``OUT.json``
with the sizes, the vocabulary and the normalisation. ``mr-rnn export --format
torch`` writes it (outputs/export.py) and ``train --init-from`` reads it (model.py).
"""
import io
import json
import os

import numpy as np

from mr_rnn.codec.checkpoint import write_atomic
from mr_rnn.errors import MrRnnError

TORCH_FORMAT = 'mr_rnn-torch-state-dict-1'


class ExportError(MrRnnError):
    """An export or import that cannot be done; the message says why and what to do."""


def sidecar_path(path):
    return os.path.splitext(path)[0] + '.json'


def write_state_dict(path, arrays, facts):
    """OUT.npz: ``arrays`` by name; OUT.json: ``facts`` and the format tag. Each atomically."""
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(a) for name, a in arrays.items()})
    write_atomic(path, buffer.getvalue())
    facts = dict(facts, format=TORCH_FORMAT)
    write_atomic(sidecar_path(path), (json.dumps(facts, indent=2) + '\n').encode('utf-8'))


def read_state_dict(path):
    """(arrays by name, facts from OUT.json or None) of a state dict file."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except FileNotFoundError:
        raise ExportError(f'state dict {path} does not exist: check the path') from None
    except Exception as e:
        # a damaged zip raises a zoo of types (BadZipFile, EOFError, ...), as in
        # codec.checkpoint.load_checkpoint
        raise ExportError(f'state dict {path} is not a numpy .npz file without pickles ({e}); '
                          'write it with numpy.savez') from None
    facts = None
    if os.path.exists(sidecar_path(path)):
        try:
            with open(sidecar_path(path)) as f:
                facts = json.load(f)
        except ValueError as e:
            raise ExportError(f'{sidecar_path(path)} is not valid JSON ({e}); rewrite it with '
                              'mr-rnn export, or remove it') from None
        if not isinstance(facts, dict):
            raise ExportError(f'{sidecar_path(path)} is not a JSON object; rewrite it with '
                              'mr-rnn export, or remove it')
    return arrays, facts
