"""Gradient throughput of the LSTM language model by --batch-size: the bare
GradientSum over the same shard, each batch size's checkpoint made by the CLI.
It informs the default; there is no target."""
import os

from measure import heading, interleaved
from shards import bare_gradient, make_checkpoint, make_shard, shard_batches, target_tokens


def measure(ctx):
    size = 20_000 if ctx.smoke else 60_000
    hidden = 16 if ctx.smoke else 256
    sizes = [8, 32] if ctx.smoke else [16, 32, 64, 128, 256]
    data = make_shard(os.path.join(ctx.work, 'batch.txt'), size)
    funcs, tokens = [], None
    for bs in sizes:
        model, batches = shard_batches(make_checkpoint(ctx.work, data, 'lstm', hidden, bs), data)
        tokens = target_tokens(batches)
        funcs.append(bare_gradient(model, batches))
    times = interleaved(funcs, 2)
    return [{'batch_size': bs, 'tok_s': tokens / t, 'vs_32': times[sizes.index(32)] / t}
            for bs, t in zip(sizes, times)]


def targets(rows):
    return []


def markdown(rows):
    return heading('Gradient throughput by --batch-size (LSTM LM, bare GradientSum)') + [
        '| batch size | tokens/s | vs 32 |', '|---|---|---|'] + [
        f"| {r['batch_size']} | {r['tok_s']:.0f} | {r['vs_32']:.2f} |" for r in rows]
