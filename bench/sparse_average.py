"""Average mode on token-id data: one map task against two and four, at the
same number of rounds, by test accuracy.

A corpus of bench/token_corpora.py is cut into K gzip part files of its
training records (mrjob never splits a gzip file, so each round runs exactly K
map tasks on the inline runner), a classifier is trained for --rounds rounds
of `--mode average` with each setting, and the test accuracy of the round's
checkpoint (final.npz: the last round's averaged weights) and the training
loss of those averaged weights are printed. The tasks' own inner loss of the
last round is printed beside it: where the two disagree, averaging lost what
the tasks learnt.

    python bench/sparse_average.py spam --tasks 1 2 4 --settings default touched
    python bench/sparse_average.py sotu --rounds 10 --local-steps 16
    python bench/sparse_average.py spam --seeds 0 1 --settings plain+inner-average

Rounds, not seconds, are compared: the machine may be shared.
"""
import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from paths import child_env
from token_corpora import build

PLAIN = ['--outer-optimizer', 'sgd', '--outer-lr', '1']
TOUCHED = ['--row-average', 'touched']
SETTINGS = {
    'default': [],
    'touched': TOUCHED,
    'plain': PLAIN,
    'plain+touched': PLAIN + TOUCHED,
    'inner-average': ['--inner-state', 'average'],
    # a setting's own --lr, --local-steps or --optimizer comes after the common ones, and wins
    'plain+inner-average': PLAIN + ['--inner-state', 'average'],
    'plain+inner-average+steps8': PLAIN + ['--inner-state', 'average', '--local-steps', '8'],
    'plain+touched+lr1e-3': PLAIN + TOUCHED + ['--lr', '0.001'],
    'plain+touched+steps8': PLAIN + TOUCHED + ['--local-steps', '8'],
    'plain+touched+sgd': PLAIN + TOUCHED + ['--optimizer', 'sgd', '--lr', '0.5'],
}


def write_parts(train, k, folder):
    with open(train, 'rb') as f:
        lines = f.read().split(b'\n')[:-1]
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    for i in range(k):
        with gzip.GzipFile(os.path.join(folder, f'part-{i:05d}.jsonl.gz'), 'wb', mtime=0) as f:
            f.write(b''.join(line + b'\n' for line in lines[i * len(lines) // k:
                                                            (i + 1) * len(lines) // k]))


def mr_rnn(*args):
    return subprocess.run([sys.executable, '-m', 'mr_rnn', *args], check=True, env=child_env(),
                          stdout=subprocess.PIPE, text=True).stdout


def run(data, k, flags, seed, args, scratch):
    parts = os.path.join(scratch, f'parts-{k}')
    if not os.path.isdir(parts):
        write_parts(os.path.join(data, 'train.jsonl'), k, parts)
    out = os.path.join(scratch, 'run')
    shutil.rmtree(out, ignore_errors=True)
    started = time.time()
    mr_rnn('train', parts, '--format', 'jsonl', '--task', 'classify', '--out', out,
           '--mode', 'average', '--max-iter', str(args.rounds), '--patience', '1000',
           '--cell', args.cell, '--hidden', str(args.hidden), '--embed', str(args.embed),
           '--pool', args.pool, '--optimizer', 'adam', '--lr', str(args.lr), '--local-steps', str(args.local_steps),
           '--seed', str(seed), '--quiet', *flags)
    seconds = time.time() - started
    with open(os.path.join(out, 'metrics.jsonl')) as f:
        rows = [json.loads(line) for line in f]
    test = json.loads(mr_rnn('evaluate', '--json', os.path.join(out, 'final.npz'),
                             os.path.join(data, 'test.jsonl')))
    return {'accuracy': test['accuracy'], 'averaged_loss': rows[-1]['train_loss'],
            'inner_loss': rows[-2]['train_loss'], 'seconds': round(seconds, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('corpus', choices=('spam', 'sotu', 'sotu-era'))
    parser.add_argument('--tasks', type=int, nargs='+', default=[1, 2, 4])
    parser.add_argument('--settings', nargs='+', default=['default', 'touched'],
                        choices=sorted(SETTINGS))
    parser.add_argument('--rounds', type=int, default=8)
    parser.add_argument('--local-steps', type=int, default=32)
    parser.add_argument('--vocab', type=int, default=20000)
    parser.add_argument('--cell', default='lstm')
    parser.add_argument('--hidden', type=int, default=64)
    parser.add_argument('--embed', type=int, default=0)
    parser.add_argument('--pool', default='last', choices=('last', 'mean', 'max'))
    parser.add_argument('--lr', type=float, default=0.005)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0],
                        help='run every setting and number of tasks once per seed')
    parser.add_argument('--scratch', default=None)
    args = parser.parse_args()
    scratch = args.scratch or tempfile.mkdtemp(prefix='mr_rnn-sparse-average-')
    data = os.path.join(scratch, 'data')
    summary = build(args.corpus, args.vocab, data)
    print(json.dumps(summary), flush=True)
    for setting in args.settings:
        for k in args.tasks:
            for seed in args.seeds:
                result = run(data, k, SETTINGS[setting], seed, args, os.path.join(scratch, 'work'))
                print(json.dumps({'setting': setting, 'tasks': k, 'seed': seed, **result}),
                      flush=True)


if __name__ == '__main__':
    main()
