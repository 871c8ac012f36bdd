"""What every round adds up beside its parameter blocks, and how (docs/design.md §3.7).

    __stats__   the job's own records: loss sum, target count, records read, bad
                records and the first few of them named (and what else a job counts)
    __val__     the same sums for the validation records (§6), with --with-val

A combiner adds every key's packets; a reducer of parameter blocks passes these
two keys through, added up, and reduces the others block by block.
"""
import math
from dataclasses import dataclass, field

from mr_rnn.codec.wire import Packet, add_packets

STATS_KEY, VAL_KEY = '__stats__', '__val__'
TOTALS = (STATS_KEY, VAL_KEY)


def combine(key, packets):
    """(key, packets) -> (key, their sum): every job's combiner."""
    yield key, add_packets(packets)


def reduce_blocks(key, packets, reduce_block):
    """A reducer of parameter blocks: ``reduce_block(key, total)`` gets the sum
    of a block's packets and yields its output; the totals keys pass through,
    added up."""
    total = add_packets(packets)
    if key in TOTALS:
        yield key, total
    else:
        yield from reduce_block(key, total)


def loss_packet(stream_stats, sums, **more):
    """The __stats__ or __val__ packet of a batch stream's counts and a loss sum."""
    return Packet(dict(stream_stats, loss_sum=sums.loss_sum, count=sums.count, **more))


@dataclass
class LossTotals:
    """A __stats__ or __val__ packet, read: the mean loss over its targets."""
    loss: float
    count: int
    records: int
    bad: int
    examples: list = field(default_factory=list)
    correct: int = 0

    @classmethod
    def of(cls, packet):
        scalars = packet.scalars if packet is not None else {}
        count = scalars.get('count', 0)
        loss = scalars.get('loss_sum', 0.0) / count if count else math.nan
        return cls(loss, count, scalars.get('records', 0), scalars.get('bad', 0),
                   scalars.get('examples', []), scalars.get('correct', 0))
