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
"""
import math
import dataclasses
from dataclasses import dataclass

import numpy as np

STATE_NAMES = {
    'sgd': (),
    'momentum': ('momentum_buffer',),
    'nesterov': ('momentum_buffer',),
    'adagrad': ('sum',),
    'rmsprop': ('square_avg',),
    'adam': ('exp_avg', 'exp_avg_sq'),
    'adamw': ('exp_avg', 'exp_avg_sq'),
}
DEFAULT_LR = {'sgd': 0.1, 'momentum': 0.05, 'nesterov': 0.05, 'adagrad': 0.05,
              'rmsprop': 1e-3, 'adam': 2e-3, 'adamw': 2e-3}
SCHEDULES = ('constant', 'step', 'exponential', 'cosine')


class BadSetting(ValueError):
    """An optimizer setting that cannot work. ``field`` names the setting, so that
    the layer above can name it as its user knows it (config.py: the flag)."""

    def __init__(self, field, problem):
        super().__init__(f'{field} {problem}')
        self.field, self.problem = field, problem


def setting(default, help=None, **described):
    """A field's default and, for a setting a user chooses, what it is: ``help``
    and optionally ``choices``, ``metavar``, ``resumable`` (may change when a
    run resumes) and ``name`` (what users call it, when not the field's name).
    config.py makes a flag of every described field; the kernel knows no flags."""
    return dataclasses.field(default=default, metadata={'help': help, **described} if help else {})


@dataclass(frozen=True)
class OptimizerConfig:
    name: str = setting('adam', 'the inner optimizer', choices=tuple(STATE_NAMES),
                        name='optimizer')
    lr: float = setting(None, 'learning rate; default: ' + ', '.join(
        f'{k} {v:g}' for k, v in DEFAULT_LR.items()), metavar='X', resumable=True)
    momentum: float = setting(0.9, 'momentum and nesterov: μ', metavar='X')
    beta1: float = 0.9
    beta2: float = 0.999
    alpha: float = 0.99         # rmsprop
    eps: float = 1e-8           # adam, adamw, rmsprop; adagrad uses eps_adagrad
    eps_adagrad: float = 1e-10
    weight_decay: float = setting(0.0, 'L2 (adamw: decoupled)', metavar='X')
    schedule: str = setting('constant', "learning-rate schedule over the run's rounds",
                            choices=SCHEDULES)
    warmup: int = setting(0, 'rounds of linear lr warm-up', metavar='N')
    step_size: int = setting(10, 'step schedule: rounds per decay', metavar='N')
    gamma: float = setting(0.5, 'step/exponential decay factor', metavar='X')
    min_lr: float = setting(0.0, 'cosine schedule floor', metavar='X')
    clip_norm: float = setting(0.0, 'clip the gradient to this global L2 norm (0: off)',
                               metavar='X')

    def __post_init__(self):
        for field, value, choices in (('name', self.name, STATE_NAMES),
                                      ('schedule', self.schedule, SCHEDULES)):
            if value not in choices:
                raise BadSetting(field, f'{value!r} is not one of: {", ".join(choices)}')
        if self.lr is None:
            object.__setattr__(self, 'lr', DEFAULT_LR[self.name])
        if not self.lr > 0:
            raise BadSetting('lr', f'must be positive, got {self.lr}')
        for field, value, low in (('clip_norm', self.clip_norm, 0), ('warmup', self.warmup, 0),
                                  ('step_size', self.step_size, 1)):
            if not value >= low:
                raise BadSetting(field, f'must be at least {low}, got {value}')


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


def apply_update(config, param, grad, state, step, lr=None):
    """Return (new param in param's dtype, new state). ``step`` counts from 1."""
    lr = config.lr if lr is None else lr
    p = param.astype(np.float64)
    g = np.asarray(grad, np.float64)
    name = config.name
    if config.weight_decay and name != 'adamw':
        g = g + config.weight_decay * p
    new_state = {}
    if name == 'sgd':
        delta = lr * g
    elif name in ('momentum', 'nesterov'):
        buf = new_state['momentum_buffer'] = config.momentum * state['momentum_buffer'] + g
        delta = lr * (g + config.momentum * buf if name == 'nesterov' else buf)
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
    config = OptimizerConfig(name=name, lr=lr, momentum=momentum)
    new, inner = apply_update(config, theta, delta, {'momentum_buffer': state[OUTER_STATE]}, step=1)
    return new, {OUTER_STATE: inner['momentum_buffer']}


def weighted_mean(weighted_sums, weight):
    """θ̄ = Σ n_i θ_i / Σ n_i of average mode (docs/design.md §5), for every
    array of one block: ``weighted_sums`` {name: Σ n_i x_i, float64}, ``weight`` Σ n_i."""
    return {name: total / weight for name, total in weighted_sums.items()}


def mean_gradient(grad_sum, count):
    """The gradient of the mean loss from a gradient *sum* over ``count`` targets
    (docs/design.md §3.3), and its squared norm."""
    grad = np.asarray(grad_sum, np.float64) / count
    return grad, float(np.dot(grad.ravel(), grad.ravel()))
