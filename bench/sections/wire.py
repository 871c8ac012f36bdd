"""Wire bytes: the bytes of one gradient emission per parameter block (LSTM
256) against the raw float64 bytes, and the time to encode and decode them."""
import os

from measure import heading, interleaved, ratio_row
from shards import bare_gradient, make_checkpoint, make_shard, shard_batches

MAX_RATIO = 1.4


def measure(ctx):
    from mr_rnn.codec.wire import decode_packet, encode_packet
    from mr_rnn.tasks.gradient_step import gradient_packet
    hidden = 16 if ctx.smoke else 256
    data = make_shard(os.path.join(ctx.work, 'wire.txt'), 5_000)
    model, batches = shard_batches(make_checkpoint(ctx.work, data, 'lstm', hidden), data)
    sums = bare_gradient(model, batches)()
    raw = sum(g.nbytes for g in sums.grads.values())
    lines = [name.encode() + b'\t' + encode_packet(gradient_packet(g, {'count': sums.count}))
             for name, g in sums.grads.items()]
    wire = sum(len(line) + 1 for line in lines)

    def encode():
        for g in sums.grads.values():
            encode_packet(gradient_packet(g, {'count': sums.count}))

    def decode():
        for line in lines:
            decode_packet(line.partition(b'\t')[2])
    t_enc, t_dec = interleaved([encode, decode], 3 if ctx.smoke else 5)
    return {'hidden': hidden, 'raw_bytes': raw, 'wire_bytes': wire, 'ratio': wire / raw,
            'encode_s': t_enc, 'decode_s': t_dec}


def targets(r):
    return [ratio_row(f'gradient emission ≤ {MAX_RATIO}× raw float bytes', r['ratio'],
                      r['ratio'] <= MAX_RATIO, f"{r['wire_bytes']} / {r['raw_bytes']} B", 3)]


def markdown(r):
    return heading('Wire') + [
        f"LSTM {r['hidden']} gradient, one emission per parameter block: {r['wire_bytes']} B "
        f"on the wire for {r['raw_bytes']} B of float64 ({r['ratio']:.3f}×); "
        f"encode {1e3 * r['encode_s']:.2f} ms, decode {1e3 * r['decode_s']:.2f} ms per emission set."]
