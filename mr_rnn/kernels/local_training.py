"""Average mode's inner work in a map task (docs/design.md §5): optimizer
steps from the broadcast weights on the task's own batches."""
import numpy as np

from mr_rnn.kernels.carry import forward_from, lanes_steps, start_state, step_loss_and_grads, \
    unit_bytes, zero_state
from mr_rnn.kernels.lookup import id_axes
from mr_rnn.kernels.network import Lanes, loss_and_grads
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

    A ``Lanes`` (windows carrying the state, docs/design.md §3.1) is kept
    whole and counts as its number of steps: the passes shuffle the kept
    units, and walk each Lanes' steps in order, one optimizer step each, from
    the state the step before left (computed with the weights of its own
    step, as a detached state is in PyTorch). A round that starts inside a
    Lanes first runs its earlier steps forward, with the round's weights, to
    get there.

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
        # the same rows as a mask over the block's ids, and the gradient as a
        # whole block (zero but in the rows being stepped), for step_touched_rows
        self.is_touched = {n: np.zeros(params[n].shape[a], bool) for n, a in self.id_blocks.items()}
        self.whole_grad = {}
        # the inner state: the checkpoint's (averaged over the tasks of the last
        # round), or zeros when it is reset every round (keep_state False)
        self.keep_state = keep_state
        self.state = {n: {k: optim_state[n][k] if keep_state else np.zeros(p.shape, np.float64)
                          for k in STATE_NAMES[config.name]} for n, p in params.items()}
        self.spec, self.config, self.lr = spec, config, lr
        self.step = first_step
        self.local_steps, self.local_epochs = local_steps, local_epochs
        self.memory_bytes, self.seed, self.round = memory_bytes, seed, round_index
        self.batches, self.kept_bytes, self.seen, self.seen_steps = [], 0, 0, 0
        self.full = False
        self.rng = np.random.default_rng([seed, round_index, 0x5A3])
        self.steps = 0
        self.loss_sum, self.count = 0.0, 0

    def add(self, batch):
        self.seen += 1
        self.seen_steps += lanes_steps(batch)
        size = unit_bytes(batch)
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
        batches = sum(map(lanes_steps, self.batches)) if self.full else self.seen_steps
        if self.local_epochs:
            return max(1, round(self.local_epochs * batches))
        return max(batches, AUTO_MIN_STEPS)

    def train(self):
        U = len(self.batches)
        if not U:
            return
        sizes = np.array([lanes_steps(u) for u in self.batches])
        B = int(sizes.sum())
        S = self.planned_steps()
        orders, state, last = {}, None, None
        for position in range(self.round * S, self.round * S + S):
            passes, i = divmod(position, B)
            if passes not in orders:
                order = np.random.default_rng([self.seed, passes, 0x0DE]).permutation(U)
                orders = {passes: (order, np.cumsum(sizes[order]))}
            order, ends = orders[passes]
            k = int(np.searchsorted(ends, i, side='right'))
            unit, j = self.batches[order[k]], i - (int(ends[k - 1]) if k else 0)
            if not isinstance(unit, Lanes):
                self.take_step(unit)
                continue
            if last != (passes, k, j - 1):      # entering a Lanes at step j: its state there
                state = self.state_at(unit, j)
            state = self.take_step(unit.steps[j], unit.fresh[j], state)
            last = (passes, k, j)
        self.batches = []

    def state_at(self, lanes, j):
        """The state entering step ``j`` of a Lanes, run forward with the current weights."""
        state = None
        for batch, fresh in zip(lanes.steps[:j], lanes.fresh[:j]):
            start = start_state(state, fresh)
            if start is None:
                start = zero_state(self.spec, batch.mask.shape[0], self.params['head.weight'].dtype)
            _, state = forward_from(self.params, self.spec, batch, start)
        return state

    def take_step(self, batch, fresh=None, state=None):
        """One inner optimizer step on ``batch``; with ``fresh`` (a Lanes' step),
        from ``state``, and the state after it returned."""
        sparse = bool(self.id_blocks)
        if fresh is None:
            result = loss_and_grads(self.params, self.spec, batch, sparse=sparse)
        else:
            result, state = step_loss_and_grads(self.params, self.spec, batch, fresh, state,
                                                sparse)
        self.update(result)
        return state

    def update(self, result):
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
        others have zero gradient and zero state: they stay).

        Few rows touched: those rows are gathered, stepped and written back.
        Once they are most of the block (soon, on a shard of a few passes),
        gathering and writing back cost more than the step: the whole block
        is stepped, and the rows not touched yet are put back as they were.
        Either way each touched element goes through the same expression of
        apply_update, so the result is bitwise the same."""
        axis = self.id_blocks[name]

        def at_ids(array):
            return np.moveaxis(array, axis, 0)
        is_touched = self.is_touched[name]
        if not is_touched[rows.ids].all():
            is_touched[rows.ids] = True
            self.touched[name] = np.flatnonzero(is_touched)
        touched = self.touched[name]
        step = self.step + self.steps
        if 2 * len(touched) <= len(is_touched):
            grad = np.zeros((len(touched),) + rows.values.shape[1:], np.float64)
            grad[np.searchsorted(touched, rows.ids)] = rows.values * factor
            state = {k: at_ids(v)[touched] for k, v in self.state[name].items()}
            param, state = apply_update(self.config, at_ids(self.params[name])[touched], grad,
                                        state, step=step, lr=self.lr)
            at_ids(self.params[name])[touched] = param
            for k, v in state.items():
                at_ids(self.state[name][k])[touched] = v
            return
        untouched = np.flatnonzero(~is_touched)
        kept = at_ids(self.params[name])[untouched]
        grad = self.whole_grad.get(name)
        if grad is None:
            grad = self.whole_grad[name] = np.zeros(self.params[name].shape, np.float64)
        at_ids(grad)[rows.ids] = rows.values * factor
        param, state = apply_update(self.config, self.params[name], grad, self.state[name],
                                    step=step, lr=self.lr)
        at_ids(grad)[rows.ids] = 0.0
        at_ids(param)[untouched] = kept
        for v in state.values():
            at_ids(v)[untouched] = 0.0
        self.params[name], self.state[name] = param, state

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
