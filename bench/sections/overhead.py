"""Iteration overhead: one inline-runner round of MRGradientStep on a 1 MB
text shard (LSTM 256) against the bare GradientSum over the same records, and
the time spent in the wire codec as a share of that round."""
import os
import time

from measure import heading, interleaved, ratio_row, verdict
from shards import (bare_gradient, gradient_job, make_checkpoint, make_shard, shard_batches,
                    target_tokens)

MAX_RATIO, MAX_CODEC_SHARE = 1.25, 0.05


class CodecClock:
    """Time spent in wire.encode_packet / decode_packet while installed."""

    def __init__(self):
        from mr_rnn.codec import wire
        self.wire, self.seconds = wire, 0.0
        self.originals = wire.encode_packet, wire.decode_packet

    def _timed(self, f):
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return f(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t0
        return timed

    def __enter__(self):
        self.wire.encode_packet, self.wire.decode_packet = map(self._timed, self.originals)
        return self

    def __exit__(self, *exc):
        self.wire.encode_packet, self.wire.decode_packet = self.originals


def measure(ctx):
    size = 20_000 if ctx.smoke else 1_000_000
    hidden = 16 if ctx.smoke else 256
    data = make_shard(os.path.join(ctx.work, 'overhead.txt'), size)
    checkpoint = make_checkpoint(ctx.work, data, 'lstm', hidden)
    model, batches = shard_batches(checkpoint, data)
    bare = bare_gradient(model, batches)
    job = gradient_job(checkpoint, [data], ['-r', 'inline'])
    clock = CodecClock()

    def inline():
        with clock:
            job()
    reps = 2 if ctx.smoke else 1
    t_bare, t_inline = interleaved([bare, inline], reps)
    return {'bytes': os.path.getsize(data), 'hidden': hidden, 'tokens': target_tokens(batches),
            'reps': reps, 'bare_s': t_bare, 'inline_s': t_inline, 'ratio': t_inline / t_bare,
            'codec_share': clock.seconds / reps / t_inline}


def targets(r):
    return [ratio_row(f'inline iteration ≤ {MAX_RATIO}× bare gradient (LSTM, text shard)',
                      r['ratio'], r['ratio'] <= MAX_RATIO,
                      f"{r['inline_s']:.1f} s / {r['bare_s']:.1f} s"),
            (f'codec < {100 * MAX_CODEC_SHARE:.0f} % of an iteration',
             f"{100 * r['codec_share']:.2f} %", verdict(r['codec_share'] < MAX_CODEC_SHARE))]


def markdown(r):
    return heading('Iteration overhead') + [
        f"Text shard {r['bytes'] / 1e6:.2f} MB ({r['tokens']} target tokens), LSTM "
        f"{r['hidden']}, {r['reps']} interleaved repetition(s): inline runner "
        f"{r['inline_s']:.2f} s, bare GradientSum {r['bare_s']:.2f} s, "
        f"ratio {r['ratio']:.2f}; codec {100 * r['codec_share']:.2f} % of the inline iteration."]
