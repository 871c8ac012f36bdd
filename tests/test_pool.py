"""--pool {last,mean,max}: what a last-step head reads of the top layer's
steps. Forward against the naive reference, the gradient against finite
differences of the reference and against torch autograd (float64), for every
cell and for one-hot, embedded and dense input; the exports give our outputs."""
import numpy as np
import pytest

import reference as ref
from helpers import uniform_params
from conftest import need_module
from mr_rnn.kernels.network import Batch, NetworkSpec, forward, loss_and_grads

CELLS = ('rnn', 'lstm', 'gru')
POOLS = ('mean', 'max')
V, E, D, H, O = 9, 3, 2, 4, 3
LENGTHS = [5, 1, 3, 4]


def spec_of(cell, pool, inputs='embed', layers=1, loss='xent'):
    return NetworkSpec(cell, D if inputs == 'dense' else V, H, layers, O if loss == 'xent' else 2,
                       inputs != 'dense', 'last_step', loss, embed=E if inputs == 'embed' else 0,
                       pool=pool)


def batch_of(spec, seed=0):
    rng = np.random.default_rng(seed)
    T = max(LENGTHS)
    mask = np.arange(T)[None, :] < np.array(LENGTHS)[:, None]
    if spec.token_input:
        x = np.where(mask, rng.integers(V, size=mask.shape), 0)
    else:
        x = np.where(mask[..., None], rng.normal(size=(*mask.shape, D)), 0.0)
    y = (rng.integers(O, size=len(LENGTHS)) if spec.loss == 'xent'
         else rng.normal(size=(len(LENGTHS), spec.output_size)))
    return Batch(x, mask, y)


def params_of(spec, seed=1):
    return uniform_params(spec, seed, 0.8)


@pytest.mark.parametrize('cell', CELLS)
@pytest.mark.parametrize('pool', POOLS)
@pytest.mark.parametrize('inputs', ['embed', 'onehot', 'dense'])
def test_pooled_forward_matches_the_naive_reference(cell, pool, inputs):
    spec = spec_of(cell, pool, inputs, layers=2)
    batch, params = batch_of(spec), params_of(spec)
    got = forward(params, spec, batch.x, batch.mask)
    np.testing.assert_allclose(got, ref.forward(params, spec, batch.x, batch.mask),
                               rtol=1e-12, atol=1e-13)
    last = forward(params, spec_of(cell, 'last', inputs, layers=2), batch.x, batch.mask)
    assert np.abs(got - last)[[0, 2, 3]].min() > 1e-6     # pooling changed what the head read
    np.testing.assert_allclose(got[1], last[1], rtol=1e-12)  # one step: every pool is that step


@pytest.mark.parametrize('cell', CELLS)
@pytest.mark.parametrize('pool', POOLS)
@pytest.mark.parametrize('inputs,loss', [('embed', 'xent'), ('dense', 'mse')])
def test_pooled_gradient_matches_finite_differences_of_the_reference(cell, pool, inputs, loss):
    spec = spec_of(cell, pool, inputs, layers=2, loss=loss)
    batch, params = batch_of(spec, seed=3), params_of(spec, seed=4)
    result = loss_and_grads(params, spec, batch)
    assert result.loss_sum == pytest.approx(ref.loss(params, spec, batch)[0], rel=1e-12)
    eps = 1e-6
    for name, value in params.items():
        for index in np.ndindex(value.shape):
            keep = value[index]
            value[index] = keep + eps
            plus = ref.loss(params, spec, batch)[0]
            value[index] = keep - eps
            minus = ref.loss(params, spec, batch)[0]
            value[index] = keep
            assert result.grads[name][index] == pytest.approx(
                (plus - minus) / (2 * eps), abs=1e-8), (name, index)


def torch_pooled(torch, y, lengths, pool):
    real = (torch.arange(y.shape[1])[None, :] < lengths[:, None])[..., None]
    if pool == 'mean':
        return (y * real).sum(1) / lengths[:, None]
    return y.masked_fill(~real, float('-inf')).max(1).values


