"""--embed D: an embedding table before the first recurrent layer, as
torch.nn.Embedding. Its forward against the naive reference, its gradient
against finite differences and torch autograd (float64), for every cell."""
import numpy as np
import pytest

import reference as ref
from helpers import uniform_params
from conftest import need_module
from mr_rnn.kernels.lookup import EMBEDDING
from mr_rnn.kernels.network import Batch, NetworkSpec, forward, loss_and_grads
from mr_rnn.kernels.rows import Rows

CELLS = ('rnn', 'lstm', 'gru')
V, E, H, O = 11, 3, 4, 5


def spec_of(cell, head='last_step', layers=1):
    return NetworkSpec(cell, V, H, layers, O, True, head, 'xent', embed=E)


def batch_of(head, seed=0):
    rng = np.random.default_rng(seed)
    lengths = [4, 1, 3]
    mask = np.arange(4)[None, :] < np.array(lengths)[:, None]
    x = np.where(mask, rng.integers(V - 1, size=(3, 4)), 0)    # id V-1 never occurs
    y = rng.integers(O, size=(3, 4) if head == 'per_step' else 3)
    return Batch(x, mask, y)


def params_of(spec, seed=1):
    return uniform_params(spec, seed, 0.7)


@pytest.mark.parametrize('cell', CELLS)
@pytest.mark.parametrize('head', ['last_step', 'per_step'])
def test_embedding_forward_matches_the_naive_reference(cell, head):
    spec, batch = spec_of(cell, head, layers=2), batch_of(head)
    params = params_of(spec)
    assert params[EMBEDDING].shape == (V, E) and params['rnn.weight_ih_l0'].shape[1] == E
    got = forward(params, spec, batch.x, batch.mask)
    want = ref.forward(params, spec, batch.x, batch.mask)
    np.testing.assert_allclose(got[batch.mask] if head == 'per_step' else got,
                               want[batch.mask] if head == 'per_step' else want, rtol=1e-12, atol=1e-13)
    assert loss_and_grads(params, spec, batch).loss_sum == pytest.approx(
        ref.loss(params, spec, batch)[0], rel=1e-12)


@pytest.mark.parametrize('cell', CELLS)
def test_embedding_gradient_matches_finite_differences_of_the_reference(cell):
    spec, batch = spec_of(cell, 'per_step'), batch_of('per_step', seed=3)
    params = params_of(spec, seed=4)
    grads = loss_and_grads(params, spec, batch).grads
    table = params[EMBEDDING]
    eps = 1e-6
    for index in np.ndindex(table.shape):
        keep = table[index]
        table[index] = keep + eps
        plus = ref.loss(params, spec, batch)[0]
        table[index] = keep - eps
        minus = ref.loss(params, spec, batch)[0]
        table[index] = keep
        assert grads[EMBEDDING][index] == pytest.approx((plus - minus) / (2 * eps), abs=1e-8)
    assert not grads[EMBEDDING][V - 1].any()        # a row no step reads


@pytest.mark.parametrize('cell', CELLS)
@pytest.mark.parametrize('head', ['last_step', 'per_step'])
def test_embedding_gradient_matches_torch_autograd(cell, head):
    torch = need_module('torch', "pip install -e '.[bench]'")
    spec, batch = spec_of(cell, head, layers=2), batch_of(head, seed=5)
    params = params_of(spec, seed=6)
    grads = loss_and_grads(params, spec, batch).grads
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    rnn = {'rnn': torch.nn.RNN, 'lstm': torch.nn.LSTM, 'gru': torch.nn.GRU}[cell](
        E, H, 2, batch_first=True).double()
    with torch.no_grad():
        for name, p in rnn.named_parameters():
            p.copy_(t['rnn.' + name])
    lengths = batch.mask.sum(axis=1)
    x = torch.nn.functional.embedding(torch.tensor(batch.x), t[EMBEDDING])
    out, _ = rnn(x)
    logits = out @ t['head.weight'].T + t['head.bias']
    if head == 'per_step':
        loss = torch.nn.functional.cross_entropy(logits[torch.tensor(batch.mask)],
                                                 torch.tensor(batch.y)[torch.tensor(batch.mask)],
                                                 reduction='sum')
    else:
        last = logits[torch.arange(3), torch.tensor(lengths - 1)]
        loss = torch.nn.functional.cross_entropy(last, torch.tensor(batch.y), reduction='sum')
    loss.backward()
    torch_grads = {EMBEDDING: t[EMBEDDING].grad.numpy(),
                   **{'rnn.' + n: p.grad.numpy() for n, p in rnn.named_parameters()}}
    for name, want in torch_grads.items():
        np.testing.assert_allclose(grads[name], want, rtol=1e-10, atol=1e-12, err_msg=name)


def test_the_sparse_gradient_is_the_rows_of_the_dense_one():
    spec, batch = spec_of('gru'), batch_of('last_step', seed=7)
    params = params_of(spec)
    dense = loss_and_grads(params, spec, batch).grads[EMBEDDING]
    rows = loss_and_grads(params, spec, batch, sparse=True).grads[EMBEDDING]
    assert isinstance(rows, Rows) and V - 1 not in rows.ids
    assert np.array_equal(rows.dense((V, E)), dense)


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
@pytest.mark.parametrize('gates', [1, 3])
def test_per_id_sums_are_the_products_with_ones_bit_for_bit(dtype, gates):
    # ids met once, twice and more often, zeros of both signs among the values
    from mr_rnn.kernels.lookup import _sum_by_id
    rng = np.random.default_rng(gates)
    B, T, W = 6, 9, 5
    mask = np.arange(T)[None, :] < rng.integers(1, T + 1, size=B)[:, None]
    x = rng.zipf(1.5, size=(B, T)) % 40
    grad = rng.normal(size=(gates, T * B, W)).astype(dtype)
    grad[rng.random(grad.shape) < 0.2] = 0.0
    grad[rng.random(grad.shape) < 0.2] = -0.0
    ids, sums = _sum_by_id(grad, Batch(x, mask, None))
    reach = (np.logical_or.accumulate(mask[:, ::-1], axis=1)[:, ::-1]).T.reshape(-1)
    flat = x.T.reshape(-1)
    counts = [int(np.sum(reach & (flat == i))) for i in ids]
    assert {1, 2} <= set(counts) and max(counts) > 2
    assert np.array_equal(ids, np.unique(flat[reach]))
    for i, got in zip(ids, sums):
        at = np.flatnonzero(reach & (flat == i))
        want = np.matmul(np.ones(len(at), dtype), grad[:, at])
        assert got.dtype == dtype and got.tobytes() == want.tobytes(), i


