"""Running sums over many batches: what a map task holds between records."""
import numpy as np

from mr_rnn.kernels import losses
from mr_rnn.kernels.parallel import OrderedResults
from mr_rnn.kernels.lookup import ID_AXES, id_axes
from mr_rnn.kernels.carry import join_lanes, lanes_loss_and_grads, lanes_outputs
from mr_rnn.kernels.network import Batch, Lanes, forward, loss_and_grads
from mr_rnn.kernels.rows import Rows


# How GradientSum groups windows for one forward and backward pass: whole
# batches are joined until one time step's gate block (rows, H) holds
# CHUNK_STEP_ELEMENTS, or one (T, rows, max(H, O)) array of the pass (hidden
# states, or outputs) CHUNK_ELEMENTS.
# Per step every numpy call then has that much work behind its fixed cost,
# which is what lets a second thread help (each call holds the GIL for its
# dispatch), while a step's working set stays in a core's L2 cache and the
# pass's arrays (a few MB each) under glibc's largest mmap threshold, so
# malloc reuses them (jobs/base.keep_freed_memory). Measured in bench/run.py's
# fullbatch section (docs/design.md §7). Constants of the code, never of the
# thread count: the grouping of the sums, and so their bits, must not depend
# on it.
CHUNK_STEP_ELEMENTS = 32768
CHUNK_ELEMENTS = 1 << 20


class GradientSum:
    """Sum of per-element losses, their count, and the gradient of the sum (float64).

    ``add(batch)`` takes the user's batches (of the configured size); they are only a
    grouping of the sum (docs/design.md §3.8), so consecutive ones are joined
    into chunks (see CHUNK_STEP_ELEMENTS) before the forward and backward pass.
    A batch that is already that large is computed alone, so memory stays
    bounded by one chunk or one batch per thread.

    A ``Lanes`` (records whose windows carry the state, docs/design.md §3.1)
    is joined side by side with the next ones by the same bounds, its rows
    counting as a batch's; its steps are then computed in order, each from
    the state the step before left (kernels/carry.py).

    With a ``pool`` (parallel.ThreadPool), chunks are
    computed on its threads and added in the order they came (parallel.py):
    the sums are bitwise those without a pool. Call ``finish()`` before
    reading the sums.
    """

    def __init__(self, params, spec, pool=None, sparse=False):
        """``sparse``: the blocks looked up by id (network.id_axes) are summed as
        Rows of the ids the data touched, never as vocabulary-sized blocks."""
        self.params, self.spec = params, spec
        self.loss_sum, self.count = 0.0, 0
        self.sparse = id_axes(spec) if sparse else {}
        self.grads = {name: Rows(np.zeros(0, np.int64), np.zeros((0,) + _slice(p, name), np.float64))
                      if name in self.sparse else np.zeros(p.shape, np.float64)
                      for name, p in params.items()}
        self.results = None if pool is None else OrderedResults(pool, 2 * pool.workers)
        self.pending, self.pending_rows, self.pending_steps = [], 0, 0

    def add(self, batch):
        self.pending.append(batch)
        first = batch.steps[0] if isinstance(batch, Lanes) else batch
        self.pending_rows += first.mask.shape[0]
        self.pending_steps = max(self.pending_steps, first.mask.shape[1])
        H, width = self.spec.hidden, max(self.spec.hidden, self.spec.output_size)
        if (self.pending_rows * H >= CHUNK_STEP_ELEMENTS
                or self.pending_rows * self.pending_steps * width >= CHUNK_ELEMENTS):
            self._compute(self._take_pending())

    def finish(self):
        if self.pending:
            self._compute(self._take_pending())
        if self.results is not None:
            for result in self.results.drain():
                self._add(result)

    def _take_pending(self):
        per_step = self.spec.head == 'per_step'
        join = join_lanes if isinstance(self.pending[0], Lanes) else join_batches
        chunk = join(self.pending, per_step)
        self.pending, self.pending_rows, self.pending_steps = [], 0, 0
        return chunk

    def _compute(self, batch):
        fn = lanes_loss_and_grads if isinstance(batch, Lanes) else loss_and_grads
        args = (self.params, self.spec, batch) + ((True,) if self.sparse else ())
        if self.results is None:
            self._add(fn(*args))
            return
        for result in self.results.submit(fn, *args):
            self._add(result)

    def _add(self, result):
        self.loss_sum += result.loss_sum
        self.count += result.count
        for name, grad in result.grads.items():
            if name in self.sparse:
                self.grads[name] = self.grads[name].plus(grad)
            else:
                self.grads[name] += grad


