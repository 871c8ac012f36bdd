"""One training round of gradient mode as one MapReduce job (docs/design.md §2).
The work is tasks/gradient_step.py's; this file wires it into mrjob.

    map:     records of this shard -> batches -> forward + BPTT, summed in float64;
             emitted once per task (in-mapper combining)
    combine: add the sums per key
    reduce:  per parameter block, divide by the global target count and apply
             one optimizer step; the __stats__ and __val__ keys add up

With ``--global-norm`` (--clip-norm) the reduce is two steps, so that every
block is clipped by the norm of all of them.
"""
import functools

from mrjob.step import MRStep

from mr_rnn.codec.wire import PacketProtocol
from mr_rnn.jobs.base import ModelJob
from mr_rnn.jobs.mrjob_internals import WHOLE_FILES
from mr_rnn.tasks import gradient_step
from mr_rnn.tasks.totals import combine, reduce_blocks


class MRGradientStep(ModelJob):
    # inline: a map task per input file. The sums do not depend on the split
    # (docs/design.md §3.8), and a second task per file costs its setup (§7).
    SPLITS = WHOLE_FILES
    THREADED = True
    INTERNAL_PROTOCOL = PacketProtocol
    OUTPUT_PROTOCOL = PacketProtocol

    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg('--global-norm', action='store_true',
                              help='reduce in two steps so every block sees the global norm')

    def steps(self):
        map_phase = dict(mapper_init=self.mapper_init_sums, mapper_final=self.mapper_final_emit_sums,
                         combiner=combine, reducer_init=self.load_model)
        if not self.options.global_norm:
            return [self.record_step(**map_phase, reducer=self.reducer_apply_update)]
        return [self.record_step(**map_phase, reducer=self.reducer_share_norms),
                MRStep(reducer_init=self.load_model, reducer=self.reducer_clip_and_update)]

    def mapper_init_sums(self):
        # the map runs the network: Adam's moments (twice the weights, in
        # float64) are the reducers' alone
        self.load_model(optimizer_state=False)
        self.task = gradient_step.GradientMap(self.model, self.routing(),
                                              pool=self.start_threads())

    def mapper_final_emit_sums(self):
        """-> (STATS_KEY, {loss_sum, count, records, bad, examples})
           -> (param name, {count} + {grad: float64 gradient of this shard's loss sum})
           -> (VAL_KEY, {loss_sum, count, correct, ...}) with --with-val"""
        yield from self.task.finish()
        self.stop_threads()
        self.count_records(self.task.stats)

    # combiner: totals.combine, (key, packets) -> (key, their sum)

    def reducer_apply_update(self, key, packets):
        """(STATS_KEY or VAL_KEY, packets) -> (that key, totals)
           (param name, packets) -> (param name, {grad_sq} + {param, optim.<state>})"""
        return self._reduce(key, packets, gradient_step.reduce_update)

    def reducer_share_norms(self, key, packets):
        """(STATS_KEY or VAL_KEY, packets) -> (that key, totals)
           (param name, packets) -> (param name, {grad: mean gradient})
                                 -> (every param name, {sq.<param name>: its squared norm})"""
        return self._reduce(key, packets, gradient_step.reduce_share_norms)

    def reducer_clip_and_update(self, key, packets):
        """(STATS_KEY or VAL_KEY, totals) -> (that key, totals)
           (param name, {grad} and every block's {sq.<name>}) -> (param name, updated block)"""
        return self._reduce(key, packets, gradient_step.reduce_clip_and_update)

    def _reduce(self, key, packets, reduce_block):
        return reduce_blocks(key, packets, functools.partial(reduce_block, self.model))


if __name__ == '__main__':
    MRGradientStep.run()
