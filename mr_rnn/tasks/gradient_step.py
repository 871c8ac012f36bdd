"""One round of gradient mode (docs/design.md §2): the map, combine and reduce
of MRGradientStep as plain functions of records and packets, without mrjob.

    map:     records of this shard -> batches -> forward + BPTT, summed in float64;
             emitted once per task (in-mapper combining)
             -> (STATS_KEY, {loss_sum, count, records, bad, examples})
             -> (param name, {count} + {grad: the gradient of this shard's loss sum})
             -> (VAL_KEY, {loss_sum, count, correct, records, bad, examples}) with --with-val
    combine: add the packets of a key (totals.combine)
    reduce:  per parameter block, divide by the global target count and apply
             one optimizer step
             (param name, packets) -> (param name, {grad_sq} + {param, optim.<state>}),
             a block larger than a slab as several packets of consecutive rows
             the totals keys pass through, added up

The loss is the mean over every target element of the whole data set, and the
gradient is the gradient of exactly that number, whatever the number of
mappers: gradients and counts are summed, never averages of averages (§3.3).

With --clip-norm the reduce is two steps, because clipping needs the norm of
*all* blocks while each reducer holds only some: the first sends each block's
squared norm to every block's key (``reduce_share_norms``), so the second
reducer of every block (``reduce_clip_and_update``) computes the same global
norm and clips exactly as clipping the one concatenated gradient would.
"""
from mr_rnn.codec.checkpoint import OPTIM_PREFIX
from mr_rnn.codec.wire import Packet
from mr_rnn.kernels.accumulate import GradientSum
from mr_rnn.kernels.lookup import id_axes
from mr_rnn.kernels.optim import clip_factor, global_norm, mean_gradient, update_slabs
from mr_rnn.kernels.rows import Rows
from mr_rnn.tasks.shard import Shard
from mr_rnn.tasks.totals import STATS_KEY, loss_packet

SQ = 'sq.'      # scalars that carry another block's squared norm


class GradientMap(Shard):
    """The map of one task: ``add(record)`` each record, then ``finish()``."""

    def __init__(self, model, routing, pool=None):
        # the blocks looked up by id travel as the rows of the ids this shard touched
        self.sums = GradientSum(model.params, model.spec, pool=pool, sparse=True)
        super().__init__(model, routing, self.sums, samples=True)

    def finish(self):
        self.stats = self.flush()
        yield from self.val_packets()
        yield STATS_KEY, loss_packet(self.stats, self.sums)
        if self.sums.count:
            for name, grad in self.sums.grads.items():
                yield name, gradient_packet(grad, {'count': self.sums.count})


def gradient_packet(grad, scalars=None):
    """A gradient, dense or as Rows (the blocks looked up by id), in a packet."""
    if isinstance(grad, Rows):
        return Packet(scalars or {}, rows={'grad': grad})
    return Packet(scalars or {}, {'grad': grad})


def _gradient(total):
    return total.rows['grad'] if 'grad' in total.rows else total.arrays['grad']


def reduce_update(model, key, total):
    """(param name, summed packet) -> (param name, the updated block)"""
    grad, grad_sq = mean_gradient(_gradient(total), total.scalars['count'])
    for packet in updated_block(model, key, grad, grad_sq):
        yield key, packet


def reduce_share_norms(model, key, total):
    """(param name, summed packet) -> (param name, {grad: the mean gradient})
                                   -> (every param name, {sq.<param name>: its squared norm})"""
    grad, grad_sq = mean_gradient(_gradient(total), total.scalars['count'])
    yield key, gradient_packet(grad)
    for name in model.params:
        yield name, Packet({SQ + key: grad_sq})


def reduce_clip_and_update(model, key, total):
    """(param name, {grad} and every block's {sq.<name>}) -> (param name, the updated block)"""
    norms = {k[len(SQ):]: v for k, v in total.scalars.items() if k.startswith(SQ)}
    factor = clip_factor(global_norm(norms), model.config.optimizer.clip_norm)
    grad = _gradient(total)
    grad = Rows(grad.ids, grad.values * factor) if isinstance(grad, Rows) else grad * factor
    for packet in updated_block(model, key, grad, norms[key]):
        yield key, packet


def updated_block(model, name, grad, grad_sq):
    """One optimizer step of block ``name``: packets of {grad_sq} + {param, optim.<state>}.
    A Rows gradient updates the block as its dense form would (optim.apply_update).

    A block larger than a slab (optim.SLAB_BYTES of float64 per array) comes
    as one packet per slab of its rows, each computed, encoded and written
    before the next: a vocabulary-sized block and its float64 state are never
    held a second time, as temporaries or as one encoded line (docs/design.md
    §3.7). Such a packet's scalars say where its rows go, ``start`` and the
    block's ``rows``; the first also holds ``grad_sq``."""
    param = model.params[name]
    for start, new_param, state in update_slabs(
            model.config.optimizer, param, grad, model.optim_state[name],
            step=model.optim_step + 1, lr=model.lr(), id_axis=id_axes(model.spec).get(name, 0)):
        scalars = {'grad_sq': grad_sq} if start == 0 else {}
        if len(new_param) < len(param):
            scalars.update(start=start, rows=len(param))
        yield Packet(scalars, {'param': new_param,
                               **{OPTIM_PREFIX + k: v for k, v in state.items()}})
