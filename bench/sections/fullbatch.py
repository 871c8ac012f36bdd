"""Full-batch inline iteration against a PyTorch loop: one MRGradientStep job
on the inline runner over 118 kB of the sample text (character LSTM 128
language model, windows of 50) against a plain PyTorch loop computing the same
loss and gradient (nn.LSTM + nn.Linear, the same windows, torch batch sizes
32/64/128, the best counts), at 1 and at 2 threads: each in a child process
of its own (BLAS reads its thread count when it loads) limited to that many
cores, where the inline runner runs one gradient worker per core and torch
that many threads.

    python -m sections.fullbatch DIR THREADS [--smoke]   # one child (bench/ on PYTHONPATH)
"""
import json
import os
import subprocess
import sys

import numpy as np

from measure import heading, interleaved, load_torch, ratio_row
from paths import BENCH, child_env
from shards import gradient_job, make_checkpoint, make_shard, shard_batches, target_tokens

from mr_rnn.driver.runner import usable_cores
from mr_rnn.jobs.mrjob_internals import BLAS_THREAD_VARS

BYTES, SEQ_LEN, HIDDEN = 118_000, 50, 128
TORCH_BATCHES = (32, 64, 128)
THREADS = (1, 2)
MAX_RATIO = 1.0


def torch_lm_loop(torch, model, batches, batch_size):
    """The plain PyTorch loop for the same loss and gradient: nn.LSTM + nn.Linear
    on the same windows (one-hot inputs, as our W_ih sees them), regrouped into
    batches of ``batch_size``; forward, masked sum of cross-entropy, backward."""
    V, H, O = model.spec.input_size, model.spec.hidden, model.spec.output_size
    lstm, head = torch.nn.LSTM(V, H), torch.nn.Linear(H, O)
    windows = [(b.x[i, :n], b.y[i, :n]) for b in batches
               for i, n in enumerate(b.mask.sum(axis=1))]
    tensors = []
    for s in range(0, len(windows), batch_size):
        group = windows[s:s + batch_size]
        T = max(len(x) for x, _ in group)
        x, y = np.zeros((T, len(group)), np.int64), np.zeros((T, len(group)), np.int64)
        mask = np.zeros((T, len(group)), bool)
        for j, (xs, ys) in enumerate(group):
            x[:len(xs), j], y[:len(ys), j], mask[:len(xs), j] = xs, ys, True
        tensors.append((torch.nn.functional.one_hot(torch.from_numpy(x), V).float(),
                        torch.from_numpy(y), torch.from_numpy(mask)))

    def run():
        lstm.zero_grad(set_to_none=True)
        head.zero_grad(set_to_none=True)
        for x, y, mask in tensors:
            out, _ = lstm(x)
            loss = torch.nn.functional.cross_entropy(head(out)[mask], y[mask], reduction='sum')
            loss.backward()
    return run


def child(work, smoke, threads):
    """One thread count, in this process, restricted to ``threads`` cores."""
    if hasattr(os, 'sched_setaffinity'):
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:threads])
    torch, _ = load_torch(threads)
    data = make_shard(os.path.join(work, 'fullbatch.txt'), 5_000 if smoke else BYTES)
    hidden, seq_len = (16, 10) if smoke else (HIDDEN, SEQ_LEN)
    checkpoint = make_checkpoint(work, data, 'lstm', hidden, seq_len=seq_len)
    model, batches = shard_batches(checkpoint, data)
    funcs = [gradient_job(checkpoint, [data], ['-r', 'inline'])]
    sizes = TORCH_BATCHES[:1] if smoke else TORCH_BATCHES
    if torch is not None:
        funcs += [torch_lm_loop(torch, model, batches, bs) for bs in sizes]
    for f in funcs:
        f()                                          # warm up
    reps = 1 if smoke else 5
    times = interleaved(funcs, reps)
    return {'threads': threads, 'cores': usable_cores(), 'bytes': os.path.getsize(data),
            'tokens': target_tokens(batches), 'vocab': model.spec.input_size,
            'hidden': hidden, 'seq_len': seq_len, 'batch_size': model.config.batch_size,
            'reps': reps, 'inline_s': times[0],
            'torch_s': dict(zip(map(str, sizes), times[1:])) if torch is not None else {}}


def measure(ctx):
    """Each thread count in a child process; thread counts beyond the cores are skipped."""
    rows = []
    for threads in (t for t in THREADS if t <= usable_cores()):
        out = os.path.join(ctx.work, f'fullbatch-{threads}')
        os.makedirs(out, exist_ok=True)
        done = subprocess.run(
            [sys.executable, '-m', 'sections.fullbatch', out, str(threads)] +
            (['--smoke'] if ctx.smoke else []), capture_output=True, text=True,
            env=child_env(BENCH, **dict.fromkeys(BLAS_THREAD_VARS, str(threads))))
        if done.returncode:
            raise RuntimeError(f'fullbatch child failed:\n{done.stderr[-3000:]}')
        with open(os.path.join(out, 'fullbatch.json')) as f:
            row = json.load(f)
        if row['torch_s']:
            best = min(row['torch_s'], key=row['torch_s'].get)
            row['torch_best'], row['ratio'] = best, row['inline_s'] / row['torch_s'][best]
        rows.append(row)
        print(f'  {row}', flush=True)
    return rows


def targets(rows):
    return [ratio_row(f"full-batch inline iteration ≤ {MAX_RATIO}× torch, {r['threads']} thread"
                      f"{'s' if r['threads'] > 1 else ''} (LSTM {r['hidden']} LM)",
                      r['ratio'], r['ratio'] <= MAX_RATIO,
                      f"{r['inline_s']:.2f} s / {r['torch_s'][r['torch_best']]:.2f} s, "
                      f"torch batch {r['torch_best']}")
            for r in rows if 'ratio' in r]


def markdown(rows):
    if not rows:
        return []
    first = rows[0]
    lines = heading('Full-batch inline iteration against a PyTorch loop') + [
        f"One `MRGradientStep` job on the inline runner over a {first['bytes'] / 1e3:.0f} kB "
        f"slice of the sample text ({first['tokens']} target characters, vocabulary "
        f"{first['vocab']}, windows of {first['seq_len']}, LSTM {first['hidden']}, "
        f"--batch-size {first['batch_size']}), against `torch.nn.LSTM` + `nn.Linear` "
        "forward and backward of the same summed cross-entropy over the same windows "
        "(one-hot inputs, tensors built outside the timing) at torch batch sizes "
        f"{', '.join(map(str, TORCH_BATCHES))}; each thread count in a process of its own, "
        "limited to that many cores (the inline runner runs one gradient worker per core, "
        "torch that many threads), "
        f"{first['reps']} interleaved repetitions, medians.", '',
        '| threads | inline s | ' + ' | '.join(f'torch B {b} s' for b in TORCH_BATCHES) +
        ' | inline / best torch |', '|---|---|' + '---|' * len(TORCH_BATCHES) + '---|']
    for r in rows:
        ts = ' | '.join(f"{r['torch_s'][str(b)]:.3f}" if str(b) in r['torch_s'] else '—'
                        for b in TORCH_BATCHES)
        ratio = f"{r['ratio']:.2f}" if 'ratio' in r else 'torch absent'
        lines.append(f"| {r['threads']} | {r['inline_s']:.3f} | {ts} | {ratio} |")
    return lines


if __name__ == '__main__':
    work, threads = sys.argv[1], int(sys.argv[2])
    with open(os.path.join(work, 'fullbatch.json'), 'w') as f:
        json.dump(child(work, '--smoke' in sys.argv[3:], threads), f)
