"""One round of average mode (local SGD with an outer optimizer, docs/design.md
§5): the map, combine and reduce of MRAverageStep as plain functions.

    map:     start from the broadcast weights θ_k; take the round's inner
             optimizer steps on this shard's mini-batches (--local-steps,
             --local-epochs); emit the resulting weights and inner optimizer
             state times the targets trained on
             -> (STATS_KEY, {loss_sum, count, max_steps, records, bad, examples})
             -> (param name, {weight} + {param, optim.<state>: times weight}), or
                for a block looked up by id, {weight} + rows {change: (param - θ_k)
                times weight, in the rows the task touched}
             -> (VAL_KEY, {loss_sum, count, ...}) with --with-val: the broadcast weights' loss
    combine: add
    reduce:  per parameter block, divide by the total: the example-weighted
             mean θ̄ of every task's weights (and inner state); then the outer
             step on the pseudo-gradient θ_k - θ̄ (--outer-optimizer; sgd with
             --outer-lr 1 is plain averaging)
             (param name, packets) -> (param name, {param, optim.<inner state>,
                                                    optim.<outer state>})

Unlike gradient mode, the result depends on how the data is split into map
tasks: each task's trajectory sees only its own shard.
"""
import numpy as np

from mr_rnn.codec.checkpoint import OPTIM_PREFIX
from mr_rnn.codec.wire import Packet
from mr_rnn.kernels.local_training import LocalTraining
from mr_rnn.kernels.lookup import id_axes
from mr_rnn.kernels.optim import mean_from_changes, outer_update, weighted_mean
from mr_rnn.kernels.rows import Rows
from mr_rnn.tasks.shard import Shard
from mr_rnn.tasks.totals import STATS_KEY, loss_packet


class AverageMap(Shard):
    """The map of one task: ``add(record)`` each record, then ``finish()``,
    which trains."""

    def __init__(self, model, routing):
        cfg = model.config
        keep = cfg.inner_state == 'average'
        self.local = LocalTraining(model.params, model.spec, model.optim_state, cfg.optimizer,
                                   model.lr(), model.optim_step if keep else 0,
                                   local_steps=cfg.local_steps, local_epochs=cfg.local_epochs,
                                   memory_bytes=cfg.local_memory_mb << 20, seed=cfg.seed,
                                   round_index=model.iteration, keep_state=keep, sparse=True)
        self.row_average = cfg.row_average
        super().__init__(model, routing, self.local, samples=True)

    def finish(self):
        self.stats = self.flush()
        yield from self.val_packets()
        local = self.local
        local.train()
        yield STATS_KEY, loss_packet(self.stats, local, max_steps=local.steps)
        if local.count:
            for name, (param, state) in local.weighted().items():
                if isinstance(param, Rows):     # what changed, in the rows this task touched
                    rows = {'change': param}
                    if self.row_average == 'touched':
                        rows['touched'] = Rows(param.ids, np.full(len(param.ids), local.count,
                                                                  np.float64))
                    yield name, Packet({'weight': local.count}, rows=rows)
                    continue
                arrays = {'param': param, **{OPTIM_PREFIX + k: v for k, v in state.items()}}
                yield name, Packet({'weight': local.count}, arrays)


def reduce_average(model, key, total):
    """(param name, summed packet) -> (param name, {param: after the outer step,
       optim.<inner state>: weighted average, optim.<outer state>: after the outer step})"""
    cfg = model.config
    arrays = weighted_mean(total.arrays, total.scalars['weight'])
    if 'change' in total.rows:
        arrays['param'] = mean_from_changes(model.params[key], total.rows['change'],
                                            total.scalars['weight'], id_axes(model.spec)[key],
                                            total.rows.get('touched'))
    arrays['param'], outer = outer_update(cfg.outer_optimizer, cfg.outer_lr, cfg.outer_momentum,
                                          model.params[key], arrays['param'],
                                          model.optim_state[key])
    arrays.update({OPTIM_PREFIX + k: v for k, v in outer.items()})
    yield key, Packet(arrays=arrays)
