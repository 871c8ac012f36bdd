"""Export to ONNX and to a PyTorch state dict, and import back for training.

onnxruntime runs the ONNX export of every cell, one and two layers, dense and
token inputs, per-step and last-step heads, on random variable-length inputs,
and must give our forward pass's outputs to 1e-5. The PyTorch test runs only
where torch is installed (it is not a test dependency: its wheels are GBs);
it executes the snippet of docs/using-models.md.
"""
import itertools
import json
import os
import re

import numpy as np
import pytest

from conftest import need_module
from mr_rnn.cli import main
from mr_rnn.codec.state_dict import read_state_dict
from mr_rnn.config import ModelConfig, TrainConfig
from mr_rnn.data.schema import DataSchema
from mr_rnn.outputs.export import ExportError, export_torch, gate_blocks, onnx_model
from mr_rnn.kernels.network import forward
from mr_rnn.model import Model, init_from_state_dict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ONNX = "pip install -e '.[onnx]'"
B, T, D, H, V, O = 4, 6, 3, 5, 7, 3
LENGTHS = np.array([6, 3, 1, 5])
MASK = np.arange(T)[None, :] < LENGTHS[:, None]

SCHEMAS = {   # dense many-to-one, token language model, dense per-step regression
    'classify-last-step': DataSchema('jsonl', 'classify', False, D, False, O),
    'token-lm-per-step': DataSchema('jsonl', 'lm', True, V, True, V),
    'regress-per-step': DataSchema('jsonl', 'regress', False, D, True, O),
}


def random_model(cell, layers, schema, seed=0, dtype='float64', scale=0.8):
    config = TrainConfig(model=ModelConfig(cell=cell, hidden=H, layers=layers, dtype=dtype))
    model = Model.initial(config, schema)
    rng = np.random.default_rng(seed)
    model.params = {n: rng.uniform(-scale, scale, p.shape).astype(dtype)
                    for n, p in model.params.items()}
    return model


def random_inputs(schema, seed=1):
    rng = np.random.default_rng(seed)
    if schema.token_input:
        x = rng.integers(0, schema.input_size, (B, T))
        return np.where(MASK, x, 0)
    return np.where(MASK[..., None], rng.normal(size=(B, T, schema.input_size)), 0.0)


# ── ONNX ──

@pytest.mark.parametrize('cell,layers,kind', list(itertools.product(
    ('rnn', 'lstm', 'gru'), (1, 2), sorted(SCHEMAS))))
def test_onnxruntime_output_matches_our_forward(cell, layers, kind):
    ort = need_module('onnxruntime', ONNX)
    onnx = need_module('onnx', ONNX)
    model = random_model(cell, layers, SCHEMAS[kind], seed=layers)
    x = random_inputs(model.schema)
    proto = onnx_model(model)
    onnx.checker.check_model(proto, full_check=True)
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count(cell.upper()) == layers          # the standard operator, one per layer
    session = ort.InferenceSession(proto.SerializeToString(), providers=['CPUExecutionProvider'])
    feed = {'x': x if model.schema.token_input else x.astype(np.float32),
            'lengths': LENGTHS.astype(np.int32)}
    got = session.run(['output'], feed)[0]
    ours = forward(model.params, model.spec, x, MASK)
    assert got.shape == ours.shape
    if model.spec.head == 'per_step':
        got, ours = got[MASK], ours[MASK]            # padding steps are no one's output
    np.testing.assert_allclose(got, ours, rtol=0, atol=1e-5)
    assert np.abs(ours).max() > 0.1                  # the comparison is not of zeros


def test_gate_blocks_follow_onnx_order():
    names = {'lstm': 'ifgo', 'gru': 'rzn', 'rnn': 'h'}
    expected = {'lstm': 'iofg', 'gru': 'zrn', 'rnn': 'h'}
    for cell, gates in names.items():
        blocks = np.repeat(np.array([ord(g) for g in gates]), 2)
        reordered = ''.join(chr(c) for c in gate_blocks(blocks, cell)[::2])
        assert reordered == expected[cell]


