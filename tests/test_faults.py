"""Fault injection: the driver killed at random moments, and tasks that fail once.

SIGKILL gives the driver no chance to clean up: what survives is what was on
disk. Checkpoints are written atomically (temporary file, fsync, rename), so a
file under a final name is always whole, and ``--resume`` continues from the
newest one to the very weights an uninterrupted run ends with.

Two switches, read only where a test needs them:
MR_RNN_TEST_HOLD_CHECKPOINT=FIFO holds each checkpoint write open (after the
bytes are written, before the rename) until the test has opened and closed the
fifo's other end (Gate), so that a kill lands inside a write for certain;
MR_RNN_TEST_HOLD_TASK=MRDescribeData.mapper:FIFO,MREvaluate.mapper:FIFO does
the same to the describe job's and the final evaluation's map tasks, moments
too short to be sure of hitting by time on a loaded machine;
and MR_RNN_TEST_FAIL_ONCE=[JOB.]PHASE:MARKER fails the first mapper or reducer task.
"""
import glob
import os
import random
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from helpers import load_arrays, max_relative_difference, metrics, sequence_records, train, write_jsonl
from mr_rnn.driver.runner import run_job
from mr_rnn.jobs.mr_describe_data import MRDescribeData
from mr_rnn.model import Model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS = ['--hidden', '5', '--dtype', 'float64', '--lr', '0.05', '--tol', '0', '--seed', '3']
KILLS = 20
MAX_ITER = 6


def train_command(run, data=None, keep=2):
    """A fresh run, or (without data) --resume of the run; pruning all but the
    newest ``keep`` checkpoints (and iter-000000 and best's) after each round."""
    start = [data, *FLAGS, '--max-iter', str(MAX_ITER)] if data else ['--resume']
    return [sys.executable, '-m', 'mr_rnn', 'train', '--out', str(run), *start,
            '--keep-checkpoints', str(keep)]


def checkpoints(run):
    return sorted(glob.glob(os.path.join(run, 'checkpoints', 'iter-*.npz')))


def temporaries(run):
    return set(glob.glob(os.path.join(run, 'checkpoints', '.iter-*.tmp')))


class Gate:
    """The test's end of MR_RNN_TEST_HOLD_CHECKPOINT (or _TASK): lets every
    checkpoint write (or task) through at once, except the first after
    ``hold()``, which stays open, its temporary file written, until
    ``release()``."""

    def __init__(self, path):
        os.mkfifo(path)
        self.path, self.stopped = str(path), False
        self.wanted, self.holding, self.released = (threading.Event() for _ in range(3))
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopped:
            with open(self.path, 'wb'):      # returns once a write has reached the gate
                if self.wanted.is_set() and not self.stopped:
                    self.wanted.clear()
                    self.holding.set()
                    self.released.wait()
                    self.released.clear()

    def hold(self):
        self.holding.clear()
        self.wanted.set()

    def release(self):
        self.wanted.clear()
        if self.holding.is_set():
            self.holding.clear()
            self.released.set()

    def stop(self):
        self.stopped = True
        self.release()
        fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)   # frees a waiting open()
        self.thread.join(10)
        os.close(fd)


def kill_at(proc, moment, gates):
    """SIGKILL ``proc`` at ``moment``: ('time', seconds after it started), or
    (KIND, _) while it is held at ``gates[KIND]`` ('write': inside a checkpoint
    write; 'start': in the describe job's map task; 'evaluation': in the final
    evaluation's). False if it ended first."""
    kind, seconds = moment
    started = time.monotonic()
    gate = gates.get(kind)
    if gate is not None:
        gate.hold()
    while proc.poll() is None:
        if kind == 'time' and time.monotonic() - started >= seconds:
            break
        if gate is not None and gate.holding.wait(0.01):
            break
        assert time.monotonic() - started < 120, 'the driver hangs'
        if kind == 'time':
            time.sleep(0.002)
    else:
        if gate is not None:
            gate.release()
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if gate is not None:
        gate.release()
    # it may have ended by itself between poll() and the signal: then it was not killed
    return proc.returncode == -signal.SIGKILL


def assert_nothing_corrupt(run):
    """Every file under a final name loads and passes its checksum."""
    for path in checkpoints(run) + glob.glob(os.path.join(run, '*.npz')):
        Model.load(path)


