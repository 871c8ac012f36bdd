"""Average mode: the reducers' outer optimizer step, its state in checkpoints,
and the inner work of a map task per round (--local-steps, --local-epochs)."""
import gzip
import json

import numpy as np
import pytest

from helpers import load_arrays, max_relative_difference, metrics, sequence_records, train, write_jsonl
from mr_rnn.codec.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from mr_rnn.codec.wire import Packet
from mr_rnn.config import ConfigError, OptimizerConfig, TrainConfig
from mr_rnn.driver.stopping import best_iteration
from mr_rnn.jobs.mr_average_step import MRAverageStep
from mr_rnn.kernels.local_training import LocalTraining
from mr_rnn.kernels.network import Batch, NetworkSpec, init_params
from mr_rnn.model import Model


def _start(tmp_path, *flags, records=20):
    """A run's checkpoint 0 in average mode (float64), and its data file."""
    data = write_jsonl(tmp_path / 'd.jsonl', sequence_records(records, seed=3))
    run = tmp_path / 'start'
    assert train(run, [data], '--mode', 'average', '--hidden', '3', '--dtype', 'float64',
                 '--max-iter', '0', *flags) == 0
    return Model.load(str(run / 'checkpoints' / 'iter-000000.npz')), data


def _reducer(model, path):
    """The real reducer of MRAverageStep, on checkpoint ``model`` saved at ``path``."""
    model.save(path)
    job = MRAverageStep(args=['--format', 'jsonl', '--checkpoint', str(path)])
    job.load_model()
    return job


def _packet(weights, count, state=None):
    """What a map task emits for one block: its weights (and state) times its count."""
    arrays = {'param': np.asarray(weights, np.float64) * count}
    for name, value in (state or {}).items():
        arrays[f'optim.{name}'] = np.asarray(value, np.float64) * count
    return Packet({'weight': count}, arrays)


def test_outer_nesterov_step_matches_a_hand_computation(tmp_path):
    model, _ = _start(tmp_path, '--outer-optimizer', 'nesterov', '--outer-lr', '0.7',
                      '--outer-momentum', '0.9')
    name = 'head.bias'
    shape = model.params[name].shape
    model.params[name] = np.full(shape, 1.0)                          # θ_k
    model.optim_state[name]['outer_momentum'] = np.full(shape, 0.5)   # b from the last round
    job = _reducer(model, tmp_path / 'k.npz')
    # task A ended at 0.4 after 3 targets, task B at 0.8 after 1 target
    (key, out), = job.reducer_average(name, [_packet(np.full(shape, 0.4), 3),
                                             _packet(np.full(shape, 0.8), 1)])
    mean = (0.4 * 3 + 0.8 * 1) / 4                 # 0.5
    delta = 1.0 - mean                             # 0.5
    momentum = 0.9 * 0.5 + delta                   # 0.95
    weights = 1.0 - 0.7 * (delta + 0.9 * momentum)  # 1 - 0.7 * 1.355 = 0.0515
    assert key == name
    assert out.arrays['param'] == pytest.approx(np.full(shape, 0.0515), rel=1e-12)
    assert out.arrays['param'] == pytest.approx(np.full(shape, weights), rel=1e-12)
    assert out.arrays['optim.outer_momentum'] == pytest.approx(np.full(shape, 0.95), rel=1e-12)


def test_outer_momentum_step_matches_a_hand_computation(tmp_path):
    model, _ = _start(tmp_path, '--outer-optimizer', 'momentum', '--outer-lr', '0.5',
                      '--outer-momentum', '0.8')
    name = 'head.weight'
    shape = model.params[name].shape
    model.params[name] = np.full(shape, -2.0)
    model.optim_state[name]['outer_momentum'] = np.full(shape, 1.0)
    job = _reducer(model, tmp_path / 'k.npz')
    (_, out), = job.reducer_average(name, [_packet(np.full(shape, -1.0), 2),
                                           _packet(np.full(shape, -4.0), 2)])
    # mean -2.5, Δ = -2 - (-2.5) = 0.5, b = 0.8 + 0.5 = 1.3, θ = -2 - 0.5 * 1.3 = -2.65
    assert out.arrays['param'] == pytest.approx(np.full(shape, -2.65), rel=1e-12)
    assert out.arrays['optim.outer_momentum'] == pytest.approx(np.full(shape, 1.3), rel=1e-12)


