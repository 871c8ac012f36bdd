"""Sequences of different lengths into padded, masked batches, and the
stream that a map task pushes its records through: batches of windows, or,
with the state carried across the windows of a record (docs/design.md §3.1),
lanes of records whose windows are walked in lock-step."""
import numpy as np

from mr_rnn.counts import BAD_EXAMPLES
from mr_rnn.data.records import Sequence, as_bad_record
from mr_rnn.kernels.network import Batch, Lanes

# with a carried state (docs/design.md §3.1): a Lanes is emitted once every
# lane holds this many windows (or at the end of the task), so memory stays
# bounded by about batch-size x LANE_STEPS windows, or one record, whatever
# the shard's size
LANE_STEPS = 32


def make_batch(seqs, token_input, per_step, dtype):
    """Left-aligned padding with zeros; the mask marks the real steps."""
    B, T = len(seqs), max(len(s.x) for s in seqs)
    lengths = np.array([len(s.x) for s in seqs])
    mask = np.arange(T)[None, :] < lengths[:, None]                 # (B, T)
    first = seqs[0]
    x = np.zeros((B, T) if token_input else (B, T, first.x.shape[1]),
                 np.int64 if token_input else dtype)
    y_dtype = np.int64 if first.y.dtype == np.int64 else dtype
    y = np.zeros(((B, T) + first.y.shape[1:]) if per_step else ((B,) + first.y.shape), y_dtype)
    for b, s in enumerate(seqs):
        x[b, :len(s.x)] = s.x
        if per_step:
            y[b, :len(s.y)] = s.y
        else:
            y[b] = s.y
    return Batch(x, mask, y)


class BatchStream:
    """Records in, full batches out; bad records counted with the first few named.

    Memory is bounded by one batch, not by the shard.

    ``carry``: a record's windows are one stream (docs/design.md §3.1): each
    record goes whole into the lane (of ``batch_size``) that holds the fewest
    windows, the first lane of those, and what comes out are ``Lanes``,
    whose step i is the i-th window of every lane.
    """

    def __init__(self, batch_size, schema, dtype, carry=False):
        self.batch_size, self.dtype = batch_size, dtype
        self.token_input, self.per_step = schema.token_input, schema.per_step
        self.pending = []
        self.lanes = [[] for _ in range(batch_size)] if carry else None
        self.stats = {'records': 0, 'bad': 0, 'examples': []}

    def add_record(self, read, where):
        """``read()`` returns the record's sequences or raises; ``where`` names
        the record. Whatever it raises, the record is a bad record
        (records.as_bad_record)."""
        self.stats['records'] += 1
        try:
            seqs = read()
        except Exception as e:
            self.add_bad(where, as_bad_record(e))
            return []
        return self.add_sequences(seqs)

    def add_bad(self, where, error):
        self.stats['bad'] += 1
        if len(self.stats['examples']) < BAD_EXAMPLES:
            self.stats['examples'].append(f'{where}: {error}')

    def add_sequences(self, seqs):
        if self.lanes is not None:
            return self._add_to_lane(seqs)
        self.pending.extend(seqs)
        full = []
        while len(self.pending) >= self.batch_size:
            full.append(self._batch(self.pending[:self.batch_size]))
            del self.pending[:self.batch_size]
        return full

    def flush(self):
        if self.lanes is not None:
            return self._take_lanes() if any(self.lanes) else None
        batch = self._batch(self.pending) if self.pending else None
        self.pending = []
        return batch

    def _add_to_lane(self, seqs):
        if not seqs:
            return []
        lane = min(self.lanes, key=len)            # the first of the shortest
        lane.extend((s, i == 0) for i, s in enumerate(seqs))
        if min(len(l) for l in self.lanes) >= LANE_STEPS:
            return [self._take_lanes()]
        return []

    def _take_lanes(self):
        lanes, self.lanes = self.lanes, [[] for _ in self.lanes]
        steps, fresh = [], []
        for i in range(max(len(l) for l in lanes)):
            real = next(lane[i][0] for lane in lanes if i < len(lane))
            empty = Sequence(real.x[:0], real.y[:0])        # a lane out of windows
            steps.append(self._batch([lane[i][0] if i < len(lane) else empty for lane in lanes]))
            fresh.append(np.array([lane[i][1] if i < len(lane) else True for lane in lanes]))
        return Lanes(steps, fresh)

    def _batch(self, seqs):
        return make_batch(seqs, self.token_input, self.per_step, self.dtype)
