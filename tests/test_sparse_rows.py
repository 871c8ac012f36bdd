"""The input weights of token ids travel as rows (kernels/rows.py): the ids a
shard touched, added by id, and the update they make is the dense one."""
import json

import numpy as np
import pytest

from helpers import load_arrays, max_relative_difference, train, write_jsonl
from mr_rnn.codec.wire import Packet, add_packets, decode_packet, encode_packet
from mr_rnn.config import OptimizerConfig, TrainConfig
from mr_rnn.data.routing import Routing
from mr_rnn.data.schema import DataSchema
from mr_rnn.data.task_input import Record
from mr_rnn.kernels.accumulate import GradientSum
from mr_rnn.kernels.network import Batch, NetworkSpec, init_params
from mr_rnn.kernels.local_training import LocalTraining
from mr_rnn.kernels.optim import STATE_NAMES, apply_update, mean_from_changes, update_slabs
from mr_rnn.kernels.rows import Rows
from mr_rnn.model import Model
from mr_rnn.tasks.gradient_step import GradientMap


def random_rows(rng, vocab, width, n):
    ids = np.sort(rng.choice(vocab, n, replace=False))
    return Rows(ids, rng.normal(size=(n, width)))


def update_case(name, axis, weight_decay, vocab=50, width=6):
    """(shape, config, float32 weights, state on every row from earlier
    rounds, a gradient of 7 rows) for one optimizer and id axis."""
    rng = np.random.default_rng(len(name) + axis)
    shape = (vocab, width) if axis == 0 else (width, vocab)
    config = OptimizerConfig(name=name, lr=0.01, weight_decay=weight_decay)
    param = rng.normal(size=shape).astype(np.float32)
    state = {k: np.abs(rng.normal(size=shape)) for k in STATE_NAMES[name]}
    return shape, config, param, state, random_rows(rng, vocab, width, 7)


@pytest.mark.parametrize('name', sorted(STATE_NAMES))
@pytest.mark.parametrize('axis', [0, 1])
@pytest.mark.parametrize('weight_decay', [0.0, 0.01])
def test_a_rows_update_is_bit_for_bit_the_dense_update(name, axis, weight_decay):
    vocab = 50
    # state from earlier rounds on every row: rows without a gradient now still move
    shape, config, param, state, rows = update_case(name, axis, weight_decay, vocab)
    dense = rows.dense(shape, axis)
    assert np.count_nonzero(np.moveaxis(dense, axis, 0).any(axis=1)) == 7
    want_p, want_state = apply_update(config, param, dense, state, step=3)
    got_p, got_state = apply_update(config, param, rows, state, step=3, id_axis=axis)
    assert got_p.dtype == param.dtype
    assert np.array_equal(got_p, want_p)
    assert got_state.keys() == want_state.keys()
    for k in want_state:
        assert np.array_equal(got_state[k], want_state[k]), k
    if state and name in ('momentum', 'nesterov', 'adam', 'adamw'):
        untouched = np.setdiff1d(np.arange(vocab), rows.ids)
        moved = np.moveaxis(got_p, axis, 0)[untouched] != np.moveaxis(param, axis, 0)[untouched]
        assert moved.any()          # their moments move them


@pytest.mark.parametrize('name', sorted(STATE_NAMES))
@pytest.mark.parametrize('axis', [0, 1])
@pytest.mark.parametrize('weight_decay', [0.0, 0.01])
@pytest.mark.parametrize('sparse', [True, False])
def test_the_update_a_slab_of_rows_at_a_time_is_bit_for_bit_the_whole_blocks(
        name, axis, weight_decay, sparse):
    shape, config, param, state, rows = update_case(name, axis, weight_decay)
    grad = rows if sparse else rows.dense(shape, axis)
    want_p, want_state = apply_update(config, param, grad, state, step=3, id_axis=axis)
    # slabs of 3 rows (and one of 2 at the end): some hold ids, some none
    row_bytes = 8 * shape[1]
    slabs = list(update_slabs(config, param, grad, state, step=3, id_axis=axis,
                              slab_bytes=3 * row_bytes))
    assert [start for start, _, _ in slabs] == list(range(0, shape[0], 3))
    got_p = np.concatenate([p for _, p, _ in slabs])
    assert got_p.dtype == param.dtype and np.array_equal(got_p, want_p)
    for k in want_state:
        assert np.array_equal(np.concatenate([s[k] for _, _, s in slabs]), want_state[k]), k


