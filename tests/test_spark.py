"""mr-rnn on Spark: one Spark application per run (docs/design.md §4), pyspark
(the `spark` extra) in local[2] mode, started with what mrjob's spark runner
makes of the repository's mrjob.conf `spark` section -- only the interpreter
path changed to a Python that has numpy but not mr_rnn, mrjob or pyspark, so
the executors import mr_rnn from the zip the driver ships.

Without pyspark or Java 17 these tests are skipped with the reason; with
CI set (see conftest.in_ci) that is a failure instead.
"""
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'hadoop'))
import clusters  # noqa: E402
import harness as h  # noqa: E402
from helpers import (VOCAB_FLAGS, free_when_ended, text_schema_of,  # noqa: E402
                     write_vocab_documents)


@pytest.fixture(scope='module')
def spark():
    home = h.pyspark_home()
    h.need_java('Spark')
    return home


@pytest.fixture(scope='module')
def work(tmp_path_factory):
    return tmp_path_factory.mktemp('spark')


@pytest.fixture(scope='module')
def data(work):
    return h.first_lines(h.DIGITS, work / 'digits-200.jsonl', h.RECORDS)


def test_spark_local_gives_the_inline_runners_weights(spark, work, data):
    inline = str(work / 'inline')
    h.ok(h.mr_rnn('train', data, '--out', inline, *h.TRAIN, '-r', 'inline'))
    node = h.node_python(str(work / 'node-python'))
    conf = h.write_conf(work / 'spark.conf', 'spark', python_bin=node)
    assert h.conf_section('spark')['spark_master'] == 'local[2]'
    run = str(work / 'spark')
    before = len(h.mr_rnn_origins(node))
    done = h.ok(h.mr_rnn('train', data, '--out', run, *h.TRAIN, '-r', 'spark', '-c', conf, '-v',
                         cwd=work))
    # the executors, without this repository on their PYTHONPATH, imported the shipped zip
    h.assert_shipped(h.mr_rnn_origins(node)[before:])
    assert 'spark-submit' in done.stderr or 'SparkContext' in done.stderr
    h.assert_same_weights(inline, run)
    rows = h.metrics(run)
    assert [r['iteration'] for r in rows] == [0, 1, 2]
    assert all(r['records'] == h.RECORDS and r['bad_records'] == 0 for r in rows)


def test_spark_learns_the_inline_runners_vocabulary(spark, work):
    """Tokens counted a key each keep the inline runner's vocabulary on Spark
    (docs/design.md §3.8)."""
    data = write_vocab_documents(work / 'documents.jsonl')
    inline = str(work / 'documents-inline')
    h.ok(h.mr_rnn('train', data, '--out', inline, *VOCAB_FLAGS, '-r', 'inline'))
    node = h.node_python(str(work / 'node-python'))
    conf = h.write_conf(work / 'spark-documents.conf', 'spark', python_bin=node)
    run = str(work / 'documents-spark')
    h.ok(h.mr_rnn('train', data, '--out', run, *VOCAB_FLAGS, '-r', 'spark', '-c', conf,
                  cwd=work))
    vocab, classes, tokens = text_schema_of(run)
    assert (vocab, classes, tokens) == text_schema_of(inline)
    assert len(vocab) == 300 and classes == ['a', 'b'] and tokens['kind'] == 'words'


def test_spark_task_error_reaches_the_user_in_one_line(spark, work, data):
    bare = h.node_python(str(work / 'bare-python'), numpy=False)
    conf = h.write_conf(work / 'spark-bare.conf', 'spark', python_bin=bare)
    done = h.mr_rnn('train', data, '--out', str(work / 'failing'), *h.TRAIN,
                    '-r', 'spark', '-c', conf, cwd=work)
    assert done.returncode == 1, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith('mr-rnn: error:')]
    assert errors == [done.stderr.strip().splitlines()[-1]], done.stderr[-3000:]
    assert errors[0].startswith("mr-rnn: error: MRDescribeData failed: a task raised "
                                "ModuleNotFoundError: No module named 'numpy'"), errors[0]


# ── one Spark application per run (docs/design.md §4) ──

