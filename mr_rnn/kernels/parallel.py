"""Gradients of several chunks of batches at once on a pool of threads,
added up in a fixed order.

numpy releases the GIL inside its ufunc loops and BLAS calls, so threads that
each take a whole chunk keep every core busy with the element-wise gate work
too, which one BLAS call with several threads does not (at H = 128 the gates
cost as much as the matrix products). Each chunk is computed by one thread
alone and the results are added in the order the chunks came, so the sums
are bitwise the same whatever the number of threads.

Give each worker one BLAS thread while a pool runs (threadpoolctl's
``threadpool_limits(1, user_api='blas')``): otherwise every worker's products
start more BLAS threads than there are cores.

    pool = ThreadPool(threads)
    sums = GradientSum(params, spec, pool=pool)      # accumulate.py
    for batch in batches:
        sums.add(batch)
    sums.finish()                                    # waits; sums complete
"""
import collections
from concurrent.futures import ThreadPoolExecutor

import numpy as np


class ThreadPool(ThreadPoolExecutor):
    """A ThreadPoolExecutor that says how many workers it has (``workers``):
    the callers size their windows by it."""

    def __init__(self, workers):
        super().__init__(workers)
        self.workers = workers


class OrderedResults:
    """``submit(fn, *args)`` runs on the pool and yields finished results
    in submission order (``drain()`` the rest at the end). At most ``window``
    calls are in flight, so memory stays bounded by a few batches, not by the data.

    ``fn`` runs with the submitting thread's floating-point error settings:
    numpy keeps them per thread, and a worker's RuntimeWarning would otherwise
    go where the submitter silenced it (in an inline map task, as text into a
    byte stream: jobs/base.RecordJob.map_pairs)."""

    def __init__(self, pool, window):
        self.pool, self.window = pool, window
        self.pending = collections.deque()

    def submit(self, fn, *args):
        self.pending.append(self.pool.submit(_with_errstate, np.geterr(), fn, *args))
        while len(self.pending) > self.window:
            yield self.pending.popleft().result()

    def drain(self):
        while self.pending:
            yield self.pending.popleft().result()


def _with_errstate(settings, fn, *args):
    with np.errstate(**settings):
        return fn(*args)

