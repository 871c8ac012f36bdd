"""One training iteration as one MapReduce job (DESIGN §2).

    map:     records of this shard -> batches -> forward + BPTT, summed in float64;
             emitted once per task (in-mapper combining)
    combine: add the sums per key
    reduce:  per parameter block, divide by the global target count and apply
             one optimizer step; the __stats__ key adds up loss and record counts

The loss is the mean over every target element of the whole data set, and the
gradient is the gradient of exactly that number, whatever the number of
mappers: gradients and counts are summed, never averages of averages.
"""
from mr_rnn.codec.wire import PacketProtocol, add_packets
from mr_rnn.jobs.base import ModelRecordJob
from mr_rnn.kernels.accumulate import GradientSum
from mr_rnn.kernels.optim import apply_mean_gradient

STATS_KEY = '__stats__'


class MRGradientStep(ModelRecordJob):
    SAMPLES = True
    INTERNAL_PROTOCOL = PacketProtocol
    OUTPUT_PROTOCOL = PacketProtocol

    def steps(self):
        return [self.record_step(
            mapper_init=self.mapper_init_model,
            mapper_final=self.mapper_final_emit_sums,
            combiner=self.combiner_add_sums,
            reducer_init=self.load_model,
            reducer=self.reducer_apply_update)]

    def start_sums(self):
        return GradientSum(self.model.params, self.model.spec)

    def mapper_final_emit_sums(self):
        """-> (STATS_KEY, {loss_sum, count, records, bad, sequences, examples})
           -> (param name, {count} + {grad: float64 gradient of this shard's loss sum})"""
        stats = self.flush_stream()
        yield STATS_KEY, {'scalars': dict(stats, loss_sum=self.sums.loss_sum,
                                          count=self.sums.count), 'arrays': {}}
        if self.sums.count:
            for name, grad in self.sums.grads.items():
                yield name, {'scalars': {'count': self.sums.count}, 'arrays': {'grad': grad}}

    def combiner_add_sums(self, key, packets):
        """(key, packets) -> (key, their sum)"""
        yield key, add_packets(packets)

    def reducer_apply_update(self, key, packets):
        """(STATS_KEY, packets) -> (STATS_KEY, totals)
           (param name, packets) -> (param name, {grad_sq} + {param, optim.<state>: arrays})"""
        total = add_packets(packets)
        if key == STATS_KEY:
            yield key, total
            return
        m = self.model
        param, state, grad_sq = apply_mean_gradient(
            m.config.optimizer, m.params[key], total['arrays']['grad'], total['scalars']['count'],
            m.optim_state[key], step=m.iteration + 1)
        arrays = {'param': param, **{f'optim.{k}': v for k, v in state.items()}}
        yield key, {'scalars': {'grad_sq': grad_sq}, 'arrays': arrays}


if __name__ == '__main__':
    MRGradientStep.run()
