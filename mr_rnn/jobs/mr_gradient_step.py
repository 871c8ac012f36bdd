"""One training iteration as one MapReduce job (docs/design.md §2).

    map:     records of this shard -> batches -> forward + BPTT, summed in float64;
             emitted once per task (in-mapper combining)
    combine: add the sums per key
    reduce:  per parameter block, divide by the global target count and apply
             one optimizer step; the __stats__ key adds up loss and record counts

The loss is the mean over every target element of the whole data set, and the
gradient is the gradient of exactly that number, whatever the number of
mappers: gradients and counts are summed, never averages of averages.

With ``--global-norm`` (needed by --clip-norm) the reduce is split in two
steps, because clipping needs the norm of *all* blocks while each reducer holds
only some: the first reducer sends each block's squared norm to every block's
key, so the second reducer of every block computes the same global norm and
clips exactly as clipping the one concatenated gradient would.
"""
from mrjob.step import MRStep

from mr_rnn.codec.wire import PacketProtocol
from mr_rnn.jobs.base import STATS_KEY, ModelRecordJob, block_reducer
from mr_rnn.jobs.splits import whole_files
from mr_rnn.kernels.accumulate import GradientSum
from mr_rnn.kernels.optim import apply_update, clip_factor, global_norm, mean_gradient

SQ = 'sq.'


class MRGradientStep(ModelRecordJob):
    SAMPLES = True
    THREADED = True
    INTERNAL_PROTOCOL = PacketProtocol
    OUTPUT_PROTOCOL = PacketProtocol

    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg('--global-norm', action='store_true',
                              help='reduce in two steps so every block sees the global norm')

    def steps(self):
        map_phase = dict(mapper_init=self.mapper_init_model,
                         mapper_final=self.mapper_final_emit_sums,
                         combiner=self.add_up, reducer_init=self.load_model)
        if not self.options.global_norm:
            return [self.record_step(**map_phase, reducer=self.reducer_apply_update)]
        return [self.record_step(**map_phase, reducer=self.reducer_share_norms),
                MRStep(reducer_init=self.load_model, reducer=self.reducer_clip_and_update)]

    def start_sums(self):
        return GradientSum(self.model.params, self.model.spec, pool=self.pool)

    def _runner_class(self):
        """The inline runner reads each input file in one map task. Its sums
        do not depend on the split (docs/design.md §3.8), and mrjob's inline
        runner would cut a file in two even with --num-cores 1 (it aims at two
        splits per core): a second task's setup, part chunk and idle thread at
        its end cost 4-5 % of a full-batch iteration (bench/README.md). Average
        mode's result depends on its map tasks: it makes one per core instead
        (jobs/splits.split_per_core)."""
        runner_class = super()._runner_class()
        return whole_files(runner_class) if runner_class.alias == 'inline' else runner_class

    def mapper_final_emit_sums(self):
        """-> (STATS_KEY, {loss_sum, count, records, bad, examples})
           -> (param name, {count} + {grad: float64 gradient of this shard's loss sum})
           -> (VAL_KEY, {loss_sum, count, ...}) with --with-val"""
        stats = self.flush_stream()
        yield from self.val_packets()
        self.close_threads()
        yield STATS_KEY, {'scalars': dict(stats, loss_sum=self.sums.loss_sum,
                                          count=self.sums.count), 'arrays': {}}
        if self.sums.count:
            for name, grad in self.sums.grads.items():
                yield name, {'scalars': {'count': self.sums.count}, 'arrays': {'grad': grad}}

    @block_reducer
    def reducer_apply_update(self, key, total):
        """(STATS_KEY or VAL_KEY, packets) -> (that key, totals)
           (param name, packets) -> (param name, {grad_sq} + {param, optim.<state>})"""
        grad, grad_sq = mean_gradient(total['arrays']['grad'], total['scalars']['count'])
        yield key, self.updated_block(key, grad, grad_sq)

    @block_reducer
    def reducer_share_norms(self, key, total):
        """(STATS_KEY or VAL_KEY, packets) -> (that key, totals)
           (param name, packets) -> (param name, {grad: mean gradient})
                                 -> (every param name, {sq.<param name>: its squared norm})"""
        grad, grad_sq = mean_gradient(total['arrays']['grad'], total['scalars']['count'])
        yield key, {'scalars': {}, 'arrays': {'grad': grad}}
        for name in self.model.params:
            yield name, {'scalars': {SQ + key: grad_sq}, 'arrays': {}}

    @block_reducer
    def reducer_clip_and_update(self, key, total):
        """(STATS_KEY or VAL_KEY, totals) -> (that key, totals)
           (param name, {grad} and every block's {sq.<name>}) -> (param name, updated block)"""
        norms = {k[len(SQ):]: v for k, v in total['scalars'].items() if k.startswith(SQ)}
        factor = clip_factor(global_norm(norms), self.model.config.optimizer.clip_norm)
        yield key, self.updated_block(key, total['arrays']['grad'] * factor, norms[key])

    def updated_block(self, name, grad, grad_sq):
        m = self.model
        param, state = apply_update(m.config.optimizer, m.params[name], grad,
                                    m.optim_state[name], step=m.optim_step + 1, lr=m.lr())
        arrays = {'param': param, **{f'optim.{k}': v for k, v in state.items()}}
        return {'scalars': {'grad_sq': grad_sq}, 'arrays': arrays}


if __name__ == '__main__':
    MRGradientStep.run()
