"""Optimizers as pure update functions of one parameter block.

Each follows the equations of the ``torch.optim`` class of the same name with
its default options (no dampening, no Nesterov, no lr decay, no amsgrad);
``weight_decay`` is PyTorch's L2 form, added to the gradient. The update is
computed in float64 and the state kept in float64, so that reducers agree to
the last bit whatever the model's dtype.

    sgd:      p -= lr * g
    momentum: b = mu * b + g;                 p -= lr * b        (torch SGD, momentum=mu)
    adagrad:  s += g²;                        p -= lr * g / (sqrt(s) + eps)
    adam:     m = β1 m + (1-β1) g;  v = β2 v + (1-β2) g²
              p -= lr / (1-β1^t) * m / (sqrt(v) / sqrt(1-β2^t) + eps)
"""
from dataclasses import dataclass

import numpy as np

STATE_NAMES = {
    'sgd': (),
    'momentum': ('momentum_buffer',),
    'adagrad': ('sum',),
    'adam': ('exp_avg', 'exp_avg_sq'),
}
DEFAULT_LR = {'sgd': 0.1, 'momentum': 0.05, 'adagrad': 0.05, 'adam': 2e-3}


@dataclass(frozen=True)
class OptimizerConfig:
    name: str = 'adam'          # sgd | momentum | adagrad | adam
    lr: float = 2e-3
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8           # adam; adagrad uses eps_adagrad
    eps_adagrad: float = 1e-10
    weight_decay: float = 0.0

    def __post_init__(self):
        if self.name not in STATE_NAMES:
            raise ValueError(f'unknown optimizer {self.name!r}: choose one of '
                             + ', '.join(STATE_NAMES))
        if not self.lr > 0:
            raise ValueError(f'--lr must be positive, got {self.lr}')


def init_state(config, param):
    return {name: np.zeros(param.shape, np.float64) for name in STATE_NAMES[config.name]}


def apply_update(config, param, grad, state, step):
    """Return (new param in param's dtype, new state). ``step`` counts from 1."""
    p = param.astype(np.float64)
    g = np.asarray(grad, np.float64)
    if config.weight_decay:
        g = g + config.weight_decay * p
    new_state = {}
    if config.name == 'sgd':
        delta = config.lr * g
    elif config.name == 'momentum':
        buf = new_state['momentum_buffer'] = config.momentum * state['momentum_buffer'] + g
        delta = config.lr * buf
    elif config.name == 'adagrad':
        total = new_state['sum'] = state['sum'] + g * g
        delta = config.lr * g / (np.sqrt(total) + config.eps_adagrad)
    else:  # adam
        m = new_state['exp_avg'] = config.beta1 * state['exp_avg'] + (1 - config.beta1) * g
        v = new_state['exp_avg_sq'] = config.beta2 * state['exp_avg_sq'] + (1 - config.beta2) * g * g
        bias1 = 1 - config.beta1 ** step
        bias2 = 1 - config.beta2 ** step
        delta = (config.lr / bias1) * m / (np.sqrt(v) / np.sqrt(bias2) + config.eps)
    return (p - delta).astype(param.dtype), new_state


def apply_mean_gradient(config, param, grad_sum, count, state, step):
    """Update from a gradient *sum* over ``count`` target elements (DESIGN §3.3).

    Returns (new param, new state, squared norm of the mean gradient).
    """
    grad = np.asarray(grad_sum, np.float64) / count
    new_param, new_state = apply_update(config, param, grad, state, step)
    return new_param, new_state, float(np.dot(grad.ravel(), grad.ravel()))
