"""What tests/test_hadoop.py and tests/test_spark.py share: finding Java,
Hadoop and Spark (skip on a user's machine, fail in CI), node-like
Python interpreters, the mrjob.conf sections users are told to use, running
the mr-rnn command, and comparing checkpoints. What the benchmarks need too
(Java, the Hadoop jars, the gateway's environments, the mini cluster, the
mrjob.conf sections, running mr-rnn) is clusters.py beside this file,
imported here.

Not a test module (no test_ prefix); the test files import it by path.
"""
import json
import os
import re
import subprocess
import sys

import numpy as np

from clusters import (DIGITS, PORT_OFFSETS, RECORDS, ROOT, TRAIN, MiniCluster,  # noqa: F401
                      clean_env, conf_section, find_hadoop_lib, first_lines, free_port_base,
                      hadoop, java_problem, local_mode_env, metrics, mr_rnn, write_conf)

RTOL = 1e-9


def unavailable(reason):
    """Skip, with the reason, on a user's machine; in CI a missing Hadoop or Spark
    is a failure (the one rule of tests/conftest.py)."""
    from conftest import unavailable as skip_or_fail
    skip_or_fail(reason)


# ── tools ──

def need_java(what):
    problem = java_problem(what)
    if problem:
        unavailable(problem)


def hadoop_lib():
    """The directory of the Hadoop jars, fetched before pytest; skip (fail in
    CI) without them."""
    lib, why = find_hadoop_lib(fetch=False)
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


def ok(done):
    assert done.returncode == 0, (
        f'mr-rnn exited with {done.returncode}\n--- stdout\n{done.stdout[-4000:]}'
        f'\n--- stderr\n{done.stderr[-8000:]}')
    return done


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
