"""Threads: the inline runner's gradient sums on every core, and one BLAS
thread per task on the runners that run a task per core."""
import os
import subprocess
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from blas_threads_job import MRBlasThreads
from conftest import need_module
from helpers import train
from mr_rnn.driver.runner import run_job
from mr_rnn.jobs.mrjob_internals import BLAS_THREAD_VARS
from mr_rnn.jobs.mr_average_step import MRAverageStep
from mr_rnn.jobs.mr_gradient_step import MRGradientStep
from mr_rnn.jobs.mrjob_internals import map_task_count
from mr_rnn.kernels import accumulate
from mr_rnn.kernels.accumulate import GradientSum
from mr_rnn.kernels.local_training import LocalTraining
from mr_rnn.kernels.network import NetworkSpec, init_params, loss_and_grads
from mr_rnn.kernels.parallel import ThreadPool
from test_kernels import H, make_batch, make_spec, random_params, sub_batch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEXT = os.path.join(ROOT, 'sample_data', 'text', 'austen_persuasion.txt')


def lm_batches(n, seed=0):
    spec = make_spec('lstm', token=True)
    rng = np.random.default_rng(seed)
    return spec, [make_batch(spec, int(rng.integers(1 << 30)), rng.integers(1, 9, size=5).tolist())
                  for _ in range(n)]


@pytest.mark.parametrize('head,loss,token', [('per_step', 'xent', True), ('per_step', 'mse', False),
                                             ('last_step', 'xent', False), ('last_step', 'mse', True)])
def test_gradient_sum_of_joined_batches_is_the_sum_over_the_batches(monkeypatch, head, loss, token):
    # chunks of at least 4 windows: batches of 1-3 windows are joined in twos and
    # threes, one of 6 windows is computed alone; lengths differ, so joins pad
    monkeypatch.setattr(accumulate, 'CHUNK_STEP_ELEMENTS', 4 * H)
    spec = make_spec('lstm', head, loss, 2, token)
    params = random_params(spec, seed=3)
    rng = np.random.default_rng(4)
    batches = []
    for n in (2, 1, 3, 6, 1, 1, 2):
        lengths = rng.integers(1, 6, size=n).tolist()
        batches.append(sub_batch(make_batch(spec, int(rng.integers(1 << 30)), lengths),
                                 list(range(n)), t_max=max(lengths)))
    sums = GradientSum(params, spec)
    for b in batches:
        sums.add(b)
    sums.finish()
    results = [loss_and_grads(params, spec, b) for b in batches]
    assert sums.count == sum(r.count for r in results)
    np.testing.assert_allclose(sums.loss_sum, sum(r.loss_sum for r in results), rtol=1e-12)
    for name in params:
        np.testing.assert_allclose(sums.grads[name], sum(r.grads[name] for r in results),
                                   rtol=1e-10, atol=1e-13, err_msg=name)


def test_gradient_sum_joins_batches_up_to_its_step_or_pass_bound(monkeypatch):
    # joined until rows * H reaches 6 H (one step's block) or rows * T * H
    # reaches 16 H (one array of the pass); a batch past a bound goes alone
    monkeypatch.setattr(accumulate, 'CHUNK_STEP_ELEMENTS', 6 * H)
    monkeypatch.setattr(accumulate, 'CHUNK_ELEMENTS', 16 * H)
    computed = []
    real = accumulate.loss_and_grads
    monkeypatch.setattr(accumulate, 'loss_and_grads',
                        lambda p, s, b: computed.append(b.mask.shape) or real(p, s, b))
    spec = make_spec('lstm', token=True)
    params = init_params(spec, 0, np.float64)
    sums = GradientSum(params, spec)
    for rows, steps in [(2, 1)] * 3 + [(2, 4)] * 2 + [(8, 1), (1, 2)]:
        sums.add(sub_batch(make_batch(spec, rows, [steps] * rows), list(range(rows)), steps))
    assert computed == [(6, 1), (4, 4), (8, 1)]
    sums.finish()
    assert computed == [(6, 1), (4, 4), (8, 1), (1, 2)]
    assert sums.count == 6 + 16 + 8 + 2
    # outputs wider than H count instead: 2 H outputs halve the rows of a pass
    wide = NetworkSpec(**{**spec.__dict__, 'output_size': 2 * H})
    computed.clear()
    sums = GradientSum(init_params(wide, 0, np.float64), wide)
    for _ in range(2):
        sums.add(sub_batch(make_batch(wide, 0, [4, 4]), [0, 1], 4))
    assert computed == [(2, 4), (2, 4)]


