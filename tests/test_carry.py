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


def window_sums(spec, params, recs, batch_size, pool=None, carry=True):
    stream = BatchStream(batch_size, SCHEMA, np.float64, carry=carry)
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
    sums = window_sums(spec, params, recs, batch_size=3)
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
    base = window_sums(spec, params, recs, batch_size=1)
    for batch_size, order in ((2, recs), (4, recs[::-1]), (32, recs[3:] + recs[:3])):
        other = window_sums(spec, params, order, batch_size)
        assert other.loss_sum == pytest.approx(base.loss_sum, rel=1e-12)
        for name, g in base.grads.items():
            np.testing.assert_allclose(other.grads[name], g, rtol=1e-10, atol=1e-13, err_msg=name)


def test_carried_state_changes_the_gradient_and_reset_is_the_windows_alone():
    spec = spec_of('lstm', 1)
    params = init_params(spec, seed=5, dtype=np.float64)
    recs = records(seed=2)
    carried = window_sums(spec, params, recs, batch_size=2)
    plain = window_sums(spec, params, recs, batch_size=2, carry=False)
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


# --- through the jobs --------------------------------------------------------------------

def text_lines(n, seed=0):
    """Lines of 1 to 90 characters: from one window to many at --seq-len 6."""
    rng = np.random.default_rng(seed)
    letters = np.array(list('abcdefgh ij.'))
    return [''.join(rng.choice(letters, size=int(rng.integers(1, 90)))) for _ in range(n)]


def write_text(path, lines):
    path.write_text(''.join(line + '\n' for line in lines))
    return str(path)


def test_carried_weights_independent_of_runner_mappers_split_and_order(tmp_path):
    """docs/design.md §3.8 with the state carried: inline, local with 4 map tasks, and 4
    shuffled files with another --batch-size agree in float64."""
    import random
    from helpers import load_arrays, max_relative_difference, metrics, train
    lines = text_lines(60, seed=5)
    one = write_text(tmp_path / 'all.txt', lines)
    shuffled = lines[:]
    random.Random(7).shuffle(shuffled)
    parts = [write_text(tmp_path / f'part-{k}.txt', shuffled[k::4]) for k in range(4)]
    flags = ['--format', 'text', '--seq-len', '6', '--window-state', 'carry', '--cell', 'lstm',
             '--hidden', '6', '--dtype', 'float64', '--max-iter', '3', '--lr', '0.05', '--quiet']
    assert train(tmp_path / 'inline', [one], *flags, '--batch-size', '4') == 0
    assert train(tmp_path / 'local', [one], *flags, '--batch-size', '4',
                 '-r', 'local', '--num-cores', '4') == 0
    assert train(tmp_path / 'split', parts, *flags, '--batch-size', '3') == 0
    assert train(tmp_path / 'reset', [one], *flags, '--batch-size', '4',
                 '--window-state', 'reset') == 0
    final = 'checkpoints/iter-000003.npz'
    reference = load_arrays(tmp_path / 'inline' / final)
    for other in ('local', 'split'):
        assert max_relative_difference(reference, load_arrays(tmp_path / other / final)) < 1e-9
        assert metrics(tmp_path / other)[-1]['records'] == 60
    # the carried state is what these runs trained with: reset gives other weights
    assert max_relative_difference(reference, load_arrays(tmp_path / 'reset' / final)) > 1e-6


