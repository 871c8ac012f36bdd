"""The plain PyTorch loop bench/quality.py measures mr_rnn against: the same
one-hot LSTM + linear head as the scorer, the same windows (mr_rnn's
TextReader), shuffled minibatches, Adam, in a process of its own like mr-rnn,
until a wall-time budget from a given start (or for a number of steps:
--steps). Snapshots of the weights at even
intervals go into an npz file with their times and steps.

    python -m heldout.torch_loop --data DIR --budget S --t0 T --lr LR --hidden H \\
        --result OUT.npz [--snapshots N --seq-len L --batch-size B --threads K --seed S]

(bench/ on PYTHONPATH; run_torch() starts it so.)
"""
import argparse
import glob
import os
import subprocess
import sys
import time

import numpy as np

from heldout.scoring import torch_model
from heldout.texts import text_schema
from paths import BENCH, child_env

SEQ_LEN, BATCH_SIZE, THREADS = 64, 32, 2


def windows(data, seq_len):
    """(x, y, mask) tensors of every window of the part files in ``data``,
    and the vocabulary size."""
    import torch
    from mr_rnn.data.text import TextReader
    lines = []
    for path in sorted(glob.glob(os.path.join(data, 'part-*'))):
        with open(path, 'rb') as f:
            lines += [raw.rstrip(b'\n') for raw in f]
    schema = text_schema(lines, seq_len=seq_len)
    reader = TextReader(schema, seq_len)
    found = [s for raw in lines for s in reader.sequences(raw)]    # mr_rnn's own windows
    x = torch.zeros((len(found), seq_len), dtype=torch.long)
    y, mask = torch.zeros_like(x), torch.zeros((len(found), seq_len), dtype=torch.bool)
    for i, s in enumerate(found):
        x[i, :len(s.x)], y[i, :len(s.y)], mask[i, :len(s.y)] = (
            torch.from_numpy(s.x), torch.from_numpy(s.y), True)
    return x, y, mask, len(schema.vocab)


def train(args):
    """Train until ``args.budget`` seconds after ``args.t0``; write the snapshots."""
    import torch
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x, y, mask, V = windows(args.data, args.seq_len)
    model = torch_model(torch, V, args.hidden)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    snapshots, times, steps = [], [], []
    interval, step = args.budget / args.snapshots, 0
    if args.steps:          # a budget in steps: snapshots at even steps, the clock only read
        every = max(1, args.steps // args.snapshots)

    def snapshot():
        snapshots.append({k: v.detach().numpy().copy() for k, v in model.state_dict().items()})
        times.append(time.time() - args.t0)
        steps.append(step)
    snapshot()
    generator = torch.Generator().manual_seed(args.seed)
    while (step < args.steps) if args.steps else (time.time() - args.t0 < args.budget):
        for batch in torch.randperm(len(x), generator=generator).split(args.batch_size):
            logits = model(x[batch].T)                                     # (L, B, V)
            m = mask[batch].T
            loss = torch.nn.functional.cross_entropy(logits[m], y[batch].T[m])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            elapsed = time.time() - args.t0
            if args.steps:
                if step >= args.steps:
                    break
                if step % every == 0:
                    snapshot()
                continue
            if elapsed >= args.budget:
                break
            if elapsed >= interval * len(snapshots):
                snapshot()
    snapshot()
    arrays = {f'{i}/{k}': v for i, snap in enumerate(snapshots) for k, v in snap.items()}
    np.savez(args.result, times=np.array(times), steps=np.array(steps), windows=len(x), **arrays)


def run_torch(text, budget, lr, hidden, snapshots, scratch, steps=0):
    """The loop on ``text`` in a child process, from now for ``budget`` seconds
    (or ``steps`` optimizer steps):
    ([{seconds, step, params}] per snapshot, the number of windows)."""
    result = os.path.join(scratch, f'torch-{text.name}.npz')
    t0 = time.time()
    subprocess.run([sys.executable, '-m', 'heldout.torch_loop', '--data', text.train_dir,
                    '--budget', str(budget), '--t0', repr(t0), '--lr', str(lr),
                    '--hidden', str(hidden), '--result', result, '--snapshots', str(snapshots),
                    '--steps', str(steps)],
                   check=True, env=child_env(BENCH))
    with np.load(result) as z:
        times, steps = z['times'], z['steps']
        snaps = [{k.split('/', 1)[1]: z[k] for k in z.files if k.startswith(f'{i}/')}
                 for i in range(len(times))]
        count = int(z['windows'])
    return [dict(seconds=float(t), step=int(s), params=p) for t, s, p in zip(times, steps, snaps)], count


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data', required=True, help='folder of part-* text files')
    p.add_argument('--result', required=True, help='npz file for the snapshots')
    p.add_argument('--budget', type=float, required=True, help='wall seconds from --t0')
    p.add_argument('--t0', type=float, required=True, help='the start (time.time())')
    p.add_argument('--lr', type=float, required=True, help="Adam's learning rate")
    p.add_argument('--hidden', type=int, required=True)
    p.add_argument('--snapshots', type=int, default=20)
    p.add_argument('--steps', type=int, default=0, help='a budget in steps instead (0: --budget)')
    p.add_argument('--seq-len', type=int, default=SEQ_LEN)
    p.add_argument('--batch-size', type=int, default=BATCH_SIZE)
    p.add_argument('--threads', type=int, default=THREADS)
    p.add_argument('--seed', type=int, default=0)
    return p.parse_args(argv)


if __name__ == '__main__':
    train(parse_args())
