"""Hadoop and Spark on this machine, as a gateway machine sees them: finding
Java and the Hadoop jars, the environments of Hadoop's local mode and of the
single-node YARN + HDFS cluster (started and stopped here), the mrjob.conf
sections users are told to use, and running the mr-rnn command as a user does.

Shared by the Hadoop and Spark tests (tests/hadoop/harness.py) and the
benchmarks (bench/iteration_cost.py puts this folder on its sys.path): it
lives beside the Hadoop kit it runs (pom.xml, fetch_hadoop.sh, bin/hadoop,
conf-local, minicluster.sh), runs those as programs, as
docs/running-on-hadoop.md tells users to, and needs no pytest. A bench may
import it; no test imports anything of bench/.
"""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

KIT = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(KIT))
DIGITS = os.path.join(ROOT, 'sample_data', 'sequences', 'digits-train.jsonl')
MRJOB_CONF = os.path.join(ROOT, 'mrjob.conf')
MINICLUSTER = os.path.join(KIT, 'minicluster.sh')
FETCH = os.path.join(KIT, 'fetch_hadoop.sh')
HADOOP_BIN = os.path.join(KIT, 'bin', 'hadoop')

# the training every runner must reproduce (docs/design.md §3.8)
TRAIN = ['--dtype', 'float64', '--cell', 'lstm', '--hidden', '8', '--max-iter', '2',
         '--seed', '0']
RECORDS = 200                  # first lines of digits-train.jsonl


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


def find_hadoop_lib(fetch=True):
    """(the directory of the Hadoop jars, None), fetched with Maven on first
    use, or (None, why they cannot be had). ``fetch`` False: only the cached
    jars (the tests reach no network; `make test` fetches them before pytest)."""
    problem = java_problem('Hadoop 3.5')
    if problem:
        return None, problem
    mvn = (os.environ.get('MVN') or 'mvn').split()[0]
    env = dict(os.environ, **({} if fetch else {'MR_RNN_HADOOP_OFFLINE': '1'}))
    try:
        done = subprocess.run([FETCH], capture_output=True, text=True, timeout=1800, env=env)
    except subprocess.TimeoutExpired:
        return None, 'fetch_hadoop.sh: Maven took more than 30 minutes'
    if done.returncode == 0 and done.stdout.strip():
        return done.stdout.strip().splitlines()[-1], None
    if done.returncode == 3 and not fetch:
        return None, ('the Hadoop jars are not fetched yet, and no test downloads them: '
                      'make test fetches them first (or run tests/hadoop/fetch_hadoop.sh)')
    if not shutil.which(mvn):
        return None, ('Maven (mvn) is needed once, to fetch the Hadoop jars from Maven '
                      'Central (tests/hadoop/fetch_hadoop.sh)')
    return None, ('tests/hadoop/fetch_hadoop.sh could not fetch the Hadoop jars: '
                  + done.stderr.strip()[-1500:])


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
    return clean_env(HADOOP_HOME=KIT, HADOOP_CONF_DIR=os.path.join(KIT, 'conf-local'),
                     HADOOP_MAPRED_HOME=lib, MR_RNN_HADOOP_LIB=lib,
                     PATH=os.path.join(KIT, 'bin') + os.pathsep + os.environ['PATH'])


def cluster_env(text):
    """Parse `minicluster.sh env` (export lines) into an environment."""
    env = clean_env()
    for line in text.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == 'export' and '=' in words[1]:
            key, value = words[1].split('=', 1)
            env[key] = value.replace('$PATH', os.environ['PATH'])
    return env


# the ports minicluster.sh opens, as offsets from MR_RNN_CLUSTER_PORT_BASE
PORT_OFFSETS = (10, 20, 30, 31, 32, 33, 34, 70, 88, 89)


def free_port_base(rng=None):
    """A port base whose ten ports nobody listens on or holds now, below
    Linux's ephemeral range (32768 and up), so the kernel hands none of them out."""
    import random
    import socket
    rng = rng or random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 32600, 100)
        try:
            held = []
            for offset in PORT_OFFSETS:
                s = socket.socket()
                held.append(s)
                s.bind(('127.0.0.1', base + offset))
            return base
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError('no free port base for a mini cluster between 20000 and 32600')


class MiniCluster:
    """``with MiniCluster(lib) as gateway_env``: a single-node YARN + HDFS
    cluster of minicluster.sh of its own -- its own folder (``folder``, else a
    new temporary one) and free ports -- started here and stopped at the end,
    so that the tests and a benchmark never reuse, stop or clash with each
    other's cluster; the value is a gateway's environment for it."""

    class StartFailed(RuntimeError):
        pass

    TRIES = 3           # port bases tried: another process may take a port first

    def __init__(self, lib, folder=None):
        import tempfile
        self.own_folder = folder is None
        self.folder = str(folder) if folder else tempfile.mkdtemp(prefix='mr_rnn_cluster-')
        self.env = clean_env(MR_RNN_HADOOP_LIB=lib, MR_RNN_CLUSTER_DIR=self.folder)
        self.started = False

    def __enter__(self):
        for attempt in range(self.TRIES):
            self.env['MR_RNN_CLUSTER_PORT_BASE'] = str(free_port_base())
            start = subprocess.run([MINICLUSTER, 'start'], env=self.env, capture_output=True,
                                   text=True, timeout=600)
            if start.returncode == 0:
                break
            if 'ports already in use' not in start.stderr or attempt == self.TRIES - 1:
                self._remove()
                raise self.StartFailed(f'minicluster.sh start failed:\n{start.stderr[-5000:]}')
        self.started = True
        printed = subprocess.run([MINICLUSTER, 'env'], env=self.env, capture_output=True,
                                 text=True, check=True, timeout=120).stdout
        return cluster_env(printed)

    def __exit__(self, *exc):
        if self.started:
            subprocess.run([MINICLUSTER, 'stop'], env=self.env, capture_output=True,
                           timeout=300)
        self._remove()

    def _remove(self):
        if self.own_folder:
            shutil.rmtree(self.folder, ignore_errors=True)


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


def first_lines(src, dest, n):
    with open(src) as f, open(dest, 'w') as out:
        for i, line in enumerate(f):
            if i == n:
                break
            out.write(line)
    return str(dest)


# ── results ──

def metrics(run_dir):
    with open(os.path.join(run_dir, 'metrics.jsonl')) as f:
        return [json.loads(line) for line in f if line.strip()]