def test_one_carried_round_is_the_gradient_step_of_the_detached_loop(tmp_path):
    """One SGD round with the state carried = the kernels' carried gradient over the
    lines one at a time, which the torch test above checks."""
    from helpers import max_relative_difference, train
    from mr_rnn.data.text import TextReader
    from mr_rnn.model import Model
    path = write_text(tmp_path / 'a.txt', text_lines(30, seed=2))
    run = tmp_path / 'run'
    assert train(run, [path], '--format', 'text', '--seq-len', '5', '--hidden', '4',
                 '--layers', '2', '--dtype', 'float64', '--optimizer', 'sgd', '--lr', '0.5',
                 '--max-iter', '1', '--batch-size', '3', '--window-state', 'carry',
                 '--quiet') == 0
    w0 = Model.load(run / 'checkpoints' / 'iter-000000.npz')
    assert w0.config.data.window_state == 'carry' and w0.carries_state
    read = TextReader(w0.schema, 5).sequences
    sums = GradientSum(w0.params, w0.spec)
    with open(path, 'rb') as f:
        for raw in f:
            stream = BatchStream(1, w0.schema, np.float64, carry=True)
            stream.add_sequences(read(raw.rstrip(b'\n')))
            sums.add(stream.flush())
    sums.finish()
    expected = {n: p - 0.5 * sums.grads[n] / sums.count for n, p in w0.params.items()}
    w1 = Model.load(run / 'checkpoints' / 'iter-000001.npz')
    assert max_relative_difference(w1.params, expected) < 1e-9


def test_average_mode_with_carried_state_is_deterministic_and_resumes_exactly(tmp_path):
    """Short rounds start inside a group of lanes (kernels/local_training.py), and a
    resumed run computes what the run never stopped does (docs/design.md §8.5)."""
    from helpers import load_arrays, metrics, train
    path = write_text(tmp_path / 'a.txt', text_lines(40, seed=3))
    flags = ['--format', 'text', '--seq-len', '6', '--hidden', '5', '--dtype', 'float64',
             '--window-state', 'carry', '--mode', 'average', '--local-steps', '7',
             '--batch-size', '4', '--quiet']
    assert train(tmp_path / 'whole', [path], *flags, '--max-iter', '3') == 0
    assert train(tmp_path / 'cut', [path], *flags, '--max-iter', '1') == 0
    assert train(tmp_path / 'cut', [], '--max-iter', '3', '--resume', '--quiet') == 0
    final = 'checkpoints/iter-000003.npz'
    a, b = load_arrays(tmp_path / 'whole' / final), load_arrays(tmp_path / 'cut' / final)
    assert all(np.array_equal(a[n], b[n]) for n in a)
    rows = metrics(tmp_path / 'whole')
    assert rows[3]['train_loss'] < rows[0]['train_loss']


def test_a_checkpoint_from_before_the_flag_keeps_its_zero_state_windows(tmp_path):
    from helpers import train
    from mr_rnn.codec.checkpoint import load_checkpoint, save_checkpoint
    from mr_rnn.model import Model
    path = write_text(tmp_path / 'a.txt', text_lines(10))
    run = tmp_path / 'run'
    assert train(run, [path], '--format', 'text', '--hidden', '3', '--max-iter', '0',
                 '--window-state', 'carry', '--quiet') == 0
    ckpt = str(run / 'checkpoints' / 'iter-000000.npz')
    arrays, meta = load_checkpoint(ckpt)
    meta = {k: v for k, v in meta.items() if k not in ('checksum', 'format')}
    assert meta['config']['data'].pop('window_state') == 'carry'
    save_checkpoint(ckpt, arrays, meta)
    old = Model.load(ckpt)
    assert old.config.data.window_state == 'reset' and not old.carries_state
    assert old.with_window_state('carry').carries_state


def test_carried_sums_on_a_thread_pool_are_bitwise_those_of_one_thread(monkeypatch):
    """docs/design.md §7: lanes joined into chunks by code constants only (made
    small here, so that the records make several chunks)."""
    from mr_rnn.kernels import accumulate
    from mr_rnn.kernels.parallel import ThreadPool
    monkeypatch.setattr(accumulate, 'CHUNK_STEP_ELEMENTS', 16 * 64)
    spec = NetworkSpec('lstm', V, 64, 1, V, True, 'per_step', 'xent')
    params = init_params(spec, seed=8, dtype=np.float64)
    recs = records(seed=4, lengths=tuple(range(3, 400, 7)))
    one = window_sums(spec, params, recs, batch_size=8)
    with ThreadPool(3) as pool:
        three = window_sums(spec, params, recs, batch_size=8, pool=pool)
    assert one.loss_sum == three.loss_sum
    assert all(np.array_equal(one.grads[n], three.grads[n]) for n in one.grads)
