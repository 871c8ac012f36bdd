"""One round of average mode (local SGD with an outer optimizer) as one MapReduce job.

    map:     start from the broadcast weights θ_k; take the round's inner
             optimizer steps on this shard's mini-batches (--local-steps,
             --local-epochs); emit the resulting weights and inner optimizer
             state times the targets trained on
    combine: add
    reduce:  per parameter block, divide by the total: the example-weighted
             mean θ̄ of every task's weights (and inner state); then the outer
             step on the pseudo-gradient θ_k - θ̄ (--outer-optimizer; sgd with
             --outer-lr 1 is plain averaging)

Unlike gradient mode, the result depends on how the data is split into map
tasks: each task's trajectory sees only its own shard.
"""

from mr_rnn.codec.wire import PacketProtocol
from mr_rnn.jobs.base import STATS_KEY, ModelRecordJob, block_reducer
from mr_rnn.jobs.splits import split_per_core
from mr_rnn.kernels.accumulate import LocalTraining
from mr_rnn.kernels.optim import outer_update, weighted_mean


class MRAverageStep(ModelRecordJob):
    SAMPLES = True
    INTERNAL_PROTOCOL = PacketProtocol
    OUTPUT_PROTOCOL = PacketProtocol

    def steps(self):
        return [self.record_step(
            mapper_init=self.mapper_init_model,
            mapper_final=self.mapper_final_emit_weights,
            combiner=self.add_up,
            reducer_init=self.load_model,
            reducer=self.reducer_average)]

    def _runner_class(self):
        """mrjob's own runners (inline, local) make one map task per core of
        the uncompressed input, not two: each task's model is averaged, and
        tasks beyond the cores add models without adding parallelism
        (docs/design.md §5)."""
        runner_class = super()._runner_class()
        return split_per_core(runner_class) if runner_class.alias in ('inline', 'local') \
            else runner_class

    def start_sums(self):
        m, cfg = self.model, self.model.config
        keep = cfg.inner_state == 'average'
        return LocalTraining(m.params, m.spec, m.optim_state, cfg.optimizer, m.lr(),
                             m.optim_step if keep else 0, local_steps=cfg.local_steps,
                             local_epochs=cfg.local_epochs,
                             memory_bytes=cfg.local_memory_mb << 20, seed=cfg.seed,
                             round_index=m.iteration, keep_state=keep)

    def mapper_final_emit_weights(self):
        """-> (STATS_KEY, {loss_sum, count, max_steps, records, bad, ...})
           -> (param name, {weight} + {param, optim.<state>: times weight})
           -> (VAL_KEY, {loss_sum, count, ...}) with --with-val: the broadcast weights' loss"""
        stats = self.flush_stream()
        yield from self.val_packets()
        local = self.sums
        local.train()
        yield STATS_KEY, {'scalars': dict(stats, loss_sum=local.loss_sum, count=local.count,
                                          max_steps=local.steps), 'arrays': {}}
        if local.count:
            for name, (param, state) in local.weighted().items():
                arrays = {'param': param, **{f'optim.{k}': v for k, v in state.items()}}
                yield name, {'scalars': {'weight': local.count}, 'arrays': arrays}

    @block_reducer
    def reducer_average(self, key, total):
        """(STATS_KEY or VAL_KEY, packets) -> (that key, totals)
           (param name, packets) -> (param name, {param: after the outer step,
                                     optim.<inner state>: weighted average,
                                     optim.<outer state>: after the outer step})"""
        m, cfg = self.model, self.model.config
        arrays = weighted_mean(total['arrays'], total['scalars']['weight'])
        arrays['param'], outer = outer_update(cfg.outer_optimizer, cfg.outer_lr, cfg.outer_momentum,
                                              m.params[key], arrays['param'], m.optim_state[key])
        arrays.update({f'optim.{k}': v for k, v in outer.items()})
        yield key, {'scalars': {}, 'arrays': arrays}


if __name__ == '__main__':
    MRAverageStep.run()
