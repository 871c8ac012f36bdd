"""The fixed cost of a -r local round, this checkout against another, interleaved.

    python bench/local_round.py --before DIR [--pairs 4] [--rounds 5]

Trains the tiny model of `iteration_cost.py --fixed-cost` (GRU 4, float64,
the first 200 records of digits-train.jsonl) on -r local with the mr_rnn of
this checkout and of DIR in turn, --pairs times each (the order swapped every
pair, so that a change in the machine's load falls on both), and prints the
median seconds per round of each from metrics.jsonl. iteration_cost.py runs
one variant after the other; on a shared machine that alone moved its ratio
from 0.41 to 0.73 (bench/LOCAL_ROUND.md).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'hadoop'))
import clusters as h  # noqa: E402


def seconds_per_round(code, data, rounds, work):
    out = tempfile.mkdtemp(dir=work)
    driver = h.DRIVER.replace(repr(h.ROOT), repr(os.path.abspath(code)))
    subprocess.run([sys.executable, '-c', driver, 'train', data, '--out', os.path.join(out, 'run'),
                    '-r', 'local', '--dtype', 'float64', '--cell', 'gru', '--hidden', '4',
                    '--seed', '0', '--max-iter', str(rounds)],
                   env=h.clean_env(), cwd=out, check=True, capture_output=True, timeout=3600)
    with open(os.path.join(out, 'run', 'metrics.jsonl')) as f:
        rows = [json.loads(line) for line in f]
    return [r['seconds'] for r in rows if r['grad_norm'] is not None]


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--before', required=True, metavar='DIR', help='the other checkout')
    p.add_argument('--pairs', type=int, default=4)
    p.add_argument('--rounds', type=int, default=5, help='rounds per run')
    a = p.parse_args()
    work = tempfile.mkdtemp(prefix='mr_rnn_local_round_')
    try:
        data = h.first_lines(h.DIGITS, os.path.join(work, 'digits-200.jsonl'), 200)
        variants = [('this checkout', ROOT), ('before', a.before)]
        times, loads = {name: [] for name, _ in variants}, []
        for pair in range(a.pairs):
            for name, code in (variants if pair % 2 == 0 else variants[::-1]):
                times[name] += seconds_per_round(code, data, a.rounds, work)
                loads.append(os.getloadavg()[0])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for name, s in times.items():
        print(f'{name}: median {statistics.median(s):.2f} s/round over {len(s)} rounds '
              f'(min {min(s):.2f}, max {max(s):.2f})')
    ratio = statistics.median(times['this checkout']) / statistics.median(times['before'])
    print(f'ratio {ratio:.2f}; {os.cpu_count()} cores, load average {min(loads):.1f} to '
          f'{max(loads):.1f}')


if __name__ == '__main__':
    main()
