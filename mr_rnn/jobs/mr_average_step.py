"""One round of average mode (local SGD with an outer optimizer) as one
MapReduce job (docs/design.md §5). The work is tasks/average_step.py's.

    map:     start from the broadcast weights θ_k; take the round's inner
             optimizer steps on this shard's mini-batches; emit the resulting
             weights and inner optimizer state times the targets trained on
    combine: add
    reduce:  per parameter block, the example-weighted mean θ̄ of every task's
             weights (and inner state); then the outer step on θ_k - θ̄

The result depends on how the data is split into map tasks; on the inline and
local runners there is one map task per core (§5).
"""
import functools

from mr_rnn.codec.wire import PacketProtocol
from mr_rnn.jobs.base import ModelJob
from mr_rnn.jobs.mrjob_internals import PER_CORE
from mr_rnn.tasks.average_step import AverageMap, reduce_average
from mr_rnn.tasks.totals import combine, reduce_blocks


class MRAverageStep(ModelJob):
    SPLITS = PER_CORE
    # the inner steps run one after another, each a few products of (batch,
    # hidden) rows: a second BLAS thread only waits for its core, and on a
    # busy machine made a round several times slower (docs/design.md §7)
    ONE_BLAS_THREAD = True
    INTERNAL_PROTOCOL = PacketProtocol
    OUTPUT_PROTOCOL = PacketProtocol

    def steps(self):
        return [self.record_step(mapper_init=self.mapper_init_training,
                                 mapper_final=self.mapper_final_emit_weights,
                                 combiner=combine,
                                 reducer_init=self.load_model,
                                 reducer=self.reducer_average)]

    def mapper_init_training(self):
        self.load_model()
        self.start_threads()
        self.task = AverageMap(self.model, self.routing())

    def mapper_final_emit_weights(self):
        """-> (STATS_KEY, {loss_sum, count, max_steps, records, bad, ...})
           -> (param name, {weight} + {param, optim.<state>: times weight})
           -> (VAL_KEY, {loss_sum, count, ...}) with --with-val: the broadcast weights' loss"""
        yield from self.task.finish()
        self.stop_threads()
        self.count_records(self.task.stats)

    # combiner: totals.combine, (key, packets) -> (key, their sum)

    def reducer_average(self, key, packets):
        """(STATS_KEY or VAL_KEY, packets) -> (that key, totals)
           (param name, packets) -> (param name, {param: after the outer step,
                                     optim.<inner state>: weighted average,
                                     optim.<outer state>: after the outer step})"""
        return reduce_blocks(key, packets, functools.partial(reduce_average, self.model))


if __name__ == '__main__':
    MRAverageStep.run()
