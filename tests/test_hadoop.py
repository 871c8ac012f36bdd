"""mr-rnn on real Apache Hadoop 3.5 (docs/design.md §4): Hadoop Streaming in local mode,
and a single-node YARN + HDFS cluster (Hadoop's own MiniCluster, started here).

Nothing stands in for Hadoop: tests/hadoop/bin/hadoop puts the Apache jars
from Maven Central (tests/hadoop/pom.xml, fetched once by fetch_hadoop.sh) on
a Java classpath, and mrjob's unmodified hadoop runner drives it. The mrjob
configuration is the repository's mrjob.conf `hadoop` section -- the one
docs/running-on-hadoop.md tells cluster users to use -- with only the
interpreter path changed; the cluster's addresses come from HADOOP_CONF_DIR,
as on any gateway machine.

Without Java 17 or Maven these tests are skipped with the reason; with
CI set (see conftest.in_ci) that is a failure instead.
"""
import glob
import json
import os
import re
import sys
import zipfile

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'hadoop'))
import harness as h  # noqa: E402
from helpers import VOCAB_FLAGS, text_schema_of, write_vocab_documents  # noqa: E402
from pythons import SUPPORTED, task_python  # noqa: E402

from mr_rnn.driver.job_failures import failure_message, python_error  # noqa: E402
from mrjob.step import StepFailedException  # noqa: E402


# ── the one-line message of a failed job, from what each runner logs ──
# (no Hadoop needed: these are the shapes of logs that the runs below produce)

YARN_LOG = '''Running step 1 of 1...
  Submitted application application_1795322239741_0001
  Task Id : attempt_1795322239741_0001_m_000001_0, Status : FAILED
Error: java.lang.RuntimeException: PipeMapRed.waitOutputThreads(): subprocess failed with code 1
\tat org.apache.hadoop.streaming.PipeMapRed.waitOutputThreads(PipeMapRed.java:326)
  Job not successful!

Probable cause of failure:

PipeMapRed failed!
java.lang.RuntimeException: PipeMapRed.waitOutputThreads(): subprocess failed with code 1

(from lines 50-64 of /l/userlogs/application_1795322239741_0001/container_1795322239741_0001_01_000003/syslog)

caused by:

+ /node/bin/python mr_describe_data.py --step-num=0 --mapper --format jsonl
Traceback (most recent call last):
  File "/x/container_1795322239741_0001_01_000003/mr_describe_data.py", line 10, in <module>
    from mr_rnn.data.csv_series import csv_facts
    from mr_rnn.data.readers import LINE_FACTS
    from mr_rnn.data.records import BadRecord
  File "/x/container_1795322239741_0001_01_000003/mr_rnn.zip/mr_rnn/data/records.py", line 14
ModuleNotFoundError: No module named 'numpy'

(from lines 8-13 of /l/userlogs/application_1795322239741_0001/container_1795322239741_0001_01_000003/stderr)

while reading input from lines 36223-72444 of hdfs://localhost:18020/data/d200.jsonl
'''

LOCAL_MODE_LOG = '''  PipeMapRed exec [/bin/sh, -ex, setup-wrapper.sh, /bare/bin/python, mr_gradient_step.py]
+ cd /tmp/w/hl
+ /bare/bin/python mr_gradient_step.py --step-num=0 --mapper --format jsonl
Traceback (most recent call last):
  File "/tmp/w/hl/mr_gradient_step.py", line 20, in <module>
    main()
  File "/tmp/w/hl/mr_rnn.zip/mr_rnn/kernels/cells.py", line 7, in step
    return np.tanh(z) @ w
           ~~~~~~~~~~~^~~
ValueError: matmul: Input operand 1 has a mismatch in its core dimension 0
  MRErrorThread done
java.lang.Exception: java.lang.RuntimeException: PipeMapRed.waitOutputThreads(): subprocess failed with code 1
\tat org.apache.hadoop.mapred.LocalJobRunner$Job.runTasks(LocalJobRunner.java:493)
  Job not successful!
'''

SPARK_LOG = '''  Lost task 0.0 in stage 0.0 (TID 0) (192.0.2.2 executor driver): org.apache.spark.api.python.PythonException: Traceback (most recent call last):
  File "/spark/python/lib/pyspark.zip/pyspark/worker.py", line 1200, in main
    process()
  File "/tmp/x/mr_rnn.zip/mr_rnn/jobs/base.py", line 40, in _mapper_line
    raise KeyError(key)
KeyError: 'x'

\tat org.apache.spark.api.python.BasePythonRunner$ReaderIterator.handlePythonException(PythonRunner.scala:572)
'''

