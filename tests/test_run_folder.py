"""Commands that take a checkpoint also take a run folder: its best.npz, else
its final.npz, named in one line on stderr."""
import json
import os
import shutil

import numpy as np
import pytest

from helpers import load_arrays
from mr_rnn.cli import main

TEXT = 'the quick brown fox jumps over the lazy dog\n' * 20


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp('runfolder')
    data = folder / 'book.txt'
    data.write_text(TEXT)
    run = folder / 'run'
    assert main(['train', str(data), '--out', str(run), '--hidden', '6', '--seq-len', '16',
                 '--max-iter', '2', '--dtype', 'float64', '--quiet']) == 0
    return str(run), str(data)


def commands(run, data, out):
    return {
        'sample': ['sample', run, '--length', '20'],
        'evaluate': ['evaluate', run, data, '--json'],
        'predict': ['predict', run, data],
        'export': ['export', run, str(out / 'model.npz')],
        'inspect': ['inspect', run],
    }


@pytest.mark.parametrize('command', ['sample', 'evaluate', 'predict', 'export', 'inspect'])
def test_a_run_folder_means_its_best_checkpoint(run, tmp_path, capsys, command):
    folder, data = run
    argv = commands(folder, data, tmp_path)[command]
    capsys.readouterr()
    assert main(argv) == 0
    by_folder = capsys.readouterr()
    if command == 'export':         # the file it wrote, not only what it printed
        exported = load_arrays(tmp_path / 'model.npz')
        os.unlink(tmp_path / 'model.npz')
    best = os.path.join(folder, 'best.npz')
    assert by_folder.err.splitlines()[0] == f"mr-rnn: using {best} (the run's best checkpoint)"
    # the same output as naming best.npz itself
    argv[1] = best
    assert main(argv) == 0
    by_file = capsys.readouterr()
    assert by_file.out == by_folder.out
    if command == 'evaluate':
        assert json.loads(by_folder.out)['records'] == 20
    if command == 'export':
        assert_same_arrays(exported, load_arrays(tmp_path / 'model.npz'))


def assert_same_arrays(a, b):
    assert sorted(a) == sorted(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_export_of_a_run_folder_writes_the_best_weights_not_the_final(run, tmp_path, capsys):
    """A run whose best checkpoint is iteration 1 of 2: the file export writes
    holds iteration 1's weights under PyTorch's names (docs/design.md §3.5)."""
    folder = shutil.copytree(run[0], tmp_path / 'copy')
    shutil.copyfile(folder / 'checkpoints' / 'iter-000001.npz', folder / 'best.npz')
    out = tmp_path / 'model.npz'
    assert main(['export', str(folder), str(out)]) == 0
    exported = load_arrays(out)
    best, final = load_arrays(folder / 'best.npz'), load_arrays(folder / 'final.npz')
    weights = {k: v for k, v in best.items() if not k.startswith('optim.')}
    assert_same_arrays(exported, weights)
    assert any(not np.array_equal(exported[k], final[k]) for k in exported)


def test_without_best_the_final_checkpoint_is_used(run, tmp_path, capsys):
    folder = shutil.copytree(run[0], tmp_path / 'copy')
    os.unlink(folder / 'best.npz')
    capsys.readouterr()
    assert main(['inspect', str(folder)]) == 0
    out = capsys.readouterr()
    assert out.err.strip() == f"mr-rnn: using {folder / 'final.npz'} (the run's final checkpoint)"
    assert 'iteration    2' in out.out


@pytest.mark.parametrize('command', ['sample', 'evaluate', 'predict', 'export', 'inspect'])
def test_a_path_that_is_neither_is_one_line(run, tmp_path, capsys, command):
    empty = tmp_path / 'empty'
    empty.mkdir()
    for path, says in ((str(tmp_path / 'nowhere'), 'is neither a checkpoint nor a run folder'),
                       (str(empty), 'is a folder without best.npz or final.npz')):
        argv = commands(path, run[1], tmp_path)[command]
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0] == f'mr-rnn: error: {path} {says}' + err[0].split(says)[1]
