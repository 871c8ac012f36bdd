"""Optimizers, schedules, clipping, stopping and divergence."""
import glob
import math
import os

import numpy as np
import pytest

from helpers import (load_arrays, max_relative_difference, metrics, sequence_records, train,
                     write_jsonl)
from mr_rnn.config import OptimizerConfig
from mr_rnn.data.batching import make_batch
from mr_rnn.data.jsonl import JsonlReader
from mr_rnn.kernels.network import NetworkSpec, init_params, loss_and_grads
from mr_rnn.kernels.optim import apply_update, init_state, scheduled_lr
from mr_rnn.model import Model

P0, G1, G2, LR = 1.0, 0.5, -0.25, 0.1


def two_steps(name, **options):
    config = OptimizerConfig(name=name, lr=LR, **options)
    p = np.array([P0])
    state = init_state(config, p)
    p1, state = apply_update(config, p, np.array([G1]), state, step=1)
    p2, _ = apply_update(config, p1, np.array([G2]), state, step=2)
    return float(p1[0]), float(p2[0])


def hand_adam(decoupled_decay=0.0, beta1=0.9, beta2=0.999, eps=1e-8):
    p, m, v, out = P0, 0.0, 0.0, []
    for t, g in ((1, G1), (2, G2)):
        p *= 1 - LR * decoupled_decay
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        p -= LR / (1 - beta1 ** t) * m / (math.sqrt(v) / math.sqrt(1 - beta2 ** t) + eps)
        out.append(p)
    return tuple(out)


HAND = {
    # p1, p2 worked out from the equations in mr_rnn/kernels/optim.py
    'sgd': (1 - 0.1 * 0.5, 0.95 + 0.1 * 0.25),
    'momentum': (0.95, 0.95 - 0.1 * (0.9 * 0.5 - 0.25)),
    'nesterov': (1 - 0.1 * (0.5 + 0.9 * 0.5), 0.905 - 0.1 * (-0.25 + 0.9 * 0.2)),
    'adagrad': (1 - 0.1 * 0.5 / (0.5 + 1e-10),
                1 - 0.1 * 0.5 / (0.5 + 1e-10) + 0.1 * 0.25 / (math.sqrt(0.3125) + 1e-10)),
    'rmsprop': (1 - 0.1 * 0.5 / (math.sqrt(0.0025) + 1e-8),
                None),   # filled below: depends on p1
    'adam': hand_adam(),
}
_p1 = HAND['rmsprop'][0]
HAND['rmsprop'] = (_p1, _p1 + 0.1 * 0.25 / (math.sqrt(0.99 * 0.0025 + 0.01 * 0.0625) + 1e-8))


@pytest.mark.parametrize('name', sorted(HAND))
def test_optimizer_matches_hand_computed_steps(name):
    assert two_steps(name) == pytest.approx(HAND[name], rel=1e-12, abs=1e-15)


def test_adamw_decays_weights_decoupled_from_the_gradient():
    assert two_steps('adamw', weight_decay=0.1) == pytest.approx(hand_adam(0.1), rel=1e-12)
    # adam's weight decay is L2 added to the gradient instead: different numbers
    assert two_steps('adam', weight_decay=0.1) != pytest.approx(hand_adam(0.1), rel=1e-6)


def test_l2_weight_decay_adds_to_the_gradient():
    p1, _ = two_steps('sgd', weight_decay=0.2)
    assert p1 == pytest.approx(1 - 0.1 * (0.5 + 0.2 * 1.0), rel=1e-12)


@pytest.mark.parametrize('schedule, options, expected', [
    ('constant', {}, {0: 1.0, 7: 1.0, 30: 1.0}),
    ('step', {'step_size': 10, 'gamma': 0.5}, {0: 1.0, 9: 1.0, 10: 0.5, 25: 0.25}),
    ('exponential', {'gamma': 0.5}, {0: 1.0, 3: 0.125}),
    ('cosine', {'min_lr': 0.1}, {0: 1.0, 5: 0.55, 10: 0.1}),
    ('constant', {'warmup': 4}, {0: 0.25, 1: 0.5, 3: 1.0, 9: 1.0}),
    ('cosine', {'warmup': 2}, {0: 0.5, 5: 0.5}),
])
def test_schedule_gives_the_documented_learning_rate(schedule, options, expected):
    config = OptimizerConfig(name='sgd', lr=1.0, schedule=schedule, **options)
    for k, lr in expected.items():
        assert scheduled_lr(config, k, total_rounds=10) == pytest.approx(lr, rel=1e-12), k


