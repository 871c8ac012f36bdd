"""Sequences of different lengths into padded, masked batches, and the
stream that a map task pushes its records through."""
import numpy as np

from mr_rnn.counts import BAD_EXAMPLES
from mr_rnn.data.records import as_bad_record
from mr_rnn.kernels.network import Batch


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
    """

    def __init__(self, batch_size, schema, dtype):
        self.batch_size, self.dtype = batch_size, dtype
        self.token_input, self.per_step = schema.token_input, schema.per_step
        self.pending = []
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
        self.pending.extend(seqs)
        full = []
        while len(self.pending) >= self.batch_size:
            full.append(self._batch(self.pending[:self.batch_size]))
            del self.pending[:self.batch_size]
        return full

    def flush(self):
        batch = self._batch(self.pending) if self.pending else None
        self.pending = []
        return batch

    def _batch(self, seqs):
        return make_batch(seqs, self.token_input, self.per_step, self.dtype)