# 3 gradient rounds in float64: every weight within a relative 1e-9 of the inline runner's
ROUNDS = ['--dtype', 'float64', '--hidden', '6', '--max-iter', '3', '--seed', '1']
FORMATS = {
    'jsonl': (lambda work: h.first_lines(h.DIGITS, work / 'digits-120.jsonl', 120), []),
    'csv': (lambda work: os.path.join(h.ROOT, 'sample_data', 'timeseries',
                                      'us_macro_quarterly.csv'), ['--window', '8']),
    'text': (lambda work: h.first_lines(os.path.join(h.ROOT, 'sample_data', 'text',
                                                     'austen_persuasion.txt'),
                                        work / 'persuasion-300.txt', 300), ['--seq-len', '20']),
}


@pytest.fixture(scope='module')
def node(work):
    return h.node_python(str(work / 'node-python'))


def spark_conf(work, node, name='spark-app.conf'):
    return h.write_conf(work / name, 'spark', python_bin=node)


@pytest.mark.parametrize('fmt', sorted(FORMATS))
def test_each_format_trains_on_spark_to_the_inline_runners_weights(spark, work, node, fmt):
    """jsonl, a csv series (whole files: refused by mrjob's spark runner, which
    has no input manifests) and text, read once into the run's one Spark
    application: 3 rounds give the inline runner's weights, and the records
    and their count are the inline runner's."""
    make, flags = FORMATS[fmt]
    data = make(work)
    inline, run = str(work / f'{fmt}-inline'), str(work / f'{fmt}-spark')
    h.ok(h.mr_rnn('train', data, '--out', inline, *ROUNDS, *flags))
    done = h.ok(h.mr_rnn('train', data, '--out', run, *ROUNDS, *flags, '-r', 'spark',
                         '-c', spark_conf(work, node), cwd=work))
    assert 'Traceback' not in done.stderr, done.stderr[-3000:]
    for k in (1, 2, 3):
        h.assert_same_weights(inline, run, iteration=k)
    want, got = h.metrics(inline), h.metrics(run)
    assert [r['iteration'] for r in got] == [0, 1, 2, 3]
    assert [(r['records'], r['bad_records']) for r in got] == \
        [(r['records'], r['bad_records']) for r in want]
    for a, b in zip(want, got):
        assert abs(a['train_loss'] - b['train_loss']) <= 1e-9 * abs(a['train_loss'])


@pytest.fixture(scope='module')
def straight(work):
    """The uninterrupted inline run the fault tests end at: 4 rounds."""
    data = h.first_lines(h.DIGITS, work / 'digits-faults.jsonl', 100)
    run = str(work / 'faults-inline')
    h.ok(h.mr_rnn('train', data, '--out', run, *FAULT_FLAGS))
    return data, run


FAULT_FLAGS = ['--dtype', 'float64', '--hidden', '5', '--max-iter', '4', '--seed', '2',
               '--tol', '0']


@pytest.mark.parametrize('what, master', [('MRGradientStep.mapper', 'local[2,2]'),
                                          ('MRGradientStep.reducer', 'local[2,2]')])
def test_a_task_that_fails_once_is_retried_by_spark_to_the_same_weights(
        spark, work, node, straight, what, master):
    """A task made to fail from outside the product (fault_seams.py) is retried
    by Spark itself (local[N,F]: F attempts per task, as spark.task.maxFailures
    on a cluster): the run goes on, in the same application, to the weights
    of a run without the failure."""
    data, expected = straight
    marker = work / f'failed-{what}'
    run = str(work / f'retried-{what}')
    env = h.clean_env(MR_RNN_TEST_FAIL_ONCE=f'{what}:{marker}')
    done = h.ok(h.mr_rnn('train', data, '--out', run, *FAULT_FLAGS, '-r', 'spark',
                         '-c', spark_conf(work, node), '--spark-master', master,
                         env=env, cwd=work))
    assert marker.exists(), 'the task did not fail'
    assert 'running it again' not in done.stderr     # Spark retried the task, not the driver
    for k in range(1, 5):
        h.assert_same_weights(expected, run, iteration=k)


def test_a_failed_pass_is_run_again_with_job_retries(spark, work, node, straight):
    """local[2] gives a task one attempt: --job-retries runs the failed pass
    again in the same application, as it runs a failed job again elsewhere."""
    data, expected = straight
    marker = work / 'failed-job-retries'
    run = str(work / 'job-retries')
    env = h.clean_env(MR_RNN_TEST_FAIL_ONCE=f'MRGradientStep.mapper:{marker}')
    done = h.ok(h.mr_rnn('train', data, '--out', run, *FAULT_FLAGS, '-r', 'spark',
                         '-c', spark_conf(work, node), '--job-retries', '1', env=env, cwd=work))
    assert marker.exists()
    assert 'MRGradientStep failed: a task raised RuntimeError: ' in done.stderr
    assert 'running it again (retry 1 of 1)' in done.stderr
    for k in range(1, 5):
        h.assert_same_weights(expected, run, iteration=k)