# What a kill can hit, read from what it left (hit()): the start-up and describe
# job (no checkpoint yet), a round after checkpoint k, a checkpoint write (its
# temporary file left), the final evaluation (every round's checkpoint, no
# final.npz). The test aims again until it has hit each, and ROUNDS_HIT rounds.
KINDS = {'start', 'write', 'evaluation'}
ROUNDS_HIT = 3
MAX_KILLS = 4 * KILLS        # a budget in kills: beyond it the aim is wrong, not unlucky


def hit(run):
    """What the kill hit, from the files it left."""
    if temporaries(run):
        return 'write'
    if not checkpoints(run):
        return 'start'
    newest = int(checkpoints(run)[-1][-10:-4])
    if newest == MAX_ITER:
        return 'end' if os.path.exists(os.path.join(run, 'final.npz')) else 'evaluation'
    return f'round {newest}'


def everything_hit(kills):
    hits = {what for _, what in kills}
    return KINDS <= hits and len({h for h in hits if h.startswith('round ')}) >= ROUNDS_HIT


def test_driver_killed_at_20_random_moments_resumes_to_the_same_weights(tmp_path):
    rng = random.Random(20240607)
    data = write_jsonl(tmp_path / 'd.jsonl', sequence_records(80, seed=5))
    env = dict(os.environ, PYTHONPATH=ROOT)
    straight = tmp_path / 'straight'
    started = time.monotonic()
    # the uninterrupted run keeps every checkpoint; the killed ones prune as they go
    subprocess.run(train_command(straight, data, keep=0), env=env, check=True,
                   capture_output=True)
    duration = time.monotonic() - started      # on this machine, at this load: an aim only
    expected = load_arrays(straight / 'final.npz')
    expected_best = load_arrays(straight / 'best.npz')
    expected_losses = [r['train_loss'] for r in metrics(straight)]

    # every fourth kill waits for a checkpoint write, and while the start (a run's
    # describe job) or the final evaluation has not been hit, one in eight waits
    # for it (a resumed process has no describe job: it runs to its end, and the
    # next run's first process is held); the others come
    # at a random time, from the imports at start-up, through the describe job, to
    # the last evaluation; what each one hit is read afterwards, and the kills go
    # on until each kind is hit
    def aim(kills):
        if len(kills) >= KILLS and everything_hit(kills) or len(kills) >= MAX_KILLS:
            return None                         # no more: the run goes to its end
        hits = {what for _, what in kills}
        if len(kills) % 4 == 1:
            return ('write', None)
        if len(kills) % 8 == 3 and 'start' not in hits:
            return ('start', None)
        if len(kills) % 8 == 7 and 'evaluation' not in hits:
            return ('evaluation', None)
        return ('time', rng.uniform(0.03, 0.6) * duration)

    gates = {kind: Gate(tmp_path / f'{kind}-gate') for kind in ('write', 'start', 'evaluation')}
    env['MR_RNN_TEST_HOLD_CHECKPOINT'] = gates['write'].path
    env['MR_RNN_TEST_HOLD_TASK'] = (f'MRDescribeData.mapper:{gates["start"].path},'
                                    f'MREvaluate.mapper:{gates["evaluation"].path}')
    try:
        kills, runs = kill_repeatedly(tmp_path, data, env, aim, gates, expected,
                                      expected_best, expected_losses)
    finally:
        for gate in gates.values():
            gate.stop()
    print(f'{len(kills)} kills in {runs} runs (aimed at, hit):', kills)
    assert len(kills) >= KILLS
    # every kill that waited at a gate came where it waited: inside a write (a
    # temporary file was left), in the describe job, or in the final evaluation
    assert all(what == kind for kind, what in kills if kind in gates), kills
    assert everything_hit(kills), f'after {len(kills)} kills, not every kind was hit: {kills}'


