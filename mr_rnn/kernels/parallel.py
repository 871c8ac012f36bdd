"""Gradients of several batches at once on a pool of threads, added up in a
fixed order.

numpy releases the GIL inside its ufunc loops and BLAS calls, so threads that
each take whole batches keep every core busy with the element-wise gate work
too, which one BLAS call with several threads does not (at H = 128 the gates
cost as much as the matrix products). Each batch is computed by one thread
alone and the results are added in the order the batches came, so the sums
are bitwise the same whatever the number of threads.

Give each worker one BLAS thread while a pool runs (threadpoolctl's
``threadpool_limits(1, user_api='blas')``): otherwise every worker's products
start more BLAS threads than there are cores.

    pool = ThreadPoolExecutor(threads)
    sums = GradientSum(params, spec, pool=pool)      # accumulate.py
    for batch in batches:
        sums.add(batch)
    sums.finish()                                    # waits; sums complete

    result = loss_and_grads_parallel(params, spec, batch, pool)   # one batch, split by rows
"""
import collections

import numpy as np

from mr_rnn.kernels.network import Batch, LossAndGrads, loss_and_grads


class OrderedResults:
    """``submit(fn, *args)`` runs on the pool; ``done()`` yields finished results
    in submission order. At most ``window`` calls are in flight, so memory stays
    bounded by a few batches, not by the data."""

    def __init__(self, pool, window):
        self.pool, self.window = pool, window
        self.pending = collections.deque()

    def submit(self, fn, *args):
        self.pending.append(self.pool.submit(fn, *args))
        while len(self.pending) > self.window:
            yield self.pending.popleft().result()

    def drain(self):
        while self.pending:
            yield self.pending.popleft().result()


def workers(pool):
    return getattr(pool, '_max_workers', 1) if pool is not None else 1


def split_rows(batch, parts):
    """The batch cut into at most ``parts`` batches of consecutive rows (sequences)."""
    B = batch.mask.shape[0]
    bounds = np.linspace(0, B, min(parts, B) + 1).round().astype(int)
    return [Batch(batch.x[a:b], batch.mask[a:b], batch.y[a:b])
            for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def loss_and_grads_parallel(params, spec, batch, pool, parts=None):
    """``loss_and_grads`` of one batch, its rows split into ``parts`` pieces
    (default: one per pool worker) computed on the pool, summed in row order.

    The sum equals the whole batch's up to rounding (float32 ~1e-6 relative);
    for a fixed ``parts`` it is the same bitwise on every run. Worth it for
    batches of 32 sequences and more: each piece pays the time loop's
    per-step costs again."""
    pieces = split_rows(batch, parts or workers(pool))
    if pool is None or len(pieces) == 1:
        return loss_and_grads(params, spec, batch) if len(pieces) == 1 else \
            _sum(loss_and_grads(params, spec, p) for p in pieces)
    return _sum(pool.map(lambda piece: loss_and_grads(params, spec, piece), pieces))


def _sum(results):
    total = None
    for r in results:
        if total is None:
            total = LossAndGrads(r.loss_sum, r.count, dict(r.grads))
            continue
        total.loss_sum += r.loss_sum
        total.count += r.count
        for name, grad in r.grads.items():
            total.grads[name] = total.grads[name] + grad
    return total
