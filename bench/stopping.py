"""The stopping rules' defaults by measurement (docs/design.md §9), on four
public UCR/UEA classification sets with their standard splits
(heldout/ucr.py: GunPoint, JapaneseVowels, ItalyPowerDemand, BasicMotions).

Two kinds of run per set, cell and seed, each `mr-rnn train` as a user types
it (`--task classify --hidden 32 --optimizer adam --lr 0.01 --max-iter 300`)
with every checkpoint kept:

- without validation data, the default stopping rules: scored on the test
  split at the checkpoint a run folder gives the model commands (the one the
  final line names). The rule before, the plateau rule with a patience of 30,
  is scored on the same run: full-batch gradient mode is deterministic, so a
  run stopped by it would have had exactly the rows before its stop, and
  `driver/stopping.should_stop` on those rows says where it stops;
- with validation data (`--val-fraction`, a share of the training split; never
  the test split), run to --max-iter: scored at the lowest validation loss of
  all rounds (best.npz, the run to --max-iter) and at the lowest validation
  loss up to where a patience of 30 on the validation loss would stop.

It also prints, per run, the smallest relative range of the training loss
over any window of the convergence test's length (max - min over min): how
close a real run comes to the convergence test.

    python bench/stopping.py                                # 24 + 12 runs, two at a time
    python bench/stopping.py --sets GunPoint --cells gru --seeds 0 --runs plain
    python bench/stopping.py --out /tmp/stopping            # the runs' folder (kept: a rerun
                                                            # scores the runs already there)
"""
import argparse
import concurrent.futures
import glob
import json
import math
import os
import subprocess
import sys
import time

from paths import child_env  # it puts this checkout on sys.path

from heldout import ucr
from machine import machine_rows

from mr_rnn.config import CONVERGED_ROUNDS, TrainConfig
from mr_rnn.driver import stopping
from mr_rnn.driver.run_dir import checkpoint_of
from mr_rnn.driver.scoring import evaluate

COMMON = ['--task', 'classify', '--hidden', '32', '--optimizer', 'adam', '--lr', '0.01',
          '--keep-checkpoints', '0']
OLD_PATIENCE = 30           # the plateau rule's default before (full batch)


def train(args):
    """Train one run unless its folder holds a finished one: (wall seconds, final line)."""
    out, flags = args
    done = os.path.join(out, 'final_line.txt')
    if os.path.exists(done):
        with open(done) as f:
            seconds, line = f.read().split('\n', 1)
        return float(seconds), line
    if glob.glob(os.path.join(out, 'checkpoints', '*.diverged')):
        return math.nan, 'diverged (its error line was not kept)'
    started = time.time()
    proc = subprocess.run([sys.executable, '-m', 'mr_rnn', 'train', '--out', out, *flags],
                          env=child_env(), capture_output=True, text=True)
    # a diverged run (exit code 2, docs/design.md §9) is a result: its folder's best.npz
    # is what the model commands use
    if proc.returncode and 'diverged' not in proc.stderr:
        raise SystemExit(f'training failed ({proc.returncode}): {flags}\n{proc.stderr}')
    seconds = time.time() - started
    line = next((s for s in (proc.stdout + proc.stderr).splitlines()[::-1]
                 if s.startswith('done:') or 'diverged' in s), '')
    with open(done, 'w') as f:
        f.write(f'{seconds:.1f}\n{line}')
    return seconds, line


def rows_of(out):
    with open(os.path.join(out, 'metrics.jsonl')) as f:
        return [json.loads(line) for line in f]


def stop_row(rows, config):
    """The index of the row after which ``should_stop`` first stops (the last
    training row when it never does)."""
    training = rows[:-1]        # the last row is the final evaluation's
    for n in range(1, len(training) + 1):
        if stopping.should_stop(training[:n], config):
            return n - 1
    return len(training) - 1


def accuracy(checkpoint, test):
    return evaluate(checkpoint, [test], [])['accuracy']


def checkpoint(out, iteration):
    return os.path.join(out, 'checkpoints', f'iter-{iteration:06d}.npz')