def test_rows_travel_on_the_wire_and_add_by_id_as_their_dense_blocks_do():
    rng = np.random.default_rng(0)
    parts = [random_rows(rng, 40, 3, n) for n in (5, 9, 1)]
    decoded = [decode_packet(encode_packet(Packet({'count': 2}, rows={'g': r}))) for r in parts]
    for got, sent in zip(decoded, parts):
        assert np.array_equal(got.rows['g'].ids, sent.ids)
        assert np.array_equal(got.rows['g'].values, sent.values)
    total = add_packets(decoded)
    dense = np.zeros((40, 3))
    for r in parts:
        dense += r.dense((40, 3))
    assert np.array_equal(total.rows['g'].dense((40, 3)), dense)
    assert total.scalars == {'count': 6}


def token_batches(rng, vocab, ids_used, batches=4, rows=5, steps=6):
    for _ in range(batches):
        x = rng.choice(ids_used, size=(rows, steps))
        mask = np.arange(steps)[None, :] < rng.integers(1, steps + 1, size=rows)[:, None]
        yield Batch(np.where(mask, x, 0), mask, rng.integers(3, size=rows))


def test_gradient_sums_as_rows_are_the_dense_sums_bit_for_bit():
    spec = NetworkSpec('lstm', 300, 4, 1, 3, True, 'last_step', 'xent')
    params = init_params(spec, 0, np.float64)
    dense, sparse = GradientSum(params, spec), GradientSum(params, spec, sparse=True)
    for batch in token_batches(np.random.default_rng(1), 300, np.arange(0, 300, 7)):
        dense.add(batch)
        sparse.add(batch)
    dense.finish()
    sparse.finish()
    rows = sparse.grads['rnn.weight_ih_l0']
    assert isinstance(rows, Rows) and len(rows.ids) < 300 // 7 + 1
    assert np.array_equal(rows.dense(params['rnn.weight_ih_l0'].shape, 1),
                          dense.grads['rnn.weight_ih_l0'])
    for name in params:
        if name != 'rnn.weight_ih_l0':
            assert np.array_equal(sparse.grads[name], dense.grads[name]), name


def emitted_bytes(vocab, records, embed=0):
    """What one gradient map task emits on ``records`` for a classifier over
    ``vocab`` ids (LSTM 16), one-hot or with an embedding table."""
    schema = DataSchema('jsonl', 'classify', True, vocab, False, 2)
    model = Model.initial(TrainConfig.from_dict({'model': {'hidden': 16, 'embed': embed}}), schema)
    task = GradientMap(model, Routing())
    for i, raw in enumerate(records):
        task.add(Record(raw, f'f:{i + 1}', 'f', lambda raw=raw: task.read_line(raw)))
    return sum(len(encode_packet(packet)) for _, packet in task.finish())


@pytest.mark.parametrize('embed', [0, 64])
def test_a_map_task_emits_about_as_much_at_200k_ids_as_at_1k(embed):
    rng = np.random.default_rng(2)
    used = rng.choice(1000, 300, replace=False)        # the same distinct ids in both
    records = [json.dumps({'x': rng.choice(used, 30).tolist(), 'y': int(rng.integers(2))})
               .encode() for _ in range(200)]
    small, large = emitted_bytes(1000, records, embed), emitted_bytes(200_000, records, embed)
    assert large <= 1.5 * small, (small, large)


def token_records(n, vocab, seed):
    rng = np.random.default_rng(seed)
    return [{'x': rng.integers(vocab, size=int(rng.integers(2, 9))).tolist(),
             'y': int(rng.integers(3))} for _ in range(n)]


