"""Loss sums and their gradients with respect to the head's output.

Each returns (loss_sum, count, d_out): the sum over counted target elements,
how many elements were counted (DESIGN §3.3), and d loss_sum / d out.
Targets where ``target_mask`` is False count for nothing, whatever they hold.
"""
import numpy as np


def cross_entropy_sum(logits, targets, target_mask):
    """logits (..., C), integer targets (...), target_mask (...) bool."""
    targets = np.where(target_mask, targets, 0)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=-1, keepdims=True)
    # log softmax only where it is used, at the targets
    picked = np.take_along_axis(shifted, targets[..., None], axis=-1)[..., 0] - np.log(total[..., 0])
    weight = target_mask.astype(logits.dtype)
    loss_sum = -(picked * weight).sum(dtype=np.float64)
    # d(-log softmax[target]) / d logits = softmax - onehot(target)
    d_out = exp
    d_out /= total
    np.put_along_axis(d_out, targets[..., None],
                      np.take_along_axis(d_out, targets[..., None], axis=-1) - 1.0, axis=-1)
    d_out *= weight[..., None]
    return loss_sum, int(target_mask.sum()), d_out


def squared_error_sum(pred, targets, target_mask):
    """pred and targets (..., O) float, target_mask (...) bool."""
    diff = np.where(target_mask[..., None], pred - np.asarray(targets, pred.dtype), 0.0)
    loss_sum = (diff.astype(np.float64) ** 2).sum()
    return loss_sum, int(target_mask.sum()) * pred.shape[-1], 2.0 * diff
