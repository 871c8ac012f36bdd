"""--window-state by measurement: held-out bits per character with the state
carried across the windows of a line (carry) and with every window from zeros
(reset), at equal rounds and at equal wall time, on the sample text and on
the State of the Union addresses (heldout/texts.py: every 10th line held out).

Both runs use the demo's settings (the Makefile's `make demo`: average mode,
Adam at lr 0.01, LSTM 128, windows of 64, one map task reading one gzip file,
so a round is a pass of minibatch Adam), chosen on the sample text before
this comparison; nothing is tuned on the second text. Each run measures the
held-out loss of every checkpoint in its own job (--val), the way it trains;
the last checkpoint is then also scored the other way (`mr-rnn evaluate
--window-state`).

    python bench/window_state.py                       # writes bench/WINDOW_STATE.md
    python bench/window_state.py --texts austen --rounds 2 --out /tmp/w.md   # a quick look

Equal wall time: each run's checkpoint at the last round whose summed round
times (metrics `seconds`) fit in the shorter run's total. The two runs of a
text train at the same time, so that whatever else loads a shared machine
loads both alike; the times are only as good as the load column says.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

from paths import BENCH, child_env  # it puts this checkout on sys.path

sys.path.insert(0, BENCH)
from heldout.texts import LINES, SOURCES, Text  # noqa: E402
from machine import machine_rows  # noqa: E402

STATES = ('carry', 'reset')
DEMO = ['--format', 'text', '--mode', 'average', '--optimizer', 'adam', '--lr', '0.01',
        '--tol', '0', '--patience', '1000', '--keep-checkpoints', '0', '--quiet']


def mr_rnn(*args):
    cmd = [sys.executable, '-m', 'mr_rnn', *args]
    done = subprocess.run(cmd, env=child_env(), capture_output=True, text=True)
    if done.returncode:
        sys.exit(f'{" ".join(cmd)} failed:\n{done.stderr}')
    return done.stdout


def train_command(text, state, rounds, workdir, extra):
    run = os.path.join(workdir, f'{text.name}-{state}')
    return run, [sys.executable, '-m', 'mr_rnn', 'train', text.train_gz_dir, '--out', run,
                 '--val', text.held_dir, '--max-iter', str(rounds), '--window-state', state,
                 *DEMO, *extra]


def train_both(text, rounds, workdir, extra):
    """Both runs at once, so that whatever else loads the machine loads both alike."""
    start, runs, procs = time.time(), {}, {}
    for state in STATES:
        run, cmd = train_command(text, state, rounds, workdir, extra)
        procs[state] = (run, cmd, subprocess.Popen(cmd, env=child_env(), stdout=subprocess.PIPE,
                                                   stderr=subprocess.PIPE, text=True))
    for state, (run, cmd, proc) in procs.items():
        _, err = proc.communicate()
        if proc.returncode:
            sys.exit(f'{" ".join(cmd)} failed:\n{err}')
        with open(os.path.join(run, 'metrics.jsonl')) as f:
            rows = [json.loads(line) for line in f]
        rows = [r for r in rows if r['iteration'] <= rounds][:rounds + 1]
        runs[state] = {'run': run, 'rows': rows, 'wall': time.time() - start,
                       'load': os.getloadavg()[0]}
    return runs


def bits(loss):
    return loss / math.log(2)


def evaluate(run, iteration, held_dir, state):
    checkpoint = os.path.join(run, 'checkpoints', f'iter-{iteration:06d}.npz')
    out = json.loads(mr_rnn('evaluate', checkpoint, held_dir, '--json', '--window-state', state))
    return out['bits_per_token']


def measure(name, rounds, workdir, extra):
    text = Text(name, LINES[name](), workdir)
    runs = train_both(text, rounds, workdir, extra)
    # round k's time is in row k + 1 (the row of the checkpoint it wrote)
    elapsed = {s: [sum(r['seconds'] for r in runs[s]['rows'][1:k + 1]) for k in range(rounds + 1)]
               for s in STATES}
    budget = min(elapsed[s][rounds] for s in STATES)
    result = {'text': name, 'source': SOURCES[name], 'bytes': text.bytes, 'chars': text.chars,
              'unigram': text.unigram, 'rounds': rounds, 'budget': budget, 'by_state': {}}
    for state in STATES:
        rows = runs[state]['rows']
        at_time = max(k for k in range(rounds + 1) if elapsed[state][k] <= budget + 1e-9)
        other = STATES[1 - STATES.index(state)]
        result['by_state'][state] = {
            'curve': [bits(r['val_loss']) for r in rows],
            'equal_rounds': bits(rows[rounds]['val_loss']),
            'other_way': evaluate(runs[state]['run'], rounds, text.held_dir, other),
            'time_round': at_time, 'equal_time': bits(rows[at_time]['val_loss']),
            'seconds': elapsed[state][rounds], 'wall': runs[state]['wall'],
            'load': runs[state]['load']}
    return result


def markdown(results, command):
    lines = ['# --window-state: carried or reset state, held-out bits per character', '',
             'Measured by `bench/window_state.py` (its docstring says how); the `seconds` '
             'are each run\'s summed round times:', '',
             f'    {command}', '']
    lines += ['| machine | |', '|---|---|']
    lines += [f'| {name} | {str(value).replace("|", ";")} |' for name, value in machine_rows()]
    lines += ['', '| text | trained and scored | rounds | bits/char at equal rounds | '
              'scored the other way | round within the equal time | bits/char at equal time | '
              'seconds of its rounds | load |',
              '|---|---|---|---|---|---|---|---|---|']
    for r in results:
        for state in STATES:
            s = r['by_state'][state]
            lines.append(f'| {r["text"]} | {state} | {r["rounds"]} | {s["equal_rounds"]:.4f} | '
                         f'{s["other_way"]:.4f} | {s["time_round"]} | {s["equal_time"]:.4f} | '
                         f'{s["seconds"]:.0f} | {s["load"]:.1f} |')
    lines += ['', 'Held-out bits per character after each round (round 0: the initial weights):',
              '']
    for r in results:
        lines.append(f'- {r["text"]} ({r["source"]}, {r["bytes"]:,} training bytes, '
                     f'{r["chars"]:,} held-out characters, unigram {r["unigram"]:.3f} bits):')
        for state in STATES:
            curve = ' '.join(f'{b:.3f}' for b in r['by_state'][state]['curve'])
            lines.append(f'  - {state}: {curve}')
    return '\n'.join(lines) + '\n'


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--texts', nargs='+', default=['austen', 'sotu'], choices=sorted(LINES))
    parser.add_argument('--rounds', type=int, default=10)
    parser.add_argument('--out', default=os.path.join(BENCH, 'WINDOW_STATE.md'))
    parser.add_argument('--local-epochs', type=float, default=0,
                        help="passes over the text per round (0: the demo's one pass)")
    args = parser.parse_args()
    extra = ['--local-epochs', str(args.local_epochs)] if args.local_epochs else []
    command = 'python bench/window_state.py' + ''.join(
        f' {a}' for a in sys.argv[1:])
    with tempfile.TemporaryDirectory() as workdir:
        results = [measure(name, args.rounds, workdir, extra) for name in args.texts]
    text = markdown(results, command)
    with open(args.out, 'w') as f:
        f.write(text)
    print(text)


if __name__ == '__main__':
    main()