def kill_repeatedly(tmp_path, data, env, aim, gates, expected, expected_best,
                    expected_losses):
    """Kill runs where aim(kills) says, resume them to the end, and note what each
    kill hit; (kills: [(aimed at, hit)], runs)."""
    kills, runs, moment = [], 0, aim([])
    while moment is not None:
        run = str(tmp_path / f'killed-{runs}')
        while True:
            resume = bool(checkpoints(run))     # before iteration 0 exists: start again
            newest = int(checkpoints(run)[-1][-10:-4]) if resume else None
            log_path = tmp_path / f'log-{runs}-{len(kills)}.txt'
            with open(log_path, 'w') as log:
                proc = subprocess.Popen(train_command(run, None if resume else data),
                                        env=env, stdout=log, stderr=subprocess.STDOUT)
                killed = kill_at(proc, moment or ('time', 1e9), gates)  # None: to the end
            log = log_path.read_text()
            assert 'skipping' not in log and 'Traceback' not in log, log
            if resume and 'resuming' in log:    # from the newest checkpoint, always
                assert f'resuming {run} from iteration {newest}\n' in log, log
            if not killed:                      # it finished first: the moment is for the next run
                assert proc.returncode == 0, log
                break
            assert proc.returncode == -signal.SIGKILL, log     # alive until the kill
            kills.append((moment[0], hit(run)))
            for stale in temporaries(run):      # a write cut short: never a final name
                os.unlink(stale)
            assert_nothing_corrupt(run)
            moment = aim(kills)
        runs += 1
        assert max_relative_difference(load_arrays(os.path.join(run, 'final.npz')), expected) == 0
        assert max_relative_difference(load_arrays(os.path.join(run, 'best.npz')),
                                       expected_best) == 0
        assert [r['iteration'] for r in metrics(run)] == list(range(MAX_ITER + 1))
        assert [r['train_loss'] for r in metrics(run)] == expected_losses
        # iter-000000 and the newest two (the newest is also the best here)
        assert [os.path.basename(p) for p in checkpoints(run)] == [
            'iter-000000.npz', 'iter-000005.npz', 'iter-000006.npz']
    return kills, runs


def test_keep_checkpoints_2_leaves_at_most_3_files_after_10_rounds(tmp_path):
    data = write_jsonl(tmp_path / 'd.jsonl', sequence_records(30, seed=2))
    run = tmp_path / 'run'
    assert train(run, [data], *FLAGS, '--max-iter', '10', '--keep-checkpoints', '2',
                 '--quiet') == 0
    assert 1 <= len(checkpoints(run)) <= 3
    assert os.path.basename(checkpoints(run)[0]) == 'iter-000000.npz'
    assert os.path.basename(checkpoints(run)[-1]) == 'iter-000010.npz'
    assert [r['iteration'] for r in metrics(run)] == list(range(11))


def test_pruning_keeps_the_newest_the_first_and_the_best(tmp_path):
    from mr_rnn.driver.run_dir import RunDir
    run = RunDir(str(tmp_path))
    os.makedirs(run.checkpoints)
    for k in range(10):
        open(run.checkpoint_path(k), 'w').close()
    open(os.path.join(run.checkpoints, 'iter-000004.npz.diverged'), 'w').close()
    assert run.prune(0, [3]) == []                       # 0: keep every one
    assert run.prune(2, [3]) == [1, 2, 4, 5, 6, 7]
    assert sorted(os.listdir(run.checkpoints)) == [
        'iter-000000.npz', 'iter-000003.npz', 'iter-000004.npz.diverged',
        'iter-000008.npz', 'iter-000009.npz']


def test_keep_checkpoints_below_2_is_one_line(tmp_path, capsys):
    data = write_jsonl(tmp_path / 'd.jsonl', sequence_records(10))
    assert train(tmp_path / 'run', [data], '--keep-checkpoints', '1') == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and '--keep-checkpoints must be 0 (keep all) or at least 2' in err[0]


# ── a task that fails once ──

RETRY_FLAGS = [*FLAGS, '--max-iter', '2']


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp('faults')
    data = write_jsonl(folder / 'd.jsonl', sequence_records(40, seed=8))
    run = folder / 'straight'
    assert train(run, [data], *RETRY_FLAGS, '--quiet') == 0
    return data, load_arrays(run / 'final.npz'), metrics(run)


@pytest.mark.parametrize('what', ['mapper', 'reducer', 'MRGradientStep.mapper',
                                  'MRGradientStep.reducer', 'MREvaluate.mapper'])
