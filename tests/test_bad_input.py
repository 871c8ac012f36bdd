"""Bad records are skipped and counted; user mistakes end in one clear line."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import metrics, sequence_records, train, write_jsonl

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def mr_rnn(*args, cwd=None):
    """The real command line, in a subprocess: exit code, stdout, stderr."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, '-m', 'mr_rnn', *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def assert_one_clear_line(code, stderr, *words):
    assert code == 2, stderr
    assert 'Traceback' not in stderr
    errors = [line for line in stderr.splitlines() if 'error' in line.lower()]
    assert len(errors) == 1, stderr
    for word in words:
        assert word in errors[0], errors[0]


BAD_LINES = [
    b'{"x": [[1, 2, 3]], "y": 1',                  # malformed JSON
    b'{"x": [[1, 2, 3, 4], [1, 2, 3, 4]], "y": 0}',  # 4 features, the data has 3
    b'{"x": [], "y": 1}',                          # empty sequence
    b'{"x": [[1, NaN, 3]], "y": 1}',               # NaN
    b'{"x": [[1, 2, Infinity]], "y": 2}',          # infinite
    b'{"x": [[1, 2, 3]], "y": "\xff\xfe"}',        # invalid UTF-8
]


def test_bad_jsonl_records_are_skipped_counted_and_named(tmp_path, capsys):
    good = [json.dumps(r).encode() for r in sequence_records(40, seed=3)]
    lines = good[:10] + BAD_LINES + good[10:]
    path = tmp_path / 'mixed.jsonl'
    path.write_bytes(b'\n'.join(lines) + b'\n')
    run = tmp_path / 'run'
    assert train(run, [str(path)], '--hidden', '4', '--max-iter', '2',
                 '--max-bad-fraction', '0.2', '--num-cores', '1') == 0
    rows = metrics(run)
    assert [r['bad_records'] for r in rows] == [6, 6, 6]
    assert all(r['records'] == 46 for r in rows)
    err = capsys.readouterr().err
    assert 'skipping 6 bad record(s) of 46' in err
    for line_no in range(11, 16):          # the first five, by file and line
        assert f'mixed.jsonl:{line_no}:' in err
    assert 'malformed JSON' in err and 'NaN or infinite' in err


def test_invalid_utf8_text_line_is_skipped_and_counted(tmp_path):
    path = tmp_path / 'book.txt'
    path.write_bytes(b'It is a truth universally acknowledged.\n' * 30 + b'bad \xc3\x28 byte\n')
    run = tmp_path / 'run'
    assert train(run, [str(path)], '--hidden', '4', '--max-iter', '1', '--seq-len', '16',
                 '--max-bad-fraction', '0.1') == 0
    assert [r['bad_records'] for r in metrics(run)] == [1, 1]


def test_too_many_bad_records_stop_with_one_line(tmp_path):
    good = [json.dumps(r) for r in sequence_records(10)]
    path = tmp_path / 'd.jsonl'
    path.write_text('\n'.join(good + ['not json'] * 5) + '\n')
    code, _, err = mr_rnn('train', str(path), '--out', str(tmp_path / 'run'),
                          '--max-bad-fraction', '0.1')
    assert_one_clear_line(code, err, '5 of 15 records are bad', '--max-bad-fraction',
                          'd.jsonl:11: malformed JSON')


def test_missing_input_path_is_one_line(tmp_path):
    code, _, err = mr_rnn('train', str(tmp_path / 'nope.jsonl'), '--out', str(tmp_path / 'r'))
    assert_one_clear_line(code, err, 'nope.jsonl', 'does not exist')


def test_unknown_cell_is_one_line(tmp_path):
    code, _, err = mr_rnn('train', 'x.jsonl', '--out', str(tmp_path / 'r'), '--cell', 'transformer')
    assert_one_clear_line(code, err, "'transformer'", '--cell')


def test_checkpoint_that_does_not_fit_the_data_is_one_line(tmp_path):
    digits = write_jsonl(tmp_path / 'digits.jsonl', sequence_records(20, dim=8, classes=10))
    other = write_jsonl(tmp_path / 'other.jsonl', sequence_records(20, dim=12, classes=9))
    run = tmp_path / 'run'
    assert train(run, [digits], '--hidden', '4', '--max-iter', '1') == 0
    code, _, err = mr_rnn('evaluate', str(run / 'final.npz'), other)
    assert_one_clear_line(code, err, 'dense:12', 'dense:8')


def test_new_run_refuses_to_overwrite_an_old_one(tmp_path):
    data = write_jsonl(tmp_path / 'd.jsonl', sequence_records(10))
    run = tmp_path / 'run'
    assert train(run, [data], '--hidden', '3', '--max-iter', '1') == 0
    code, _, err = mr_rnn('train', data, '--out', str(run))
    assert_one_clear_line(code, err, '--resume')


def test_bad_runner_option_is_one_line(tmp_path):
    data = write_jsonl(tmp_path / 'd.jsonl', sequence_records(10))
    code, _, err = mr_rnn('train', data, '--out', str(tmp_path / 'r'), '-r', 'mainframe')
    assert_one_clear_line(code, err, 'mainframe')