def test_onnx_model_carries_vocabulary_and_normalisation():
    need_module('onnx', ONNX)
    schema = DataSchema('csv', 'regress', False, 1, False, 2, columns=('co2',),
                        target_columns=('co2',), norm={'co2': [330.5, 12.25]})
    config = TrainConfig(model=ModelConfig(cell='gru', hidden=H))
    proto = onnx_model(Model.initial(config, schema))
    facts = json.loads({p.key: p.value for p in proto.metadata_props}['mr_rnn'])
    assert facts['schema']['norm'] == {'co2': [330.5, 12.25]}
    assert facts['head'] == 'last_step' and facts['cell'] == 'gru'


def test_cli_export_onnx_writes_a_model_onnxruntime_loads(tmp_path):
    ort = need_module('onnxruntime', ONNX)
    model = random_model('lstm', 2, SCHEMAS['classify-last-step'], dtype='float32')
    ckpt = str(tmp_path / 'model.npz')
    model.save(ckpt)
    out = str(tmp_path / 'model.onnx')
    assert main(['export', ckpt, '--format', 'onnx', out]) == 0
    session = ort.InferenceSession(out, providers=['CPUExecutionProvider'])
    x = random_inputs(model.schema)
    got = session.run(None, {'x': x.astype(np.float32), 'lengths': LENGTHS.astype(np.int32)})[0]
    np.testing.assert_allclose(got, forward(model.params, model.spec, x.astype(np.float32), MASK),
                               rtol=0, atol=1e-5)


def test_cli_export_names_a_format_it_cannot_guess(tmp_path, capsys):
    model = random_model('rnn', 1, SCHEMAS['classify-last-step'])
    ckpt = str(tmp_path / 'model.npz')
    model.save(ckpt)
    assert main(['export', ckpt, str(tmp_path / 'model.bin')]) == 2
    assert 'add --format onnx or torch' in capsys.readouterr().err


# ── PyTorch state dict ──

def test_torch_state_dict_round_trips_bit_for_bit(tmp_path):
    model = random_model('gru', 2, SCHEMAS['token-lm-per-step'], dtype='float32')
    path = str(tmp_path / 'weights.npz')
    export_torch(model, path)
    arrays, facts = read_state_dict(path)
    assert sorted(arrays) == sorted(model.params)       # torch's names, nothing else
    for name, array in arrays.items():
        assert array.dtype == model.params[name].dtype
        assert array.tobytes() == model.params[name].tobytes()
    assert facts['cell'] == 'gru' and facts['layers'] == 2 and facts['hidden'] == H
    assert facts['input_size'] == V and facts['token_input'] is True

    # import into a fresh model of the same shape: identical weights, fresh optimizer
    fresh = Model.initial(model.config, model.schema)
    imported = init_from_state_dict(fresh, path)
    for name in model.params:
        np.testing.assert_array_equal(imported.params[name], model.params[name])
        assert imported.params[name].dtype == fresh.params[name].dtype
        for state in imported.optim_state[name].values():
            assert not state.any()
    # ... which saves and loads as a checkpoint like any other
    imported.save(str(tmp_path / 'ckpt.npz'))
    again = Model.load(str(tmp_path / 'ckpt.npz'))
    for name in model.params:
        np.testing.assert_array_equal(again.params[name], model.params[name])


def test_import_refuses_a_state_dict_of_another_shape(tmp_path):
    path = str(tmp_path / 'weights.npz')
    export_torch(random_model('lstm', 1, SCHEMAS['classify-last-step']), path)
    other = random_model('lstm', 2, SCHEMAS['classify-last-step'])
    with pytest.raises(ExportError, match='missing .*rnn.weight_ih_l1'):
        init_from_state_dict(other, path)


def test_import_refuses_another_vocabulary(tmp_path):
    def text_model(vocab):
        schema = DataSchema('text', 'lm', True, len(vocab), True, len(vocab), vocab=vocab)
        return Model.initial(TrainConfig(model=ModelConfig(cell='rnn', hidden=H)), schema)
    path = str(tmp_path / 'weights.npz')
    export_torch(text_model(('<unk>', 'a', 'b')), path)
    assert init_from_state_dict(text_model(('<unk>', 'a', 'b')), path) is not None
    with pytest.raises(ExportError, match='another vocabulary'):
        init_from_state_dict(text_model(('<unk>', 'a', 'c')), path)