def _slice(param, name):
    """The shape of one id's slice of a block looked up by id."""
    shape = list(param.shape)
    del shape[ID_AXES[name]]
    return tuple(shape)


def join_batches(batches, per_step):
    """One batch of all the batches' rows, in order, padded to the longest."""
    if len(batches) == 1:
        return batches[0]
    T = max(b.mask.shape[1] for b in batches)

    def padded(a):                                  # (B, t, ...) -> (B, T, ...), zeros after t
        if a.shape[1] == T:
            return a
        out = np.zeros((a.shape[0], T) + a.shape[2:], a.dtype)
        out[:, :a.shape[1]] = a
        return out

    return Batch(np.concatenate([padded(b.x) for b in batches]),
                 np.concatenate([padded(b.mask) for b in batches]),
                 np.concatenate([padded(b.y) if per_step else b.y for b in batches]))


class LossSum:
    """Loss sum and count without gradients, plus what the metrics need:
    correct predictions (classes), the confusion matrix (when asked for), and
    per-output-dimension sums of squared and absolute errors (regression)."""

    def __init__(self, params, spec, confusion=False):
        self.params, self.spec = params, spec
        self.loss_sum, self.count, self.correct = 0.0, 0, 0
        O = spec.output_size
        self.arrays = {}
        if spec.loss == 'mse':
            self.arrays = {'sq_err': np.zeros(O, np.float64), 'abs_err': np.zeros(O, np.float64)}
        elif confusion:
            self.arrays = {'confusion': np.zeros((O, O), np.float64)}   # [true, predicted]

    def add(self, batch):
        if isinstance(batch, Lanes):        # windows carrying the state: step by step
            for step, out in lanes_outputs(self.params, self.spec, batch):
                self._add_outputs(step, out)
            return
        self._add_outputs(batch, forward(self.params, self.spec, batch.x, batch.mask))

    def _add_outputs(self, batch, out):
        result = evaluate_outputs(self.spec, out, batch)
        self.loss_sum += result[0]
        self.count += result[1]
        self.correct += result[2]
        target_mask = _target_mask(self.spec, out, batch)
        if 'sq_err' in self.arrays:
            diff = (out - np.asarray(batch.y, out.dtype)).astype(np.float64)[target_mask]  # (N, O)
            self.arrays['sq_err'] += (diff ** 2).sum(axis=0)
            self.arrays['abs_err'] += np.abs(diff).sum(axis=0)
        if 'confusion' in self.arrays:
            np.add.at(self.arrays['confusion'],
                      (batch.y[target_mask], out.argmax(-1)[target_mask]), 1.0)


def _target_mask(spec, out, batch):
    return batch.mask if spec.head == 'per_step' else np.ones(out.shape[0], bool)


def evaluate_outputs(spec, out, batch):
    target_mask = _target_mask(spec, out, batch)
    if spec.loss == 'xent':
        loss_sum, count, _ = losses.cross_entropy_sum(out, batch.y, target_mask)
        correct = int(((out.argmax(-1) == batch.y) & target_mask).sum())
    else:
        loss_sum, count, _ = losses.squared_error_sum(out, batch.y, target_mask)
        correct = 0
    return loss_sum, count, correct