def smallest_range(losses, window=CONVERGED_ROUNDS):
    return min((max(w) - min(w)) / abs(min(w))
               for w in (losses[i:i + window] for i in range(len(losses) - window + 1)))


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--sets', nargs='+', default=list(ucr.SETS), choices=ucr.SETS)
    p.add_argument('--cells', nargs='+', default=['gru', 'lstm'])
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    p.add_argument('--max-iter', type=int, default=300)
    p.add_argument('--val-share', type=float, default=0.2)
    p.add_argument('--val-cells', nargs='+', default=['gru'])
    p.add_argument('--runs', choices=('both', 'plain', 'val'), default='both',
                   help='the runs without validation data (plain), with (val), or both')
    p.add_argument('--jobs', type=int, default=2, help='runs at a time')
    p.add_argument('--out', default=os.path.join(ucr.CACHE, 'stopping-runs'))
    a = p.parse_args()
    data = {s: ucr.jsonl_splits(s, os.path.join(ucr.CACHE, 'ucr')) for s in a.sets}
    plain = [] if a.runs == 'val' else [(s, c, seed) for s in a.sets for c in a.cells
                                        for seed in a.seeds]
    val = [] if a.runs == 'plain' else [(s, c, seed) for s in a.sets for c in a.val_cells
                               for seed in a.seeds]

    def folder(kind, s, c, seed):
        return os.path.join(a.out, f'{kind}-{s}-{c}-{seed}-{a.max_iter}')

    jobs = {('plain', *k): (folder('plain', *k), [data[k[0]][0], '--cell', k[1], '--seed',
                                                   str(k[2]), '--max-iter', str(a.max_iter),
                                                   *COMMON]) for k in plain}
    jobs.update({('val', *k): (folder('val', *k), [
        data[k[0]][0], '--cell', k[1], '--seed', str(k[2]), '--max-iter', str(a.max_iter),
        '--val-fraction', str(a.val_share), '--patience', str(10 * a.max_iter), *COMMON])
        for k in val})
    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(a.jobs) as pool:
        done = dict(zip(jobs, pool.map(train, jobs.values())))
    wall = time.time() - started

    old = TrainConfig(patience=OLD_PATIENCE)
    print(f'# Stopping rules on four UCR/UEA sets ({a.max_iter} rounds at most)\n')
    print('    python bench/stopping.py ' + ' '.join(sys.argv[1:]) + '\n')
    for name, value in machine_rows(('wall time of this run', f'{wall:.0f} s, {a.jobs} at a '
                                     'time (runs already in --out are not trained again)'),
                                    ('data', ucr.SOURCE)):
        print(f'- {name}: {value}')
    if plain:
        print('\n## Without validation data\n')
        print('| set | 1-NN DTW | cell | seed | rounds | s | checkpoint used | test acc. | '
              f'patience {OLD_PATIENCE}: stop | acc. (final) | acc. (best) | '
              f'min. {CONVERGED_ROUNDS}-round rel. range |')
        print('|---|---|---|---|---|---|---|---|---|---|---|---|')
        means = {}
        for s, c, seed in plain:
            out = folder('plain', s, c, seed)
            seconds, line = done[('plain', s, c, seed)]
            rows = rows_of(out)
            used, _ = checkpoint_of(out)
            # (a run trained by an earlier version of this script, with --quiet, kept no line)
            assert not line.startswith('done:') or used in line, \
                f'the final line does not name {used}: {line}'
            diverged = 'diverged' in line
            acc = accuracy(used, data[s][1])
            k = stop_row(rows, old)
            # the stopped run's rows: 0..k trained, then its final evaluation of k + 1
            best_k = min(rows[:k + 2], key=lambda r: r['train_loss'])['iteration']
            old_final = accuracy(checkpoint(out, rows[k]['iteration'] + 1), data[s][1]) \
                if k + 1 < len(rows) - 1 else acc
            old_best = accuracy(checkpoint(out, best_k), data[s][1])
            means.setdefault((s, c), []).append(acc)
            rng = smallest_range([r['train_loss'] for r in rows[:-1]])
            print(f'| {s} | {ucr.DTW_1NN[s]:.3f} | {c} | {seed} | {rows[-1]["iteration"]}'
                  f'{" (diverged)" if diverged else ""} | '
                  f'{seconds:.0f} | {os.path.basename(used)} | {acc:.3f} | '
                  f'{rows[k]["iteration"] + 1} | {old_final:.3f} | {old_best:.3f} | {rng:.1e} |')
        print('\n| set | 1-NN DTW | cell | mean test acc. over the seeds | minus DTW |')
        print('|---|---|---|---|---|')
        for (s, c), accs in means.items():
            m = sum(accs) / len(accs)
            print(f'| {s} | {ucr.DTW_1NN[s]:.3f} | {c} | {m:.3f} | {m - ucr.DTW_1NN[s]:+.3f} |')
    if not val:
        return
    print(f'\n## With validation data (--val-fraction {a.val_share} of the training split)\n')
    print(f'| set | 1-NN DTW | cell | seed | to --max-iter: best round | test acc. | '
          f'patience {OLD_PATIENCE} on val loss: stop | best round | test acc. |')
    print('|---|---|---|---|---|---|---|---|---|')
    for s, c, seed in val:
        out = folder('val', s, c, seed)
        rows = rows_of(out)
        best_all = min(rows[:-1], key=lambda r: r['val_loss'])['iteration']
        k = stop_row(rows, old)
        best_k = min(rows[:k + 2], key=lambda r: r['val_loss'])['iteration']
        print(f'| {s} | {ucr.DTW_1NN[s]:.3f} | {c} | {seed} | {best_all} | '
              f'{accuracy(checkpoint(out, best_all), data[s][1]):.3f} | {rows[k]["iteration"] + 1}'
              f' | {best_k} | {accuracy(checkpoint(out, best_k), data[s][1]):.3f} |')


if __name__ == '__main__':
    main()
