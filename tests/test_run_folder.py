"""Commands that take a checkpoint also take a run folder: its best.npz, else
its final.npz, named in one line on stderr."""
import json
import os
import shutil

import pytest

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
    best = os.path.join(folder, 'best.npz')
    assert by_folder.err.splitlines()[0] == f"mr-rnn: using {best} (the run's best checkpoint)"
    # the same output as naming best.npz itself
    argv[1] = best
    assert main(argv) == 0
    by_file = capsys.readouterr()
    assert by_file.out == by_folder.out
    if command == 'evaluate':
        assert json.loads(by_folder.out)['records'] == 20


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