@pytest.mark.parametrize('cell', CELLS)
@pytest.mark.parametrize('pool', POOLS)
def test_pooled_gradient_matches_torch_autograd(cell, pool):
    torch = need_module('torch', "pip install -e '.[bench]'")
    spec = spec_of(cell, pool, 'embed', layers=2)
    batch, params = batch_of(spec, seed=5), params_of(spec, seed=6)
    grads = loss_and_grads(params, spec, batch).grads
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    rnn = {'rnn': torch.nn.RNN, 'lstm': torch.nn.LSTM, 'gru': torch.nn.GRU}[cell](
        E, H, 2, batch_first=True).double()
    with torch.no_grad():
        for name, p in rnn.named_parameters():
            p.copy_(t['rnn.' + name])
    y, _ = rnn(torch.nn.functional.embedding(torch.tensor(batch.x), t['embedding.weight']))
    z = torch_pooled(torch, y, torch.tensor(batch.mask.sum(axis=1)), pool)
    logits = z @ t['head.weight'].T + t['head.bias']
    torch.nn.functional.cross_entropy(logits, torch.tensor(batch.y), reduction='sum').backward()
    want = {'embedding.weight': t['embedding.weight'].grad, 'head.weight': t['head.weight'].grad,
            'head.bias': t['head.bias'].grad,
            **{'rnn.' + n: p.grad for n, p in rnn.named_parameters()}}
    for name, w in want.items():
        np.testing.assert_allclose(grads[name], w.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


def pooled_model(cell, pool, inputs):
    from mr_rnn.config import ModelConfig, TrainConfig
    from mr_rnn.data.schema import DataSchema
    from mr_rnn.model import Model
    token = inputs != 'dense'
    schema = DataSchema('jsonl', 'classify', token, V if token else D, False, O)
    model = Model.initial(TrainConfig(model=ModelConfig(
        cell=cell, hidden=H, layers=2, embed=E if inputs == 'embed' else 0, pool=pool)), schema)
    rng = np.random.default_rng(7)
    model.params = {n: rng.uniform(-0.8, 0.8, p.shape).astype(np.float32)
                    for n, p in model.params.items()}
    return model


def float32_batch(model, seed):
    batch = batch_of(model.spec, seed)
    x = batch.x if model.spec.token_input else batch.x.astype(np.float32)
    return Batch(x, batch.mask, batch.y)


@pytest.mark.parametrize('cell', CELLS)
@pytest.mark.parametrize('pool', POOLS)
@pytest.mark.parametrize('inputs', ['embed', 'dense'])
def test_onnx_export_of_a_pooled_model_gives_our_outputs(cell, pool, inputs):
    ort = need_module('onnxruntime', "pip install -e '.[onnx]'")
    onnx = need_module('onnx', "pip install -e '.[onnx]'")
    from mr_rnn.outputs.export import onnx_model
    model = pooled_model(cell, pool, inputs)
    batch = float32_batch(model, seed=9)
    proto = onnx_model(model)
    onnx.checker.check_model(proto, full_check=True)
    assert {'Mean': 'ReduceSum', 'Max': 'ReduceMax'}[pool.title()] in [
        n.op_type for n in proto.graph.node]
    session = ort.InferenceSession(proto.SerializeToString(), providers=['CPUExecutionProvider'])
    got = session.run(['output'], {'x': batch.x,
                                   'lengths': batch.mask.sum(axis=1).astype(np.int32)})[0]
    ours = forward(model.params, model.spec, batch.x, batch.mask)
    np.testing.assert_allclose(got, ours, rtol=0, atol=1e-5)
    assert np.abs(ours).max() > 0.1


@pytest.mark.parametrize('cell', CELLS)
@pytest.mark.parametrize('pool', POOLS)
def test_torch_modules_loaded_from_an_export_of_a_pooled_model_give_our_outputs(tmp_path, cell,
                                                                              pool):
    torch = need_module('torch', "pip install -e '.[bench]'")
    from mr_rnn.outputs.export import export_torch
    from test_export import torch_snippet
    model = pooled_model(cell, pool, 'embed')
    path = str(tmp_path / 'weights.npz')
    export_torch(model, path)
    namespace = {}
    exec(torch_snippet(path), namespace)   # loads strictly
    batch = float32_batch(model, seed=10)
    with torch.no_grad():
        got = namespace['net'](torch.tensor(batch.x), torch.tensor(batch.mask.sum(axis=1)))
    np.testing.assert_allclose(got.numpy(), forward(model.params, model.spec, batch.x, batch.mask),
                               rtol=0, atol=1e-5)


def test_pool_on_per_step_data_is_one_line_error(tmp_path, capsys):
    from mr_rnn.cli import main
    text = tmp_path / 'a.txt'
    text.write_text('some text to model\n' * 20)
    assert main(['train', str(text), '--pool', 'max', '--max-iter', '1',
                 '--out', str(tmp_path / 'run')]) != 0
    err = capsys.readouterr().err.strip()
    assert err.count('\n') == 0 and '--pool max' in err and 'leave it out' in err, err


def test_a_pooled_classifier_trains_on_inline_and_local_to_the_same_weights(tmp_path):
    from helpers import load_arrays, max_relative_difference, train, write_vocab_documents
    data = tmp_path / 'docs.jsonl'
    write_vocab_documents(data, n=120)
    flags = ('--embed', '8', '--cell', 'gru', '--hidden', '6', '--pool', 'max', '--dtype',
             'float64', '--max-iter', '3', '--lr', '0.05', '--optimizer', 'adam')
    assert train(tmp_path / 'inline', [str(data)], *flags) == 0
    assert train(tmp_path / 'local', [str(data)], *flags, '-r', 'local', '--num-cores', '2') == 0
    a, b = load_arrays(tmp_path / 'inline' / 'final.npz'), load_arrays(tmp_path / 'local' / 'final.npz')
    assert max_relative_difference(a, b) < 1e-9
    first = load_arrays(tmp_path / 'inline' / 'checkpoints' / 'iter-000000.npz')
    assert max_relative_difference(first, a) > 1e-3          # it trained