@pytest.mark.parametrize('threads', [2, 3])
def test_gradient_sum_on_a_pool_is_bitwise_the_serial_sum(monkeypatch, threads):
    # chunks of 7 or more windows from batches of 5: several chunks of several
    # batches in flight on the pool at once
    monkeypatch.setattr(accumulate, 'CHUNK_STEP_ELEMENTS', 7 * H)
    spec, batches = lm_batches(9)
    params = init_params(spec, 0, np.float64)
    with threadpool_limits(1, user_api='blas'):
        serial = GradientSum(params, spec)
        for b in batches:
            serial.add(b)
        serial.finish()
        with ThreadPool(threads) as pool:
            pooled = GradientSum(params, spec, pool=pool)
            for b in batches:
                pooled.add(b)
            pooled.finish()
    assert (pooled.loss_sum, pooled.count) == (serial.loss_sum, serial.count)
    for name in params:
        assert np.array_equal(pooled.grads[name], serial.grads[name]), name


def test_pool_workers_keep_the_submitters_floating_point_error_settings(recwarn):
    spec, batches = lm_batches(3)
    # a diverged model: an infinite output bias, so the loss takes inf - inf
    params = init_params(spec, 0, np.float32)
    params['head.bias'][0] = np.inf
    with np.errstate(all='ignore'), ThreadPool(2) as pool:
        sums = GradientSum(params, spec, pool=pool)
        for b in batches:
            sums.add(b)
        sums.finish()
    assert not np.isfinite(sums.loss_sum)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_inline_gradient_job_with_two_threads_is_bitwise_one_thread(tmp_path):
    text = tmp_path / 'text.txt'
    with open(TEXT, 'rb') as f:
        text.write_bytes(f.read(20_000).rpartition(b'\n')[0] + b'\n')
    run = tmp_path / 'run'
    assert train(run, [str(text)], '--cell', 'lstm', '--hidden', '8', '--seq-len', '20',
                 '--dtype', 'float64', '--max-iter', '0') == 0
    checkpoint = str(run / 'checkpoints' / 'iter-000000.npz')
    outputs = {}
    for threads in ('1', '2'):
        job = MRGradientStep(args=['--format', 'text', '--checkpoint', checkpoint,
                                   '--threads', threads, str(text)])
        # one BLAS thread in both: multi-threaded BLAS may add in another order
        with threadpool_limits(1, user_api='blas'), job.make_runner() as runner:
            runner.run()
            outputs[threads] = dict(job.parse_output(runner.cat_output()))
    assert outputs['1'].keys() == outputs['2'].keys()
    assert outputs['1']['__stats__'].scalars['count'] > 1000
    for key, packet in outputs['1'].items():
        assert packet.scalars == outputs['2'][key].scalars, key
        for name, array in packet.arrays.items():
            assert np.array_equal(array, outputs['2'][key].arrays[name]), (key, name)


def blas_threads():
    from threadpoolctl import threadpool_info
    return {lib['num_threads'] for lib in threadpool_info() if lib['user_api'] == 'blas'}


def test_inline_average_job_trains_on_one_blas_thread_then_gives_them_back(tmp_path, monkeypatch):
    text = tmp_path / 'text.txt'
    with open(TEXT, 'rb') as f:
        text.write_bytes(f.read(5_000).rpartition(b'\n')[0] + b'\n')
    run = tmp_path / 'run'
    assert train(run, [str(text)], '--hidden', '4', '--seq-len', '20', '--mode', 'average',
                 '--max-iter', '0') == 0
    checkpoint = str(run / 'checkpoints' / 'iter-000000.npz')
    seen = []
    real_train = LocalTraining.train
    monkeypatch.setattr(LocalTraining, 'train',
                        lambda self: seen.append(blas_threads()) or real_train(self))
    before = blas_threads()
    for threads in ('1', '2'):
        job = MRAverageStep(args=['--format', 'text', '--checkpoint', checkpoint, '--num-cores', '1',
                                  '--threads', threads, str(text)])
        with job.make_runner() as runner:
            runner.run()
        assert blas_threads() == before
    # --threads 1 (every runner but inline) leaves the task's environment as it is
    assert seen == [before, {1}]