NO_TASK_LOG = '''  Submitted application application_1795322239741_0007
  Task Id : attempt_1795322239741_0007_m_000000_0, Status : FAILED
Error: java.lang.RuntimeException: PipeMapRed.waitOutputThreads(): subprocess failed with code 1
  Job not successful!
'''


def lines_of(text, name='mrjob.logs.step', level=20):
    return [(name, level, line) for line in text.splitlines()]


def failed(reason="Command '['hadoop', 'jar', 'x.jar']' returned non-zero exit status 256."):
    return StepFailedException(reason=reason, step_num=0, num_steps=1)


def test_failure_message_names_the_python_error_from_the_yarn_task_log():
    message = failure_message('MRDescribeData', failed(), lines_of(YARN_LOG, 'mrjob.hadoop', 40))
    assert message.startswith("MRDescribeData failed: a task raised ModuleNotFoundError: "
                              "No module named 'numpy' (the tasks' Python (python_bin) cannot "
                              "import numpy")
    assert message.endswith('container_1795322239741_0001_01_000003/stderr')
    assert '\n' not in message and 'subprocess failed' not in message


def test_failure_message_from_hadoop_local_mode_output():
    assert python_error(LOCAL_MODE_LOG.splitlines()) == (
        'ValueError: matmul: Input operand 1 has a mismatch in its core dimension 0', None)
    message = failure_message('MRGradientStep', failed(), lines_of(LOCAL_MODE_LOG))
    assert message == ('MRGradientStep failed: a task raised ValueError: matmul: Input operand 1 '
                       'has a mismatch in its core dimension 0')


def test_failure_message_from_a_spark_python_worker():
    message = failure_message('MRGradientStep', failed(), lines_of(SPARK_LOG))
    assert message == "MRGradientStep failed: a task raised KeyError: 'x'"


def test_without_the_task_log_the_message_says_where_to_find_it():
    message = failure_message('MRGradientStep', failed(), lines_of(NO_TASK_LOG))
    assert message.startswith("MRGradientStep failed: a task's Python process exited with code 1")
    assert '`yarn logs -applicationId application_1795322239741_0007`' in message


def test_a_hadoop_client_error_is_the_message():
    log = lines_of('  Error Launching job : Input path does not exist: hdfs://nn/x.jsonl',
                   level=40)
    assert failure_message('MRDescribeData', failed(), log) == (
        'MRDescribeData failed: Error Launching job : Input path does not exist: hdfs://nn/x.jsonl')
    assert failure_message('MRDescribeData', failed(), []) == (
        'MRDescribeData failed: `hadoop jar ...` exited with status 256; -v shows its output')


# ── the configuration users are told to use is the one tested ──

def yaml_blocks(markdown):
    import yaml
    return [yaml.safe_load(block) for block in re.findall(r'```yaml\n(.*?)```', markdown, re.S)]


def test_the_docs_give_the_tested_mrjob_conf_sections():
    """docs/running-on-hadoop.md quotes the hadoop and spark sections of
    mrjob.conf, which the tests below run with only python_bin changed."""
    with open(os.path.join(h.ROOT, 'docs', 'running-on-hadoop.md')) as f:
        blocks = yaml_blocks(f.read())
    quoted = {runner: section for block in blocks for runner, section in block['runners'].items()
              if 'setup' not in section}
    assert quoted['hadoop'] == h.conf_section('hadoop')
    assert quoted['spark'] == h.conf_section('spark')


# ── real Hadoop ──

@pytest.fixture(scope='session')
def lib():
    return h.hadoop_lib()


@pytest.fixture(scope='module')
def work(tmp_path_factory):
    return tmp_path_factory.mktemp('hadoop')


@pytest.fixture(scope='module')
def data(work):
    return h.first_lines(h.DIGITS, work / 'digits-200.jsonl', h.RECORDS)


@pytest.fixture(scope='module')
def inline_run(work, data):
    run = str(work / 'inline')
    h.ok(h.mr_rnn('train', data, '--out', run, *h.TRAIN, '-r', 'inline'))
    return run


@pytest.fixture(scope='module')
def node(work):
    """The tasks' interpreter: Python + numpy, without mr_rnn or mrjob."""
    return h.node_python(str(work / 'node-python'))