def test_cli_export_torch_writes_state_dict_and_facts(tmp_path):
    model = random_model('rnn', 2, SCHEMAS['regress-per-step'])
    ckpt = str(tmp_path / 'model.npz')
    model.save(ckpt)
    out = str(tmp_path / 'export' / 'weights.npz')
    assert main(['export', ckpt, '--format', 'torch', out]) == 0
    with np.load(out, allow_pickle=False) as npz:
        assert sorted(npz.files) == sorted(model.params)
    with open(str(tmp_path / 'export' / 'weights.json')) as f:
        assert json.load(f)['cell'] == 'rnn'


DOC_TORCH_PATH = "'digits-torch.npz'"     # the file the docs' snippet loads


def torch_snippet(path):
    """The PyTorch code of docs/using-models.md, so the docs cannot go stale,
    loading ``path`` where the docs load their own export."""
    with open(os.path.join(ROOT, 'docs', 'using-models.md')) as f:
        blocks = re.findall(r'```python\n(.*?)```', f.read(), re.S)
    snippet = next(b for b in blocks if 'class Net' in b)
    assert DOC_TORCH_PATH in snippet, 'the snippet loads another file: update DOC_TORCH_PATH'
    return snippet.replace(DOC_TORCH_PATH, repr(path))


@pytest.mark.parametrize('cell,layers,kind', [
    ('lstm', 2, 'classify-last-step'), ('gru', 2, 'token-lm-per-step'),
    ('rnn', 1, 'regress-per-step'), ('gru', 1, 'classify-last-step')])
def test_torch_modules_loaded_from_the_export_give_our_outputs(tmp_path, cell, layers, kind):
    torch = need_module('torch', "pip install -e '.[bench]'")
    model = random_model(cell, layers, SCHEMAS[kind], dtype='float32')
    path = str(tmp_path / 'weights.npz')
    export_torch(model, path)
    namespace = {}
    exec(torch_snippet(path), namespace)   # loads strictly
    x = random_inputs(model.schema)
    with torch.no_grad():
        got = namespace['net'](torch.tensor(x), torch.tensor(LENGTHS))
    ours = forward(model.params, model.spec, x.astype(np.float32) if x.dtype.kind == 'f' else x,
                   MASK)
    got = got.numpy()
    if model.spec.head == 'per_step':
        got, ours = got[MASK], ours[MASK]
    np.testing.assert_allclose(got, ours, rtol=0, atol=1e-5)


def test_train_init_from_an_exported_state_dict_starts_from_its_weights(tmp_path):
    import sys
    sys.path.insert(0, os.path.dirname(__file__))
    from helpers import load_arrays, sequence_records, write_jsonl
    data = write_jsonl(tmp_path / 'd.jsonl', sequence_records(30, seed=2))
    flags = ['--hidden', '6', '--dtype', 'float64', '--tol', '0']
    assert main(['train', data, '--out', str(tmp_path / 'first'), *flags, '--max-iter', '2']) == 0
    state = str(tmp_path / 'state.npz')
    assert main(['export', str(tmp_path / 'first' / 'final.npz'), '--format', 'torch', state]) == 0
    assert main(['train', data, '--out', str(tmp_path / 'second'), *flags, '--max-iter', '1',
                 '--init-from', state]) == 0
    exported = load_arrays(state)
    start = load_arrays(tmp_path / 'second' / 'checkpoints' / 'iter-000000.npz')
    for name, array in exported.items():
        assert np.array_equal(start[name], array)
    assert not any(np.any(start[k]) for k in start if k.startswith('optim.'))   # fresh state
    # a state dict of another shape is one clear error
    assert main(['train', data, '--out', str(tmp_path / 'third'), '--hidden', '7',
                 '--init-from', state]) == 2
