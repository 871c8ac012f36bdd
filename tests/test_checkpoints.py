"""Checkpoints: the file contract, corruption, and surviving a killed driver."""
import contextlib
import glob
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from helpers import (free_when_ended, load_arrays, max_relative_difference, metrics,
                     sequence_records, train, write_jsonl)
from mr_rnn.codec.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from mr_rnn.model import Model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE_TEXT = os.path.join(ROOT, 'sample_data', 'text', 'austen_persuasion.txt')


def test_every_checkpoint_is_plain_npz_with_the_documented_meta(tmp_path):
    text = tmp_path / 't.txt'
    with open(SAMPLE_TEXT) as f:
        text.write_text(''.join(f.readlines()[:40]))
    run = tmp_path / 'run'
    assert train(run, [str(text)], '--hidden', '8', '--max-iter', '2', '--optimizer', 'adam') == 0
    paths = sorted(glob.glob(str(run / 'checkpoints' / '*.npz'))) + [str(run / 'final.npz'),
                                                                       str(run / 'best.npz')]
    assert len(paths) == 5
    for path in paths:
        with np.load(path, allow_pickle=False) as npz:
            meta = json.loads(npz['__meta__'].tobytes().decode('utf-8'))
            names = set(npz.files)
        assert {'format', 'iteration', 'config', 'seed', 'checksum', 'vocab'} <= set(meta)
        assert meta['vocab'][0] == '<unk>'
        assert {'rnn.weight_ih_l0', 'rnn.weight_hh_l0', 'rnn.bias_ih_l0', 'rnn.bias_hh_l0',
                'head.weight', 'head.bias'} <= names
        assert 'optim.exp_avg.rnn.weight_hh_l0' in names
        assert 'optim.exp_avg_sq.head.bias' in names
    # the configuration in a checkpoint is enough to rebuild the model
    model = Model.load(str(run / 'final.npz'))
    assert model.iteration == 2 and model.config.model.hidden == 8


def test_a_flipped_byte_is_refused_by_the_checksum(tmp_path):
    path = str(tmp_path / 'c.npz')
    save_checkpoint(path, {'w': np.arange(1000, dtype=np.float64)}, {'iteration': 0})
    raw = bytearray(open(path, 'rb').read())
    offset = raw.index(np.float64(500.0).tobytes())
    raw[offset] ^= 0x01
    open(path, 'wb').write(bytes(raw))
    with pytest.raises(CheckpointError, match='corrupted'):
        load_checkpoint(path)


def test_arrays_changed_behind_a_valid_zip_fail_the_checksum(tmp_path):
    path = str(tmp_path / 'c.npz')
    save_checkpoint(path, {'w': np.arange(10, dtype=np.float64)}, {'iteration': 0})
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays['w'][3] += 1e-9
    np.savez(path, **arrays)
    with pytest.raises(CheckpointError, match='checksum'):
        load_checkpoint(path)


def test_checkpoint_never_unpickles(tmp_path):
    path = str(tmp_path / 'evil.npz')
    np.savez(path, w=np.array([object()], dtype=object))
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


# ── loading the weights alone (docs/design.md §8.2) ──

def _not_state(name):
    return not name.startswith('optim.')


def _flip(path, value):
    raw = bytearray(open(path, 'rb').read())
    raw[raw.index(np.float64(value).tobytes())] ^= 0x01
    open(path, 'wb').write(bytes(raw))


def test_the_weights_load_alone_and_damage_in_what_is_not_loaded_waits_for_its_loader(tmp_path):
    path = str(tmp_path / 'c.npz')
    weights, moment = np.arange(100, dtype=np.float64), np.arange(1000, 1100, dtype=np.float64)
    save_checkpoint(path, {'w': weights, 'optim.exp_avg.w': moment}, {'iteration': 0})
    _flip(path, 1050.0)
    arrays, _ = load_checkpoint(path, _not_state)
    assert set(arrays) == {'w'} and np.array_equal(arrays['w'], weights)
    with pytest.raises(CheckpointError, match='corrupted'):
        load_checkpoint(path)
    save_checkpoint(path, {'w': weights, 'optim.exp_avg.w': moment}, {'iteration': 0})
    _flip(path, 50.0)
    with pytest.raises(CheckpointError, match='corrupted'):
        load_checkpoint(path, _not_state)