@pytest.fixture(scope='session')
def cluster(lib, tmp_path_factory):
    """A single-node YARN + HDFS cluster (tests/hadoop/minicluster.sh) for the
    session, of its own: free ports and a folder in the session's temporary
    directory, never a benchmark's cluster (or another session's); stopped at
    the end."""
    with h.MiniCluster(lib, tmp_path_factory.mktemp('cluster')) as gateway:
        yield gateway


def test_each_mini_cluster_has_its_own_folder_and_free_ports(tmp_path):
    """No Hadoop needed: what MiniCluster gives minicluster.sh, so that a test
    session's cluster and a benchmark's never meet (docs/design.md §4)."""
    import socket
    a, b = h.MiniCluster('LIB'), h.MiniCluster('LIB', tmp_path / 'mine')
    try:
        assert a.env['MR_RNN_CLUSTER_DIR'] != b.env['MR_RNN_CLUSTER_DIR'] == str(tmp_path / 'mine')
        assert os.path.isdir(a.folder) and os.listdir(a.folder) == []
    finally:
        a.__exit__(None, None, None)
    assert not os.path.exists(a.folder)         # its own temporary folder, removed
    for _ in range(20):
        base = h.free_port_base()
        assert 20000 <= base and base + max(h.PORT_OFFSETS) < 32768
        for offset in h.PORT_OFFSETS:
            with socket.socket() as s:
                s.bind(('127.0.0.1', base + offset))


def test_the_hadoop_is_apache_hadoop_3_5_from_maven_central(lib):
    version = h.hadoop(h.local_mode_env(lib), 'version').stdout.splitlines()[0]
    assert version == 'Hadoop 3.5.0'
    jar = os.path.join(lib, 'hadoop-streaming-3.4.2.jar')
    with zipfile.ZipFile(jar) as z:
        manifest = z.read('META-INF/MANIFEST.MF').decode()
    assert 'Main-Class: org.apache.hadoop.streaming.HadoopStreaming' in manifest
    assert os.path.exists(os.path.join(os.path.dirname(lib), 'pom.xml'))   # fetched by Maven


def test_hadoop_local_mode_gives_the_inline_runners_weights(lib, work, data, inline_run, node):
    """-r hadoop on Hadoop's LocalJobRunner: the repository's mrjob.conf,
    a local-mode HADOOP_CONF_DIR and a local scratch dir."""
    conf = h.write_conf(work / 'local-mode.conf', 'hadoop', python_bin=node)
    run, cwd = str(work / 'hadoop-local'), work / 'local-cwd'
    cwd.mkdir()    # LocalJobRunner links the job's files into its CWD: a fresh one
    before = len(h.mr_rnn_origins(node))
    done = h.ok(h.mr_rnn('train', data, '--out', run, *h.TRAIN, '-r', 'hadoop', '-c', conf,
                         '--hadoop-tmp-dir', f'file://{work}/hadoop-local-tmp', '-v',
                         env=h.local_mode_env(lib), cwd=cwd))
    # the tasks, without this repository on their PYTHONPATH, imported the shipped zip
    h.assert_shipped(h.mr_rnn_origins(node)[before:])
    log = done.stderr
    assert 'Running job: job_local' in log            # Hadoop's LocalJobRunner ran it
    h.assert_same_weights(inline_run, run)
    rows = h.metrics(run)
    assert [r['iteration'] for r in rows] == [0, 1, 2]
    assert all(r['records'] == h.RECORDS and r['bad_records'] == 0 for r in rows)
    # the records counted by the tasks came back through Hadoop's counters
    assert {'records': h.RECORDS, 'bad_records': 0} in h.counter_blocks(log)


def test_hadoop_local_mode_bad_records_end_in_one_line(lib, work, data, node):
    bad = work / 'digits-bad.jsonl'
    with open(data) as f:
        good = f.read()
    bad.write_text(good + 'not json at all\n' * 10)
    conf = h.write_conf(work / 'local-mode-bad.conf', 'hadoop', python_bin=node)
    cwd = work / 'local-cwd-bad'
    cwd.mkdir()
    done = h.mr_rnn('train', str(bad), '--out', str(work / 'bad-run'), *h.TRAIN,
                    '-r', 'hadoop', '-c', conf,
                    '--hadoop-tmp-dir', f'file://{work}/hadoop-local-tmp-bad',
                    env=h.local_mode_env(lib), cwd=cwd)
    assert done.returncode == 2, done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr[-3000:]
    assert re.match(r'mr-rnn: error: 10 of 210 records are bad .*--max-bad-fraction 0\.01; '
                    r'first: \S*digits-bad\.jsonl:201: ', lines[0]), lines[0]



