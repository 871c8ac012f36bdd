"""Map and reduce tasks under the Python and numpy that cluster nodes ship
(3.8 with numpy 1.24, 3.9 with numpy 2.0), on mrjob's local runner: train
(with validation), evaluate and predict give what the inline runner gives.
Hadoop local mode: tests/test_hadoop.py. Interpreters: tests/pythons.py."""
import json

import pytest

from helpers import (load_arrays, max_relative_difference, metrics, sequence_records,
                     text_schema_of, write_jsonl, write_vocab_documents)
from mr_rnn.cli import main
from pythons import SUPPORTED, numpy_version, task_python

FLAGS = ['--hidden', '6', '--dtype', 'float64', '--lr', '0.05', '--tol', '0', '--batch-size', '8',
         '--max-iter', '2']
RTOL = 1e-9


def mr_rnn(capsys, *argv):
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


@pytest.fixture(scope='module')
def inline(tmp_path_factory):
    folder = tmp_path_factory.mktemp('pythons')
    data = write_jsonl(folder / 'train.jsonl', sequence_records(50, seed=21))
    val = write_jsonl(folder / 'val.jsonl', sequence_records(20, seed=22))
    run = folder / 'inline'
    assert main(['train', data, '--val', val, '--out', str(run), *FLAGS, '--quiet']) == 0
    return data, val, run


def predictions(text):
    return sorted((json.loads(line) for line in text.splitlines()), key=lambda r: r['id'])


@pytest.mark.parametrize('version,requirement', SUPPORTED)
def test_tasks_on_old_pythons_give_the_inline_runners_results(inline, tmp_path, capsys, version,
                                                              requirement):
    python = task_python(version, requirement)
    data, val, reference = inline
    old = ['-r', 'local', '--python-bin', python]
    run = tmp_path / 'run'
    mr_rnn(capsys, 'train', data, '--val', val, '--out', str(run), *FLAGS, *old, '--quiet')
    assert max_relative_difference(load_arrays(run / 'final.npz'),
                                   load_arrays(reference / 'final.npz')) < RTOL
    for got, want in zip(metrics(run), metrics(reference)):
        assert got['val_loss'] == pytest.approx(want['val_loss'], rel=RTOL)
        assert got['train_loss'] == pytest.approx(want['train_loss'], rel=RTOL)

    checkpoint = str(reference / 'final.npz')
    want = json.loads(mr_rnn(capsys, 'evaluate', checkpoint, val, '--json'))
    got = json.loads(mr_rnn(capsys, 'evaluate', checkpoint, val, '--json', *old))
    assert got['records'] == want['records'] == 20
    assert got['loss'] == pytest.approx(want['loss'], rel=RTOL)
    assert got['confusion'] == want['confusion']

    want = predictions(mr_rnn(capsys, 'predict', checkpoint, val))
    got = predictions(mr_rnn(capsys, 'predict', checkpoint, val, *old))
    assert [r['id'] for r in got] == [r['id'] for r in want] and len(got) == 20
    for g, w in zip(got, want):
        assert g['class'] == w['class']
        assert g['probabilities'] == pytest.approx(w['probabilities'], rel=RTOL)


@pytest.mark.parametrize('version,requirement,says', [
    ('3.7', None, 'mr_rnn tasks need Python 3.8 or newer; this task runs Python 3.7.'),
    ('3.8', 'numpy==1.23.5', "mr_rnn tasks need numpy 1.24 or newer; the task's Python"),
])
def test_a_task_python_or_numpy_too_old_is_one_line(inline, tmp_path, capsys, version,
                                                     requirement, says):
    python = task_python(version, requirement)
    if requirement:
        assert numpy_version(python) == requirement.split('==')[1]
    data, _, _ = inline
    capsys.readouterr()
    code = main(['train', data, '--out', str(tmp_path / 'run'), *FLAGS, '-r', 'local',
                 '--python-bin', python])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f'mr-rnn: error: MRDescribeData failed: a task raised '
                             f'RuntimeError: {says}'), err[0]


@pytest.mark.parametrize('version,requirement', SUPPORTED)
def test_documents_on_old_pythons_give_the_inline_runners_vocabulary_and_weights(
        tmp_path, capsys, version, requirement):
    """Words tokenized by the tasks of an old Python (its own Unicode database
    is older: data/tokens.py reads the frozen tables instead) give the inline
    runner's vocabulary and weights (docs/design.md §3.1)."""
    python = task_python(version, requirement)
    data = write_vocab_documents(tmp_path / 'documents.jsonl', n=60)
    # words of letters whose category Unicode 14.0 gave after 12.1 and 13.0
    with open(data, 'a', encoding='utf-8') as f:
        for i in range(4):
            f.write(json.dumps({'x': 'w1 \U00010fb0\U00010fb1 \u0c5d', 'y': 'ab'[i % 2]}) + '\n')
    flags = ['--embed', '3', '--tokens', 'words', *FLAGS, '--max-vocab', '300']
    inline, local = tmp_path / 'inline', tmp_path / 'local'
    mr_rnn(capsys, 'train', data, '--out', str(inline), *flags, '--quiet')
    mr_rnn(capsys, 'train', data, '--out', str(local), *flags, '--quiet', '-r', 'local',
           '--python-bin', python)
    vocab = text_schema_of(inline)[0]
    assert text_schema_of(local) == text_schema_of(inline)
    assert '\U00010fb0\U00010fb1' in vocab and '\u0c5d' in vocab
    assert max_relative_difference(load_arrays(local / 'final.npz'),
                                   load_arrays(inline / 'final.npz')) < RTOL
