"""--embed D: an embedding table before the first recurrent layer, as
torch.nn.Embedding. Its forward against the naive reference, its gradient
against finite differences and torch autograd (float64), for every cell."""
import numpy as np
import pytest

import reference as ref
from conftest import need_module
from mr_rnn.kernels.lookup import EMBEDDING
from mr_rnn.kernels.network import Batch, NetworkSpec, forward, init_params, loss_and_grads
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
    rng = np.random.default_rng(seed)
    return {name: rng.uniform(-0.7, 0.7, p.shape)
            for name, p in init_params(spec, 0, np.float64).items()}


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
