"""The performance benchmark: one command, one markdown table of targets.

    python bench/run.py                 # full run (a few minutes on 2 idle cores)
    python bench/run.py --smoke         # tiny shapes, under a minute (CI)
    python bench/run.py --threads 2     # BLAS threads per process (default 1)
    python bench/run.py --only kernels,wire --out /tmp/b   # some sections, elsewhere

Prints the table and writes it, with a description of the machine, to
bench/RESULTS.md (``--out DIR`` writes DIR/RESULTS.md instead).

Every comparison is measured side by side in the same run, repetitions
interleaved (A, B, A, B, ...), and reported as the ratio of the medians:
absolute times are informative only, because the machine may be shared.

Each section is a module of bench/sections/ (what it measures is its
docstring) with its measurement, its targets and its markdown; SECTIONS
below lists them, in the order they run and are reported.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

from paths import BENCH, pythonpath  # first: it puts this checkout on sys.path
from machine import machine_rows  # noqa: I100
from measure import Context, load_torch
from sections import batch, fullbatch, kernels, localconf, memory, overhead, profile, scaling, wire

from mr_rnn.jobs.mrjob_internals import BLAS_THREAD_VARS

SECTIONS = {s.__name__.rpartition('.')[2]: s
            for s in (kernels, batch, overhead, scaling, wire, memory, fullbatch, localconf, profile)}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--smoke', action='store_true', help='tiny shapes: proves it runs, measures nothing')
    p.add_argument('--threads', type=int, default=1,
                   help='BLAS threads per process, for numpy and torch alike (default 1: '
                        'one map task per core, as a Hadoop slot runs it)')
    p.add_argument('--out', default=BENCH,
                   help='directory for RESULTS.md and scratch files (default bench/)')
    p.add_argument('--only', default=','.join(SECTIONS),
                   help=f'comma-separated sections to run, of {", ".join(SECTIONS)} (default all)')
    args = p.parse_args(argv)
    unknown = set(args.only.split(',')) - set(SECTIONS)
    if unknown:
        p.error(f'unknown section(s): {", ".join(sorted(unknown))}')
    return args


def pin_blas_threads(threads):
    """BLAS reads its thread count when it loads, and it has loaded already (with
    mr_rnn, whose variable names these are): set the variables, and start this
    script again with them unless they were set to ``threads`` already."""
    if any(os.environ.get(var) != str(threads) for var in BLAS_THREAD_VARS):
        os.environ.update(dict.fromkeys(BLAS_THREAD_VARS, str(threads)))
        os.execv(sys.executable, [sys.executable, *sys.argv])
    # the mr-rnn commands and local tasks the sections start measure this checkout
    os.environ['PYTHONPATH'] = pythonpath()


def report(results, info, args, seconds):
    smoke = ' --smoke' if args.smoke else ''
    lines = [f"# Benchmark results{' (smoke run: tiny shapes, numbers mean nothing)' if smoke else ''}",
             '', f'`python bench/run.py{smoke} --threads {args.threads}`, '
             f'{time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, {seconds:.0f} s.', '',
             '## Machine', '']
    lines += [f'- {k}: {v}' for k, v in info]
    lines += ['', '## Targets', '', '| target | measured | verdict |', '|---|---|---|']
    lines += [f'| {a} | {b} | {c} |' for name, result in results.items()
              for a, b, c in SECTIONS[name].targets(result)]
    for name, result in results.items():
        lines += SECTIONS[name].markdown(result)
    return lines


def main(args):
    started = time.perf_counter()
    torch, torch_note = load_torch(args.threads)
    if torch is None:
        torch_note = f'absent ({torch_note}): kernel targets measured against the matmul peak only'
    info = machine_rows(('BLAS threads per process', str(args.threads)), ('torch', torch_note))
    os.makedirs(args.out, exist_ok=True)
    ctx = Context(tempfile.mkdtemp(prefix='mr_rnn-bench-'), args.smoke, args.threads, torch)
    chosen = args.only.split(',')
    results = {}
    try:
        for name, section in SECTIONS.items():
            if name in chosen:
                print(f'{name} ...', flush=True)
                t0 = time.perf_counter()
                results[name] = section.measure(ctx)
                print(f'  {name}: {time.perf_counter() - t0:.0f} s', flush=True)
    finally:
        shutil.rmtree(ctx.work, ignore_errors=True)
    text = '\n'.join(report(results, info, args, time.perf_counter() - started)) + '\n'
    print(text)
    with open(os.path.join(args.out, 'RESULTS.md'), 'w') as f:
        f.write(text)
    return 0


if __name__ == '__main__':
    ARGS = parse_args()
    pin_blas_threads(ARGS.threads)
    sys.exit(main(ARGS))
