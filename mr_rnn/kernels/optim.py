"""Optimizers as pure update functions of one parameter block, learning-rate
schedules, and gradient clipping by global norm.

Each optimizer follows the equations of the ``torch.optim`` class of the same
name with its default options; ``weight_decay`` is PyTorch's L2 form (added to
the gradient) except for AdamW, where it is decoupled, as in torch.optim.AdamW.
Updates are computed in float64 and the state kept in float64, so that
reducers agree to the last bit whatever the model's dtype. t counts from 1.

    sgd:      p -= lr g
    momentum: b = μ b + g;                        p -= lr b          (torch SGD, momentum=μ)
    nesterov: b = μ b + g;                        p -= lr (g + μ b)  (torch SGD, nesterov=True)
    adagrad:  s += g²;                            p -= lr g / (√s + ε)
    rmsprop:  v = α v + (1-α) g²;                 p -= lr g / (√v + ε)
    adam:     m = β1 m + (1-β1) g;  v = β2 v + (1-β2) g²
              p -= lr / (1-β1^t) · m / (√v / √(1-β2^t) + ε)
    adamw:    p *= 1 - lr λ, then the adam step (λ = weight_decay, not added to g)

Schedules give the learning rate of round k (0-based) of a run of K rounds:

    constant:     lr
    step:         lr γ^⌊k / step_size⌋
    exponential:  lr γ^k
    cosine:       min_lr + (lr - min_lr) (1 + cos(π k / K)) / 2
    and, with warmup W > 0, times min(1, (k + 1) / W)

The outer step of average mode (DiLoCo, Douillard et al. 2023; SlowMo, Wang
et al. 2020). Round k starts every map task from θ_k; task i ends at θ_i after
its local steps, having trained on n_i targets. Per parameter block, with
θ̄ = Σ n_i θ_i / Σ n_i and the pseudo-gradient Δ = θ_k - θ̄:

    sgd:      θ_{k+1} = θ̄ + (1 - η) Δ             (= θ_k - η Δ; η = 1 is plain averaging, to the bit)
    momentum: b = μ b + Δ;  θ_{k+1} = θ_k - η b
    nesterov: b = μ b + Δ;  θ_{k+1} = θ_k - η (Δ + μ b)

η is the outer learning rate, μ the outer momentum, b the outer state
(float64, zero at the start).

The functions take an optimizer's settings as ``config``, any object with
the fields they read (the configuration's ``optimizer`` section is one):
``name`` (a key of STATE_NAMES), ``lr``, ``momentum``, ``weight_decay``,
``beta1``, ``beta2``, ``alpha``, ``eps``, ``eps_adagrad`` for the update;
``lr``, ``schedule`` (one of SCHEDULES), ``warmup``, ``step_size``, ``gamma``,
``min_lr`` for the schedule.
"""
import math

import numpy as np

from mr_rnn.kernels.rows import Rows

STATE_NAMES = {
    'sgd': (),
    'momentum': ('momentum_buffer',),
    'nesterov': ('momentum_buffer',),
    'adagrad': ('sum',),
    'rmsprop': ('square_avg',),
    'adam': ('exp_avg', 'exp_avg_sq'),
    'adamw': ('exp_avg', 'exp_avg_sq'),
}
SCHEDULES = ('constant', 'step', 'exponential', 'cosine')