def test_inline_gradient_job_reads_each_input_file_in_one_map_task(tmp_path):
    files = []
    for k in range(2):
        files.append(str(tmp_path / f'part-{k}.txt'))
        with open(files[-1], 'w') as f:
            f.write(''.join(f'line {k} {i} of some text\n' for i in range(200)))
    run = tmp_path / 'run'
    assert train(run, files, '--hidden', '4', '--seq-len', '8', '--max-iter', '0') == 0
    checkpoint = str(run / 'checkpoints' / 'iter-000000.npz')
    map_tasks = {}
    for job_class, inputs in [(MRGradientStep, files), (MRGradientStep, files[:1]),
                              (MRGradientStepMrjobSplits, files[:1])]:
        job = job_class(args=['--format', 'text', '--checkpoint', checkpoint, '--num-cores', '1',
                              *inputs])
        with job.make_runner() as runner:
            runner.run()
            map_tasks[job_class, len(inputs)] = map_task_count(runner)
    # mrjob's inline runner aims at two splits per core: it would cut a file in two
    assert map_tasks == {(MRGradientStep, 2): 2, (MRGradientStep, 1): 1,
                         (MRGradientStepMrjobSplits, 1): 2}


class MRGradientStepMrjobSplits(MRGradientStep):
    """The gradient job with mrjob's own inline runner and its splits."""

    SPLITS = None       # mrjob's own


def blas_report(tmp_path, monkeypatch, *runner_args):
    """What every -r local map task saw: (BLAS thread counts, thread variables)."""
    for var in BLAS_THREAD_VARS:        # as a user's shell would have it: nothing set
        monkeypatch.delenv(var, raising=False)
    data = tmp_path / 'lines.txt'
    data.write_text(''.join(f'line {i}\n' for i in range(40)))
    output, _ = run_job(MRBlasThreads, [str(data)], ['-r', 'local', *runner_args])
    assert output and all(key == 'blas' for key, _ in output)
    return [(tuple(v['threads']), v['env']) for _, v in output]


def test_local_tasks_run_one_blas_thread_without_a_conf_file(tmp_path, monkeypatch):
    for threads, env in blas_report(tmp_path, monkeypatch, '--no-conf', '--num-cores', '2'):
        assert threads and set(threads) == {1}
        assert env == dict.fromkeys(BLAS_THREAD_VARS, '1')


def test_users_cmdenv_on_the_command_line_sets_the_blas_threads(tmp_path, monkeypatch):
    want = min(2, os.cpu_count())       # OpenBLAS runs no more threads than cores
    reports = blas_report(tmp_path, monkeypatch, '--no-conf', '--cmdenv', 'OPENBLAS_NUM_THREADS=2')
    for threads, env in reports:
        assert env['OPENBLAS_NUM_THREADS'] == '2'
        assert env['OMP_NUM_THREADS'] is None and env['MKL_NUM_THREADS'] is None
        assert threads and set(threads) == {want}


def test_users_cmdenv_in_mrjob_conf_sets_the_blas_threads(tmp_path, monkeypatch):
    want = min(2, os.cpu_count())
    conf = tmp_path / 'mrjob.conf'
    conf.write_text("runners:\n  local:\n    cmdenv:\n      OMP_NUM_THREADS: '2'\n")
    for threads, env in blas_report(tmp_path, monkeypatch, '-c', str(conf)):
        assert env == {'OMP_NUM_THREADS': '2', 'OPENBLAS_NUM_THREADS': None, 'MKL_NUM_THREADS': None}
        assert threads and set(threads) == {want}


def test_a_blas_library_loaded_after_the_first_task_is_limited_too():
    """A fresh process: the first inline task makes the thread pool; then a
    second OpenBLAS (scipy's) is loaded, as a later test or a user's import
    does. The next task's limit must reach it too."""
    need_module('scipy', "pip install -e '.[test]'")
    script = '\n'.join([
        'from threadpoolctl import ThreadpoolController',
        'from mr_rnn.tasks.process_cache import thread_pool',
        'thread_pool(2)',
        'import scipy.linalg',
        '_, blas = thread_pool(2)',
        "with blas.limit(limits=1, user_api='blas'):",
        "    print(sorted({i['num_threads'] for i in ThreadpoolController().info()",
        "                  if i['user_api'] == 'blas'}))"])
    done = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == '[1]'