def test_weights_with_rows_agree_across_runners_and_split_files(tmp_path):
    records = token_records(120, 400, seed=5) + [{'x': [399], 'y': 2}] * 2
    whole = write_jsonl(tmp_path / 'all.jsonl', records)
    parts = [write_jsonl(tmp_path / f'part-{k}.jsonl', records[k::3]) for k in range(3)]
    flags = ['--hidden', '5', '--dtype', 'float64', '--max-iter', '3', '--batch-size', '8',
             '--optimizer', 'adam', '--lr', '0.05', '--quiet']
    assert train(tmp_path / 'inline', [whole], *flags) == 0
    assert train(tmp_path / 'local', [whole], *flags, '-r', 'local', '--num-cores', '2') == 0
    assert train(tmp_path / 'split', parts, *flags, '-r', 'local', '--num-cores', '2') == 0
    a = load_arrays(tmp_path / 'inline' / 'final.npz')
    assert a['rnn.weight_ih_l0'].shape == (20, 400)
    for other in ('local', 'split'):
        assert max_relative_difference(a, load_arrays(tmp_path / other / 'final.npz')) < 1e-9


@pytest.mark.parametrize('optimizer', ['adam', 'momentum', 'adagrad'])
def test_local_training_on_touched_rows_is_the_dense_local_training(optimizer):
    spec = NetworkSpec('gru', 300, 4, 1, 3, True, 'last_step', 'xent')
    params = init_params(spec, 0, np.float64)
    config = OptimizerConfig(name=optimizer, lr=0.05)
    runs = {}
    for sparse in (False, True):
        local = LocalTraining(params, spec, {n: {} for n in params}, config, 0.05, 0,
                              local_steps=6, keep_state=False, sparse=sparse)
        for batch in token_batches(np.random.default_rng(4), 300, np.arange(0, 300, 5)):
            local.add(batch)
        local.train()
        runs[sparse] = local
    dense, rows = runs[False], runs[True]
    for name in params:
        assert np.array_equal(rows.params[name], dense.params[name]), name
    change, _ = rows.weighted()['rnn.weight_ih_l0']
    assert isinstance(change, Rows) and len(change.ids) <= 300 // 5
    weighted_param, _ = dense.weighted()['rnn.weight_ih_l0']
    mean = mean_from_changes(params['rnn.weight_ih_l0'], change, float(rows.count), axis=1)
    np.testing.assert_allclose(mean, weighted_param / dense.count, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize('optimizer', sorted(n for n in STATE_NAMES if n != 'adamw'))
@pytest.mark.parametrize('embed', [0, 4])
def test_local_training_on_most_rows_is_the_dense_local_training(optimizer, embed):
    # a batch touches at most 30 of the 60 ids: the first step takes the few
    # rows touched, the later ones most of the block and put back the others
    spec = NetworkSpec('gru', 60, 4, 1, 3, True, 'last_step', 'xent', embed)
    params = init_params(spec, 1, np.float64)
    config = OptimizerConfig(name=optimizer, lr=0.05)
    runs = {}
    for sparse in (False, True):
        local = LocalTraining(params, spec, {n: {} for n in params}, config, 0.05, 0,
                              local_steps=10, keep_state=False, sparse=sparse)
        for batch in token_batches(np.random.default_rng(6), 60, np.arange(1, 56), batches=6):
            local.add(batch)
        local.train()
        runs[sparse] = local
    dense, rows = runs[False], runs[True]
    name, axis = ('embedding.weight', 0) if embed else ('rnn.weight_ih_l0', 1)
    touched = rows.touched[name]
    assert 30 < len(touched) < 56
    for n in params:
        assert np.array_equal(rows.params[n], dense.params[n]), n
        for k in rows.state[n]:
            assert np.array_equal(rows.state[n][k], dense.state[n][k]), (n, k)
    untouched = np.setdiff1d(np.arange(60), touched)
    assert np.array_equal(np.take(rows.params[name], untouched, axis),
                          np.take(params[name], untouched, axis))
    change, _ = rows.weighted()[name]
    assert np.array_equal(change.ids, touched)


def test_row_average_touched_is_each_rows_mean_over_the_tasks_that_touched_it():
    spec = NetworkSpec('lstm', 300, 4, 1, 3, True, 'last_step', 'xent')
    params = init_params(spec, 0, np.float64)
    config = OptimizerConfig(name='adam', lr=0.05)
    tasks = []
    for seed, used in ((4, np.arange(0, 200, 3)), (5, np.arange(100, 300, 7))):
        local = LocalTraining(params, spec, {n: {} for n in params}, config, 0.05, 0,
                              local_steps=5, keep_state=False, sparse=True)
        for batch in token_batches(np.random.default_rng(seed), 300, used):
            local.add(batch)
        local.train()
        tasks.append(local)
    name = 'rnn.weight_ih_l0'
    changes = [t.weighted()[name][0] for t in tasks]
    touched = [Rows(c.ids, np.full(len(c.ids), float(t.count))) for c, t in zip(changes, tasks)]
    got = mean_from_changes(params[name], changes[0].plus(changes[1]),
                            float(sum(t.count for t in tasks)), axis=1,
                            row_weights=touched[0].plus(touched[1]))
    want = params[name].copy()
    for column in range(300):
        trained = [t for t in tasks if column in t.touched[name]]
        if trained:
            want[:, column] = (sum(t.count * t.params[name][:, column] for t in trained)
                               / sum(t.count for t in trained))
    only_first = np.setdiff1d(tasks[0].touched[name], tasks[1].touched[name])
    both = np.intersect1d(tasks[0].touched[name], tasks[1].touched[name])
    assert len(only_first) and len(both)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    # a row only the first task touched is that task's own row, not half of its change
    np.testing.assert_allclose(got[:, only_first], tasks[0].params[name][:, only_first],
                               rtol=1e-12, atol=1e-14)


def test_a_classifier_over_a_million_distinct_ids_trains_inline_and_on_local(tmp_path):
    """Records that together use a million distinct ids, each one once, and
    an --embed 64 table of a row per id: one round on each runner, the same
    weights, every row a record reached moved. (SGD: the rows are what is
    shown; Adam's state would triple the checkpoint each task loads.) The
    largest id only one record reaches sizes no model (schema.top_id): that
    record is the run's one bad record. --pool mean gives every step a
    gradient that float32 weights can show after one step; from the last step
    alone, most of 250 steps back it vanishes."""
    ids = np.random.default_rng(11).permutation(1_000_000)
    records = [{'x': ids[i:i + 250].tolist(), 'y': int(i // 250 % 2)}
               for i in range(0, len(ids), 250)]
    data = write_jsonl(tmp_path / 'million.jsonl', records)
    flags = ['--embed', '64', '--cell', 'gru', '--hidden', '4', '--pool', 'mean',
             '--max-iter', '1',
             '--optimizer', 'sgd', '--momentum', '0', '--lr', '0.5', '--batch-size', '64',
             '--quiet']
    assert train(tmp_path / 'inline', [data], *flags) == 0
    assert train(tmp_path / 'local', [data], *flags, '-r', 'local', '--num-cores', '2') == 0
    start = load_arrays(tmp_path / 'inline' / 'checkpoints' / 'iter-000000.npz')
    inline = load_arrays(tmp_path / 'inline' / 'final.npz')
    local = load_arrays(tmp_path / 'local' / 'final.npz')
    table = 'embedding.weight'
    assert inline[table].shape == (999_999, 64)
    # float32 sums in another order: agreement to float32's rounding, not bit for bit
    assert max_relative_difference(inline, local) < 1e-4
    moved = np.abs(inline[table] - start[table]).max(axis=1)
    assert (moved[ids[ids < 999_999]] > 0).mean() > 0.99     # each row a record reached
