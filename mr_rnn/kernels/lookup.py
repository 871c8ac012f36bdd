"""The blocks a token id looks up, forward and backward (docs/design.md §3.2).

With an embedding table (``spec.embed`` = D) token ids index the rows of ``embedding.weight`` (V, D),
as ``torch.nn.Embedding``; without, a token's one-hot vector times
``rnn.weight_ih_l0`` (G·H, V) is that block's column of the id. Either way a
batch reads a few of the V slices, and its gradient is zero but in those:
``Rows`` (kernels/rows.py) of the ids the batch holds, never a
vocabulary-sized block (network.loss_and_grads densifies them when asked).
"""
import numpy as np

from mr_rnn.kernels.cells import input_affine, pytorch_rows
from mr_rnn.kernels.rows import Rows

EMBEDDING = 'embedding.weight'
# the id axis of each such block: the table's rows, the input weights' columns
ID_AXES = {EMBEDDING: 0, 'rnn.weight_ih_l0': 1}


def id_axes(spec):
    """{block name: its id axis} of the block a model looks up by token id."""
    if not spec.token_input:
        return {}
    name = EMBEDDING if spec.embed else 'rnn.weight_ih_l0'
    return {name: ID_AXES[name]}


def gather_columns(cell, w_ih, b_ih, b_hh, ids):
    """One-hot input: the input projection xp (G, T, B, H) of ids (T, B), as
    the columns of W_ih that the ids select, bias included: input_affine of
    the batch's distinct ids' columns, never of the whole vocabulary."""
    distinct, where = np.unique(ids, return_inverse=True)
    w, b = input_affine(cell, w_ih[:, distinct], b_ih, b_hh)      # (G, n, H), (G, H)
    table = w + b[:, None, :]                                     # (G, n, H)
    return np.take(table, where.reshape(ids.shape), axis=1)


def column_rows(cell, dxp3, batch):
    """One-hot input's gradient: dxp3 (G, T*B, H), the gradient of the input
    projection in the gate-major order, summed per id -> Rows of W_ih's
    columns in PyTorch's row order, (n, G*H)."""
    touched, sums = _sum_by_id(dxp3, batch)                       # (n, G, H)
    return Rows(touched, np.ascontiguousarray(pytorch_rows(cell, sums.transpose(1, 2, 0)).T))


def table_rows(d_embedded, batch):
    """The embedding table's gradient: d_embedded (T, B, D), that of the
    looked-up rows, summed per id -> Rows (n, D)."""
    T, B, D = d_embedded.shape
    touched, sums = _sum_by_id(d_embedded.reshape(1, T * B, D), batch)   # (n, 1, D)
    return Rows(touched, sums[:, 0])


def _sum_by_id(grad, batch):
    """grad (G, T*B, W), time-major rows of the batch's steps -> (distinct ids,
    (n, G, W) their sums), reading only the steps up to each row's last real
    one (the others get no gradient).

    Sort the rows by id once, then one contiguous row sum per distinct id (a
    matrix-vector product with ones): several times faster than np.add.at,
    np.add.reduceat or a product with the one-hot matrix. Most ids of a
    batch of words occur once or twice (60% and 16% of them on the spam
    documents), and a call per id is then mostly numpy's overhead: their
    sums are taken all at once, 0 + a and (0 + a) + b, the one rounding that
    any order of the product's adds gives.
    """
    mask = np.asarray(batch.mask, bool)
    ids = np.swapaxes(np.asarray(batch.x), 0, 1).reshape(-1)
    # steps after a row's last real one get no gradient: skip their rows
    reach = np.logical_or.accumulate(mask[:, ::-1], axis=1)[:, ::-1].T.reshape(-1)
    positions = np.flatnonzero(reach)
    order = positions[np.argsort(ids[positions], kind='stable')]
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    ends = np.r_[starts[1:], len(order)]
    rows = np.take(grad, order, axis=1)                            # (G, N, W) grouped by id
    ones = np.ones(len(order), grad.dtype)
    sums = np.empty((len(starts), grad.shape[0], grad.shape[2]), grad.dtype)
    counts = ends - starts
    once, twice = np.flatnonzero(counts == 1), np.flatnonzero(counts == 2)
    first = np.take(rows, starts[once], axis=1)                    # (G, n1, W)
    first += 0.0                                                   # -0 + 0 = 0, as 0 + a
    sums[once] = first.transpose(1, 0, 2)
    pair = np.take(rows, starts[twice], axis=1)
    pair += 0.0
    pair += np.take(rows, starts[twice] + 1, axis=1)
    sums[twice] = pair.transpose(1, 0, 2)
    for k in np.flatnonzero(counts > 2).tolist():
        start, end = int(starts[k]), int(ends[k])
        np.matmul(ones[start:end], rows[:, start:end], out=sums[k])
    return sorted_ids[starts], sums
