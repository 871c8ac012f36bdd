"""Running sums over many batches: what a map task holds between records."""
import numpy as np

from mr_rnn.kernels import losses
from mr_rnn.kernels.network import forward, loss_and_grads


class GradientSum:
    """Sum of per-element losses, their count, and the gradient of the sum (float64)."""

    def __init__(self, params, spec):
        self.params, self.spec = params, spec
        self.loss_sum, self.count = 0.0, 0
        self.grads = {name: np.zeros(p.shape, np.float64) for name, p in params.items()}

    def add(self, batch):
        result = loss_and_grads(self.params, self.spec, batch)
        self.loss_sum += result.loss_sum
        self.count += result.count
        for name, grad in result.grads.items():
            self.grads[name] += grad


class LossSum:
    """Loss sum and count without gradients, plus correct predictions for classes."""

    def __init__(self, params, spec):
        self.params, self.spec = params, spec
        self.loss_sum, self.count, self.correct = 0.0, 0, 0

    def add(self, batch):
        out = forward(self.params, self.spec, batch.x, batch.mask)
        result = evaluate_outputs(self.spec, out, batch)
        self.loss_sum += result[0]
        self.count += result[1]
        self.correct += result[2]


def evaluate_outputs(spec, out, batch):
    target_mask = batch.mask if spec.head == 'per_step' else np.ones(out.shape[0], bool)
    if spec.loss == 'xent':
        loss_sum, count, _ = losses.cross_entropy_sum(out, batch.y, target_mask)
        correct = int(((out.argmax(-1) == batch.y) & target_mask).sum())
    else:
        loss_sum, count, _ = losses.squared_error_sum(out, batch.y, target_mask)
        correct = 0
    return loss_sum, count, correct