@pytest.mark.parametrize('change', ['metadata', 'array dropped', 'array added'])
def test_a_checkpoint_changed_around_its_checksums_is_refused(tmp_path, change):
    path = str(tmp_path / 'c.npz')
    save_checkpoint(path, {'w': np.arange(10.0), 'optim.exp_avg.w': np.zeros(10)},
                    {'iteration': 3})
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays['__meta__'].tobytes().decode('utf-8'))
    if change == 'metadata':
        meta['iteration'] = 4
    elif change == 'array dropped':
        del arrays['optim.exp_avg.w']
    else:
        arrays['optim.exp_avg_sq.w'] = np.zeros(10)
    arrays['__meta__'] = np.frombuffer(json.dumps(meta, sort_keys=True).encode('utf-8'), np.uint8)
    np.savez(path, **arrays)
    with pytest.raises(CheckpointError, match='checksum'):
        load_checkpoint(path, _not_state)


def test_a_checkpoint_with_the_one_whole_checksum_still_loads_and_is_checked(tmp_path):
    """What mr_rnn wrote before per-array checksums (docs/design.md §3.4)."""
    import hashlib
    path = str(tmp_path / 'old.npz')
    arrays = {'w': np.arange(100, dtype=np.float64), 'optim.exp_avg.w': np.full(100, 7.5)}
    meta = {'format': 1, 'iteration': 2}
    digest = hashlib.sha256(json.dumps(meta, sort_keys=True).encode('utf-8'))
    for name in sorted(arrays):
        a = arrays[name]
        digest.update(f'{name}|{a.dtype.str}|{a.shape}'.encode('utf-8') + a.tobytes())
    meta['checksum'] = digest.hexdigest()
    np.savez(path, **arrays,
             __meta__=np.frombuffer(json.dumps(meta, sort_keys=True).encode('utf-8'), np.uint8))
    loaded, got = load_checkpoint(path, _not_state)
    assert set(loaded) == {'w'} and got['iteration'] == 2
    assert set(load_checkpoint(path)[0]) == set(arrays)
    _flip(path, 7.5)                   # in the state: only a whole read can check the one checksum
    with pytest.raises(CheckpointError, match='corrupted'):
        load_checkpoint(path, _not_state)


def test_a_map_task_holds_the_weights_a_reducer_the_state_too_and_neither_outlives_its_job(tmp_path):
    from mr_rnn.tasks import process_cache
    run, _ = _adam_checkpoint(tmp_path)
    # the inline jobs ran in this process: none left its checkpoint behind
    assert not process_cache._LOADED
    path = str(run / 'final.npz')
    whole = Model.load(path)
    weights = process_cache.load_model(path, optimizer_state=False)
    assert weights.optim_state is None
    assert all(np.array_equal(weights.params[n], whole.params[n]) for n in whole.params)
    again = process_cache.load_model(path)
    assert again.optim_state is not None and again is not weights
    assert all(np.array_equal(again.optim_state[n][k], whole.optim_state[n][k])
               for n in whole.optim_state for k in whole.optim_state[n])
    assert process_cache.load_model(path, optimizer_state=False) is again


def _train_command(data, run, *extra):
    return [sys.executable, '-m', 'mr_rnn', 'train', data, '--out', str(run), '--hidden', '6',
            '--dtype', 'float64', '--max-iter', '8', '--lr', '0.05', '--tol', '0', *extra]


@contextlib.contextmanager
def held_task(fifo):
    """Enter once a task held by MR_RNN_TEST_HOLD_TASK waits on ``fifo``: the
    inline driver then stands still inside a round's job. Leaving lets it go on.
    A fresh fifo takes the name first, so the next call waits for the next task,
    never for the one being let go (which still has the old fifo open)."""
    with open(fifo, 'wb'):               # returns once a task has opened the other end
        os.unlink(fifo)
        os.mkfifo(fifo)
        yield