def test_initialisations_are_seeded_and_shaped_as_documented():
    spec = NetworkSpec('lstm', 3, 5, 2, 4, False, 'last_step', 'xent')
    ortho = init_params(spec, 3, np.float64, 'orthogonal', forget_bias=1.0)
    for k in range(2):
        w = ortho[f'rnn.weight_hh_l{k}']
        for g in range(4):
            block = w[g * 5:(g + 1) * 5]
            assert np.allclose(block.T @ block, np.eye(5), atol=1e-12)
        assert np.all(ortho[f'rnn.bias_ih_l{k}'][5:10] == 1.0)
        assert np.all(ortho[f'rnn.bias_hh_l{k}'] == 0.0)
    xavier = init_params(spec, 3, np.float64, 'xavier')
    limit = math.sqrt(6 / (5 + 3))           # one gate block of weight_ih_l0: (5, 3)
    assert np.abs(xavier['rnn.weight_ih_l0']).max() <= limit
    assert np.abs(xavier['rnn.weight_ih_l0']).max() > 0.5 * limit
    assert all(np.array_equal(a, b) for a, b in zip(
        init_params(spec, 3, np.float64, 'xavier').values(), xavier.values()))


def test_clipping_with_several_reducers_equals_clipping_the_concatenated_gradient(tmp_path):
    data = write_jsonl(tmp_path / 'd.jsonl', sequence_records(50, seed=4))
    run = tmp_path / 'run'
    clip, lr = 0.05, 0.3
    assert train(run, [data], '--cell', 'gru', '--hidden', '5', '--layers', '2', '--dtype',
                 'float64', '--optimizer', 'sgd', '--lr', str(lr), '--clip-norm', str(clip),
                 '--max-iter', '1', '--num-cores', '4') == 0
    w0 = Model.load(str(run / 'checkpoints' / 'iter-000000.npz'))
    with open(data, 'rb') as f:
        seqs = [s for line in f for s in JsonlReader(w0.schema).sequences(line.rstrip(b'\n'))]
    whole = loss_and_grads(w0.params, w0.spec, make_batch(seqs, False, False, np.float64))
    concatenated = np.concatenate([g.ravel() / whole.count for g in whole.grads.values()])
    norm = np.linalg.norm(concatenated)
    assert norm > 2 * clip                       # clipping really happens
    expected = {n: p - lr * (clip / norm) * whole.grads[n] / whole.count
                for n, p in w0.params.items()}
    w1 = Model.load(str(run / 'checkpoints' / 'iter-000001.npz'))
    assert max_relative_difference(w1.params, expected) < 1e-9
    assert metrics(run)[0]['grad_norm'] == pytest.approx(norm, rel=1e-9)


def test_target_loss_stops_the_run(tmp_path):
    data = write_jsonl(tmp_path / 'd.jsonl', sequence_records(40, seed=1))
    run = tmp_path / 'run'
    assert train(run, [data], '--hidden', '8', '--lr', '0.05', '--max-iter', '50',
                 '--target-loss', '1.3', '--tol', '0') == 0
    losses = [r['train_loss'] for r in metrics(run)]
    reached = next(i for i, loss in enumerate(losses) if loss <= 1.3)
    # no update after the round that reached it; the checkpoint that round
    # had already computed gets the last, evaluated line
    assert len(losses) == reached + 2 < 51


def test_early_stopping_on_validation_loss_keeps_the_best(tmp_path):
    train_data = write_jsonl(tmp_path / 't.jsonl', sequence_records(30, seed=1))
    val_data = write_jsonl(tmp_path / 'v.jsonl', sequence_records(30, seed=2))  # unrelated labels
    run = tmp_path / 'run'
    assert train(run, [train_data], '--val', val_data, '--hidden', '16', '--lr', '0.05',
                 '--max-iter', '60', '--patience', '3', '--tol', '0') == 0
    rows = metrics(run)
    assert len(rows) < 61                                   # stopped early
    best = min(rows, key=lambda r: r['val_loss'])
    assert Model.load(str(run / 'best.npz')).iteration == best['iteration']
    assert rows[-1]['train_loss'] < rows[0]['train_loss']


def test_val_fraction_holds_out_the_same_records_in_every_run(tmp_path):
    data = write_jsonl(tmp_path / 'd.jsonl', sequence_records(200, seed=3))
    for run in ('a', 'b'):
        assert train(tmp_path / run, [data], '--hidden', '4', '--max-iter', '1',
                     '--val-fraction', '0.25', '--seed', '1' if run == 'a' else '2') == 0
    a, b = metrics(tmp_path / 'a'), metrics(tmp_path / 'b')
    assert a[0]['records'] == b[0]['records']               # the same training records
    assert 120 < a[0]['records'] < 180
    assert a[0]['val_loss'] is not None