def descendants(pid):
    """The processes below ``pid`` now (children, theirs, ...), from /proc."""
    parents = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open(f'/proc/{entry}/stat') as f:
                    stat = f.read()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(')', 1)[1].split()[1])
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                found.add(child)
                todo.append(child)
    return found


def wait_for_exit(pids):
    """Wait until every process of ``pids`` has ended (a pidfd is readable
    once its process ends); the pids that still run after 300 s."""
    import select
    left = []
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            if not select.select([fd], [], [], 300)[0]:
                left.append(pid)
        finally:
            os.close(fd)
    return left


def test_driver_killed_mid_round_resumes_to_the_same_weights_and_leaves_no_application(
        spark, work, node, straight, tmp_path):
    """SIGKILL of the driver while the map tasks of round 2 -> 3 are held
    inside the application (MR_RNN_TEST_HOLD_TASK): every process of the
    application (the JVM, pyspark's workers) ends with it, so nothing goes on
    to write into the run folder, and --resume in a new application ends with
    the uninterrupted run's weights."""
    import signal
    import subprocess
    data, expected = straight
    run = tmp_path / 'killed'
    fifo = tmp_path / 'hold'
    os.mkfifo(fifo)
    conf = spark_conf(work, node)
    env = h.clean_env(MR_RNN_TEST_HOLD_TASK=f'MRGradientStep.mapper:{fifo}')
    proc = subprocess.Popen([sys.executable, '-c', clusters.DRIVER, 'train', data,
                             '--out', str(run), *FAULT_FLAGS, '-r', 'spark', '-c', conf],
                            env=env, cwd=work, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    freed = free_when_ended(proc, fifo)
    while True:
        with open(fifo, 'wb'):          # a map task holds: the driver is inside a round
            os.unlink(fifo)
            os.mkfifo(fifo)
            assert proc.poll() is None, 'the driver ended before round 2 -> 3'
            newest = sorted((run / 'checkpoints').glob('iter-*.npz'))[-1]
            if newest.name == 'iter-000002.npz':
                application = descendants(proc.pid)
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                break
    for fd in freed:
        os.close(fd)
    assert proc.returncode == -signal.SIGKILL
    assert application, 'no Spark process under the driver'
    assert wait_for_exit(application) == [], 'the application outlived its driver'
    survivors = sorted(p.name for p in (run / 'checkpoints').glob('iter-*.npz'))
    assert survivors[-1] == 'iter-000002.npz'
    h.ok(h.mr_rnn('train', '--out', str(run), '--resume', '-r', 'spark', '-c', conf, cwd=work))
    for k in (3, 4):
        h.assert_same_weights(expected, str(run), iteration=k)
    assert [r['iteration'] for r in h.metrics(str(run))] == [0, 1, 2, 3, 4]


def test_average_mode_with_the_inline_runners_records_per_task_gives_its_weights(
        spark, work, node):
    """Average mode depends on which records each map task trains on (§5):
    one partition (-D spark.default.parallelism=1) holds every record in
    input order, as the inline runner's one map task does, and gives its
    weights."""
    data = h.first_lines(h.DIGITS, work / 'digits-average.jsonl', 120)
    flags = [*ROUNDS, '--mode', 'average', '--local-steps', '5']
    inline, run = str(work / 'average-inline'), str(work / 'average-spark')
    h.ok(h.mr_rnn('train', data, '--out', inline, *flags))
    h.ok(h.mr_rnn('train', data, '--out', run, *flags, '-r', 'spark', '-c',
                  spark_conf(work, node), '-D', 'spark.default.parallelism=1', cwd=work))
    for k in (1, 2, 3):
        h.assert_same_weights(inline, run, iteration=k)


def test_validation_sampling_and_compressed_folders_on_spark(spark, work, node):
    """A folder of gzip and bzip2 parts (jsonl) and of a gzip csv series,
    --val files, and --sample-fraction's per-round sample: the kept records
    are routed and sampled every round as on the inline runner."""
    import bz2
    import gzip
    lines = open(h.DIGITS, 'rb').read().splitlines(keepends=True)
    parts = work / 'parts'
    parts.mkdir()
    (parts / 'a.jsonl.gz').write_bytes(gzip.compress(b''.join(lines[:60])))
    (parts / 'b.jsonl.bz2').write_bytes(bz2.compress(b''.join(lines[60:120])))
    val = h.first_lines(os.path.join(h.ROOT, 'sample_data', 'sequences', 'digits-val.jsonl'),
                        work / 'val-40.jsonl', 40)
    flags = [*ROUNDS, '--val', val, '--sample-fraction', '0.5']
    inline, run = str(work / 'sampled-inline'), str(work / 'sampled-spark')
    h.ok(h.mr_rnn('train', str(parts), '--out', inline, *flags))
    h.ok(h.mr_rnn('train', str(parts), '--out', run, *flags, '-r', 'spark', '-c',
                  spark_conf(work, node), cwd=work))
    for k in (1, 2, 3):
        h.assert_same_weights(inline, run, iteration=k)
    want, got = h.metrics(inline), h.metrics(run)
    assert [r['records'] for r in got] == [r['records'] for r in want]
    assert len({r['records'] for r in got[:-1]}) > 1          # a new sample each round
    for a, b in zip(want, got):
        assert abs(a['val_loss'] - b['val_loss']) <= 1e-9 * abs(a['val_loss'])

    series = work / 'series'
    series.mkdir()
    csv = os.path.join(h.ROOT, 'sample_data', 'timeseries', 'us_macro_quarterly.csv')
    (series / 'macro.csv.gz').write_bytes(gzip.compress(open(csv, 'rb').read()))
    inline, run = str(work / 'csv-gz-inline'), str(work / 'csv-gz-spark')
    h.ok(h.mr_rnn('train', str(series), '--out', inline, *ROUNDS, '--window', '8'))
    h.ok(h.mr_rnn('train', str(series), '--out', run, *ROUNDS, '--window', '8', '-r', 'spark',
                  '-c', spark_conf(work, node), cwd=work))
    h.assert_same_weights(inline, run, iteration=3)


# ── scoring with a trained checkpoint, one Spark application each ──

def close(a, b):
    """JSON values equal, numbers within a relative 1e-9 (float64 batched
    differently by another runner's split)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(close, a, b))
    if isinstance(a, float) and isinstance(b, (int, float)):
        return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1e-300)
    return a == b


@pytest.mark.parametrize('fmt', ['csv', 'jsonl'])
def test_evaluate_and_predict_on_spark_give_the_inline_runners_results(spark, work, node, fmt):
    """`evaluate` and `predict` on -r spark are passes of an application run
    by the command, as training's are, so a csv series (whole files, which
    mrjob's spark runner refuses) is scored too; a jsonl record that cannot
    be read is counted and gets its error line, in input order."""
    make, flags = FORMATS[fmt]
    data = make(work)
    if fmt == 'jsonl':
        with open(data) as f:
            lines = f.read().splitlines()
        data = str(work / 'digits-scored.jsonl')
        with open(data, 'w') as f:
            f.write('\n'.join([*lines[:50], '{"x": [[1, 2]', *lines[50:]]) + '\n')
    run = str(work / f'{fmt}-scored')
    h.ok(h.mr_rnn('train', make(work), '--out', run, *ROUNDS, *flags))
    checkpoint = os.path.join(run, 'final.npz')
    spark_args = ['-r', 'spark', '-c', spark_conf(work, node)]
    scores = [json.loads(h.ok(h.mr_rnn('evaluate', checkpoint, data, '--json', *args,
                                       cwd=work)).stdout)
              for args in ([], spark_args)]
    assert scores[0]['records'] > 100
    assert scores[0]['bad_records'] == (fmt == 'jsonl')
    assert close(scores[0], scores[1]), scores
    done = [h.ok(h.mr_rnn('predict', checkpoint, data, *args, cwd=work))
            for args in ([], spark_args)]
    assert done[1].stderr.splitlines()[-1] == done[0].stderr.splitlines()[-1]
    lines = [[json.loads(line) for line in d.stdout.splitlines()] for d in done]
    assert len(lines[0]) == scores[0]['records'] + (fmt == 'csv')
    assert [p['id'] for p in lines[1]] == [p['id'] for p in lines[0]]
    assert all(map(close, lines[0], lines[1]))
    assert sum('error' in p for p in lines[1]) == (fmt == 'jsonl')