def test_hadoop_local_mode_learns_the_inline_runners_vocabulary(lib, work, node):
    """Tokens counted a key each over two reducers, on the node's Python, keep
    the vocabulary the inline runner keeps (docs/design.md §3.8)."""
    data = write_vocab_documents(work / 'documents.jsonl')
    inline = str(work / 'documents-inline')
    h.ok(h.mr_rnn('train', data, '--out', inline, *VOCAB_FLAGS, '-r', 'inline'))
    conf = h.write_conf(work / 'local-mode-documents.conf', 'hadoop', python_bin=node)
    cwd = work / 'local-cwd-documents'
    cwd.mkdir()
    run = str(work / 'documents-hadoop')
    h.ok(h.mr_rnn('train', data, '--out', run, *VOCAB_FLAGS, '-r', 'hadoop', '-c', conf,
                  '--hadoop-tmp-dir', f'file://{work}/hadoop-local-tmp-documents',
                  '-D', 'mapreduce.job.reduces=2', env=h.local_mode_env(lib), cwd=cwd))
    vocab, classes, tokens = text_schema_of(run)
    assert (vocab, classes, tokens) == text_schema_of(inline)
    assert len(vocab) == 300 and classes == ['a', 'b'] and tokens['kind'] == 'words'

@pytest.fixture(scope='module')
def parts_and_val(work, data):
    """The 200 records as another job leaves them -- part files beside _SUCCESS
    and _logs/ -- one gzipped, one bzip2ed, one plain; and 50 validation records."""
    import bz2
    import gzip
    folder = work / 'parts'
    (folder / '_logs').mkdir(parents=True)
    lines = open(data).read().splitlines(keepends=True)
    for k, opener, suffix in ((0, gzip.open, '.gz'), (1, bz2.open, '.bz2'), (2, open, '')):
        with opener(folder / f'part-{k:05d}.jsonl{suffix}', 'wt') as f:
            f.write(''.join(lines[k::3]))
    (folder / '_SUCCESS').write_text('')
    (folder / '_logs' / 'history').write_text('not a record\n')
    val = h.first_lines(os.path.join(h.ROOT, 'sample_data', 'sequences', 'digits-val.jsonl'),
                        work / 'digits-val-50.jsonl', 50)
    reference = str(work / 'inline-val')
    h.ok(h.mr_rnn('train', data, '--val', val, '--out', reference, *h.TRAIN, '-r', 'inline'))
    return str(folder), val, reference


@pytest.mark.parametrize('version,requirement', SUPPORTED)
def test_hadoop_local_mode_with_old_task_pythons_reads_part_folders_and_compressed_input(
        lib, work, parts_and_val, version, requirement):
    """Tasks under Python 3.8 (numpy 1.24) and 3.9 (numpy 2.0) holding only
    numpy; input a folder of .gz, .bz2 and plain part files beside _SUCCESS,
    no --format; validation inside the rounds (files told apart by the file:
    URIs Hadoop names them with). Train, evaluate and predict equal the inline runner."""
    python = task_python(version, requirement)
    folder, val, reference = parts_and_val
    tag = f'py{version}'
    conf = h.write_conf(work / f'local-mode-{tag}.conf', 'hadoop', python_bin=python)
    cwd = work / f'local-cwd-{tag}'
    cwd.mkdir()

    def hadoop_local(*args):
        return h.ok(h.mr_rnn(*args, '-r', 'hadoop', '-c', conf, '--hadoop-tmp-dir',
                             f'file://{work}/hadoop-tmp-{tag}', env=h.local_mode_env(lib), cwd=cwd))

    run = str(work / f'hadoop-local-{tag}')
    hadoop_local('train', folder, '--val', val, '--out', run, *h.TRAIN, '-v')
    h.assert_same_weights(reference, run)
    rows, want = h.metrics(run), h.metrics(reference)
    assert [r['iteration'] for r in rows] == [0, 1, 2]
    assert all(r['records'] == h.RECORDS and r['bad_records'] == 0 for r in rows)
    for got, expected in zip(rows, want):
        assert got['val_loss'] == pytest.approx(expected['val_loss'], rel=h.RTOL)

    checkpoint = os.path.join(reference, 'final.npz')
    expected = json.loads(h.ok(h.mr_rnn('evaluate', checkpoint, val, '--json')).stdout)
    got = json.loads(hadoop_local('evaluate', checkpoint, val, '--json').stdout)
    assert got['records'] == expected['records'] == 50
    assert got['loss'] == pytest.approx(expected['loss'], rel=h.RTOL)

    def by_id(text):
        return sorted((json.loads(line) for line in text.splitlines()), key=lambda r: r['id'])
    expected = by_id(h.ok(h.mr_rnn('predict', checkpoint, val)).stdout)
    got = by_id(hadoop_local('predict', checkpoint, val).stdout)
    assert [r['id'] for r in got] == [r['id'] for r in expected] and len(got) == 50
    for g, e in zip(got, expected):
        assert g['class'] == e['class']
        assert g['probabilities'] == pytest.approx(e['probabilities'], rel=h.RTOL)


