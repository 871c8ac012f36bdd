"""Scaling on one machine: mrjob's local runner with --num-cores 2 against 1,
the same two input files (LSTM 256), each task one BLAS thread."""
import os

from measure import heading, interleaved, ratio_row
from shards import gradient_job, make_checkpoint, make_shard

MIN_SPEEDUP = 1.6


def measure(ctx):
    size = 20_000 if ctx.smoke else 300_000
    hidden = 16 if ctx.smoke else 256
    halves = [make_shard(os.path.join(ctx.work, f'scale-{k}.txt'), size // 2) for k in (0, 1)]
    checkpoint = make_checkpoint(ctx.work, halves[0], 'lstm', hidden)
    one = gradient_job(checkpoint, halves, ['-r', 'local', '--num-cores', '1'])
    two = gradient_job(checkpoint, halves, ['-r', 'local', '--num-cores', '2'])
    reps = 1 if ctx.smoke else 2
    t1, t2 = interleaved([one, two], reps)
    return {'bytes': 2 * (size // 2), 'hidden': hidden, 'reps': reps,
            'one_s': t1, 'two_s': t2, 'speedup': t1 / t2}


def targets(r):
    return [ratio_row(f'local runner 2 map tasks ≥ {MIN_SPEEDUP}× faster than 1', r['speedup'],
                      r['speedup'] >= MIN_SPEEDUP, f"{r['one_s']:.1f} s / {r['two_s']:.1f} s")]


def markdown(r):
    return heading('Scaling') + [
        f"Local runner, two input files of {r['bytes'] // 2} B, LSTM "
        f"{r['hidden']}: --num-cores 1 {r['one_s']:.2f} s, --num-cores 2 "
        f"{r['two_s']:.2f} s, speed-up {r['speedup']:.2f}, {r['reps']} interleaved "
        "repetitions. mrjob's local runner cuts the input into 2 × num-cores map "
        "tasks and runs num-cores of them at a time: 2 tasks one after the other "
        "against 4 tasks two at a time, each task one BLAS thread."]