def test_a_task_that_fails_once_is_retried_to_the_same_weights(uninterrupted, tmp_path,
                                                               monkeypatch, capsys, what):
    data, expected, expected_metrics = uninterrupted
    marker = tmp_path / 'failed'
    monkeypatch.setenv('MR_RNN_TEST_FAIL_ONCE', f'{what}:{marker}')
    run = tmp_path / 'run'
    assert train(run, [data], *RETRY_FLAGS, '--job-retries', '2') == 0
    assert marker.exists()                      # it did fail
    err = capsys.readouterr().err
    assert ' failed: ' in err and 'failed on purpose' in err
    assert 'running it again (retry 1 of 2)' in err and 'retry 2 of 2' not in err
    assert max_relative_difference(load_arrays(run / 'final.npz'), expected) == 0
    assert [r['train_loss'] for r in metrics(run)] == [r['train_loss'] for r in expected_metrics]


def test_a_task_in_its_own_process_that_fails_once_is_retried(uninterrupted, monkeypatch):
    """-r local: the task dies in a child process and mrjob reports a failed step,
    which the driver runs again (one small job: a local job costs seconds)."""
    data, _, _ = uninterrupted
    job_args = ['--format', 'jsonl', data]
    inline, _ = run_job(MRDescribeData, job_args, [])
    marker = os.path.join(os.path.dirname(data), 'local-mapper-failed')
    monkeypatch.setenv('MR_RNN_TEST_FAIL_ONCE', f'MRDescribeData.mapper:{marker}')
    warnings = []
    one_each = ['-D', 'mapreduce.job.maps=1', '-D', 'mapreduce.job.reduces=1']
    local, _ = run_job(MRDescribeData, job_args, ['-r', 'local', '--no-conf', *one_each], retries=1,
                       warn=warnings.append)
    assert os.path.exists(marker)
    assert len(warnings) == 1 and 'MRDescribeData failed' in warnings[0], warnings
    assert local == inline


def test_without_job_retries_a_failed_task_stops_the_run_in_one_line(uninterrupted, tmp_path,
                                                                     monkeypatch, capsys):
    data, _, _ = uninterrupted
    monkeypatch.setenv('MR_RNN_TEST_FAIL_ONCE', f'MRGradientStep.mapper:{tmp_path / "failed"}')
    assert train(tmp_path / 'run', [data], *RETRY_FLAGS, '--quiet') == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('mr-rnn: error: MRGradientStep failed: '
                                               'a task raised RuntimeError: '), err
    assert 'failed on purpose' in err[0]
    # and the run resumes from what it had: checkpoint 0
    assert len(checkpoints(str(tmp_path / 'run'))) == 1
    assert train(tmp_path / 'run', [], '--resume', '--quiet') == 0
    assert Model.load(str(tmp_path / 'run' / 'final.npz')).iteration == 2


def test_negative_job_retries_is_one_line(tmp_path, capsys):
    assert train(tmp_path / 'run', ['x.jsonl'], '--job-retries', '-1') == 2
    assert '--job-retries must be 0 or more' in capsys.readouterr().err


def test_checkpoint_writes_leave_no_file_under_a_final_name_until_complete(tmp_path,
                                                                          monkeypatch):
    """While a write is held open, only the temporary file exists."""
    from mr_rnn.codec.checkpoint import save_checkpoint
    gate = tmp_path / 'gate'
    os.mkfifo(gate)
    monkeypatch.setenv('MR_RNN_TEST_HOLD_CHECKPOINT', str(gate))
    path = tmp_path / 'iter-000001.npz'
    writer = threading.Thread(target=save_checkpoint,
                              args=(str(path), {'w': np.arange(4.0)}, {'iteration': 1}))
    freed = []

    def free_if_done():         # a writer that ends without reaching the gate frees the wait
        writer.join()
        freed.append(os.open(gate, os.O_RDONLY | os.O_NONBLOCK))
    writer.start()
    watcher = threading.Thread(target=free_if_done, daemon=True)
    watcher.start()
    held = os.open(gate, os.O_WRONLY)   # returns once the write is held, its bytes written
    assert writer.is_alive(), 'the write ended without reaching the gate'
    assert len(glob.glob(str(tmp_path / '.iter-000001.npz.*.tmp'))) == 1
    assert not path.exists()
    os.close(held)
    writer.join()
    watcher.join()
    for fd in freed:
        os.close(fd)
    assert path.exists() and not glob.glob(str(tmp_path / '.*.tmp'))


