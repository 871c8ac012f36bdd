"""The state carried across the windows of a record (docs/design.md §3.1):
the gradient against a PyTorch loop that detaches the state between windows,
the lanes a map task walks, and the evaluation of a record as one stream."""
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import need_module
from mr_rnn.data.batching import BatchStream
from mr_rnn.data.records import Sequence
from mr_rnn.kernels.accumulate import GradientSum, LossSum
from mr_rnn.kernels.network import Lanes, NetworkSpec, init_params, loss_and_grads
from mr_rnn.kernels.carry import step_loss_and_grads

V, H, L = 7, 5, 4
CELLS = ['rnn', 'lstm', 'gru']
SCHEMA = SimpleNamespace(token_input=True, per_step=True)


def records(seed=0, lengths=(17, 9, 3, 12, 1, 8, 26)):
    rng = np.random.default_rng(seed)
    return [rng.integers(V, size=n + 1) for n in lengths]


def windows(ids):
    """TextReader's windows of a record's ids (data/text.py)."""
    n = len(ids)
    return [Sequence(ids[s:min(s + L, n - 1)], ids[s + 1:s + L + 1]) for s in range(0, n - 1, L)]


def spec_of(cell, layers):
    return NetworkSpec(cell, V, H, layers, V, True, 'per_step', 'xent')


def carried_sums(spec, params, recs, batch_size, pool=None):
    stream = BatchStream(batch_size, SCHEMA, np.float64, carry=True)
    sums = GradientSum(params, spec, pool=pool)
    for ids in recs:
        for unit in stream.add_sequences(windows(ids)):
            sums.add(unit)
    unit = stream.flush()
    if unit is not None:
        sums.add(unit)
    sums.finish()
    return sums


def torch_detached_loop(torch, spec, params, recs):
    """PyTorch's word-language-model loop, one record at a time: each window
    from the state the last one ended in, detached (repackage_hidden)."""
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    rnn = {'rnn': torch.nn.RNN, 'lstm': torch.nn.LSTM, 'gru': torch.nn.GRU}[spec.cell](
        V, H, spec.layers, batch_first=True).double()
    with torch.no_grad():
        for name, p in rnn.named_parameters():
            p.copy_(t['rnn.' + name])
    total = 0.0
    for ids in recs:
        state = None
        for w in windows(ids):
            x = torch.nn.functional.one_hot(torch.tensor(w.x), V).double()[None]
            out, state = rnn(x, state)
            logits = out[0] @ t['head.weight'].T + t['head.bias']
            loss = torch.nn.functional.cross_entropy(logits, torch.tensor(w.y), reduction='sum')
            loss.backward()
            total += float(loss.detach())
            state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
    grads = {'rnn.' + n: p.grad.numpy() for n, p in rnn.named_parameters()}
    grads.update({k: t[k].grad.numpy() for k in ('head.weight', 'head.bias')})
    return total, grads


@pytest.mark.parametrize('layers', [1, 2])
@pytest.mark.parametrize('cell', CELLS)
def test_carried_gradient_equals_a_torch_loop_that_detaches_the_state(cell, layers):
    torch = need_module('torch', "pip install -e '.[bench]'")
    spec = spec_of(cell, layers)
    params = init_params(spec, seed=3, dtype=np.float64)
    recs = records()
    sums = carried_sums(spec, params, recs, batch_size=3)
    loss, want = torch_detached_loop(torch, spec, params, recs)
    assert sums.loss_sum == pytest.approx(loss, rel=1e-10)
    assert sums.count == sum(len(ids) - 1 for ids in recs)
    for name, g in want.items():
        np.testing.assert_allclose(sums.grads[name], g, rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize('cell', CELLS)
def test_carried_sums_do_not_depend_on_lanes_or_record_order(cell):
    spec = spec_of(cell, 2)
    params = init_params(spec, seed=4, dtype=np.float64)
    recs = records(seed=1, lengths=(40, 3, 19, 77, 2, 5, 33, 9, 14, 61, 8))
    base = carried_sums(spec, params, recs, batch_size=1)
    for batch_size, order in ((2, recs), (4, recs[::-1]), (32, recs[3:] + recs[:3])):
        other = carried_sums(spec, params, order, batch_size)
        assert other.loss_sum == pytest.approx(base.loss_sum, rel=1e-12)
        for name, g in base.grads.items():
            np.testing.assert_allclose(other.grads[name], g, rtol=1e-10, atol=1e-13, err_msg=name)


def test_carried_state_changes_the_gradient_and_reset_is_the_windows_alone():
    spec = spec_of('lstm', 1)
    params = init_params(spec, seed=5, dtype=np.float64)
    recs = records(seed=2)
    carried = carried_sums(spec, params, recs, batch_size=2)
    plain = GradientSum(params, spec)
    stream = BatchStream(2, SCHEMA, np.float64)
    for ids in recs:
        for batch in stream.add_sequences(windows(ids)):
            plain.add(batch)
    last = stream.flush()
    if last is not None:
        plain.add(last)
    plain.finish()
    assert plain.count == carried.count
    assert abs(plain.loss_sum - carried.loss_sum) > 1e-6


def test_a_lane_walks_its_records_in_order_each_from_zeros():
    stream = BatchStream(2, SCHEMA, np.float64, carry=True)
    recs = records(lengths=(9, 5, 13))
    for ids in recs:
        assert stream.add_sequences(windows(ids)) == []
    lanes = stream.flush()
    assert isinstance(lanes, Lanes)
    # lane 0: record 0 (3 windows); lane 1: record 1 (2 windows), then record 2
    # (4 windows), which went to the lane with fewer windows
    assert [f.tolist() for f in lanes.fresh] == [[True, True], [False, False], [False, True],
                                                 [True, False], [True, False], [True, False]]
    assert [b.mask.sum(axis=1).tolist() for b in lanes.steps] == [[4, 4], [4, 1], [1, 4],
                                                                  [0, 4], [0, 4], [0, 1]]


@pytest.mark.parametrize('cell', CELLS)
def test_evaluation_scores_a_record_as_one_stream(cell):
    """LossSum over Lanes is the loss of each record run from zeros in one pass."""
    spec = spec_of(cell, 2)
    params = init_params(spec, seed=6, dtype=np.float64)
    recs = records(seed=3)
    stream = BatchStream(3, SCHEMA, np.float64, carry=True)
    sums = LossSum(params, spec)
    for ids in recs:
        for unit in stream.add_sequences(windows(ids)):
            sums.add(unit)
    sums.add(stream.flush())
    whole = GradientSum(params, spec)
    whole.add(_one_batch(recs))
    whole.finish()
    assert sums.count == whole.count
    assert sums.loss_sum == pytest.approx(whole.loss_sum, rel=1e-12)


def _one_batch(recs):
    from mr_rnn.data.batching import make_batch
    return make_batch([Sequence(ids[:-1], ids[1:]) for ids in recs], True, True, np.float64)


def test_a_step_from_zeros_is_the_plain_window():
    spec = spec_of('gru', 2)
    params = init_params(spec, seed=7, dtype=np.float64)
    from mr_rnn.data.batching import make_batch
    batch = make_batch(windows(records()[0]), True, True, np.float64)
    fresh = np.ones(batch.mask.shape[0], bool)
    result, _ = step_loss_and_grads(params, spec, batch, fresh, None)
    plain = loss_and_grads(params, spec, batch)
    assert result.loss_sum == pytest.approx(plain.loss_sum, rel=1e-14)
    for name, g in plain.grads.items():
        np.testing.assert_allclose(result.grads[name], g, rtol=1e-12, atol=1e-15)
