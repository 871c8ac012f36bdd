"""The loss of a checkpoint on some data, and the sums behind its metrics
(forward only): the map, combine and reduce of MREvaluate as plain functions.

    map:     records -> batches -> loss sum, target count, correct predictions;
             classification: confusion matrix; regression: squared and absolute
             error sums per output dimension
             -> (STATS_KEY, {loss_sum, count, correct, records, bad, examples}
                            + {confusion (C, C) | sq_err, abs_err (O,): float64 sums})
             -> (VAL_KEY, {loss_sum, count, correct, ...}) with --with-val
    combine: add (totals.combine)
    reduce:  add (totals.combine)

The confusion matrix is the one sum every per-class number needs: the driver
reads precision, recall and F1 per class from the whole data set's matrix
(inference/metrics.py), so no task divides anything.
"""
from mr_rnn.codec.wire import Packet
from mr_rnn.kernels.accumulate import LossSum
from mr_rnn.tasks.shard import Shard
from mr_rnn.tasks.totals import STATS_KEY, loss_packet


class EvaluateMap(Shard):
    """The map of one task: ``add(record)`` each record, then ``finish()``."""

    def __init__(self, model, routing):
        self.sums = LossSum(model.params, model.spec, confusion=model.schema.task == 'classify')
        super().__init__(model, routing, self.sums)

    def finish(self):
        self.stats = self.flush()
        yield from self.val_packets()
        packet = loss_packet(self.stats, self.sums, correct=self.sums.correct)
        yield STATS_KEY, Packet(packet.scalars, self.sums.arrays)
