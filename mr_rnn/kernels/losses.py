"""Loss sums and their gradients with respect to the head's output.

Each returns (loss_sum, count, d_out): the sum over counted target elements,
how many elements were counted (docs/design.md §3.3), and d loss_sum / d out.
Targets where ``target_mask`` is False count for nothing, whatever they hold.
"""
import numpy as np


def cross_entropy_sum(logits, targets, target_mask):
    """logits (..., C), integer targets (...), target_mask (...) bool."""
    shape, C = logits.shape, logits.shape[-1]
    keep = np.asarray(target_mask, bool).reshape(-1)
    targets = np.where(keep, np.asarray(targets).reshape(-1), 0)
    rows = np.arange(len(targets))
    d_out = logits.reshape(-1, C) - logits.reshape(-1, C).max(axis=-1, keepdims=True)
    picked = d_out[rows, targets]                  # shifted logit of each target
    np.exp(d_out, out=d_out)
    total = d_out @ np.ones(C, d_out.dtype)        # row sums: a BLAS product, 5x numpy's
    # -log softmax[target] = log(sum exp) - shifted logit, only where it is used
    terms = np.log(total)
    terms -= picked
    # d(-log softmax[target]) / d logits = softmax - onehot(target)
    d_out /= total[:, None]
    d_out[rows, targets] -= 1.0
    if not keep.all():
        terms[~keep] = 0.0
        d_out[~keep] = 0.0
    return terms.sum(dtype=np.float64), int(keep.sum()), d_out.reshape(shape)


def squared_error_sum(pred, targets, target_mask):
    """pred and targets (..., O) float, target_mask (...) bool."""
    diff = np.where(target_mask[..., None], pred - np.asarray(targets, pred.dtype), 0.0)
    loss_sum = (diff.astype(np.float64) ** 2).sum()
    return loss_sum, int(target_mask.sum()) * pred.shape[-1], 2.0 * diff
