"""What mr-rnn train shows while it runs: lines with the time left, a live bar on a
terminal, --quiet, and --log-json for machines."""
import json
import os
import pty
import re
import subprocess
import sys

import pytest

from helpers import sequence_records, train, write_jsonl
from mr_rnn.driver.progress import Eta, Progress, format_duration, make_progress

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS = ['--hidden', '4', '--max-iter', '3', '--tol', '0', '--lr', '0.05']
LINE = re.compile(r'^iter +(\d+)  loss \d+\.\d{4} \|g\| \S+  lr \S+  \d+\.\ds  records 30'
                  r'  eta (<1s|\d+s|\d+m\d\ds)$')


@pytest.fixture
def data(tmp_path):
    return write_jsonl(tmp_path / 'd.jsonl', sequence_records(30, seed=4))


def run_in_terminal(command, env):
    """Run ``command`` with a pseudo-terminal as its stdout and stderr; all it wrote."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                            env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:          # EIO: the other side has closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait(timeout=300) == 0, b''.join(chunks).decode(errors='replace')
    return b''.join(chunks).decode('utf-8')


def test_on_a_terminal_lines_with_time_left_and_a_live_bar(data, tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT, COLUMNS='120')
    out = run_in_terminal([sys.executable, '-m', 'mr_rnn', 'train', data, '--out',
                           str(tmp_path / 'run'), *FLAGS], env)
    # the bar is drawn, then wiped (carriage return, erase line) before each line is printed
    assert '\r\x1b[K' in out
    bars = re.findall(r'\[[=> ]{24}\] iter (\d)/3', out)
    assert {'0', '1', '2', '3'} <= set(bars), out
    assert re.search(r'\[=+> *\] iter 2/3  loss \d\.\d{4}  (<1s|\d+s) in this round  eta ', out)
    # what stays on the screen: the lines, one per iteration, the last without a time left
    screen = [re.sub(r'.*\r\x1b\[K', '', line) for line in out.replace('\r\n', '\n').split('\n')]
    iterations = [line for line in screen if line.startswith('iter ')]
    assert [LINE.match(line).group(1) for line in iterations[:3]] == ['0', '1', '2'], iterations
    assert iterations[3].startswith('iter    3') and 'eta' not in iterations[3]
    assert screen[0].startswith('data: 30 records') and screen[-2].startswith('done: loss')
    assert not any('\x1b' in line or re.search(r'\[[=> ]{24}\]', line) for line in screen), screen


def test_without_a_terminal_plain_lines(data, tmp_path, capsys):
    assert train(tmp_path / 'run', [data], *FLAGS) == 0
    out = capsys.readouterr().out
    assert '\r' not in out and '\x1b' not in out
    lines = out.splitlines()
    assert lines[0].startswith('data: 30 records') and lines[-1].startswith('done: loss')
    assert all(LINE.match(line) for line in lines[1:4]), lines
    assert lines[4].startswith('iter    3') and 'eta' not in lines[4]


def test_log_json_is_one_object_per_iteration_on_stdout(data, tmp_path, capsys):
    assert train(tmp_path / 'run', [data], *FLAGS, '--log-json') == 0
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]       # nothing else on stdout
    assert [r['iteration'] for r in rows] == [0, 1, 2, 3]
    for r in rows:
        assert {'iteration', 'train_loss', 'val_loss', 'grad_norm', 'lr', 'seconds', 'records',
                'bad_records', 'max_iter', 'eta_seconds'} <= set(r)
        assert r['records'] == 30 and r['max_iter'] == 3
    assert rows[-1]['eta_seconds'] == 0 and rows[-1]['grad_norm'] is None
    with open(tmp_path / 'run' / 'metrics.jsonl') as f:            # the metrics, as written
        written = [json.loads(line) for line in f]
    assert [{k: r[k] for k in w} for r, w in zip(rows, written)] == written
    assert 'data: 30 records' in err and 'done: loss' in err


def test_quiet_prints_nothing_but_warnings(tmp_path, capsys):
    path = tmp_path / 'd.jsonl'
    path.write_text('\n'.join([json.dumps(r) for r in sequence_records(30)] + ['not json']) + '\n')
    assert train(tmp_path / 'run', [str(path)], *FLAGS, '--quiet',
                 '--max-bad-fraction', '0.1') == 0
    out, err = capsys.readouterr()
    assert out == ''
    assert 'skipping 1 bad record(s) of 31' in err and 'd.jsonl:31: malformed JSON' in err
    assert 'matplotlib' not in err                 # a note, not a warning


# ── the parts ──

class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_eta_is_the_mean_round_time_times_the_rounds_left():
    clock = FakeClock()
    eta = Eta(clock, window=2)
    assert eta.update({'iteration': 0, 'seconds': 4.0}, max_iter=10) == 40.0   # its own seconds
    clock.now += 6
    assert eta.update({'iteration': 1, 'seconds': 5.0}, max_iter=10) == 9 * 5.0  # (4 + 6) / 2
    clock.now += 2
    assert eta.update({'iteration': 2, 'seconds': 1.0}, max_iter=10) == 8 * 4.0  # (6 + 2) / 2
    clock.now += 2
    assert eta.update({'iteration': 10, 'seconds': 1.0}, max_iter=10) == 0


@pytest.mark.parametrize('seconds, text', [(0, '0s'), (0.2, '<1s'), (59.4, '59s'), (60, '1m00s'),
                                           (3599, '59m59s'), (3600, '1h00m'), (7322, '2h02m')])
def test_durations_read_short(seconds, text):
    assert format_duration(seconds) == text


def test_bar_shows_the_round_the_time_in_it_and_the_time_left():
    import io
    clock = FakeClock()

    class Config:
        max_iter = 8

    out = io.StringIO()
    progress = Progress(out, io.StringIO(), bar=True, clock=clock, interval=1000)
    progress.start(0, 8)
    clock.now += 10
    progress.row({'iteration': 0, 'train_loss': 2.5, 'val_loss': None, 'grad_norm': 0.5,
                  'lr': 0.1, 'seconds': 9.0, 'records': 5, 'bad_records': 0}, Config)
    clock.now += 3
    assert progress.bar_text(200) == ('[===>                    ] iter 1/8  loss 2.5000  3s in this '
                                      'round  eta 1m09s |')
    assert len(progress.bar_text(30)) == 30
    progress.close()
    assert out.getvalue().endswith('\r\x1b[K')             # the bar is gone at the end
    assert 'iter    0  loss 2.5000' in out.getvalue()


def test_modes_follow_the_flags_and_the_terminal():
    import io

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert make_progress(out=Terminal()).bar
    assert not make_progress(out=io.StringIO()).bar
    quiet = make_progress(quiet=True, out=Terminal())
    assert not quiet.bar and not quiet.lines and quiet.messages is None
    err = io.StringIO()
    machine = make_progress(log_json=True, out=Terminal(), err=err)
    assert machine.json_rows and not machine.bar and machine.messages is err


def test_without_matplotlib_a_note_says_how_to_get_the_picture(monkeypatch):
    import io
    from mr_rnn.driver import progress as module
    monkeypatch.setattr(module.importlib.util, 'find_spec', lambda name: None)
    err = io.StringIO()
    make_progress(out=io.StringIO(), err=err).start(0, 3)
    assert "pip install 'mr_rnn[plot]'" in err.getvalue()
    err = io.StringIO()
    make_progress(quiet=True, out=io.StringIO(), err=err).start(0, 3)
    assert err.getvalue() == ''
