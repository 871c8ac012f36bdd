"""What tests/test_hadoop.py and tests/test_spark.py share: finding Java,
Hadoop and Spark (skip on a user's machine, fail in CI), node-like
Python interpreters, the mrjob.conf sections users are told to use, running
the mr-rnn command, and comparing checkpoints.

Not a test module (no test_ prefix); the test files import it by path.
"""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DIGITS = os.path.join(ROOT, 'sample_data', 'sequences', 'digits-train.jsonl')
MRJOB_CONF = os.path.join(ROOT, 'mrjob.conf')
MINICLUSTER = os.path.join(HERE, 'minicluster.sh')
FETCH = os.path.join(HERE, 'fetch_hadoop.sh')
HADOOP_BIN = os.path.join(HERE, 'bin', 'hadoop')

# the training every runner must reproduce (docs/design.md §3.8)
TRAIN = ['--dtype', 'float64', '--cell', 'lstm', '--hidden', '8', '--max-iter', '2',
         '--seed', '0']
RECORDS = 200                  # first lines of digits-train.jsonl
RTOL = 1e-9


def unavailable(reason):
    """Skip, with the reason, on a user's machine; in CI a missing Hadoop or Spark
    is a failure (the one rule of tests/conftest.py, imported when a test needs it,
    so that the benchmarks can use this module without pytest)."""
    from conftest import unavailable as skip_or_fail
    skip_or_fail(reason)


# ── tools ──

def java_version():
    """(major version, None) of the java Hadoop and Spark will use, or (None, why not)."""
    home = os.environ.get('JAVA_HOME')
    java = os.path.join(home, 'bin', 'java') if home else shutil.which('java')
    if home and not os.path.exists(java):
        return None, f'$JAVA_HOME is {home}, which has no bin/java'
    if not java:
        return None, 'Java is not installed (no java on the PATH, no $JAVA_HOME)'
    try:
        out = subprocess.run([java, '-version'], capture_output=True, text=True,
                             timeout=60).stderr
    except (OSError, subprocess.SubprocessError) as e:
        return None, f'{java} -version failed: {e}'
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not m:
        return None, f'cannot tell the Java version from {java} -version: {out.strip()[:200]}'
    major = int(m.group(1)) if m.group(1) != '1' else int(m.group(2))
    return major, None


def java_problem(what):
    """Why ``what`` cannot have its Java 17 here, or None."""
    major, why = java_version()
    if major is None:
        return f'{what} needs Java 17: {why}'
    if major < 17:
        return f'{what} needs Java 17 or later; this java is {major}'
    return None


def need_java(what):
    problem = java_problem(what)
    if problem:
        unavailable(problem)


