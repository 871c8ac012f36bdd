"""MapReduce rounds to reach a training loss, per training mode.

What users pay for on a cluster is rounds (each costs job submission, task
start-up and a full read of the input), so this counts rounds, not seconds.
Every checkpoint's loss is measured on the whole training text (it is passed
as --val as well), so the three modes are compared on the same number even
though sampled and averaged rounds see the data differently.

    python bench/rounds_to_loss.py [--target 2.8] [--max-rounds 60] [--out bench/ROUNDS.md]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from paths import BENCH, SAMPLE_TEXT as TEXT, child_env
COMMON = ['--cell', 'lstm', '--hidden', '128', '--optimizer', 'adam', '--lr', '0.01',
          '--seq-len', '64', '--seed', '0', '--tol', '0']
MODES = {
    'gradient (full batch)': ['--mode', 'gradient', '--batch-size', '256'],
    'gradient, 10 % sample': ['--mode', 'gradient', '--batch-size', '256', '--sample-fraction', '0.1'],
    'average (local epoch)': ['--mode', 'average', '--batch-size', '32'],
}


def rounds_to(target, run_dir, flags, max_rounds):
    started = time.time()
    # full-batch training loss is already the loss on all of the text: no extra pass
    exact = '--sample-fraction' not in flags and 'average' not in flags
    val = [] if exact else ['--val', TEXT]
    subprocess.run([sys.executable, '-m', 'mr_rnn', 'train', TEXT, *val, '--out', run_dir,
                    '--max-iter', str(max_rounds), '--target-loss', str(target), *COMMON, *flags],
                   check=True, env=child_env(), stdout=subprocess.DEVNULL)
    with open(os.path.join(run_dir, 'metrics.jsonl')) as f:
        rows = [json.loads(line) for line in f]
    key = 'val_loss' if val else 'train_loss'
    reached = next((r['iteration'] for r in rows if r[key] <= target), None)
    return reached, rows[-1][key], time.time() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--target', type=float, default=2.8)
    parser.add_argument('--max-rounds', type=int, default=60)
    parser.add_argument('--out', default=os.path.join(BENCH, 'ROUNDS.md'))
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix='mr_rnn-rounds-')
    lines = ['# MapReduce rounds to a training loss', '',
             f'`python bench/rounds_to_loss.py --target {args.target} --max-rounds {args.max_rounds}`, '
             f'{time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}.', '',
             f'Rounds to a training loss of {args.target} nats/char on '
             f'`sample_data/text/austen_persuasion.txt` (LSTM, 128 units, Adam lr 0.01, '
             f'inline runner, at most {args.max_rounds} rounds). The inline runner cuts the '
             f'text into {2 * (os.cpu_count() or 1)} map tasks (mrjob: 2 per core), so average mode '
             f'averages {2 * (os.cpu_count() or 1)} locally trained models per round. The loss of '
             f'every round is measured on the whole text.', '',
             '| mode | rounds | loss at the end | wall time |', '|---|---|---|---|']
    results = {}
    try:
        for name, flags in MODES.items():
            run_dir = os.path.join(scratch, name.split()[0] + str(len(results)))
            reached, last, seconds = rounds_to(args.target, run_dir, flags, args.max_rounds)
            results[name] = reached
            shown = str(reached) if reached is not None else f'> {args.max_rounds}'
            lines.append(f'| {name} | {shown} | {last:.3f} | {seconds:.0f} s |')
            print(lines[-1], flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    full, avg = results['gradient (full batch)'], results['average (local epoch)']
    full_bound = full if full is not None else args.max_rounds
    if avg:
        ratio = full_bound / avg
        verdict = 'met' if ratio >= 5 else 'NOT met'
        lines += ['', f'Average mode needs {"at most " if full is None else ""}1/{ratio:.0f} of '
                  f'full-batch gradient mode\'s rounds (target: at most 1/5): {verdict}.']
    with open(args.out, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print('\n'.join(lines[-1:]))


if __name__ == '__main__':
    main()
