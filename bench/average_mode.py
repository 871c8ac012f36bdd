"""Average mode's choices by measurement: outer optimizer, inner state, inner work.

Cuts a text into K gzipped part files (mrjob never splits a compressed file,
so each is exactly one map task on the inline and local runners), trains a
small character LSTM in --mode average with each configuration, and prints
the held-out loss (--val-fraction 0.1: the same lines whatever K) after every
round, and the rounds each needs to reach the targets.

    python bench/average_mode.py                      # the runs behind the defaults
    python bench/average_mode.py --tasks 1 16 --config default
    python bench/average_mode.py --share 1 --targets 2.0 1.9 --rounds 12

Rounds, not seconds, are compared: the machine may be shared.
"""
import argparse
import gzip
import json
import os
import shutil
import tempfile

from paths import SAMPLE_TEXT as TEXT  # it puts this checkout on sys.path
COMMON = ['--format', 'text', '--mode', 'average', '--hidden', '32', '--lr', '0.01',
          '--val-fraction', '0.1', '--tol', '0', '--patience', '1000', '--quiet']


def nesterov(lr, mu):
    return ['--outer-optimizer', 'nesterov', '--outer-lr', str(lr), '--outer-momentum', str(mu)]


CONFIGS = {
    # the old average mode: one pass, the weights and Adam's state averaged
    'plain averaging': ['--outer-optimizer', 'sgd', '--outer-lr', '1', '--inner-state', 'average'],
    'nesterov 0.7/0.9, inner state averaged': nesterov(0.7, 0.9) + ['--inner-state', 'average'],
    'nesterov 0.7/0.9 (DiLoCo), inner state reset': nesterov(0.7, 0.9),
    'default': [],      # nesterov 1.0/0.5, inner state reset, a pass of at least 64 steps
    'default, 16 local steps': ['--local-steps', '16'],
}


def split(text, share, k, folder):
    with open(text, 'rb') as f:
        lines = f.read().split(b'\n')
    lines = lines[:max(1, int(len(lines) * share))]
    paths = []
    for i in range(k):
        path = os.path.join(folder, f'part-{i:02d}.gz')
        with gzip.open(path, 'wb') as f:
            f.write(b'\n'.join(lines[i * len(lines) // k:(i + 1) * len(lines) // k]) + b'\n')
        paths.append(path)
    return paths


def val_losses(parts, flags, rounds, out):
    from mr_rnn.cli import main
    shutil.rmtree(out, ignore_errors=True)
    code = main(['train', *parts, '--out', out, '--max-iter', str(rounds), *COMMON, *flags])
    if code:
        raise SystemExit(f'training failed ({code}): {flags}')
    with open(os.path.join(out, 'metrics.jsonl')) as f:
        return [json.loads(line)['val_loss'] for line in f]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--text', default=TEXT)
    parser.add_argument('--share', type=float, default=0.25, help='of the text\'s lines (0.25)')
    parser.add_argument('--tasks', type=int, nargs='+', default=[1, 8, 16])
    parser.add_argument('--config', nargs='+', choices=sorted(CONFIGS), default=sorted(CONFIGS))
    parser.add_argument('--rounds', type=int, default=10)
    parser.add_argument('--targets', type=float, nargs='+', default=[2.1, 2.0])
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix='mr_rnn-average-')
    try:
        print('| config | map tasks | ' + ' | '.join(f'rounds to {t}' for t in args.targets)
              + ' | held-out loss by round |')
        print('|---|---|' + '---|' * len(args.targets) + '---|')
        for k in args.tasks:
            folder = os.path.join(work, f'k{k}')
            os.makedirs(folder)
            parts = split(args.text, args.share, k, folder)
            for name in args.config:
                losses = val_losses(parts, CONFIGS[name], args.rounds, os.path.join(work, 'run'))
                hits = [next((i for i, v in enumerate(losses) if v <= t), None)
                        for t in args.targets]
                print(f'| {name} | {k} | '
                      + ' | '.join('>' + str(args.rounds) if h is None else str(h) for h in hits)
                      + ' | ' + ' '.join(f'{v:.3f}' for v in losses) + ' |', flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