@pytest.mark.parametrize('in_process, said', [(True, 'a task raised OSError: disk'),
                                              (False, 'OSError: disk')])
def test_any_exception_while_a_job_runs_becomes_one_line(in_process, said):
    """Inline tasks raise in the driver; other runners can raise on their own
    (a failed `hadoop fs` call): either way one line, the cause kept for --debug."""
    from mr_rnn.driver.job_failures import JobFailed, job_failures
    with pytest.raises(JobFailed) as failed:
        with job_failures('MRGradientStep', in_process=in_process):
            raise OSError('disk\nfull')
    assert str(failed.value) == f'MRGradientStep failed: {said} (mr-rnn --debug shows the traceback)'
    assert isinstance(failed.value.__cause__, OSError)


# ── nothing left behind, nothing half written ──

def test_the_package_zip_folder_is_removed_when_the_driver_exits(tmp_path):
    code = ('from mr_rnn.driver.runner import package_zip; import os; z = package_zip(); '
            'assert os.path.exists(z); print(z)')
    env = dict(os.environ, PYTHONPATH=ROOT, TMPDIR=str(tmp_path))
    out = subprocess.run([sys.executable, '-c', code], env=env, check=True,
                         capture_output=True, text=True).stdout.strip()
    assert out.startswith(str(tmp_path))
    assert not os.path.exists(os.path.dirname(out))
    assert os.listdir(tmp_path) == []


def synced_paths(monkeypatch):
    """Record what os.fsync is called on, by path."""
    import mr_rnn.codec.checkpoint as checkpoint
    synced, fsync = [], os.fsync

    def recording(fd):
        synced.append(os.readlink(f'/proc/self/fd/{fd}'))
        fsync(fd)
    monkeypatch.setattr(checkpoint.os, 'fsync', recording)
    return synced


@pytest.mark.parametrize('write', ['publish', 'config', 'export'])
def test_run_files_are_written_through_a_unique_temporary_file_fsynced_with_their_folder(
        tmp_path, monkeypatch, write):
    from mr_rnn.driver.run_dir import RunDir
    from mr_rnn.outputs.export import export_torch
    data = write_jsonl(tmp_path / 'd.jsonl', sequence_records(10))
    assert train(tmp_path / 'run', [data], '--hidden', '3', '--max-iter', '1', '--quiet') == 0
    run = RunDir(str(tmp_path / 'run'))
    synced = synced_paths(monkeypatch)
    if write == 'publish':
        run.publish('best.npz', 0)
        target = os.path.join(run.path, 'best.npz')
    elif write == 'config':
        run = RunDir(str(tmp_path / 'other'))
        run.create({'inputs': [], 'val': []})
        target = run.config_path
    else:
        target = str(tmp_path / 'exported.npz')
        export_torch(Model.load(os.path.join(str(tmp_path / 'run'), 'final.npz')), target)
    folder, name = os.path.split(target)
    temporaries = [p for p in synced if os.path.basename(p).startswith(f'.{name}.')]
    assert len(temporaries) == 1
    # the name is the process's and random: two writers never share one
    assert temporaries[0].endswith('.tmp') and f'.{os.getpid()}.' in temporaries[0]
    assert folder in synced[synced.index(temporaries[0]) + 1:]
    assert not glob.glob(os.path.join(folder, '.*.tmp'))
    if write == 'publish':
        assert Model.load(target).iteration == 0


def test_resume_removes_what_a_killed_publish_left(tmp_path):
    data = write_jsonl(tmp_path / 'd.jsonl', sequence_records(10))
    run = tmp_path / 'run'
    assert train(run, [data], '--hidden', '3', '--max-iter', '1', '--quiet') == 0
    left = [run / '.final.npz.123.0badf00d.tmp', run / 'checkpoints' / '.iter-000002.npz.1.2.tmp']
    for path in left:
        path.write_bytes(b'half a file')
    mine = run / '.notes.tmp'          # not the driver's: left alone
    mine.write_text('mine')
    assert train(run, [], '--resume', '--max-iter', '2', '--quiet') == 0
    assert not any(path.exists() for path in left) and mine.exists()
