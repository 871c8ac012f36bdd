"""Loss and the sums behind the metrics of a checkpoint on some data, forward
only. The work is tasks/evaluate.py's.

    map:     records -> batches -> loss sum, target count, correct predictions;
             classification: confusion matrix; regression: squared and absolute
             error sums per output dimension
    combine: add
    reduce:  add -> (__stats__, totals) [and (__val__, totals) with --with-val]
"""
from mr_rnn.codec.wire import PacketProtocol
from mr_rnn.config import WINDOW_STATES
from mr_rnn.jobs.base import ModelJob
from mr_rnn.tasks.evaluate import EvaluateMap
from mr_rnn.tasks.totals import combine


class MREvaluate(ModelJob):
    INTERNAL_PROTOCOL = PacketProtocol
    OUTPUT_PROTOCOL = PacketProtocol

    def steps(self):
        return [self.record_step(mapper_init=self.mapper_init_sums,
                                 mapper_final=self.mapper_final_emit_sums,
                                 combiner=combine, reducer=combine)]

    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg('--window-state', choices=WINDOW_STATES,
                              help="text: score with the state carried or reset at each window "
                              "(default: as the checkpoint's configuration says)")

    def mapper_init_sums(self):
        self.load_model(optimizer_state=False)
        self.task = EvaluateMap(self.model.with_window_state(self.options.window_state),
                                self.routing())

    def mapper_final_emit_sums(self):
        """-> (STATS_KEY, {loss_sum, count, correct, records, bad, examples}
                          + {confusion (C, C) | sq_err, abs_err (O,): float64 sums})
           -> (VAL_KEY, {loss_sum, count, correct, ...}) with --with-val"""
        yield from self.task.finish()
        self.count_records(self.task.stats)

    # combiner and reducer: totals.combine, (key, packets) -> (key, their sum)


if __name__ == '__main__':
    MREvaluate.run()