def _exploding_run(tmp_path, *flags):
    rng = np.random.default_rng(0)
    records = [{'x': rng.normal(size=(4, 2)).tolist(), 'y': [float(v) for v in rng.normal(size=2) * 50]}
               for _ in range(30)]
    data = write_jsonl(tmp_path / 'd.jsonl', records)
    return train(tmp_path / 'run', [data], '--cell', 'rnn', '--hidden', '6', '--optimizer',
                 'sgd', '--lr', '3', '--max-iter', '4', '--dtype', 'float64', '--tol', '0', *flags)


def test_divergence_stops_without_publishing_the_bad_weights(tmp_path, capsys):
    assert _exploding_run(tmp_path) == 2
    err = capsys.readouterr().err
    assert 'diverged' in err and 'last good checkpoint' in err
    run = tmp_path / 'run'
    assert glob.glob(str(run / 'checkpoints' / '*.diverged'))
    assert not os.path.exists(run / 'final.npz')
    for path in glob.glob(str(run / 'checkpoints' / 'iter-*.npz')):
        Model.load(path)


def test_divergence_halve_lr_retries_and_finishes(tmp_path, capsys):
    assert _exploding_run(tmp_path, '--on-divergence', 'halve-lr') == 0
    err = capsys.readouterr().err
    assert 'redoing iteration' in err
    final = Model.load(str(tmp_path / 'run' / 'final.npz'))
    assert final.lr_scale < 1 and final.iteration == 4
    rows = metrics(tmp_path / 'run')
    assert [r['iteration'] for r in rows] == list(range(5))
    assert all(math.isfinite(r['train_loss']) for r in rows)


def test_divergence_flags_reach_the_run(tmp_path, capsys):
    # with lr 0.4 the loss climbs from round 2 on: 4348 3920 4000 4481 6040 11089 27450,
    # never 10 x the best (3920) in 6 rounds; twice the best from round 5 on
    assert _exploding_run(tmp_path, '--lr', '0.4', '--max-iter', '6', '--divergence-factor', '2',
                          '--divergence-rounds', '2') == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'diverged to 2.745e+04 at iteration 6, after 2 round(s) above ' \
        '--divergence-factor 2 x the best loss' in err[0], err
    diverged = glob.glob(str(tmp_path / 'run' / 'checkpoints' / '*.diverged'))
    assert sorted(os.path.basename(p) for p in diverged) == [
        'iter-000005.npz.diverged', 'iter-000006.npz.diverged']     # the 2 rounds
    for flags, message in ((('--divergence-rounds', '0'), 'must be an integer of at least 1'),
                           (('--divergence-factor', '1'), 'must be above 1')):
        (tmp_path / flags[0]).mkdir()
        assert _exploding_run(tmp_path / flags[0], *flags) == 2
        assert f'{flags[0]} {message}' in capsys.readouterr().err


@pytest.mark.parametrize('mode_flags', [
    ('--mode', 'gradient'),
    ('--mode', 'gradient', '--sample-fraction', '0.5'),
    ('--mode', 'average', '--batch-size', '8'),
    ('--mode', 'gradient', '--clip-norm', '0.01', '--schedule', 'cosine'),
])
def test_resumed_run_ends_with_the_same_weights_in_every_mode(tmp_path, mode_flags):
    data = write_jsonl(tmp_path / 'd.jsonl', sequence_records(40, seed=8))
    flags = ['--hidden', '5', '--dtype', 'float64', '--tol', '0', '--lr', '0.02', *mode_flags]
    assert train(tmp_path / 'straight', [data], *flags, '--max-iter', '4') == 0
    assert train(tmp_path / 'stopped', [data], *flags, '--max-iter', '4',
                 '--target-loss', '100') == 0        # no update after round 0
    assert Model.load(str(tmp_path / 'stopped' / 'final.npz')).iteration == 1
    assert train(tmp_path / 'stopped', [], '--resume', '--target-loss', '-1') == 0
    a = load_arrays(tmp_path / 'straight' / 'final.npz')
    b = load_arrays(tmp_path / 'stopped' / 'final.npz')
    assert max_relative_difference(a, b) < 1e-12


def test_average_mode_averages_by_examples_and_steps_locally(tmp_path):
    data = write_jsonl(tmp_path / 'd.jsonl', sequence_records(64, seed=6))
    run = tmp_path / 'run'
    # one pass per task and plain averaging (outer sgd, lr 1): random labels give
    # nothing to learn across shards beyond the first passes
    assert train(run, [data], '--mode', 'average', '--batch-size', '8', '--hidden', '6',
                 '--lr', '0.02', '--max-iter', '3', '--num-cores', '2', '--tol', '0',
                 '--local-epochs', '1', '--outer-optimizer', 'sgd', '--outer-lr', '1') == 0
    rows = metrics(run)
    assert rows[-1]['train_loss'] < rows[0]['train_loss']
    final = Model.load(str(run / 'final.npz'))
    assert final.optim_step > final.iteration        # several local steps per round