def test_outer_sgd_with_lr_1_is_plain_averaging_to_the_bit(tmp_path):
    model, _ = _start(tmp_path, '--outer-optimizer', 'sgd', '--outer-lr', '1',
                      '--inner-state', 'average')
    rng = np.random.default_rng(0)
    job = _reducer(model, tmp_path / 'k.npz')
    for name, theta in model.params.items():
        a, b = rng.normal(size=theta.shape), rng.normal(size=theta.shape)
        adam_a = {'exp_avg': rng.normal(size=theta.shape), 'exp_avg_sq': rng.random(theta.shape)}
        adam_b = {'exp_avg': rng.normal(size=theta.shape), 'exp_avg_sq': rng.random(theta.shape)}
        (_, out), = job.reducer_average(name, [_packet(a, 5, adam_a), _packet(b, 2, adam_b)])
        assert np.array_equal(out.arrays['param'], (a * 5 + b * 2) / 7)
        assert np.array_equal(out.arrays['optim.exp_avg'],
                              (adam_a['exp_avg'] * 5 + adam_b['exp_avg'] * 2) / 7)
        assert not any(k.startswith('optim.outer') for k in out.arrays)   # no outer state


def test_outer_state_is_in_the_checkpoint_and_checked_on_load(tmp_path):
    data = write_jsonl(tmp_path / 'd.jsonl', sequence_records(30, seed=2))
    run = tmp_path / 'run'
    assert train(run, [data], '--mode', 'average', '--hidden', '4', '--max-iter', '2',
                 '--local-steps', '3', '--batch-size', '8') == 0
    path = str(run / 'final.npz')
    arrays, meta = load_checkpoint(path)
    outer = [k for k in arrays if k.startswith('optim.outer_momentum.')]
    assert sorted(k.split('.', 2)[2] for k in outer) == sorted(Model.load(path).params)
    assert any(np.any(arrays[k]) for k in outer)          # it has moved
    assert not any(k.startswith('optim.exp_avg') for k in arrays)   # Adam's: reset every round
    del arrays['optim.outer_momentum.head.bias']
    broken = str(tmp_path / 'broken.npz')
    save_checkpoint(broken, arrays, {k: v for k, v in meta.items() if k != 'checksum'})
    with pytest.raises(CheckpointError, match="optim.outer_momentum.head.bias is missing"):
        Model.load(broken)


@pytest.mark.parametrize('flags', [
    ('--outer-optimizer', 'nesterov', '--local-steps', '3'),
    ('--outer-optimizer', 'momentum', '--local-epochs', '0.5', '--inner-state', 'average'),
])
def test_resume_in_average_mode_with_outer_state_ends_with_the_uninterrupted_weights(tmp_path,
                                                                                    flags):
    records = sequence_records(40, seed=8)
    parts = [write_jsonl(tmp_path / f'part-{k}.jsonl', records[k::2]) for k in range(2)]
    common = ['--mode', 'average', '--hidden', '5', '--dtype', 'float64', '--tol', '0',
              '--lr', '0.02', '--batch-size', '4', '--num-cores', '1', *flags]
    assert train(tmp_path / 'straight', parts, *common, '--max-iter', '4') == 0
    assert train(tmp_path / 'stopped', parts, *common, '--max-iter', '2') == 0
    assert Model.load(str(tmp_path / 'stopped' / 'final.npz')).iteration == 2
    # runner options are not part of the run: the same split needs the same ones
    assert train(tmp_path / 'stopped', [], '--resume', '--max-iter', '4', '--num-cores', '1') == 0
    a = load_arrays(tmp_path / 'straight' / 'final.npz')
    b = load_arrays(tmp_path / 'stopped' / 'final.npz')
    assert any(k.startswith('optim.outer_momentum.') for k in a)
    assert max_relative_difference(a, b) == 0


def _gzip_parts(tmp_path, records, k):
    """k gzipped files: mrjob never splits a compressed file, so each one is
    exactly one map task on the inline and on the local runner alike."""
    paths = []
    for i in range(k):
        path = tmp_path / f'part-{i}.jsonl.gz'
        with gzip.open(path, 'wt') as f:
            f.writelines(json.dumps(r) + '\n' for r in records[i::k])
        paths.append(str(path))
    return paths


def test_float64_average_mode_on_a_fixed_split_gives_the_same_weights_inline_and_local(tmp_path):
    parts = _gzip_parts(tmp_path, sequence_records(48, seed=12), 2)
    flags = ['--format', 'jsonl', '--mode', 'average', '--hidden', '5', '--dtype', 'float64',
             '--batch-size', '4', '--max-iter', '3', '--tol', '0', '--lr', '0.02',
             '--local-steps', '5']
    assert train(tmp_path / 'inline', parts, *flags) == 0
    assert train(tmp_path / 'local', parts, *flags, '-r', 'local', '--no-conf') == 0
    a = load_arrays(tmp_path / 'inline' / 'final.npz')
    b = load_arrays(tmp_path / 'local' / 'final.npz')
    assert max_relative_difference(a, b) < 1e-12
    # two tasks of 5 steps each round: the optimizer-step count says so too
    assert Model.load(str(tmp_path / 'local' / 'final.npz')).optim_step == 3 * 5
    assert [r['records'] for r in metrics(tmp_path / 'local')][0] == 48


