"""A stacked recurrent network with a linear head and its loss.

Parameters live in a plain dict named exactly as PyTorch names them
(``rnn.weight_ih_l0`` ... ``head.bias``), so a checkpoint loads into
``torch.nn.LSTM`` + ``torch.nn.Linear`` with a key rename.

Losses are *sums* over target elements with the element count beside them;
whoever holds the global count divides (docs/design.md §3.3). That is what lets
MapReduce add up gradients from any number of mappers.
"""
from dataclasses import dataclass

import numpy as np

from mr_rnn.kernels import losses
from mr_rnn.kernels.lookup import EMBEDDING, column_rows, gather_columns, table_rows
from mr_rnn.kernels.cells import (GATES, gate_major, input_affine, layer_backward, layer_forward,
                                  pytorch_rows, sum_rows)

HEADS = ('per_step', 'last_step')
LOSSES = ('xent', 'mse')
# what a last-step head reads of the top layer's real steps: the last one, or
# their mean or elementwise max (docs/design.md §3.2)
POOLS = ('last', 'mean', 'max')


@dataclass(frozen=True)
class NetworkSpec:
    cell: str           # rnn | lstm | gru
    input_size: int     # D for dense inputs, vocabulary size V for token inputs
    hidden: int
    layers: int
    output_size: int    # classes (xent) or target dimensions (mse)
    token_input: bool   # x holds token ids, looked up in weight_ih_l0's columns
    head: str           # per_step | last_step
    loss: str           # xent | mse
    embed: int = 0      # token input: an embedding table of this width first (0: one-hot)
    pool: str = 'last'  # last_step head: the top layer's last real step, or their mean or max

    def __post_init__(self):
        if self.cell not in GATES:
            raise ValueError(f'unknown cell {self.cell!r}: choose rnn, lstm or gru')
        if self.head not in HEADS or self.loss not in LOSSES:
            raise ValueError(f'unknown head/loss {self.head}/{self.loss}')
        for name in ('input_size', 'hidden', 'layers', 'output_size'):
            if getattr(self, name) < 1:
                raise ValueError(f'{name} must be at least 1')
        if self.embed and not self.token_input:
            raise ValueError('an embedding needs token input')
        if self.pool not in POOLS:
            raise ValueError(f'unknown pool {self.pool!r}: choose {", ".join(POOLS)}')
        if self.pool != 'last' and self.head != 'last_step':
            raise ValueError('pooling is for a last-step head: a per-step head reads every step')


@dataclass
class Batch:
    x: np.ndarray       # (B, T) int64 token ids, or (B, T, D) float; 0 at padding
    mask: np.ndarray    # (B, T) bool, True at real steps, sequences left-aligned
    y: np.ndarray       # (B, T) / (B,) int64 classes, or (B, T, O) / (B, O) float


@dataclass
class Lanes:
    """Windows of records side by side, walked in lock-step (docs/design.md §3.1):
    ``steps[i]`` is a Batch whose row r continues row r of ``steps[i - 1]``,
    from the state where that window ended, unless ``fresh[i][r]``: the row
    starts a record there, from zeros. A row with no real step (its lane has
    run out of windows) carries nothing."""
    steps: list         # of Batch, every one with the same number of rows
    fresh: list         # of (B,) bool


@dataclass
class LossAndGrads:
    loss_sum: float
    count: int
    grads: dict
    state: list = None  # per layer, the state at each row's last step, when a state was given


def param_shapes(spec):
    G, H = GATES[spec.cell] * spec.hidden, spec.hidden
    shapes = {EMBEDDING: (spec.input_size, spec.embed)} if spec.embed else {}
    for k in range(spec.layers):
        shapes[f'rnn.weight_ih_l{k}'] = (G, (spec.embed or spec.input_size) if k == 0 else H)
        shapes[f'rnn.weight_hh_l{k}'] = (G, H)
        shapes[f'rnn.bias_ih_l{k}'] = (G,)
        shapes[f'rnn.bias_hh_l{k}'] = (G,)
    shapes['head.weight'] = (spec.output_size, H)
    shapes['head.bias'] = (spec.output_size,)
    return shapes