def test_yarn_cluster_gives_the_inline_runners_weights(cluster, work, data, inline_run, node,
                                                      parts_and_val):
    """Input on HDFS, the tasks in YARN, the interpreter a Python that has
    numpy but not mr_rnn: the job ships mr_rnn itself. The validation data, on
    HDFS too, goes through the rounds' own jobs. The input is small, so every
    job runs in uber mode, mr_rnn's default for it (docs/design.md §7)."""
    _, val, val_reference = parts_and_val
    hdfs_dir = f'/mr_rnn_tests/{os.getpid()}'
    h.hadoop(cluster, 'fs', '-mkdir', '-p', f'{hdfs_dir}/val')
    h.hadoop(cluster, 'fs', '-put', '-f', data, f'{hdfs_dir}/digits-200.jsonl')
    h.hadoop(cluster, 'fs', '-put', '-f', val, f'{hdfs_dir}/val/part-00000.jsonl')
    h.hadoop(cluster, 'fs', '-touchz', f'{hdfs_dir}/val/_SUCCESS')
    conf = h.write_conf(work / 'cluster.conf', 'hadoop', python_bin=node)
    run, cwd = str(work / 'yarn'), work / 'yarn-cwd'
    cwd.mkdir()
    done = h.ok(h.mr_rnn('train', f'hdfs://{hdfs_dir}/digits-200.jsonl', '--val',
                         f'hdfs://{hdfs_dir}/val', '--out', run, *h.TRAIN,
                         '-r', 'hadoop', '-c', conf, '-v', env=cluster, cwd=cwd))
    log = done.stderr

    h.assert_same_weights(inline_run, run)
    rows = h.metrics(run)
    assert [r['iteration'] for r in rows] == [0, 1, 2]
    assert all(r['records'] == h.RECORDS and r['bad_records'] == 0 for r in rows)
    assert {'records': h.RECORDS, 'bad_records': 0} in h.counter_blocks(log)
    for got, want in zip(rows, h.metrics(val_reference)):
        assert got['val_loss'] == pytest.approx(want['val_loss'], rel=h.RTOL)

    # describe, 2 gradient steps, evaluate -- validation adds no job: each a
    # YARN application that ran its tasks inside the ApplicationMaster's
    # container, the one container the ResourceManager allocated for it
    apps = containers(cluster, log)
    assert len(apps) == 4, log[-5000:]
    assert len(re.findall(r'running in uber mode : true', log)) == 4, log[-5000:]
    for app, allocated in apps.items():
        assert len(allocated) == 1, (app, allocated)
    # a map task ran in that container, importing mr_rnn from the shipped zip
    userlogs = os.path.join(cluster['YARN_LOG_DIR'], 'userlogs', list(apps)[1])
    stderr = [open(p).read() for p in glob.glob(os.path.join(userlogs, 'container_*', 'stderr'))]
    mappers = [s for s in stderr if f'+ {node} mr_gradient_step.py --step-num=0 --mapper' in s]
    assert mappers, stderr
    for text in mappers:
        container = re.search(r'\+ cd (\S+/(container_\w+))\n', text).group(1)
        pythonpath = re.findall(r'export PYTHONPATH=(\S+)', text)[-1].split(':')
        assert f'{container}/mr_rnn.zip' in pythonpath


