"""Running sums over many batches: what a map task holds between records."""
import numpy as np

from mr_rnn.kernels import losses
from mr_rnn.kernels.parallel import OrderedResults, workers
from mr_rnn.kernels.network import forward, loss_and_grads
from mr_rnn.kernels.optim import STATE_NAMES, apply_update, clip_factor, global_norm


class GradientSum:
    """Sum of per-element losses, their count, and the gradient of the sum (float64).

    With a ``pool`` (concurrent.futures.ThreadPoolExecutor), batches are
    computed on its threads and added in the order they came (parallel.py):
    the sums are bitwise those without a pool. Call ``finish()`` before
    reading them.
    """

    def __init__(self, params, spec, pool=None):
        self.params, self.spec = params, spec
        self.loss_sum, self.count = 0.0, 0
        self.grads = {name: np.zeros(p.shape, np.float64) for name, p in params.items()}
        self.results = None if pool is None else OrderedResults(pool, 2 * workers(pool))

    def add(self, batch):
        if self.results is None:
            self._add(loss_and_grads(self.params, self.spec, batch))
            return
        for result in self.results.submit(loss_and_grads, self.params, self.spec, batch):
            self._add(result)

    def finish(self):
        if self.results is not None:
            for result in self.results.drain():
                self._add(result)

    def _add(self, result):
        self.loss_sum += result.loss_sum
        self.count += result.count
        for name, grad in result.grads.items():
            self.grads[name] += grad


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
        out = forward(self.params, self.spec, batch.x, batch.mask)
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


AUTO_MIN_STEPS = 64     # inner steps per round when neither --local-steps nor --local-epochs


class LocalTraining:
    """Average mode: a map task's inner optimizer steps from the broadcast
    weights, then the resulting weights and optimizer state weighted by the
    targets trained on.

    ``add(batch)`` only keeps the batch; ``train()`` takes the round's steps
    once the shard has been read, so that their number can depend on the
    shard's number of batches B:

        local_steps N > 0:    exactly N steps
        local_epochs F > 0:   max(1, round(F B)) steps
        neither:              max(B, AUTO_MIN_STEPS): a pass, and a small shard
                              (many tasks on little data) still does real work

    Memory is bounded: the batches are kept up to ``memory_bytes``; past that,
    a uniform sample of that size (reservoir sampling, seeded by seed and
    round, so a different sample every round) stands for the shard, and B
    counts the sample's batches. The steps
    walk an endless stream of shuffled passes over the kept batches, pass e in
    the order of a permutation seeded by (seed, e); round k of S steps takes
    positions k S ... k S + S - 1 of it, so that rounds of fewer steps than B
    go on where the previous round stopped instead of repeating the shard's
    first batches, and more steps than B cycle over the shard.

    Clipping is by the norm of all blocks, which a map task holds together.
    """

    def __init__(self, params, spec, optim_state, config, lr, first_step, *, local_steps=0,
                 local_epochs=0.0, memory_bytes=256 << 20, seed=0, round_index=0,
                 keep_state=True):
        self.params = {n: p.copy() for n, p in params.items()}
        # the inner state: the checkpoint's (averaged over the tasks of the last
        # round), or zeros when it is reset every round (keep_state False)
        self.keep_state = keep_state
        self.state = {n: {k: optim_state[n][k] if keep_state else np.zeros(p.shape, np.float64)
                          for k in STATE_NAMES[config.name]} for n, p in params.items()}
        self.spec, self.config, self.lr = spec, config, lr
        self.step = first_step
        self.local_steps, self.local_epochs = local_steps, local_epochs
        self.memory_bytes, self.seed, self.round = memory_bytes, seed, round_index
        self.batches, self.kept_bytes, self.seen = [], 0, 0
        self.full = False
        self.rng = np.random.default_rng([seed, round_index, 0x5A3])
        self.steps = 0
        self.loss_sum, self.count = 0.0, 0

    def add(self, batch):
        self.seen += 1
        size = sum(a.nbytes for a in (batch.x, batch.y, batch.mask))
        if not self.full and (not self.batches or self.kept_bytes + size <= self.memory_bytes):
            self.batches.append(batch)
            self.kept_bytes += size
            return
        self.full = True
        j = int(self.rng.integers(self.seen))        # Algorithm R: keep with chance kept/seen
        if j < len(self.batches):
            self.batches[j] = batch

    def planned_steps(self):
        if self.local_steps:
            return self.local_steps
        # a pass over a shard larger than the memory budget is a pass over its sample
        batches = len(self.batches) if self.full else self.seen
        if self.local_epochs:
            return max(1, round(self.local_epochs * batches))
        return max(batches, AUTO_MIN_STEPS)

    def train(self):
        B = len(self.batches)
        if not B:
            return
        S = self.planned_steps()
        orders = {}
        for position in range(self.round * S, self.round * S + S):
            passes, i = divmod(position, B)
            if passes not in orders:
                orders = {passes: np.random.default_rng([self.seed, passes, 0x0DE]).permutation(B)}
            self.take_step(self.batches[orders[passes][i]])
        self.batches = []

    def take_step(self, batch):
        result = loss_and_grads(self.params, self.spec, batch)
        if not result.count:
            return
        self.loss_sum += result.loss_sum
        self.count += result.count
        grads = {n: g.astype(np.float64) / result.count for n, g in result.grads.items()}
        factor = clip_factor(global_norm({n: float((g * g).sum()) for n, g in grads.items()}),
                             self.config.clip_norm)
        self.steps += 1
        for name, grad in grads.items():
            self.params[name], self.state[name] = apply_update(
                self.config, self.params[name], grad * factor, self.state[name],
                step=self.step + self.steps, lr=self.lr)

    def weighted(self):
        """{name: (param * count, {state: state * count})}: reducers add and
        divide. No state when it is reset every round."""
        w = float(self.count)
        return {name: (p.astype(np.float64) * w,
                       {k: v * w for k, v in self.state[name].items()} if self.keep_state else {})
                for name, p in self.params.items()}
