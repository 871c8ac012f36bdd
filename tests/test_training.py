"""Whole training runs through the MapReduce jobs: exactness and determinism."""
import os
import random

import numpy as np
import pytest

from helpers import (load_arrays, max_relative_difference, metrics, sequence_records, train,
                     write_jsonl)
from mr_rnn.data.batching import make_batch
from mr_rnn.data.jsonl import JsonlReader
from mr_rnn.jobs.mrjob_internals import map_task_count
from mr_rnn.kernels.network import loss_and_grads
from mr_rnn.model import Model

LR = 0.5


def token_lm_records(n, seed=0, vocab=6):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        T = int(rng.integers(1, 8))
        ids = rng.integers(vocab, size=T + 1).tolist()
        out.append({'x': ids[:-1], 'y': ids[1:]})
    return out


def regression_records(n, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        T = int(rng.integers(1, 8))
        out.append({'x': rng.normal(size=(T, 2)).tolist(), 'y': rng.normal(size=(T, 3)).tolist()})
    return out


DATASETS = {
    'classify-last-step': lambda: sequence_records(40, seed=1),
    'token-lm-per-step': lambda: token_lm_records(40, seed=2),
    'regress-per-step': lambda: regression_records(40, seed=3),
}


@pytest.mark.parametrize('cell', ['rnn', 'lstm', 'gru'])
@pytest.mark.parametrize('data', sorted(DATASETS))
def test_one_sgd_iteration_is_exact_gradient_step_of_global_mean_loss(tmp_path, cell, data):
    path = write_jsonl(tmp_path / 'data.jsonl', DATASETS[data]())
    run = tmp_path / 'run'
    assert train(run, [path], '--cell', cell, '--hidden', '5', '--layers', '2',
                 '--optimizer', 'sgd', '--lr', str(LR), '--dtype', 'float64',
                 '--max-iter', '1', '--batch-size', '7', '--num-cores', '2') == 0

    # the same gradient, in one process, over the whole data set at once
    w0 = Model.load(run / 'checkpoints' / 'iter-000000.npz')
    read = JsonlReader(w0.schema).sequences
    with open(path, 'rb') as f:
        seqs = [s for line in f for s in read(line.rstrip(b'\n'))]
    whole = loss_and_grads(w0.params, w0.spec,
                           make_batch(seqs, w0.schema.token_input, w0.schema.per_step, np.float64))
    expected = {n: p - LR * whole.grads[n] / whole.count for n, p in w0.params.items()}

    w1 = Model.load(run / 'checkpoints' / 'iter-000001.npz')
    assert max_relative_difference(w1.params, expected) < 1e-9
    assert metrics(run)[0]['train_loss'] == pytest.approx(whole.loss_sum / whole.count, rel=1e-12)


def one_file_and_shuffled_parts(folder, records, parts=4):
    """The records as one file, and shuffled into ``parts`` files."""
    one = write_jsonl(folder / 'all.jsonl', records)
    shuffled = records[:]
    random.Random(7).shuffle(shuffled)
    return one, [write_jsonl(folder / f'part-{k}.jsonl', shuffled[k::parts])
                 for k in range(parts)]


@pytest.fixture
def map_tasks(monkeypatch):
    """The number of map tasks of every job a local runner (inline, local) ran
    in the test, read (mrjob_internals.map_task_count) while the runner is open."""
    import mrjob.sim
    counts, counters = [], mrjob.sim.SimMRJobRunner.counters

    def counting(runner):
        counts.append(map_task_count(runner))
        return counters(runner)
    monkeypatch.setattr(mrjob.sim.SimMRJobRunner, 'counters', counting)
    return counts


# -r local: mrjob aims at two splits per core, so 2 cores make the README's 4 map tasks
LOCAL_4_MAP_TASKS = ['-r', 'local', '--num-cores', '2']


def test_weights_independent_of_runner_mappers_split_and_order(tmp_path, map_tasks):
    """docs/design.md §3.8: inline, local with 4 map tasks, and 4 shuffled files agree."""
    one, parts = one_file_and_shuffled_parts(tmp_path, sequence_records(60, seed=5))
    flags = ['--cell', 'lstm', '--hidden', '6', '--dtype', 'float64', '--max-iter', '3',
             '--batch-size', '8', '--lr', '0.05']

    assert train(tmp_path / 'inline', [one], *flags) == 0
    map_tasks.clear()
    assert train(tmp_path / 'local', [one], *flags, *LOCAL_4_MAP_TASKS) == 0
    assert len(map_tasks) >= 5 and set(map_tasks) == {4}, map_tasks    # every job of the run
    map_tasks.clear()
    assert train(tmp_path / 'split', parts, *flags) == 0
    assert 4 in map_tasks, map_tasks        # the gradient job: a map task per file

    final = 'checkpoints/iter-000003.npz'
    reference = load_arrays(tmp_path / 'inline' / final)
    for other in ('local', 'split'):
        assert max_relative_difference(reference, load_arrays(tmp_path / other / final)) < 1e-9
        assert metrics(tmp_path / other)[-1]['records'] == 60


def test_sampled_iterations_independent_of_split(tmp_path):
    records = sequence_records(80, seed=9)
    one = write_jsonl(tmp_path / 'all.jsonl', records)
    parts = [write_jsonl(tmp_path / f'part-{k}.jsonl', records[k::3]) for k in range(3)]
    flags = ['--hidden', '4', '--dtype', 'float64', '--max-iter', '3', '--sample-fraction', '0.4']
    assert train(tmp_path / 'a', [one], *flags, '--num-cores', '1') == 0
    assert train(tmp_path / 'b', parts, *flags, '--num-cores', '4') == 0
    final = 'checkpoints/iter-000003.npz'
    a, b = load_arrays(tmp_path / 'a' / final), load_arrays(tmp_path / 'b' / final)
    assert max_relative_difference(a, b) < 1e-9
    used = [row['records'] for row in metrics(tmp_path / 'a')[:3]]
    assert all(10 < n < 60 for n in used), used          # a sample, not everything
    assert len(set(used)) > 1                            # a different one each iteration


# float32 weights: batches are summed in float32 inside a task, so how records group
# into batches and tasks moves the last bits; the README states this tolerance
FLOAT32_RTOL = 1e-5


def test_float32_weights_agree_across_runner_mappers_split_and_batching_to_1e_5(tmp_path,
                                                                              map_tasks):
    one, parts = one_file_and_shuffled_parts(tmp_path, sequence_records(60, seed=5))
    flags = ['--cell', 'lstm', '--hidden', '6', '--dtype', 'float32', '--max-iter', '3',
             '--lr', '0.05', '--optimizer', 'adam', '--quiet']
    assert train(tmp_path / 'inline', [one], *flags, '--batch-size', '8') == 0
    map_tasks.clear()
    assert train(tmp_path / 'local', [one], *flags, '--batch-size', '8', *LOCAL_4_MAP_TASKS) == 0
    assert len(map_tasks) >= 5 and set(map_tasks) == {4}, map_tasks
    assert train(tmp_path / 'split', parts, *flags, '--batch-size', '5') == 0
    final = 'checkpoints/iter-000003.npz'
    reference = load_arrays(tmp_path / 'inline' / final)
    assert all(a.dtype == np.float32 for name, a in reference.items()
               if not name.startswith('optim.'))
    for other in ('local', 'split'):
        weights = load_arrays(tmp_path / other / final)
        assert max_relative_difference(reference, weights) < FLOAT32_RTOL
    # the runs did train: the weights moved from the initial ones by far more than that
    initial = load_arrays(tmp_path / 'inline' / 'checkpoints' / 'iter-000000.npz')
    assert max_relative_difference(reference, initial) > 100 * FLOAT32_RTOL


def test_loss_falls_and_convergence_stops_early(tmp_path):
    path = write_jsonl(tmp_path / 'd.jsonl', sequence_records(50, seed=2))
    run = tmp_path / 'run'
    assert train(run, [path], '--hidden', '8', '--lr', '0.05', '--max-iter', '40',
                 '--tol', '0.05', '--patience', '2') == 0
    rows = metrics(run)
    assert rows[-1]['train_loss'] < rows[0]['train_loss']
    assert len(rows) - 1 < 40                 # stopped by --tol, not by --max-iter
    assert [r['iteration'] for r in rows] == list(range(len(rows)))
    for name in ('final.npz', 'best.npz', 'config.json'):
        assert os.path.exists(run / name)
