"""Loss and the sums behind the metrics of a checkpoint on some data: forward only.

    map:     records -> batches -> loss sum, target count, correct predictions;
             classification: confusion matrix; regression: squared and absolute
             error sums per output dimension
    combine: add
    reduce:  add -> (__stats__, totals) [and (__val__, totals) with --with-val]
"""
from mr_rnn.codec.wire import PacketProtocol
from mr_rnn.jobs.base import STATS_KEY, ModelRecordJob
from mr_rnn.kernels.accumulate import LossSum


class MREvaluate(ModelRecordJob):
    INTERNAL_PROTOCOL = PacketProtocol
    OUTPUT_PROTOCOL = PacketProtocol

    def steps(self):
        return [self.record_step(
            mapper_init=self.mapper_init_model,
            mapper_final=self.mapper_final_emit_sums,
            combiner=self.add_up,
            reducer=self.add_up)]

    def start_sums(self):
        return LossSum(self.model.params, self.model.spec,
                       confusion=self.model.schema.task == 'classify')

    def mapper_final_emit_sums(self):
        """-> (STATS_KEY, {loss_sum, count, correct, records, bad, examples}
                          + {confusion (C, C) | sq_err, abs_err (O,): float64 sums})
           -> (VAL_KEY, {loss_sum, count, correct, ...}) with --with-val"""
        stats = self.flush_stream()
        yield from self.val_packets()
        yield STATS_KEY, {'scalars': dict(stats, loss_sum=self.sums.loss_sum, count=self.sums.count,
                                          correct=self.sums.correct),
                          'arrays': self.sums.arrays}

if __name__ == '__main__':
    MREvaluate.run()
