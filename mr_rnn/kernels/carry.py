"""Windows of records walked in lock-step with the state carried between them
(truncated backpropagation through time, docs/design.md §3.1).

A ``network.Lanes`` holds records side by side, each row a lane of windows:
step i of a row starts from the state where the row's window at step i - 1
ended, or from zeros where a record starts (``fresh``). The state enters a
step as a constant, so the gradient stops at the window boundary, as PyTorch's
word-language-model example detaches it between batches. Each window's loss
and gradient then depend only on its record, whatever other records share its
lanes, which is what keeps the sums of gradient mode independent of the
runner and the split (§3.8).
"""
import numpy as np

from mr_rnn.kernels.network import (Batch, Lanes, LossAndGrads, loss_and_grads, run_layers,
                                    state_after)


def start_state(state, fresh):
    """The state each row of a step starts from: the carried one, zeros where
    a record starts; None (zeros everywhere) when there is none to carry or
    every row starts a record."""
    if state is None or np.all(fresh):
        return None
    keep = ~np.asarray(fresh, bool)[:, None]
    return [tuple(np.where(keep, s, 0).astype(s.dtype) for s in layer) for layer in state]


def zero_state(spec, rows, dtype):
    n = 2 if spec.cell == 'lstm' else 1
    return [tuple(np.zeros((rows, spec.hidden), dtype) for _ in range(n))
            for _ in range(spec.layers)]


def _live_rows(batch):
    """The rows with a real step (a lane out of windows has none), or None for all."""
    live = np.asarray(batch.mask, bool).any(axis=1)
    return None if live.all() else np.flatnonzero(live)


def _rows(batch, rows):
    return Batch(np.asarray(batch.x)[rows], np.asarray(batch.mask)[rows],
                 np.asarray(batch.y)[rows])


def step_loss_and_grads(params, spec, batch, fresh, state, sparse=False):
    """One step of a Lanes: (network.LossAndGrads of its windows, the state
    after it, for the next step). ``state`` None: zeros. Rows without a real
    step are left out of the computation and keep their state."""
    start = start_state(state, fresh)
    if start is None:
        start = zero_state(spec, batch.mask.shape[0], params['head.weight'].dtype)
    rows = _live_rows(batch)
    given = start
    if rows is not None:
        batch = _rows(batch, rows)
        given = [tuple(s[rows] for s in layer) for layer in start]
    result = loss_and_grads(params, spec, batch, sparse, state=given)
    after = [tuple(np.array(s) for s in layer) for layer in start]
    for layer, new in zip(after, result.state):
        for s, n in zip(layer, new):
            s[slice(None) if rows is None else rows] = n
    result.state = None
    return result, after


def lanes_loss_and_grads(params, spec, lanes, sparse=False):
    """Loss sum, count and gradient over every window of a Lanes, summed
    in float64 in step order; each step's state carried to the next."""
    total, state = None, None
    for batch, fresh in zip(lanes.steps, lanes.fresh):
        result, state = step_loss_and_grads(params, spec, batch, fresh, state, sparse)
        if total is None:
            total = LossAndGrads(result.loss_sum, result.count,
                                 {n: g if hasattr(g, 'plus') else g.astype(np.float64)
                                  for n, g in result.grads.items()})
            continue
        total.loss_sum += result.loss_sum
        total.count += result.count
        for name, grad in result.grads.items():
            if hasattr(grad, 'plus'):
                total.grads[name] = total.grads[name].plus(grad)
            else:
                total.grads[name] += grad
    return total


def lanes_outputs(params, spec, lanes):
    """Forward only (a per-step head): (step batch, its outputs (B, T, O)) for
    each step of a Lanes, the state carried."""
    state = None
    for batch, fresh in zip(lanes.steps, lanes.fresh):
        start = start_state(state, fresh)
        if start is None:
            start = zero_state(spec, batch.mask.shape[0], params['head.weight'].dtype)
        out, state = forward_from(params, spec, batch, start)
        yield batch, out


def forward_from(params, spec, batch, state):
    """Outputs (B, T, O) of a per-step head from ``state``, and each row's
    state after its last real step (network.state_after)."""
    top, caches, finals = run_layers(params, spec, batch.x, state)
    after = state_after(finals, caches, np.asarray(batch.mask, bool), None)
    w, b = params['head.weight'], params['head.bias']
    out = np.matmul(top.reshape(-1, top.shape[-1]), w.T).reshape(*top.shape[:-1], -1) + b
    return np.swapaxes(out, 0, 1), after


def join_lanes(lanes_list, per_step=True):
    """Several Lanes side by side as one: the rows of each, in order; a Lanes
    with fewer steps has rows without real steps past its end."""
    if len(lanes_list) == 1:
        return lanes_list[0]
    steps = max(len(l.steps) for l in lanes_list)
    T = max(b.mask.shape[1] for l in lanes_list for b in l.steps)
    out_steps, out_fresh = [], []
    for i in range(steps):
        xs, masks, ys, fresh = [], [], [], []
        for lanes in lanes_list:
            template = lanes.steps[0]
            if i < len(lanes.steps):
                b, f = lanes.steps[i], lanes.fresh[i]
            else:
                b, f = _empty_like(template), np.ones(template.mask.shape[0], bool)
            xs.append(_pad(b.x, T))
            masks.append(_pad(b.mask, T))
            ys.append(_pad(b.y, T) if per_step else b.y)
            fresh.append(f)
        out_steps.append(Batch(np.concatenate(xs), np.concatenate(masks), np.concatenate(ys)))
        out_fresh.append(np.concatenate(fresh))
    return Lanes(out_steps, out_fresh)


def _empty_like(batch):
    return Batch(np.zeros_like(batch.x), np.zeros_like(batch.mask), np.zeros_like(batch.y))


def _pad(a, T):
    a = np.asarray(a)
    if a.shape[1] == T:
        return a
    out = np.zeros((a.shape[0], T) + a.shape[2:], a.dtype)
    out[:, :a.shape[1]] = a
    return out


def lanes_steps(unit):
    """Optimizer steps a kept unit gives (kernels/local_training.py): a Lanes
    one per step, a Batch one."""
    return len(unit.steps) if isinstance(unit, Lanes) else 1


def unit_bytes(unit):
    batches = unit.steps if isinstance(unit, Lanes) else [unit]
    return sum(a.nbytes for b in batches for a in (b.x, b.y, b.mask))