def scheduled_lr(config, round_index, total_rounds):
    k = round_index
    if config.schedule == 'step':
        lr = config.lr * config.gamma ** (k // config.step_size)
    elif config.schedule == 'exponential':
        lr = config.lr * config.gamma ** k
    elif config.schedule == 'cosine':
        lr = config.min_lr + (config.lr - config.min_lr) * (
            1 + math.cos(math.pi * min(k, total_rounds) / max(total_rounds, 1))) / 2
    else:
        lr = config.lr
    if config.warmup:
        lr *= min(1.0, (k + 1) / config.warmup)
    return lr


def clip_factor(global_norm, clip_norm):
    """Scale that brings the concatenated gradient to at most clip_norm (torch's
    clip_grad_norm_, without its 1e-6: exact when no clipping is needed)."""
    if clip_norm and global_norm > clip_norm:
        return clip_norm / global_norm
    return 1.0


def global_norm(squared_norms):
    """The norm of all blocks together, summed in name order so that every
    reducer computes the same bits."""
    return math.sqrt(sum(squared_norms[name] for name in sorted(squared_norms)))


def init_state(config, param):
    return {name: np.zeros(param.shape, np.float64) for name in STATE_NAMES[config.name]}


def apply_update(config, param, grad, state, step, lr=None, id_axis=0):
    """Return (new param in param's dtype, new state). ``step`` counts from 1.
    ``grad`` may be Rows (kernels/rows.py) of the block's ``id_axis``: the
    result is then bit for bit the dense gradient's, without forming it."""
    lr = config.lr if lr is None else lr
    p = param.astype(np.float64)
    name = config.name
    if isinstance(grad, Rows):
        if not (config.weight_decay and name != 'adamw'):
            return _rows_update(config, param, p, grad, state, step, lr, id_axis)
        grad = grad.dense(param.shape, id_axis)      # L2 decay: every row has a gradient
    g = np.asarray(grad, np.float64)
    if config.weight_decay and name != 'adamw':
        g = g + config.weight_decay * p
    new_state = {}
    if name == 'sgd':
        delta = lr * g
    elif name in ('momentum', 'nesterov'):
        delta, new_state['momentum_buffer'] = momentum_step(
            g, state['momentum_buffer'], lr, config.momentum, name == 'nesterov')
    elif name == 'adagrad':
        total = new_state['sum'] = state['sum'] + g * g
        delta = lr * g / (np.sqrt(total) + config.eps_adagrad)
    elif name == 'rmsprop':
        v = new_state['square_avg'] = config.alpha * state['square_avg'] + (1 - config.alpha) * g * g
        delta = lr * g / (np.sqrt(v) + config.eps)
    else:  # adam, adamw
        if name == 'adamw':
            p = p * (1 - lr * config.weight_decay)
        m = new_state['exp_avg'] = config.beta1 * state['exp_avg'] + (1 - config.beta1) * g
        v = new_state['exp_avg_sq'] = config.beta2 * state['exp_avg_sq'] + (1 - config.beta2) * g * g
        bias1 = 1 - config.beta1 ** step
        bias2 = 1 - config.beta2 ** step
        delta = (lr / bias1) * m / (np.sqrt(v) / np.sqrt(bias2) + config.eps)
    return (p - delta).astype(param.dtype), new_state


# A slab of the update (update_slabs): at most this many bytes of float64 per
# array, so that the update's float64 temporaries stay small whatever the
# block's size (docs/design.md §3.7).
SLAB_BYTES = 8 << 20


def slab_ranges(shape, slab_bytes=None):
    """(start, stop) of consecutive slabs of axis 0 of a block of ``shape``,
    each at most ``slab_bytes`` (SLAB_BYTES) as float64 (one row at least)."""
    slab_bytes = SLAB_BYTES if slab_bytes is None else slab_bytes
    row = 8 * math.prod(shape[1:])
    step = max(1, slab_bytes // row)
    return [(start, min(start + step, shape[0])) for start in range(0, shape[0], step)]


def update_slabs(config, param, grad, state, step, lr=None, id_axis=0, slab_bytes=None):
    """apply_update one slab of the block's rows (axis 0) at a time: yields
    (start, new param rows, new state rows). Every element is computed by the
    same expression as the whole block's update, so the slabs put together are
    bit for bit apply_update's result; only one slab's float64 copies and
    temporaries are alive at once, not the block's several."""
    for start, stop in slab_ranges(param.shape, slab_bytes):
        g = grad.slab(start, stop, id_axis) if isinstance(grad, Rows) else grad[start:stop]
        new_param, new_state = apply_update(
            config, param[start:stop], g, {k: v[start:stop] for k, v in state.items()},
            step, lr, id_axis)
        yield start, new_param, new_state


def momentum_step(g, buf, lr, mu, nesterov):
    """b = μ b + g, and the step: lr b, or lr (g + μ b) with Nesterov -> (step, b)."""
    buf = mu * buf + g
    return lr * (g + mu * buf if nesterov else buf), buf


OUTER_OPTIMIZERS = ('sgd', 'momentum', 'nesterov')
OUTER_STATE = 'outer_momentum'


def outer_state_names(name):
    return () if name == 'sgd' else (OUTER_STATE,)


def outer_update(name, lr, momentum, theta, mean, state):
    """The outer step of one block: θ_k (``theta``, the model's dtype), the
    weighted mean of the tasks' weights (float64) and the outer state ->
    (θ_{k+1} in theta's dtype, new outer state)."""
    mean = np.asarray(mean, np.float64)
    delta = theta.astype(np.float64) - mean
    if name == 'sgd':
        # written from the mean so that η = 1 gives the mean itself, bit for bit
        return (mean + (1 - lr) * delta).astype(theta.dtype), {}
    step, buf = momentum_step(delta, state[OUTER_STATE], lr, momentum, name == 'nesterov')
    return (theta.astype(np.float64) - step).astype(theta.dtype), {OUTER_STATE: buf}


def mean_from_changes(theta, changes, weight, axis, row_weights=None):
    """θ̄ of average mode from what the tasks changed: θ_k + Σ n_i (θ_i - θ_k) / Σ n_i,
    ``changes`` the Rows of Σ n_i (θ_i - θ_k) along the block's id axis (a task
    sends only the rows it touched, the others being θ_k's). With
    ``row_weights``, the Rows of Σ n_i over the tasks that touched each row,
    a row's mean is over those tasks only (docs/design.md §5)."""
    mean = theta.astype(np.float64)
    if row_weights is None:
        np.moveaxis(mean, axis, 0)[changes.ids] += changes.values / weight
        return mean
    per_row = row_weights.values.reshape((-1,) + (1,) * (changes.values.ndim - 1))
    np.moveaxis(mean, axis, 0)[changes.ids] += changes.values / per_row
    return mean


def weighted_mean(weighted_sums, weight):
    """θ̄ = Σ n_i θ_i / Σ n_i of average mode (docs/design.md §5), for every
    array of one block: ``weighted_sums`` {name: Σ n_i x_i, float64}, ``weight`` Σ n_i."""
    return {name: total / weight for name, total in weighted_sums.items()}


def mean_gradient(grad_sum, count):
    """The gradient of the mean loss from a gradient *sum* over ``count`` targets
    (docs/design.md §3.3), and its squared norm; Rows stay Rows."""
    if isinstance(grad_sum, Rows):
        grad = Rows(grad_sum.ids, np.asarray(grad_sum.values, np.float64) / count)
        return grad, grad.squared_norm()
    grad = np.asarray(grad_sum, np.float64) / count
    return grad, float(np.dot(grad.ravel(), grad.ravel()))


def _rows_update(config, param, p, rows, state, step, lr, axis):
    """apply_update for a gradient that is zero but in ``rows``: the state of
    every row decays as the dense update's would (a momentum or Adam moment
    moves a row whose gradient is zero this round), the gradient is added
    where it is given. Each element is computed by the dense update's own
    expression, so the result is bit for bit the same. ``p``: param in float64."""
    def at_ids(array):                    # a view with the ids first
        return np.moveaxis(array, axis, 0)

    ids, g = rows.ids, np.asarray(rows.values, np.float64)
    name, new_state = config.name, {}
    p_ids = at_ids(p)[ids]
    if name == 'sgd':
        at_ids(p)[ids] = p_ids - lr * g
        return p.astype(param.dtype), new_state
    if name in ('momentum', 'nesterov'):
        old = state['momentum_buffer']
        buf = new_state['momentum_buffer'] = config.momentum * old
        at_ids(buf)[ids] = config.momentum * at_ids(old)[ids] + g
        if name == 'momentum':
            return (p - lr * buf).astype(param.dtype), new_state
        delta = lr * (config.momentum * buf)            # g + μ b with g = 0: μ b
        at_ids(delta)[ids] = lr * (g + config.momentum * at_ids(buf)[ids])
        return (p - delta).astype(param.dtype), new_state
    if name in ('adagrad', 'rmsprop'):
        kind = 'sum' if name == 'adagrad' else 'square_avg'
        old = state[kind]
        if name == 'adagrad':
            total = new_state[kind] = old.copy()         # s + 0 g²
            at_ids(total)[ids] = at_ids(old)[ids] + g * g
            at_ids(p)[ids] = p_ids - lr * g / (np.sqrt(at_ids(total)[ids]) + config.eps_adagrad)
        else:
            v = new_state[kind] = config.alpha * old
            at_ids(v)[ids] = config.alpha * at_ids(old)[ids] + (1 - config.alpha) * g * g
            at_ids(p)[ids] = p_ids - lr * g / (np.sqrt(at_ids(v)[ids]) + config.eps)
        return p.astype(param.dtype), new_state
    # adam, adamw: every row with a moment moves
    if name == 'adamw':
        p = p * (1 - lr * config.weight_decay)
    m_old, v_old = state['exp_avg'], state['exp_avg_sq']
    m = new_state['exp_avg'] = config.beta1 * m_old
    v = new_state['exp_avg_sq'] = config.beta2 * v_old
    at_ids(m)[ids] = config.beta1 * at_ids(m_old)[ids] + (1 - config.beta1) * g
    at_ids(v)[ids] = config.beta2 * at_ids(v_old)[ids] + (1 - config.beta2) * g * g
    bias1 = 1 - config.beta1 ** step
    bias2 = 1 - config.beta2 ** step
    delta = (lr / bias1) * m / (np.sqrt(v) / np.sqrt(bias2) + config.eps)
    return (p - delta).astype(param.dtype), new_state