def embedded_model(cell, layers, per_step):
    from mr_rnn.config import ModelConfig, TrainConfig
    from mr_rnn.data.schema import DataSchema
    from mr_rnn.model import Model
    schema = DataSchema('jsonl', 'lm' if per_step else 'classify', True, V, per_step,
                        V if per_step else O)
    model = Model.initial(TrainConfig(model=ModelConfig(cell=cell, hidden=H, layers=layers,
                                                        embed=E)), schema)
    rng = np.random.default_rng(layers)
    model.params = {n: rng.uniform(-0.8, 0.8, p.shape).astype(np.float32)
                    for n, p in model.params.items()}
    return model


@pytest.mark.parametrize('cell', CELLS)
@pytest.mark.parametrize('per_step', [False, True])
def test_onnx_export_with_an_embedding_gives_our_outputs(cell, per_step):
    ort = need_module('onnxruntime', "pip install -e '.[onnx]'")
    onnx = need_module('onnx', "pip install -e '.[onnx]'")
    from mr_rnn.outputs.export import onnx_model
    model = embedded_model(cell, 2, per_step)
    batch = batch_of('per_step' if per_step else 'last_step', seed=9)
    proto = onnx_model(model)
    onnx.checker.check_model(proto, full_check=True)
    assert 'Gather' in [n.op_type for n in proto.graph.node]
    session = ort.InferenceSession(proto.SerializeToString(), providers=['CPUExecutionProvider'])
    got = session.run(['output'], {'x': batch.x, 'lengths': batch.mask.sum(axis=1).astype(np.int32)})[0]
    ours = forward(model.params, model.spec, batch.x, batch.mask)
    if per_step:
        got, ours = got[batch.mask], ours[batch.mask]
    np.testing.assert_allclose(got, ours, rtol=0, atol=1e-5)
    assert np.abs(ours).max() > 0.1


@pytest.mark.parametrize('cell', CELLS)
def test_torch_modules_loaded_from_an_export_with_an_embedding_give_our_outputs(tmp_path, cell):
    torch = need_module('torch', "pip install -e '.[bench]'")
    from mr_rnn.outputs.export import export_torch
    from test_export import torch_snippet
    model = embedded_model(cell, 2, False)
    path = str(tmp_path / 'weights.npz')
    export_torch(model, path)
    namespace = {}
    exec(torch_snippet(path), namespace)   # loads strictly
    batch = batch_of('last_step', seed=10)
    with torch.no_grad():
        got = namespace['net'](torch.tensor(batch.x), torch.tensor(batch.mask.sum(axis=1)))
    np.testing.assert_allclose(got.numpy(), forward(model.params, model.spec, batch.x, batch.mask),
                               rtol=0, atol=1e-5)


def test_embed_needs_token_input_and_says_so_in_one_line(tmp_path, capsys):
    from helpers import sequence_records, train, write_jsonl
    data = write_jsonl(tmp_path / 'dense.jsonl', sequence_records(10))
    assert train(tmp_path / 'run', [data], '--embed', '8') == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and '--embed needs token input' in err[0], err


def test_a_classifier_with_an_embedding_trains_on_inline_and_local_to_the_same_weights(tmp_path):
    from helpers import load_arrays, max_relative_difference, train, write_jsonl
    rng = np.random.default_rng(11)
    records = [{'x': rng.integers(300_000, size=int(rng.integers(2, 9))).tolist(),
                'y': int(rng.integers(3))} for _ in range(150)] + [{'x': [299_999], 'y': 0}] * 2
    data = write_jsonl(tmp_path / 'ids.jsonl', records)
    flags = ['--embed', '6', '--hidden', '5', '--dtype', 'float64', '--max-iter', '2',
             '--quiet', '--keep-checkpoints', '2']
    assert train(tmp_path / 'inline', [data], *flags) == 0
    assert train(tmp_path / 'local', [data], *flags, '-r', 'local', '--num-cores', '2') == 0
    a = load_arrays(tmp_path / 'inline' / 'final.npz')
    assert a[EMBEDDING].shape == (300_000, 6)       # past the old limit of 131,072 ids
    assert max_relative_difference(a, load_arrays(tmp_path / 'local' / 'final.npz')) < 1e-9


def test_ids_past_max_ids_are_bad_records(tmp_path, capsys):
    from helpers import train, write_jsonl
    records = [{'x': [1, 2, 3], 'y': 0}, {'x': [2, 3], 'y': 1}] * 20 + [{'x': [5000], 'y': 1}]
    data = write_jsonl(tmp_path / 'ids.jsonl', records)
    assert train(tmp_path / 'run', [data], '--max-ids', '1000', '--max-iter', '1',
                 '--hidden', '3', '--max-bad-fraction', '0.1') == 0
    assert 'token ids 5000 is past the vocabulary limit of 1000 (--max-ids)' in capsys.readouterr().err
