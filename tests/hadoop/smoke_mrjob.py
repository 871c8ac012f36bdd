"""Smoke check: run mr_word_count.py through mrjob's (unmodified) hadoop
runner on real Hadoop, in local mode or on the mini cluster.

    python tests/hadoop/smoke_mrjob.py local   [--py-zip] [--client-pythonpath]
    python tests/hadoop/smoke_mrjob.py cluster [--no-py-zip] [--client-pythonpath]
                                              [-D key=value ...]

cluster mode expects `tests/hadoop/minicluster.sh start` to have been run.
It renders mrjob-local.conf / mrjob-cluster.conf, works in a fresh temp dir
(also the CWD: LocalJobRunner symlinks job files into its CWD), builds a zip
with a package `mr_probe_pkg` that exists nowhere else, runs the job and
prints output, counters (runner.counters()) and timings. Exit status 0 iff
the output is right (and, unless told otherwise, the probe import worked).

Not a pytest module on purpose (no test_ prefix): it needs Java + the jars.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from mr_word_count import MRWordCount  # noqa: E402

TEXT = 'the quick brown fox\njumps over the lazy dog\nThe End\n'
EXPECTED = {'the': 3, 'quick': 1, 'brown': 1, 'fox': 1, 'jumps': 1,
            'over': 1, 'lazy': 1, 'dog': 1, 'end': 1}


def render_conf(template, dest, python, cluster_conf=None):
    with open(os.path.join(HERE, template)) as f:
        text = f.read()
    text = text.replace('@MR_RNN_HADOOP_HOME@', HERE)
    text = text.replace('@PYTHON@', python)
    if cluster_conf:
        text = text.replace('@CLUSTER_CONF@', cluster_conf)
    with open(dest, 'w') as f:
        f.write(text)
    return dest


def make_probe_zip(path):
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr('mr_probe_pkg/__init__.py',
                   'def normalize(word):\n    return word.lower()\n')
    return path


def main():
    p = argparse.ArgumentParser()
    p.add_argument('mode', choices=['local', 'cluster'])
    p.add_argument('--py-zip', dest='py_zip', action='store_true',
                   default=None, help='ship the probe zip via py_files')
    p.add_argument('--no-py-zip', dest='py_zip', action='store_false')
    p.add_argument('--client-pythonpath', action='store_true',
                   help='put the probe package on the CLIENT PYTHONPATH '
                        '(negative control: must not reach YARN tasks)')
    p.add_argument('-D', dest='jobconf', action='append', default=[])
    p.add_argument('--keep', action='store_true',
                   help='keep the scratch dir (default: delete it)')
    a = p.parse_args()
    py_zip = a.py_zip if a.py_zip is not None else (a.mode == 'cluster')

    t0 = time.time()
    lib = subprocess.check_output(
        [os.path.join(HERE, 'fetch_hadoop.sh')], text=True).strip()
    os.environ['MR_RNN_HADOOP_LIB'] = lib
    scratch = tempfile.mkdtemp(prefix='mr_rnn_smoke_')
    os.environ['MR_RNN_HADOOP_SCRATCH'] = scratch
    os.chdir(scratch)

    probe_zip = make_probe_zip(os.path.join(scratch, 'mr_probe_pkg.zip'))
    os.environ['MR_RNN_PY_ZIP'] = probe_zip
    if a.client_pythonpath:
        src = os.path.join(scratch, 'pp')
        os.makedirs(os.path.join(src, 'mr_probe_pkg'))
        with open(os.path.join(src, 'mr_probe_pkg', '__init__.py'), 'w') as f:
            f.write('def normalize(word):\n    return word.lower()\n')
        os.environ['PYTHONPATH'] = src + os.pathsep + os.environ.get(
            'PYTHONPATH', '')

    with open('input.txt', 'w') as f:
        f.write(TEXT)

    python = sys.executable
    if a.mode == 'local':
        conf = render_conf('mrjob-local.conf', 'mrjob.conf', python)
    else:
        cluster_conf = subprocess.check_output(
            [os.path.join(HERE, 'minicluster.sh'), 'confdir'],
            text=True).strip()
        os.environ.setdefault('MR_RNN_CLUSTER_DIR', os.path.dirname(
            cluster_conf))
        conf = render_conf('mrjob-cluster.conf', 'mrjob.conf', python,
                           cluster_conf)
        if not py_zip:
            # drop the py_files entry
            with open(conf) as f:
                text = f.read().replace(
                    '    py_files:\n    - $MR_RNN_PY_ZIP\n', '')
            with open(conf, 'w') as f:
                f.write(text)

    args = ['-r', 'hadoop', '--conf-path', conf, 'input.txt']
    if a.mode == 'local' and py_zip:
        args += ['--py-files', probe_zip]
    for kv in a.jobconf:
        args += ['-D', kv]

    job = MRWordCount(args=args)
    # mrjob's own progress/diagnostics (as on its command line) to stderr
    MRWordCount.set_up_logging(verbose=False, stream=sys.stderr)
    t1 = time.time()
    with job.make_runner() as runner:
        runner.run()
        t2 = time.time()
        out = dict(job.parse_output(runner.cat_output()))
        counters = runner.counters()
    t3 = time.time()

    print('output:', out)
    print('counters (runner.counters()):')
    for i, step in enumerate(counters):
        for group in sorted(step):
            if group in ('probe', 'wc') or group.startswith('Job Counters'):
                print('  step %d %s: %s' % (i, group, step[group]))
        print('  step %d: %d groups in all' % (i, len(step)))
    print('timings: setup %.1fs, runner.run() %.1fs, total %.1fs' % (
        t1 - t0, t2 - t1, t3 - t0))

    os.chdir('/')
    if not a.keep:
        shutil.rmtree(scratch, ignore_errors=True)

    ok = out == EXPECTED
    probe = counters[0].get('probe', {}) if counters else {}
    print('probe import:', probe)
    if not ok:
        print('WRONG OUTPUT', file=sys.stderr)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
