"""Validation inside the training job: one MapReduce job per round, with or
without validation, and the same validation losses as a separate evaluate job."""
import gzip
import os

import pytest

import mr_rnn.driver.train as train_module
from helpers import load_arrays, max_relative_difference, metrics, sequence_records, train, write_jsonl
from mr_rnn.driver.runner import run_job
from mr_rnn.jobs.mr_evaluate import MREvaluate
from mr_rnn.tasks.totals import STATS_KEY

FLAGS = ['--hidden', '5', '--dtype', 'float64', '--lr', '0.05', '--tol', '0', '--batch-size', '8']


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp('val')
    return (write_jsonl(folder / 'train.jsonl', sequence_records(60, seed=11)),
            write_jsonl(folder / 'val.jsonl', sequence_records(30, seed=12)))


def counting_jobs(monkeypatch):
    jobs = []

    def counted(job_class, *args, **kwargs):
        jobs.append(job_class.__name__)
        return run_job(job_class, *args, **kwargs)
    monkeypatch.setattr(train_module, 'run_job', counted)
    return jobs


def separate_evaluation(checkpoint, inputs, *split):
    """The loss the evaluate job reports for a checkpoint (what --val ran before)."""
    output, _ = run_job(MREvaluate, ['--format', 'jsonl', '--checkpoint', checkpoint, *split,
                                     *inputs], [])
    scalars = dict(output)[STATS_KEY].scalars
    return scalars['loss_sum'] / scalars['count']


@pytest.mark.parametrize('runner', ['inline', 'local'])
def test_val_runs_one_job_per_round_and_equals_the_evaluate_job(data, tmp_path, monkeypatch,
                                                                runner):
    train_data, val_data = data
    jobs = counting_jobs(monkeypatch)
    run = tmp_path / 'run'
    assert train(run, [train_data], '--val', val_data, *FLAGS, '--max-iter', '4',
                 '-r', runner, '--quiet') == 0
    assert jobs == ['MRDescribeData'] + ['MRGradientStep'] * 4 + ['MREvaluate']
    rows = metrics(run)
    assert [r['iteration'] for r in rows] == [0, 1, 2, 3, 4]
    for row in rows:
        checkpoint = str(run / 'checkpoints' / f'iter-{row["iteration"]:06d}.npz')
        assert row['val_loss'] == pytest.approx(separate_evaluation(checkpoint, [val_data]),
                                                rel=1e-12, abs=0)
        # the training loss is still that of the training records alone
        assert row['train_loss'] == pytest.approx(separate_evaluation(checkpoint, [train_data]),
                                                  rel=1e-12, abs=0)
        assert row['records'] == 60


def test_val_fraction_runs_one_job_per_round_and_equals_the_evaluate_job(data, tmp_path,
                                                                         monkeypatch):
    train_data, _ = data
    jobs = counting_jobs(monkeypatch)
    run = tmp_path / 'run'
    assert train(run, [train_data], '--val-fraction', '0.3', *FLAGS, '--max-iter', '2',
                 '--quiet') == 0
    assert jobs == ['MRDescribeData', 'MRGradientStep', 'MRGradientStep', 'MREvaluate']
    for row in metrics(run):
        checkpoint = str(run / 'checkpoints' / f'iter-{row["iteration"]:06d}.npz')
        assert row['val_loss'] == pytest.approx(
            separate_evaluation(checkpoint, [train_data], '--split', 'val'), rel=1e-12, abs=0)
        assert row['train_loss'] == pytest.approx(
            separate_evaluation(checkpoint, [train_data], '--split', 'train'), rel=1e-12, abs=0)
        assert 30 < row['records'] < 60         # the held-out share is not trained on


@pytest.mark.parametrize('mode', ['gradient', 'average'])
def test_validation_records_never_reach_the_weights(data, tmp_path, mode):
    """The same weights with and without --val: validation adds to no gradient
    and to no local training. (The training file is gzipped so that mrjob's
    inline runner, which splits files by the total input size, gives its one
    map task the same records either way: average mode depends on the split.)"""
    train_data, val_data = data
    packed = str(tmp_path / 'train.jsonl.gz')
    with open(train_data, 'rb') as f, gzip.open(packed, 'wb') as out:
        out.write(f.read())
    train_data = packed
    flags = [*FLAGS, '--max-iter', '2', '--mode', mode, '--quiet']
    assert train(tmp_path / 'plain', [train_data], *flags) == 0
    assert train(tmp_path / 'val', [train_data], '--val', val_data, *flags) == 0
    assert max_relative_difference(load_arrays(tmp_path / 'plain' / 'final.npz'),
                                   load_arrays(tmp_path / 'val' / 'final.npz')) == 0
    plain, val = metrics(tmp_path / 'plain'), metrics(tmp_path / 'val')
    assert [r['train_loss'] for r in plain] == [r['train_loss'] for r in val]
    assert all(r['val_loss'] is not None for r in val)


def test_val_given_as_a_folder_of_parts(data, tmp_path):
    train_data, val_data = data
    parts = tmp_path / 'val-parts'
    parts.mkdir()
    lines = open(val_data).read().splitlines(keepends=True)
    for k in range(3):
        (parts / f'part-{k:05d}').write_text(''.join(lines[k::3]))
    (parts / '_SUCCESS').write_text('')
    run = tmp_path / 'run'
    assert train(run, [train_data], '--val', str(parts), *FLAGS, '--max-iter', '1',
                 '--quiet') == 0
    checkpoint = os.path.join(run, 'checkpoints', 'iter-000000.npz')
    assert metrics(run)[0]['val_loss'] == pytest.approx(
        separate_evaluation(checkpoint, [val_data]), rel=1e-12, abs=0)


def test_a_file_that_is_both_training_and_validation_data_is_one_line(data, tmp_path, capsys):
    train_data, _ = data
    assert train(tmp_path / 'run', [train_data], '--val', train_data) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'is both training and validation data' in err[0], err