def containers(cluster, log):
    """{application id: the containers the ResourceManager allocated for it}
    for each application that mr-rnn's verbose ``log`` says it submitted."""
    apps = re.findall(r'Submitted application (application_(\d+)_(\d+))', log)
    cluster_log = open(os.path.join(os.path.dirname(cluster['HADOOP_CONF_DIR']),
                                    'cluster.log')).read()
    return {app: set(re.findall(
        rf'(container_{stamp}_{seq}_\d+_\d+) Container Transitioned from NEW to ALLOCATED',
        cluster_log)) for app, stamp, seq in apps}


def test_yarn_reads_csv_series_as_whole_files(cluster, work, node):
    """csv time series use mrjob's mapper_raw: one whole file per map task,
    which each task copies from HDFS itself (hadoop fs -copyToLocal in its
    container). The loss of a checkpoint on two series equals the inline one.
    The user's -D wins over mr_rnn's default of uber mode: each task gets a
    container of its own."""
    series = [os.path.join(h.ROOT, 'sample_data', 'timeseries', 'us_macro_quarterly.csv')]
    twice = work / 'us_macro_copy.csv'
    twice.write_text(open(series[0]).read())
    series.append(str(twice))
    run = str(work / 'csv-inline')
    h.ok(h.mr_rnn('train', *series, '--out', run, '--target', 'infl', '--window', '8',
                  '--dtype', 'float64', '--hidden', '8', '--max-iter', '1', '-r', 'inline'))
    model = os.path.join(run, 'final.npz')
    want = json.loads(h.ok(h.mr_rnn('evaluate', model, *series, '--json')).stdout)
    hdfs_dir = f'/mr_rnn_tests/{os.getpid()}/series'
    h.hadoop(cluster, 'fs', '-mkdir', '-p', hdfs_dir)
    h.hadoop(cluster, 'fs', '-put', '-f', *series, hdfs_dir)
    conf = h.write_conf(work / 'cluster-csv.conf', 'hadoop', python_bin=node)
    cwd = work / 'yarn-cwd-csv'
    cwd.mkdir()
    done = h.ok(h.mr_rnn('evaluate', model, f'hdfs://{hdfs_dir}/*.csv', '--json',
                         '-r', 'hadoop', '-c', conf, '-v',
                         '-D', 'mapreduce.job.ubertask.enable=false', env=cluster, cwd=cwd))
    got = json.loads(done.stdout)
    assert got['records'] == want['records'] > 0 and got['bad_records'] == 0
    assert got['targets'] == want['targets']
    assert abs(got['loss'] - want['loss']) <= h.RTOL * abs(want['loss'])
    assert 'running in uber mode : false' in done.stderr, done.stderr[-5000:]
    for app, allocated in containers(cluster, done.stderr).items():
        assert len(allocated) >= 3, (app, allocated)    # AM and a container per file


def test_yarn_task_error_reaches_the_user_in_one_line(cluster, work, data):
    """A task whose Python cannot import numpy: the user sees the task's own
    error, read from its container log, not "subprocess failed with code 1"."""
    bare = h.node_python(str(work / 'bare-python'), numpy=False)
    hdfs_path = f'/mr_rnn_tests/{os.getpid()}/digits-200-failing.jsonl'
    h.hadoop(cluster, 'fs', '-mkdir', '-p', os.path.dirname(hdfs_path))
    h.hadoop(cluster, 'fs', '-put', '-f', data, hdfs_path)
    conf = h.write_conf(work / 'cluster-bare.conf', 'hadoop', python_bin=bare)
    cwd = work / 'yarn-cwd-failing'
    cwd.mkdir()
    done = h.mr_rnn('train', f'hdfs://{hdfs_path}', '--out', str(work / 'failing'), *h.TRAIN,
                    '-r', 'hadoop', '-c', conf,
                    # fail fast: one attempt per task instead of Hadoop's four
                    '-D', 'mapreduce.map.maxattempts=1', '-D', 'mapreduce.reduce.maxattempts=1',
                    # one map task: with two, YARN kills the second when the first
                    # fails, and mrjob may name the killed one (exit 143, no traceback)
                    '-D', 'mapreduce.job.maps=1',
                    env=cluster, cwd=cwd)
    assert done.returncode == 1, done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr[-5000:]
    assert lines[0].startswith("mr-rnn: error: MRDescribeData failed: a task raised "
                               "ModuleNotFoundError: No module named 'numpy' (the tasks' Python "
                               "(python_bin) cannot import numpy"), lines[0]
    assert re.search(r'task log: \S+/userlogs/application_\d+_\d+/container_\w+/stderr$',
                     lines[0]), lines[0]