def test_driver_killed_mid_iteration_resumes_to_the_same_weights(tmp_path):
    """SIGKILL while the job of round 3 -> 4 runs (docs/design.md §8.5): the
    driver is alive and inside the job when killed, held there by the fault
    seam; --resume goes on from checkpoint 3 to the straight run's weights."""
    data = write_jsonl(tmp_path / 'd.jsonl', sequence_records(400, seed=11))
    env = dict(os.environ, PYTHONPATH=ROOT)

    straight = tmp_path / 'straight'
    subprocess.run(_train_command(data, straight), env=env, check=True, capture_output=True)

    killed = tmp_path / 'killed'
    fifo = tmp_path / 'hold'
    os.mkfifo(fifo)
    proc = subprocess.Popen(_train_command(data, killed),
                            env=dict(env, MR_RNN_TEST_HOLD_TASK=f'MRGradientStep.mapper:{fifo}'),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    freed = free_when_ended(proc, fifo)
    while True:
        with held_task(fifo):
            assert proc.poll() is None, 'the driver ended before the job of round 3 -> 4'
            newest = sorted(glob.glob(str(killed / 'checkpoints' / 'iter-*.npz')))[-1]
            if newest.endswith('iter-000003.npz'):     # the job on checkpoint 3 runs
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                break
    for fd in freed:
        os.close(fd)
    assert proc.returncode == -signal.SIGKILL          # alive until the kill
    survivors = sorted(glob.glob(str(killed / 'checkpoints' / 'iter-*.npz')))
    assert survivors[-1].endswith('iter-000003.npz')   # round 4 never finished
    assert not glob.glob(str(killed / 'checkpoints' / '.*.tmp'))   # nor began its write
    for path in survivors:
        Model.load(path)                 # complete and valid, every one
    resume = [sys.executable, '-m', 'mr_rnn', 'train', '--out', str(killed), '--resume']
    code = subprocess.run(resume, env=env, capture_output=True, text=True)
    assert code.returncode == 0, code.stderr
    assert f'resuming {killed} from iteration 3' in code.stdout

    a = load_arrays(straight / 'final.npz')
    b = load_arrays(killed / 'final.npz')
    assert max_relative_difference(a, b) < 1e-12
    assert [r['iteration'] for r in metrics(killed)] == list(range(9))
    assert [r['train_loss'] for r in metrics(killed)] == pytest.approx(
        [r['train_loss'] for r in metrics(straight)], rel=1e-12)


def test_resume_skips_a_corrupt_newest_checkpoint_and_says_so(tmp_path, capsys):
    data = write_jsonl(tmp_path / 'd.jsonl', sequence_records(30))
    run = tmp_path / 'run'
    flags = ['--hidden', '4', '--dtype', 'float64', '--tol', '0']
    assert train(run, [data], *flags, '--max-iter', '3') == 0
    newest = run / 'checkpoints' / 'iter-000003.npz'
    raw = bytearray(newest.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    newest.write_bytes(bytes(raw))
    capsys.readouterr()
    assert train(run, [], '--resume', '--max-iter', '4') == 0
    out = capsys.readouterr()
    assert 'skipping checkpoint' in out.err and 'iter-000003.npz' in out.err
    assert 'resuming' in out.out and 'from iteration 2' in out.out
    assert Model.load(str(run / 'final.npz')).iteration == 4


# ── only what the writer writes ──

def _adam_checkpoint(tmp_path):
    """A real float32 adam checkpoint of a small classifier, and its data."""
    data = write_jsonl(tmp_path / 'd.jsonl', sequence_records(20, seed=2))
    run = tmp_path / 'run'
    assert train(run, [data], '--hidden', '3', '--max-iter', '1', '--optimizer', 'adam',
                 '--quiet') == 0
    return run, data


def _rewrite(path, change_arrays=None, change_meta=None):
    """Save the checkpoint again, changed, with a valid checksum: what other code could write."""
    arrays, meta = load_checkpoint(str(path))
    meta = {k: v for k, v in meta.items() if k not in ('checksum', 'format')}
    if change_arrays:
        change_arrays(arrays)
    if change_meta:
        change_meta(meta)
    save_checkpoint(str(path), arrays, meta)


def _set(name, value):
    return lambda arrays: arrays.__setitem__(name, value(arrays))


STRANGERS = {
    'NaN weight': (_set('head.bias', lambda a: np.full_like(a['head.bias'], np.nan)), None,
                   'array head.bias holds NaN or infinite values'),
    'infinite state': (_set('optim.exp_avg.head.bias',
                            lambda a: np.full_like(a['optim.exp_avg.head.bias'], np.inf)), None,
                       'array optim.exp_avg.head.bias holds NaN or infinite values'),
    'stray optim.x': (_set('optim.x', lambda a: np.zeros(2)), None, "unknown array 'optim.x'"),
    'state of no parameter': (_set('optim.exp_avg.rnn.nope', lambda a: np.zeros(2)), None,
                              "unknown array 'optim.exp_avg.rnn.nope'"),
    'state the optimizer lacks': (_set('optim.momentum_buffer.head.bias',
                                       lambda a: np.zeros_like(a['optim.exp_avg.head.bias'])),
                                  None, "unknown array 'optim.momentum_buffer.head.bias'"),
    'unknown array': (_set('extra', lambda a: np.zeros(2)), None, "unknown array 'extra'"),
    'float16 weight': (_set('head.weight', lambda a: a['head.weight'].astype(np.float16)), None,
                       'array head.weight is float16, not float32'),
    'int weight': (_set('head.weight', lambda a: a['head.weight'].astype(np.int64)), None,
                   'array head.weight is int64, not float32'),
    'float32 state': (_set('optim.exp_avg_sq.head.weight',
                           lambda a: a['optim.exp_avg_sq.head.weight'].astype(np.float32)), None,
                      'array optim.exp_avg_sq.head.weight is float32, not float64'),
    'state shape': (_set('optim.exp_avg.head.weight', lambda a: np.zeros((2, 2))), None,
                    'array optim.exp_avg.head.weight has shape (2, 2)'),
    'missing state': (lambda a: a.pop('optim.exp_avg.head.bias'), None,
                      'array optim.exp_avg.head.bias is missing'),
    'optim_step text': (None, lambda m: m.__setitem__('optim_step', '3'), "invalid optim_step '3'"),
    'lr_scale NaN': (None, lambda m: m.__setitem__('lr_scale', float('nan')), 'invalid lr_scale'),
}


@pytest.mark.parametrize('case', sorted(STRANGERS))
def test_a_checkpoint_the_writer_would_not_write_is_refused_in_one_line(tmp_path, capsys, case):
    change_arrays, change_meta, reason = STRANGERS[case]
    run, data = _adam_checkpoint(tmp_path)
    path = run / 'final.npz'
    Model.load(str(path))
    _rewrite(path, change_arrays, change_meta)
    with pytest.raises(CheckpointError) as refused:
        Model.load(str(path))
    message = str(refused.value)
    assert str(path) in message and reason in message and '\n' not in message
    capsys.readouterr()
    from mr_rnn.cli import main
    assert main(['evaluate', str(path), data]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and reason in err


def test_resume_falls_back_from_a_stranger_checkpoint_and_says_so(tmp_path, capsys):
    run, _ = _adam_checkpoint(tmp_path)
    newest = run / 'checkpoints' / 'iter-000001.npz'
    _rewrite(newest, _set('optim.x', lambda a: np.zeros(2)))
    capsys.readouterr()
    assert train(run, [], '--resume', '--max-iter', '2') == 0
    out = capsys.readouterr()
    assert f"skipping checkpoint {newest} is not one mr_rnn writes: unknown array 'optim.x'" \
        in out.err
    assert f'falling back to {run / "checkpoints" / "iter-000000.npz"}' in out.err
    assert 'from iteration 0' in out.out
    assert Model.load(str(run / 'final.npz')).iteration == 2


def test_init_from_a_truncated_state_dict_is_one_line(tmp_path, capsys):
    from mr_rnn.cli import main
    run, data = _adam_checkpoint(tmp_path)
    state = tmp_path / 'state.npz'
    assert main(['export', str(run / 'final.npz'), str(state)]) == 0
    state.write_bytes(state.read_bytes()[:200])
    capsys.readouterr()
    assert main(['train', data, '--out', str(tmp_path / 'again'), '--hidden', '3',
                 '--init-from', str(state)]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'state.npz is not a numpy .npz file' in err


def test_an_update_that_overflows_is_a_divergence_not_a_failed_job(tmp_path, capsys):
    data = write_jsonl(tmp_path / 'd.jsonl', sequence_records(20, seed=2))
    run = tmp_path / 'run'
    # float32 weights cannot hold a step of 1e300: the update is infinite
    assert train(run, [data], '--hidden', '3', '--optimizer', 'sgd', '--lr', '1e300',
                 '--max-iter', '3') == 2
    err = capsys.readouterr().err
    assert 'diverged to nan at iteration 1' in err and 'failed' not in err
    assert os.path.exists(run / 'checkpoints' / 'iter-000001.npz.diverged')
    assert not os.path.exists(run / 'final.npz')


def test_a_flag_changed_on_resume_already_steers_the_first_resumed_round(tmp_path):
    """SGD without momentum moves by lr times the gradient: two resumed copies
    of one run, given lrs ten times apart, take steps exactly ten times apart
    from the same checkpoint in their first round."""
    import shutil
    data = write_jsonl(tmp_path / 'd.jsonl', sequence_records(30))
    base = tmp_path / 'base'
    assert train(base, [data], '--hidden', '4', '--dtype', 'float64', '--optimizer', 'sgd',
                 '--momentum', '0', '--lr', '0.1', '--max-iter', '2', '--quiet') == 0
    start = load_arrays(base / 'checkpoints' / 'iter-000002.npz')
    steps = {}
    for lr in ('0.01', '0.001'):
        run = tmp_path / lr
        shutil.copytree(base, run)
        assert train(run, [], '--resume', '--lr', lr, '--max-iter', '3', '--quiet') == 0
        after = load_arrays(run / 'checkpoints' / 'iter-000003.npz')
        steps[lr] = {k: after[k] - start[k] for k in start if not k.startswith('optim.')}
    for name, step in steps['0.01'].items():
        np.testing.assert_allclose(step, 10 * steps['0.001'][name], rtol=1e-9, atol=1e-15,
                                   err_msg=name)
    assert max(np.abs(s).max() for s in steps['0.01'].values()) > 1e-6