# ── the inner work of a map task ──

def _local(batches, **options):
    spec = NetworkSpec('gru', 3, 4, 1, 4, False, 'last_step', 'xent')
    params = init_params(spec, 0, np.float64)
    config = OptimizerConfig(name='sgd', lr=0.05)
    local = LocalTraining(params, spec, {n: {} for n in params}, config, 0.05, 0, **options)
    for batch in batches:
        local.add(batch)
    return local


def _dense_batches(n, size=4, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        x = rng.normal(size=(size, 5, 3))
        out.append(Batch(x, np.ones((size, 5), bool), rng.integers(0, 4, size)))
    return out


def test_fixed_local_steps_cycle_over_a_small_shard():
    local = _local(_dense_batches(3), local_steps=10)
    local.train()
    assert local.steps == 10
    assert local.count == 10 * 4          # every step trained on a whole batch of 4


@pytest.mark.parametrize('epochs, steps', [(0.5, 4), (2, 16), (0.01, 1)])
def test_local_epochs_take_that_share_of_a_pass(epochs, steps):
    local = _local(_dense_batches(8), local_epochs=epochs)
    local.train()
    assert local.steps == steps


def test_default_inner_work_is_a_pass_but_at_least_the_minimum_steps():
    from mr_rnn.kernels.local_training import AUTO_MIN_STEPS
    small = _local(_dense_batches(3))
    small.train()
    large = _local(_dense_batches(AUTO_MIN_STEPS + 5))
    large.train()
    assert (small.steps, large.steps) == (AUTO_MIN_STEPS, AUTO_MIN_STEPS + 5)


def test_rounds_of_fewer_steps_than_batches_go_on_where_the_last_round_stopped():
    """Round k takes positions kS .. kS+S-1 of a stream of shuffled passes, so
    two rounds of 4 steps over 8 batches use all 8 batches once."""
    batches = _dense_batches(8)
    used = []
    for k in range(2):
        local = _local(batches, local_steps=4, round_index=k)
        local.take_step = lambda batch: used.append(next(i for i, b in enumerate(batches)
                                                         if b is batch))
        local.train()
    assert sorted(used) == list(range(8))


def test_a_task_keeps_at_most_its_memory_budget_of_batches():
    batches = _dense_batches(50)
    size = sum(a.nbytes for a in (batches[0].x, batches[0].y, batches[0].mask))
    local = _local(batches, local_steps=30, memory_bytes=10 * size)
    assert len(local.batches) == 10 and local.seen == 50
    kept = {id(b) for b in local.batches}
    assert any(id(b) in kept for b in batches[10:])     # a sample of the whole shard
    other = _local(batches, local_steps=30, memory_bytes=10 * size, round_index=1)
    assert {id(b) for b in other.batches} != kept       # a different one next round
    local.train()
    assert local.steps == 30
    one_pass = _local(batches, local_epochs=1, memory_bytes=10 * size)
    one_pass.train()
    assert one_pass.steps == 10                         # a pass over the sample, not the shard


def test_inner_work_flags_are_checked():
    with pytest.raises(ConfigError, match='--local-steps and --local-epochs'):
        TrainConfig(local_steps=3, local_epochs=1.0)
    with pytest.raises(ConfigError, match='--outer-momentum'):
        TrainConfig(outer_momentum=1.0)
    with pytest.raises(ConfigError, match='--outer-optimizer'):
        TrainConfig(outer_optimizer='adam')


def test_average_mode_without_validation_names_the_inner_loss_and_keeps_the_newest_as_best(
        tmp_path, capsys):
    """The tasks' inner loss is no loss of the averaged weights: the progress
    line says which loss it is, and best.npz is not chosen by it."""
    data = write_jsonl(tmp_path / 'd.jsonl', sequence_records(40, seed=8))
    run = tmp_path / 'run'
    assert train(run, [data], '--mode', 'average', '--hidden', '4', '--max-iter', '4',
                 '--local-steps', '3', '--lr', '0.5', '--tol', '0') == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith('iter')]
    assert len(lines) == 5 and all(' inner loss ' in ln for ln in lines[:4])
    assert ' inner loss ' not in lines[4] and ' loss ' in lines[4]    # the final evaluation
    assert np.array_equal(load_arrays(run / 'best.npz')['head.bias'],
                          load_arrays(run / 'final.npz')['head.bias'])
    rows = [{'iteration': k, 'train_loss': loss, 'val_loss': None}
            for k, loss in enumerate([1.0, 0.5, 0.7])]
    assert best_iteration(rows, TrainConfig(mode='average')) == 2
    assert best_iteration(rows, TrainConfig()) == 1
    rows[-1]['val_loss'] = 0.9
    rows[0]['val_loss'], rows[1]['val_loss'] = 0.95, 0.8
    assert best_iteration(rows, TrainConfig(mode='average')) == 1