def find_hadoop_lib():
    """(the directory of the Hadoop jars, None), fetched with Maven on first
    use, or (None, why they cannot be had)."""
    problem = java_problem('Hadoop 3.5')
    if problem:
        return None, problem
    mvn = (os.environ.get('MVN') or 'mvn').split()[0]
    try:
        done = subprocess.run([FETCH], capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired:
        return None, 'fetch_hadoop.sh: Maven took more than 30 minutes'
    if done.returncode == 0 and done.stdout.strip():
        return done.stdout.strip().splitlines()[-1], None
    if not shutil.which(mvn):
        return None, ('Maven (mvn) is needed once, to fetch the Hadoop jars from Maven '
                      'Central (tests/hadoop/fetch_hadoop.sh)')
    return None, ('tests/hadoop/fetch_hadoop.sh could not fetch the Hadoop jars: '
                  + done.stderr.strip()[-1500:])


def hadoop_lib():
    """The directory of the Hadoop jars; skip (fail in CI) without them."""
    lib, why = find_hadoop_lib()
    if lib is None:
        unavailable(why)
    return lib


def pyspark_home():
    try:
        import pyspark
    except ImportError:
        unavailable("pyspark is not installed: pip install -e '.[spark]'")
    return os.path.dirname(pyspark.__file__)


# ── interpreters like a node's ──

# Written into a node Python's site-packages (test harness only, never shipped): every
# process of that interpreter appends where it found mr_rnn to LOG, at the import
# itself, so that forked Spark workers that leave by os._exit are counted too.
RECORDER = """import sys


class _RecordMrRnn:
    def find_spec(self, name, path=None, target=None):
        if name != 'mr_rnn':
            return None
        for finder in sys.meta_path:
            find = getattr(finder, 'find_spec', None)
            spec = find(name, path, target) if finder is not self and find else None
            if spec is not None:
                with open(LOG, 'a') as f:
                    f.write(str(spec.origin) + '\\n')
                return spec
        return None


sys.meta_path.insert(0, _RecordMrRnn())
"""


def node_python(dest, numpy=True):
    """A Python like a cluster node's: this interpreter's base installation in
    a fresh virtualenv, with numpy (linked from this environment) and nothing
    else -- no mr_rnn, no mrjob, no pyspark. Tasks that import mr_rnn there
    import it from the zip the job ships; mr_rnn_origins(python) lists where."""
    python = os.path.join(dest, 'bin', 'python')
    if not os.path.exists(python):
        base = getattr(sys, '_base_executable', None) or sys.executable
        subprocess.run([base, '-m', 'venv', '--without-pip', dest], check=True,
                       capture_output=True, timeout=300)
        site = subprocess.run(
            [python, '-c', 'import sysconfig; print(sysconfig.get_path("purelib"))'],
            check=True, capture_output=True, text=True).stdout.strip()
        with open(os.path.join(site, 'sitecustomize.py'), 'w') as f:
            f.write(f'LOG = {_origins_log(python)!r}\n' + RECORDER)
        if numpy:
            ours = os.path.dirname(os.path.dirname(os.path.abspath(np.__file__)))
            for name in ('numpy', 'numpy.libs'):
                if os.path.exists(os.path.join(ours, name)):
                    os.symlink(os.path.join(ours, name), os.path.join(site, name))
    env = clean_env()
    env.pop('PYTHONPATH', None)
    has = {m: subprocess.run([python, '-c', f'import {m}'], cwd=dest, env=env,
                             capture_output=True).returncode == 0
           for m in ('numpy', 'mr_rnn', 'mrjob')}
    assert has == {'numpy': numpy, 'mr_rnn': False, 'mrjob': False}, has
    return python


def _origins_log(python):
    return os.path.join(os.path.dirname(os.path.dirname(python)), 'mr_rnn-origins.txt')


def mr_rnn_origins(python):
    """Where the processes of a node_python found mr_rnn, one entry per import."""
    try:
        with open(_origins_log(python)) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def assert_shipped(origins):
    """Every import of mr_rnn was from the zip the job shipped: never from this
    repository (tasks do not get it on their PYTHONPATH, see clean_env)."""
    assert origins, 'no task imported mr_rnn'
    for origin in origins:
        assert '.zip' + os.sep + 'mr_rnn' + os.sep in origin and \
            not origin.startswith(ROOT + os.sep + 'mr_rnn'), origin


# ── mrjob.conf: the sections users are told to use ──

def conf_section(runner):
    import yaml
    with open(MRJOB_CONF) as f:
        return dict(yaml.safe_load(f)['runners'][runner] or {})


def write_conf(path, runner, **changes):
    """The repository's mrjob.conf section for ``runner``, with ``changes``
    (the interpreter path) -- nothing else."""
    import yaml
    section = conf_section(runner)
    section.update(changes)
    with open(path, 'w') as f:
        yaml.safe_dump({'runners': {runner: section}}, f)
    return str(path)


# ── environments of a gateway machine ──

def clean_env(**extra):
    """os.environ without a user's Hadoop/Spark settings and without PYTHONPATH,
    plus ``extra``: the tasks (which inherit it in local mode) must not find this
    repository's mr_rnn, only the zip the job ships (mr_rnn() gives the driver
    the repository otherwise)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(('HADOOP_', 'YARN_', 'SPARK_', 'PYSPARK_'))
           and k != 'PYTHONPATH'}
    env.update(extra)
    return env


def local_mode_env(lib):
    """A gateway of Hadoop's local mode: the same variables a Hadoop install
    sets, with a configuration whose mapreduce.framework.name is local."""
    return clean_env(HADOOP_HOME=HERE, HADOOP_CONF_DIR=os.path.join(HERE, 'conf-local'),
                     HADOOP_MAPRED_HOME=lib, MR_RNN_HADOOP_LIB=lib,
                     PATH=os.path.join(HERE, 'bin') + os.pathsep + os.environ['PATH'])


def cluster_env(text):
    """Parse `minicluster.sh env` (export lines) into an environment."""
    env = clean_env()
    for line in text.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == 'export' and '=' in words[1]:
            key, value = words[1].split('=', 1)
            env[key] = value.replace('$PATH', os.environ['PATH'])
    return env


class MiniCluster:
    """``with MiniCluster(lib) as gateway_env``: the single-node YARN + HDFS
    cluster of minicluster.sh, started unless it is already up (and then
    stopped again at the end); the value is a gateway's environment for it."""

    class StartFailed(RuntimeError):
        pass

    def __init__(self, lib):
        self.env = clean_env(MR_RNN_HADOOP_LIB=lib)
        self.started = False

    def __enter__(self):
        up = subprocess.run([MINICLUSTER, 'status'], env=self.env, capture_output=True,
                            text=True, timeout=120)
        if up.returncode:
            start = subprocess.run([MINICLUSTER, 'start'], env=self.env, capture_output=True,
                                   text=True, timeout=600)
            if start.returncode:
                raise self.StartFailed(f'minicluster.sh start failed:\n{start.stderr[-5000:]}')
            self.started = True
        printed = subprocess.run([MINICLUSTER, 'env'], env=self.env, capture_output=True,
                                 text=True, check=True, timeout=120).stdout
        return cluster_env(printed)

    def __exit__(self, *exc):
        if self.started:
            subprocess.run([MINICLUSTER, 'stop'], env=self.env, capture_output=True,
                           timeout=300)


def hadoop(env, *args, check=True):
    done = subprocess.run([HADOOP_BIN, *args], env=env, capture_output=True, text=True,
                          timeout=300)
    if check and done.returncode:
        raise AssertionError(f'hadoop {" ".join(args)} failed:\n{done.stderr[-3000:]}')
    return done


# ── running mr-rnn ──

# the driver imports this repository's mr_rnn through its sys.path, not PYTHONPATH,
# which the tasks would inherit
DRIVER = (f'import sys; sys.argv[0] = "mr-rnn"; sys.path.insert(0, {ROOT!r}); '
          'from mr_rnn.cli import main; sys.exit(main())')


def mr_rnn(*args, env=None, cwd=None, timeout=1800):
    """Run the mr-rnn command as a user would; returns the CompletedProcess."""
    return subprocess.run([sys.executable, '-c', DRIVER, *args], env=env or clean_env(),
                          cwd=cwd, capture_output=True, text=True, timeout=timeout)


def ok(done):
    assert done.returncode == 0, (
        f'mr-rnn exited with {done.returncode}\n--- stdout\n{done.stdout[-4000:]}'
        f'\n--- stderr\n{done.stderr[-8000:]}')
    return done


def first_lines(src, dest, n):
    with open(src) as f, open(dest, 'w') as out:
        for i, line in enumerate(f):
            if i == n:
                break
            out.write(line)
    return str(dest)


# ── results ──

def checkpoint(run_dir, iteration):
    path = os.path.join(run_dir, 'checkpoints', f'iter-{iteration:06d}.npz')
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def relative_difference(a, b):
    """max |a - b| over the array, relative to its largest magnitude."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.size == 0:
        return 0.0
    scale = max(np.max(np.abs(a)), np.max(np.abs(b)), np.finfo(np.float64).tiny)
    return float(np.max(np.abs(a - b)) / scale)


def assert_same_weights(reference, run_dir, iteration=2, rtol=RTOL):
    """Every array of iter-NNNNNN.npz (weights and optimizer state) equal to
    the reference run's to a relative difference below ``rtol``."""
    want, got = checkpoint(reference, iteration), checkpoint(run_dir, iteration)
    assert sorted(got) == sorted(want)
    meta_w, meta_g = (json.loads(bytes(x['__meta__']).decode()) for x in (want, got))
    assert meta_g['iteration'] == meta_w['iteration'] == iteration
    assert meta_g['config'] == meta_w['config']
    worst = {}
    for name in want:
        if name == '__meta__':
            continue
        assert got[name].shape == want[name].shape, name
        assert got[name].dtype == want[name].dtype == np.float64, name
        worst[name] = relative_difference(want[name], got[name])
    bad = {k: v for k, v in worst.items() if not v < rtol}
    assert not bad, f'arrays differ from the inline runner\'s: {bad}'
    return max(worst.values())


def metrics(run_dir):
    with open(os.path.join(run_dir, 'metrics.jsonl')) as f:
        return [json.loads(line) for line in f if line.strip()]


def counter_blocks(log_text, group='mr_rnn'):
    """{counter: value} of every counters group ``group`` mrjob logged (-v)."""
    blocks, current = [], None
    for line in log_text.splitlines():
        stripped = line.strip()
        if current is not None:
            m = re.match(r'^(\w+)=(\d+)$', stripped)
            if m and line.startswith('\t\t'):
                current[m.group(1)] = int(m.group(2))
                continue
            blocks.append(current)
            current = None
        if line.startswith('\t') and not line.startswith('\t\t') and stripped == group:
            current = {}
    if current is not None:
        blocks.append(current)
    return blocks