def init_params(spec, seed, dtype=np.float32, scheme='pytorch', forget_bias=None):
    """Seeded initial weights.

    pytorch:    every recurrent weight and bias, and the Linear head
                (kaiming_uniform with a=sqrt(5) reduces to the same bound),
                uniform in ±1/sqrt(H) — PyTorch's default
    xavier:     each gate's block of every weight matrix Xavier/Glorot-uniform,
                ±sqrt(6 / (fan_in + fan_out)); biases zero
    orthogonal: as xavier, but each gate's block of W_hh a random orthogonal matrix
    forget_bias (LSTM): bias_ih's forget-gate slice set to it, bias_hh's to zero
    the embedding table (any scheme): normal(0, 1), as torch.nn.Embedding's
    """
    rng = np.random.default_rng(seed)
    bound = 1.0 / np.sqrt(spec.hidden)
    params = {}
    for name, shape in param_shapes(spec).items():
        if name == EMBEDDING:
            value = rng.normal(size=shape)
        elif scheme == 'pytorch':
            value = rng.uniform(-bound, bound, shape)
        elif len(shape) == 1:
            value = np.zeros(shape)
        elif scheme == 'orthogonal' and 'weight_hh' in name:
            value = np.concatenate([_orthogonal(rng, shape[1]) for _ in range(shape[0] // shape[1])])
        else:
            value = np.concatenate([_xavier(rng, block, shape[1])
                                    for block in _gate_blocks(spec, name, shape[0])])
        params[name] = value
    if forget_bias is not None and spec.cell == 'lstm':
        H = spec.hidden
        for k in range(spec.layers):
            params[f'rnn.bias_ih_l{k}'][H:2 * H] = forget_bias
            params[f'rnn.bias_hh_l{k}'][H:2 * H] = 0.0
    return {name: value.astype(dtype) for name, value in params.items()}


def _gate_blocks(spec, name, rows):
    return [spec.hidden] * GATES[spec.cell] if name.startswith('rnn.') else [rows]


def _xavier(rng, fan_out, fan_in):
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, (fan_out, fan_in))


def _orthogonal(rng, n):
    q, r = np.linalg.qr(rng.normal(size=(n, n)))
    return q * np.sign(np.diag(r))      # the sign fix makes q uniformly distributed


def _input_projection(params, spec, k, inp):
    """inp: (T, B) token ids, (T, B, D) inputs or the layer below's (T, B, H)
    -> xp (G, T, B, H), gate-major, as cells.layer_forward takes it."""
    w_ih = params[f'rnn.weight_ih_l{k}']
    if k == 0 and spec.token_input and not spec.embed:
        return gather_columns(spec.cell, w_ih, params['rnn.bias_ih_l0'],
                              params['rnn.bias_hh_l0'], inp)     # (G, T, B, H)
    w, b = input_affine(spec.cell, w_ih, params[f'rnn.bias_ih_l{k}'],
                        params[f'rnn.bias_hh_l{k}'])             # (G, D, H), (G, H)
    T, B, D = inp.shape
    xp = np.matmul(inp.reshape(T * B, D), w)                      # (G, T*B, H)
    xp += b[:, None, :]
    return xp.reshape(w.shape[0], T, B, -1)


def _time_major(x, spec, dtype):
    """(B, T[, D]) batch input -> (T, B[, D]) contiguous, in the model's dtype."""
    x = np.asarray(x) if spec.token_input else np.asarray(x, dtype)
    return np.ascontiguousarray(np.swapaxes(x, 0, 1))


def run_layers(params, spec, x, state=None, active=None):
    """Forward through every layer. ``state``: per-layer tuples, zeros if None;
    ``active``: see cells.layer_forward.

    Returns (top hidden states (T, B, H), caches, final states).
    """
    inp = _time_major(x, spec, params['head.weight'].dtype)
    if spec.embed:
        inp = np.take(params[EMBEDDING], inp, axis=0)                # (T, B, D)
    caches, finals = [], []
    for k in range(spec.layers):
        xp = _input_projection(params, spec, k, inp)
        inp, cache, final = layer_forward(
            spec.cell, xp, params[f'rnn.weight_hh_l{k}'], params[f'rnn.bias_hh_l{k}'],
            None if state is None else state[k], active)
        caches.append(cache)
        finals.append(final)
    return inp, caches, finals


def _head_input(spec, top, mask):
    """top (T, B, H) -> (T, B, H) per step; (B, H) pooled over each sequence's
    real steps for a last-step head."""
    if spec.head == 'per_step':
        return top
    return pool_steps(spec.pool, top, mask)[0]


def pool_steps(pool, top, mask):
    """top (T, B, H), mask (B, T) -> ((B, H), where each max was taken or None).

    Padded steps never count: a row that ended early ran on from stale
    products there (cells.layer_forward), so they are masked, not zero."""
    lengths = lengths_of(mask)
    if pool == 'last':
        return top[lengths - 1, np.arange(top.shape[1])], None
    real = mask.T[:, :, None]
    if pool == 'mean':
        total = np.where(real, top, 0).sum(axis=0)
        return total / lengths[:, None].astype(top.dtype), None
    masked = np.where(real, top, -np.inf)
    at = masked.argmax(axis=0)                                    # (B, H)
    return np.take_along_axis(masked, at[None], axis=0)[0], at


def pool_backward(pool, d_pooled, shape, mask, at):
    """The gradient of the top layer's steps (T, B, H) from that of the
    pooled (B, H): to the last step, spread evenly over the real steps, or to
    the step each maximum came from (as torch's max routes it)."""
    lengths = lengths_of(mask)
    d_top = np.zeros(shape, d_pooled.dtype)
    if pool == 'last':
        d_top[lengths - 1, np.arange(shape[1])] = d_pooled
    elif pool == 'mean':
        d_top[...] = mask.T[:, :, None] * (d_pooled / lengths[:, None].astype(d_pooled.dtype))
    else:
        np.put_along_axis(d_top, at[None], d_pooled[None], axis=0)
    return d_top


def lengths_of(mask):
    lengths = mask.sum(axis=1)
    if np.any(lengths < 1):
        raise ValueError('every sequence needs at least one step')
    return lengths


def _linear(inp, w, b):
    """inp (..., H) @ w.T + b, as one 2-D product."""
    out = np.matmul(inp.reshape(-1, inp.shape[-1]), w.T).reshape(*inp.shape[:-1], -1)
    out += b
    return out


def forward(params, spec, x, mask):
    """Logits (xent) or predictions (mse): (B, T, O) per step, (B, O) last step."""
    top, _, _ = run_layers(params, spec, x)
    out = _linear(_head_input(spec, top, mask), params['head.weight'], params['head.bias'])
    return np.swapaxes(out, 0, 1) if spec.head == 'per_step' else out


def step(params, spec, x, state=None):
    """Run x (B, T[, D]) from ``state``; return per-step outputs (B, T, O) and the new state.

    For generation: feed one step at a time and carry the state along.
    """
    top, _, finals = run_layers(params, spec, x, state)
    out = _linear(top, params['head.weight'], params['head.bias'])
    return np.swapaxes(out, 0, 1), finals


def longest_first(batch):
    """(batch with its rows sorted longest first, rows running at each step),
    or (batch, None) when every row runs every step or the mask is not
    left-aligned. A sum over rows does not depend on their order."""
    batch, active, _ = _longest_first(batch)
    return batch, active


def _longest_first(batch):
    """longest_first, and the order of the rows it took (None: as they were)."""
    mask = np.asarray(batch.mask, bool)
    T = mask.shape[1]
    lengths = mask.sum(axis=1)
    steps = np.arange(T)
    if lengths.min() == T or not np.array_equal(mask, steps < lengths[:, None]):
        return batch, None, None
    order = np.argsort(-lengths, kind='stable')
    active = (lengths[:, None] > steps).sum(axis=0).tolist()
    if np.all(order[1:] > order[:-1]):
        return batch, active, None
    return (Batch(np.asarray(batch.x)[order], mask[order], np.asarray(batch.y)[order]), active,
            order)


def loss_and_grads(params, spec, batch, sparse=False, state=None):
    """Sum of per-element losses over the batch and its gradient; ``sparse``:
    the gradient of the blocks looked up by id (ID_AXES) as Rows of the ids
    the batch holds, not a vocabulary-sized block.

    ``state``: per layer, the (h0,) or (h0, c0) rows each sequence starts from
    (zeros if None), a constant: no gradient flows into it, which is how a
    carried state is cut at the window boundary (docs/design.md §3.1). With a
    state, the result's ``state`` holds each row's state after its last real
    step (kernels/carry.py carries it to the row's next window).

    Padded steps cost no recurrent products: rows go longest first, and the
    layers skip the rows that have ended (cells.layer_forward)."""
    batch, active, order = _longest_first(batch)
    if state is not None and order is not None:
        state = [tuple(s[order] for s in layer) for layer in state]
    mask = np.asarray(batch.mask, bool)
    top, caches, finals = run_layers(params, spec, batch.x, state, active=active)  # (T, B, H)
    # read before the backward pass, which may write over the caches
    after = None if state is None else state_after(finals, caches, mask, order)
    w_out = params['head.weight']
    if spec.head == 'per_step':
        head_in, at = top, None
    else:
        head_in, at = pool_steps(spec.pool, top, mask)
    out = _linear(head_in, w_out, params['head.bias'])
    if spec.head == 'per_step':
        # time-major like the layers: (T, B) targets and mask
        target_mask, y = mask.T, np.swapaxes(np.asarray(batch.y), 0, 1)
    else:
        target_mask, y = np.ones(out.shape[0], bool), batch.y
    loss_fn = losses.cross_entropy_sum if spec.loss == 'xent' else losses.squared_error_sum
    loss_sum, count, d_out = loss_fn(out, y, target_mask)

    grads = {}
    # backprop through the linear head
    O, H = w_out.shape
    d_out2 = d_out.reshape(-1, O)
    grads['head.weight'] = d_out2.T @ head_in.reshape(-1, H)
    grads['head.bias'] = sum_rows(d_out2)
    d_head_in = (d_out2 @ w_out).reshape(*d_out.shape[:-1], H)      # (T, B, H) or (B, H)
    if spec.head == 'per_step':
        d_top = d_head_in                                         # (T, B, H)
    else:
        d_top = pool_backward(spec.pool, d_head_in, top.shape, mask, at)

    # backprop through the layers, top first
    cell = spec.cell
    for k in reversed(range(spec.layers)):
        dxp, grads[f'rnn.weight_hh_l{k}'], grads[f'rnn.bias_hh_l{k}'] = layer_backward(
            cell, d_top, caches[k], params[f'rnn.weight_hh_l{k}'])
        G, T, B, H = dxp.shape
        dxp3 = dxp.reshape(G, T * B, H)
        # b_ih and b_hh add to the same pre-activations, so their gradients are
        # the same sum, except GRU's b_hn, which sits inside the reset product
        db_ih = grads[f'rnn.bias_hh_l{k}'].copy()
        if cell == 'gru':
            db_ih[2 * H:] = sum_rows(dxp3[2])
        grads[f'rnn.bias_ih_l{k}'] = db_ih
        w_ih = params[f'rnn.weight_ih_l{k}']
        if k == 0 and spec.token_input and not spec.embed:
            rows = column_rows(cell, dxp3, batch)
            grads['rnn.weight_ih_l0'] = rows if sparse else rows.dense(w_ih.shape, axis=1)
            continue
        if k > 0:
            below = caches[k - 1].h
        elif spec.embed:
            below = np.take(params[EMBEDDING], _time_major(batch.x, spec, None), axis=0)
        else:
            below = _time_major(batch.x, spec, w_ih.dtype)
        below2 = below.reshape(T * B, -1)                          # (T*B, D)
        grads[f'rnn.weight_ih_l{k}'] = pytorch_rows(
            cell, np.matmul(dxp3.transpose(0, 2, 1), below2))      # (G, H, D)
        if k > 0 or spec.embed:
            w_g = gate_major(cell, w_ih)                           # (G, H, D)
            d_below = dxp3[0] @ w_g[0]
            for g in range(1, G):
                d_below += dxp3[g] @ w_g[g]
            d_top = d_below.reshape(T, B, -1)                      # (T, B, H) or (T, B, D)
    if spec.embed:
        rows = table_rows(d_top, batch)
        grads[EMBEDDING] = rows if sparse else rows.dense(params[EMBEDDING].shape)
    return LossAndGrads(float(loss_sum), int(count), grads, after)


def state_after(finals, caches, mask, order):
    """Each row's state after its last real step, in the rows' given order.
    A row that ended before the batch's last step ran on from stale products
    (cells.layer_forward), so its state is read from the caches at its own
    last step, not from ``finals``."""
    lengths = mask.sum(axis=1)
    short = np.flatnonzero(lengths < mask.shape[1])
    state = []
    for final, cache in zip(finals, caches):
        layer = [np.array(s) for s in final]
        if len(short):
            at = lengths[short]          # h_all[t]: the state entering step t, h0 first
            layer[0][short] = cache.h_all[at, short]
            if len(layer) > 1:
                layer[1][short] = cache.c_all[at, short]
        state.append(tuple(layer))
    if order is not None:
        inverse = np.argsort(order)
        state = [tuple(s[inverse] for s in layer) for layer in state]
    return state
