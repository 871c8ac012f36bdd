"""What one training round costs on each runner, side by side, in one run.

    python bench/iteration_cost.py [--records 200[,1437...]] [--iterations 3]
                                   [--runners inline,local,hadoop-local,yarn,spark]

Trains the same small model (LSTM, hidden 8, float64, first N records of
sample_data/sequences/digits-train.jsonl) on every runner and prints a
markdown table of the wall time per iteration (one MRGradientStep job each),
taken from metrics.jsonl, and of the whole run (the describe job, the
iterations, and the final evaluate job).

Hadoop runs use the jars of tests/hadoop (Java 17; Maven once) and the
repository's mrjob.conf `hadoop` section; YARN uses the single-node cluster of
tests/hadoop/minicluster.sh, started here (and stopped again) unless it is
already up. Spark needs pyspark (pip install -e '.[spark]'). A runner that
cannot run here is listed with the reason instead of a time.
"""
import argparse
import contextlib
import functools
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'hadoop'))
import harness as h  # noqa: E402

RUNNERS = ('inline', 'local', 'hadoop-local', 'yarn', 'spark')
WHAT = {
    'inline': 'in the driver process',
    'local': "mrjob's local runner: a process per task",
    'hadoop-local': "Hadoop Streaming, LocalJobRunner (no cluster)",
    'yarn': 'Hadoop Streaming on YARN + HDFS (single node)',
    'spark': "mrjob's spark runner, local[2]",
}


class Unavailable(Exception):
    pass


@functools.cache
def hadoop_lib():
    lib, why = h.find_hadoop_lib()
    if lib is None:
        raise Unavailable(why)
    return lib


def train(runner, data, out, work, iterations, python, cluster_env=None):
    """Run one training; returns (seconds of each iteration, seconds of the whole run)."""
    args = ['train', data, '--out', out, *h.TRAIN]
    args[args.index('--max-iter') + 1] = str(iterations)
    env, cwd = h.clean_env(), tempfile.mkdtemp(dir=work, prefix=f'{runner}-cwd-')
    if runner in ('inline', 'local'):
        args += ['-r', runner]
    elif runner == 'hadoop-local':
        args += ['-r', 'hadoop', '-c', h.write_conf(os.path.join(work, 'local-mode.conf'),
                                                   'hadoop', python_bin=python),
                 '--hadoop-tmp-dir', f'file://{work}/hadoop-local-tmp']
        env = h.local_mode_env(hadoop_lib())
    elif runner == 'yarn':
        hdfs = f'/mr_rnn_bench/{os.getpid()}/{os.path.basename(data)}'
        h.hadoop(cluster_env, 'fs', '-mkdir', '-p', os.path.dirname(hdfs))
        h.hadoop(cluster_env, 'fs', '-put', '-f', data, hdfs)
        args[1] = f'hdfs://{hdfs}'
        args += ['-r', 'hadoop', '-c', h.write_conf(os.path.join(work, 'cluster.conf'),
                                                   'hadoop', python_bin=python)]
        env = cluster_env
    elif runner == 'spark':
        try:
            import pyspark  # noqa: F401
        except ImportError:
            raise Unavailable("pyspark is not installed: pip install -e '.[spark]'") from None
        problem = h.java_problem('Spark')
        if problem:
            raise Unavailable(problem)
        args += ['-r', 'spark', '-c', h.write_conf(os.path.join(work, 'spark.conf'), 'spark',
                                                  python_bin=python)]
    started = time.time()
    done = h.mr_rnn(*args, env=env, cwd=cwd)
    total = time.time() - started
    if done.returncode:
        raise RuntimeError(f'{runner}: mr-rnn failed:\n{done.stderr[-3000:]}')
    rows = h.metrics(out)
    return [r['seconds'] for r in rows if r['grad_norm'] is not None], total


def java_line():
    java = shutil.which('java')
    if not java:
        return 'none'
    out = subprocess.run([java, '-version'], capture_output=True, text=True).stderr
    return out.splitlines()[0] if out else java


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--records', default=str(h.RECORDS),
                   help='records of digits-train (1437 in all); several: 200,1437')
    p.add_argument('--iterations', type=int, default=3, help='gradient iterations per run')
    p.add_argument('--runners', default=','.join(RUNNERS),
                   help=f'comma-separated, of {", ".join(RUNNERS)}')
    a = p.parse_args()
    runners = [r for r in a.runners.split(',') if r]
    unknown = set(runners) - set(RUNNERS)
    if unknown:
        p.error(f'unknown runner(s): {", ".join(sorted(unknown))}')

    sizes = [int(n) for n in a.records.split(',') if n]
    work = tempfile.mkdtemp(prefix='mr_rnn_iteration_cost_')
    python = sys.executable
    results = {}
    gateway = None          # the cluster's environment, once it is up
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        for size in sizes:
            data = h.first_lines(h.DIGITS, os.path.join(work, f'digits-{size}.jsonl'), size)
            for runner in runners:
                print(f'{runner}, {size} records ...', file=sys.stderr, flush=True)
                try:
                    if runner == 'yarn' and gateway is None:
                        try:
                            gateway = stack.enter_context(h.MiniCluster(hadoop_lib()))
                        except h.MiniCluster.StartFailed as e:
                            raise Unavailable(str(e)[-300:]) from None
                    results[runner, size] = train(
                        runner, data, os.path.join(work, f'{runner}-{size}'), work,
                        a.iterations, python, gateway if runner == 'yarn' else None)
                except Unavailable as e:
                    results[runner, size] = str(e)

    print(f'Wall time per training iteration (one MapReduce job each, median of '
          f'{a.iterations}): LSTM, hidden 8, float64, on the first N records of '
          f'digits-train.jsonl (sequences of 8 steps of 8 values).\n')
    print('| runner | how | ' + ' | '.join(
        f's/iteration, N={n} | whole run, N={n}' for n in sizes) + ' |')
    print('|---|---|' + '---:|---:|' * len(sizes))
    for runner in runners:
        cells = []
        for n in sizes:
            r = results[runner, n]
            if isinstance(r, str):
                cells += [f'not run: {r}', '']
                continue
            per, total = r
            cells += [f'{statistics.median(per):.1f}', f'{total:.0f} s']
        print(f'| {runner} | {WHAT[runner]} | ' + ' | '.join(cells) + ' |')
    print(f'\nWhole run = the describe job, {a.iterations} iterations and the final '
          f'evaluate job, plus starting the command. Machine: {os.cpu_count()} cores, '
          f'{platform.system()} {platform.machine()}, Python {platform.python_version()}, '
          f'{java_line()}.')


if __name__ == '__main__':
    main()
