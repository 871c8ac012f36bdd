"""Average mode's inner work in a map task (docs/design.md §5): optimizer
steps from the broadcast weights on the task's own batches."""
import numpy as np

from mr_rnn.kernels.lookup import id_axes
from mr_rnn.kernels.network import loss_and_grads
from mr_rnn.kernels.optim import STATE_NAMES, apply_update, clip_factor, global_norm
from mr_rnn.kernels.rows import Rows

AUTO_MIN_STEPS = 64     # inner steps per round when neither local_steps nor local_epochs is set


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

    ``sparse``: the blocks looked up by token id (lookup.id_axes) are stepped
    on the rows the task's batches touched only, and ``weighted`` gives what
    changed in them, as Rows. That is the dense step exactly, provided every
    other row stays where it is: so only with the inner state reset and no
    weight decay (a row whose gradient and moments are zero does not move;
    decay moves every row), and the dense path otherwise.
    """

    def __init__(self, params, spec, optim_state, config, lr, first_step, *, local_steps=0,
                 local_epochs=0.0, memory_bytes=256 << 20, seed=0, round_index=0,
                 keep_state=True, sparse=False):
        self.params = {n: p.copy() for n, p in params.items()}
        self.id_blocks = id_axes(spec) if sparse and not keep_state and not config.weight_decay \
            else {}
        self.start = {n: params[n] for n in self.id_blocks}      # θ_k, to send what changed
        self.touched = {n: np.zeros(0, np.int64) for n in self.id_blocks}
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
        result = loss_and_grads(self.params, self.spec, batch, sparse=bool(self.id_blocks))
        if not result.count:
            return
        self.loss_sum += result.loss_sum
        self.count += result.count
        grads = {n: Rows(g.ids, np.asarray(g.values, np.float64) / result.count)
                 if isinstance(g, Rows) else g.astype(np.float64) / result.count
                 for n, g in result.grads.items()}
        factor = clip_factor(global_norm({n: g.squared_norm() if isinstance(g, Rows)
                                          else float((g * g).sum()) for n, g in grads.items()}),
                             self.config.clip_norm)
        self.steps += 1
        for name, grad in grads.items():
            if name in self.id_blocks:
                self.step_touched_rows(name, grad, factor)
                continue
            self.params[name], self.state[name] = apply_update(
                self.config, self.params[name], grad * factor, self.state[name],
                step=self.step + self.steps, lr=self.lr)

    def step_touched_rows(self, name, rows, factor):
        """The dense step of block ``name`` on the rows touched so far (the
        others have zero gradient and zero state: they stay)."""
        def at_ids(array):
            return np.moveaxis(array, self.id_blocks[name], 0)
        touched = self.touched[name] = np.union1d(self.touched[name], rows.ids)
        grad = np.zeros((len(touched),) + rows.values.shape[1:], np.float64)
        grad[np.searchsorted(touched, rows.ids)] = rows.values * factor
        state = {k: at_ids(v)[touched] for k, v in self.state[name].items()}
        param, state = apply_update(self.config, at_ids(self.params[name])[touched], grad, state,
                                    step=self.step + self.steps, lr=self.lr)
        at_ids(self.params[name])[touched] = param
        for k, v in state.items():
            at_ids(self.state[name][k])[touched] = v

    def weighted(self):
        """{name: (param * count, {state: state * count})}: reducers add and
        divide. No state when it is reset every round. A block stepped on its
        touched rows gives (Rows of (param - θ_k) * count, {}): what changed."""
        w = float(self.count)
        out = {}
        for name, p in self.params.items():
            if name in self.id_blocks:
                at_ids = np.moveaxis(p, self.id_blocks[name], 0)
                start = np.moveaxis(self.start[name], self.id_blocks[name], 0)
                touched = self.touched[name]
                changed = (at_ids[touched].astype(np.float64) - start[touched]) * w
                out[name] = (Rows(touched, changed), {})
                continue
            out[name] = (p.astype(np.float64) * w,
                         {k: v * w for k, v in self.state[name].items()} if self.keep_state else {})
        return out
