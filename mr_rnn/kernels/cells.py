"""One recurrent layer over a batch of sequences, forward and backward.

The equations are PyTorch's (torch.nn.RNN with tanh, torch.nn.LSTM,
torch.nn.GRU), and so are the parameters' layouts. Each cell takes the input
projection already computed for all time steps (``xp``, see input_affine),
because that product is one large matrix multiplication outside the time loop;
the loop only does the recurrent product with ``W_hh``. Backward returns the
gradient with respect to the input projection so the caller can form ``dW_ih``
and ``dx`` in one product per gate as well, and forms ``dW_hh`` itself in one
product per gate over all steps.

Layout: gate-major, (G, T, B, H). At step t, gate k's values are one
contiguous (B, H) block, so each element-wise operation on a gate, or on
several consecutive gates, runs over contiguous memory: numpy is 3-5x slower
on the strided column slices of a (B, G*H) row layout. Inside, the gates are
ordered so that the ones treated alike are consecutive (LSTM: o, i, f, g: the
sigmoid gates o, i, f, and i, f, g, the ones multiplied by dc in backward);
``gate_major`` and ``pytorch_rows`` convert weights and gradients between
PyTorch's row order and this one.

Inside the time loops every operation writes into a preallocated buffer
(``out=``), and whatever does not depend on the step before (activation
derivatives) is computed outside the loops, for all steps at once or (LSTM)
for a block of steps just before the loop reads it. Sigmoid is computed as
(tanh(a/2) + 1) / 2, with the halving folded into the weights, so that one
tanh call activates all of a step's gates.

Each cell is a forward, a backward whose docstring gives its derivative
equations, and the cache type that carries what backward needs; CELLS maps
a cell's name to its (forward, backward) for layer_forward and
layer_backward.

Shapes: T time steps, B batch, H hidden units, G gates, D inputs.
"""
from typing import NamedTuple

import numpy as np

GATES = {'rnn': 1, 'lstm': 4, 'gru': 3}
# internal gate k is PyTorch's gate ORDER[cell][k] (LSTM: PyTorch i, f, g, o)
ORDER = {'rnn': (0,), 'lstm': (3, 0, 1, 2), 'gru': (0, 1, 2)}
# pre-activations halved for the tanh form of sigmoid, per internal gate
HALVED = {'rnn': (1.0,), 'lstm': (0.5, 0.5, 0.5, 1.0), 'gru': (0.5, 0.5, 1.0)}
# Backward computes its all-steps factors for blocks of steps of about this
# many elements per array, (K, B, H), so that the loop reads them from cache:
# over all T steps at once they leave the cache when B H is large.
BLOCK_ELEMENTS = 32768


def _sigmoid_from_half(a):
    """In place: a holds a/2 on entry and sigmoid(a) on exit (tanh form)."""
    np.tanh(a, out=a)
    a *= 0.5
    a += 0.5


def gate_major(cell, w):
    """(G*H, ...) rows in PyTorch's gate order -> (G, H, ...) in the internal order."""
    G = GATES[cell]
    return w.reshape(G, w.shape[0] // G, *w.shape[1:])[list(ORDER[cell])]


def pytorch_rows(cell, g):
    """(G, H, ...) in the internal gate order -> (G*H, ...) rows in PyTorch's order."""
    out = np.empty_like(g)
    out[list(ORDER[cell])] = g
    return out.reshape(-1, *g.shape[2:])


def input_affine(cell, w_ih, b_ih, b_hh):
    """(W (G, D, H), b (G, H)) such that ``x @ W[k] + b[k]`` is what the loop
    wants as gate k's input projection ``xp[k]`` for inputs x (..., D): the
    input part of the pre-activation, with the biases that only add (all of
    b_hh but GRU's b_hn, which sits inside the reset product), halved for the
    sigmoid gates."""
    G = GATES[cell]
    half = np.asarray(HALVED[cell], w_ih.dtype)
    w = gate_major(cell, w_ih).transpose(0, 2, 1) * half[:, None, None]
    b_hh = gate_major(cell, b_hh)
    if cell == 'gru':
        b_hh = b_hh * np.array([1, 1, 0], b_hh.dtype)[:, None]
    b = (gate_major(cell, b_ih) + b_hh) * half[:, None]
    return np.ascontiguousarray(w), b.reshape(G, -1)


def _recurrent_weights(cell, w_hh):
    """(G, H_in, H_out): ``h @ w[k]`` is gate k's recurrent part, halved like xp."""
    half = np.asarray(HALVED[cell], w_hh.dtype)
    return np.ascontiguousarray(gate_major(cell, w_hh).transpose(0, 2, 1) * half[:, None, None])


# ── RNN: h_t = tanh(a_t), a_t = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh ──

class RNNCache(NamedTuple):
    """What rnn_backward needs from rnn_forward."""
    h: np.ndarray               # (T, B, H) h_t, leaving each step (written over xp)
    h0: np.ndarray              # (B, H) state entering step 0
    active: list                # rows running at each step (layer_forward)


def rnn_forward(xp, w_hh, b_hh, state, active):
    """xp (1, T, B, H) from input_affine (both biases in it); becomes h."""
    (h0,) = state
    _, T, B, H = xp.shape
    h_all = xp[0]                                                 # (T, B, H), in place
    w_t = _recurrent_weights('rnn', w_hh)[0]
    rec = np.zeros((B, H), xp.dtype)
    h = h0
    for t, n in enumerate(active):
        np.matmul(h[:n], w_t, out=rec[:n])
        h = h_all[t]
        h += rec
        np.tanh(h, out=h)
    return h_all, RNNCache(h_all, h0, active), (h_all[-1].copy(),)


def rnn_backward(dh_all, cache, w_hh):
    """dh_all (T, B, H) -> dxp (1, T, B, H), dW_hh, db_hh.

    With dh_t the gradient reaching h_t (from the layer above, and from step
    t+1 through W_hh):

        dh_t  = dh_all_t + da_{t+1} W_hh
        da_t  = dh_t (1 - h_t^2)                    tanh' = 1 - tanh^2
        dW_hh = sum_t da_t^T h_{t-1},   db_hh = sum_t da_t,   dxp_t = da_t
    """
    h = cache.h
    # the local derivatives, for all steps at once: 1 - h^2
    dxp = np.multiply(h, h)[None]
    np.subtract(1.0, dxp, out=dxp)
    dh_next = np.zeros(h.shape[1:], h.dtype)
    for t in reversed(range(h.shape[0])):
        n = cache.active[t]
        da = dxp[0, t]
        dh_next += dh_all[t]
        da *= dh_next
        np.matmul(da[:n], w_hh, out=dh_next[:n])
    dw = dxp[0, 0].T @ cache.h0
    if h.shape[0] > 1:
        dw += dxp[0, 1:].reshape(-1, h.shape[-1]).T @ h[:-1].reshape(-1, h.shape[-1])
    return dxp, dw, sum_rows(dxp[0].reshape(-1, h.shape[-1]))


# ── LSTM: i, f, o = sigmoid(a_i, a_f, a_o), g = tanh(a_g);
#          c_t = f c_{t-1} + i g;  h_t = o tanh(c_t) ──

class LSTMCache(NamedTuple):
    """What lstm_backward needs from lstm_forward."""
    h: np.ndarray               # (T, B, H) h_t, leaving each step: h_all[1:]
    h_all: np.ndarray           # (T+1, B, H) hidden state entering step t, h0 first
    gates: np.ndarray           # (4, T, B, H) activated o, i, f, g (written over xp)
    c_all: np.ndarray           # (T+1, B, H) cell state entering step t, c0 first
    tanh_c: np.ndarray          # (T, B, H) tanh(c_t)
    active: list                # rows running at each step (layer_forward)


def lstm_forward(xp, w_hh, b_hh, state, active):
    """xp (4, T, B, H) from input_affine (b_hh already in it); becomes the gates."""
    h0, c0 = state
    _, T, B, H = xp.shape
    w_t = _recurrent_weights('lstm', w_hh)                        # (4, H, H)
    gates = xp
    c_all = np.empty((T + 1, B, H), xp.dtype)                     # c_all[t] enters step t
    c_all[0] = c0
    tanh_c = np.empty((T, B, H), xp.dtype)
    h_all = np.empty((T + 1, B, H), xp.dtype)                     # h_all[t] enters step t
    h_all[0] = h0
    rec = np.zeros((4, B, H), xp.dtype)
    ig = np.empty((B, H), xp.dtype)
    for t, n in enumerate(active):
        a = gates[:, t]                                           # (4, B, H): o, i, f, g
        np.matmul(h_all[t, :n], w_t, out=rec[:, :n])
        a += rec
        np.tanh(a, out=a)
        sig = a[:3]
        sig *= 0.5
        sig += 0.5
        o, i, f, g = a
        c = np.multiply(f, c_all[t], out=c_all[t + 1])
        np.multiply(i, g, out=ig)
        c += ig
        np.tanh(c, out=tanh_c[t])
        np.multiply(o, tanh_c[t], out=h_all[t + 1])
    return (h_all[1:], LSTMCache(h_all[1:], h_all, gates, c_all, tanh_c, active),
            (h_all[T].copy(), c_all[T].copy()))


def lstm_backward(dh_all, cache, w_hh):
    """dh_all (T, B, H) -> dxp (4, T, B, H), dW_hh, db_hh. dxp is written over
    the cache's gates, which are read for the last time here.

    With dh_t and dc_t the gradients reaching h_t and c_t:

        dh_t  = dh_all_t + sum_k da_{k,t+1} W_hh,k
        dc_t  = dh_t o (1 - tanh(c_t)^2) + dc_{t+1} f_{t+1}
        da_o  = dh_t tanh(c_t) o (1 - o)            sigmoid' = s (1 - s)
        da_i  = dc_t g i (1 - i)
        da_f  = dc_t c_{t-1} f (1 - f)
        da_g  = dc_t i (1 - g^2)                    tanh' = 1 - tanh^2
        dW_hh = sum_t da_t^T h_{t-1},   db_hh = sum_t da_t,   dxp_t = da_t

    The factors that do not depend on dh or dc (everything right of dh_t or
    dc_t above) are computed for a block of steps at once, just before the
    loop reads them.
    """
    gates, c_all, tanh_c, h_all = cache.gates, cache.c_all, cache.tanh_c, cache.h_all
    _, T, B, H = gates.shape
    f = gates[2]
    w = gate_major('lstm', w_hh)                         # (4, H_out, H_in)
    K = min(T, max(1, BLOCK_ELEMENTS // (B * H)))
    factor = np.empty((4, K, B, H), gates.dtype)
    dc_dh = np.empty((K, B, H), gates.dtype)
    dh = np.empty((B, H), gates.dtype)
    dc = np.empty((B, H), gates.dtype)
    dh_next = np.zeros((B, H), gates.dtype)
    dc_next = np.zeros((B, H), gates.dtype)
    back = np.empty((4, B, H), gates.dtype)
    for t1 in range(T, 0, -K):
        t0 = max(0, t1 - K)
        a, d, q = gates[:, t0:t1], factor[:, :t1 - t0], dc_dh[:t1 - t0]
        # da_o = dh * d[0],  da_{i,f,g} = dc * d[1:]
        np.subtract(1.0, a[:3], out=d[:3])
        d[:3] *= a[:3]                                   # s (1 - s) for o, i, f
        np.multiply(a[3], a[3], out=d[3])
        np.subtract(1.0, d[3], out=d[3])                 # 1 - g^2
        d[0] *= tanh_c[t0:t1]
        d[1] *= a[3]
        d[2] *= c_all[t0:t1]
        d[3] *= a[1]
        # dc from dh: o (1 - tanh(c)^2)
        np.multiply(tanh_c[t0:t1], tanh_c[t0:t1], out=q)
        np.subtract(1.0, q, out=q)
        q *= a[0]
        for t in reversed(range(t0, t1)):
            k = t - t0
            np.add(dh_all[t], dh_next, out=dh)
            np.multiply(dh, q[k], out=dc)
            dc += dc_next
            np.multiply(dc, f[t], out=dc_next)
            # into the gates' place (f[t] is read above, for the last time)
            da = gates[:, t]
            np.multiply(d[1:, k], dc, out=da[1:])
            np.multiply(d[0, k], dh, out=da[0])
            n = cache.active[t]
            np.matmul(da[:, :n], w, out=back[:, :n])
            np.add.reduce(back[:, :n], axis=0, out=dh_next[:n])
    return (gates, *_recurrent_weight_grads('lstm', gates, h_all[:-1]))


# ── GRU: r, z = sigmoid(a_r, a_z);  n = tanh(a_n + r (h_{t-1} W_hn^T + b_hn));
#         h_t = (1 - z) n + z h_{t-1}   (a_n: the input part, x W_in^T + b_in) ──

class GRUCache(NamedTuple):
    """What gru_backward needs from gru_forward."""
    h: np.ndarray               # (T, B, H) h_t, leaving each step: h_all[1:]
    h_all: np.ndarray           # (T+1, B, H) hidden state entering step t, h0 first
    gates: np.ndarray           # (3, T, B, H) activated r, z, n (written over xp)
    hn: np.ndarray              # (T, B, H) h_{t-1} W_hn^T + b_hn
    active: list                # rows running at each step (layer_forward)


def gru_forward(xp, w_hh, b_hh, state, active):
    """xp (3, T, B, H) from input_affine (b_hr, b_hz in it); becomes the gates."""
    (h0,) = state
    _, T, B, H = xp.shape
    w_t = _recurrent_weights('gru', w_hh)                         # (3, H, H)
    b_hn = b_hh[2 * H:]
    gates = xp
    hn = np.empty((T, B, H), xp.dtype)                            # W_hn h + b_hn
    h_all = np.empty((T + 1, B, H), xp.dtype)                     # h_all[t] enters step t
    h_all[0] = h0
    rec = np.zeros((3, B, H), xp.dtype)
    tmp = np.empty((B, H), xp.dtype)
    for t, rows in enumerate(active):
        a = gates[:, t]                                           # (3, B, H): r, z, n
        h = h_all[t]
        np.matmul(h[:rows], w_t, out=rec[:, :rows])
        rz = a[:2]
        rz += rec[:2]
        _sigmoid_from_half(rz)
        r, z, n = a
        # PyTorch keeps b_hn inside the reset product
        np.add(rec[2], b_hn, out=hn[t])
        np.multiply(r, hn[t], out=tmp)
        n += tmp
        np.tanh(n, out=n)
        # h = n + z (h_prev - n)
        np.subtract(h, n, out=tmp)
        tmp *= z
        np.add(n, tmp, out=h_all[t + 1])
    return h_all[1:], GRUCache(h_all[1:], h_all, gates, hn, active), (h_all[T].copy(),)


def gru_backward(dh_all, cache, w_hh):
    """dh_all (T, B, H) -> dxp (3, T, B, H), dW_hh, db_hh.

    With dh_t the gradient reaching h_t, and dhh_t the gradient of the
    recurrent part h_{t-1} W_hh^T + b_hh of step t's pre-activations:

        dh_t  = dh_all_t + sum_k dhh_{k,t+1} W_hh,k + dh_{t+1} z_{t+1}
        da_n  = dh_t (1 - z)(1 - n^2)
        da_z  = dh_t (h_{t-1} - n) z (1 - z)
        da_r  = da_n (h_{t-1} W_hn^T + b_hn) r (1 - r)
        dhh   = (da_r, da_z, da_n r)                the reset gate scales W_hn's part
        dW_hh = sum_t dhh_t^T h_{t-1},   db_hh = sum_t dhh_t,   dxp_t = (da_r, da_z, da_n)

    The factors that do not depend on dh (right of dh_t, or of da_n, above)
    are computed for all steps at once, before the loop.
    """
    gates, hn, h_all = cache.gates, cache.hn, cache.h_all
    _, T, B, H = gates.shape
    r, z, n = gates
    k_n = np.multiply(n, n)
    np.subtract(1.0, k_n, out=k_n)
    k_n *= 1.0 - z
    k_z = np.subtract(h_all[:-1], n)
    k_z *= z
    k_z *= 1.0 - z
    k_r = np.subtract(1.0, r)
    k_r *= r
    k_r *= hn
    w = gate_major('gru', w_hh)                          # (3, H_out, H_in)
    dxp = np.empty((3, T, B, H), gates.dtype)
    dhh = np.empty((3, T, B, H), gates.dtype)
    dh = np.empty((B, H), gates.dtype)
    dh_z = np.empty((B, H), gates.dtype)
    dh_next = np.zeros((B, H), gates.dtype)
    back = np.empty((3, B, H), gates.dtype)
    for t in reversed(range(T)):
        np.add(dh_all[t], dh_next, out=dh)
        dan = np.multiply(dh, k_n[t], out=dxp[2, t])
        np.multiply(dh, k_z[t], out=dxp[1, t])
        np.multiply(dan, k_r[t], out=dxp[0, t])
        dhh[:2, t] = dxp[:2, t]
        np.multiply(dan, r[t], out=dhh[2, t])
        np.multiply(dh, z[t], out=dh_z)
        rows = cache.active[t]
        np.matmul(dhh[:, t, :rows], w, out=back[:, :rows])
        np.add.reduce(back[:, :rows], axis=0, out=dh_next[:rows])
        dh_next += dh_z
    return (dxp, *_recurrent_weight_grads('gru', dhh, h_all[:-1]))


# one table for both directions: cell -> (forward, backward)
CELLS = {'rnn': (rnn_forward, rnn_backward), 'lstm': (lstm_forward, lstm_backward),
         'gru': (gru_forward, gru_backward)}


def _cell(cell):
    try:
        return CELLS[cell]
    except KeyError:
        raise ValueError(f'unknown cell {cell!r}: choose rnn, lstm or gru') from None


def _recurrent_weight_grads(cell, da, h_prev):
    """dW_hh = sum over steps of da_t^T h_{t-1}: one product per gate over all
    steps. da (G, T, B, H), h_prev (T, B, H) -> PyTorch-shaped dW_hh, db_hh."""
    G, T, B, H = da.shape
    da3 = da.reshape(G, T * B, H)
    dw = np.matmul(da3.transpose(0, 2, 1), h_prev.reshape(T * B, H))   # (G, H, H)
    return pytorch_rows(cell, dw), pytorch_rows(cell, sum_rows(da3))


def sum_rows(a):
    """a (..., N, K) summed over N, as one matrix-vector product per leading
    index: about 3x faster than numpy's sum over a middle axis, and no less
    exact (BLAS adds in blocks too)."""
    return np.matmul(np.ones(a.shape[-2], a.dtype), a)


def layer_forward(cell, xp, w_hh, b_hh, state=None, active=None):
    """Run one layer on xp (G, T, B, H) from input_affine (overwritten);
    ``state`` is a tuple (h0,) or (h0, c0), zeros if None.

    ``active`` (T ints, not increasing), if given: at step t only rows
    ``:active[t]`` are real steps (rows sorted longest first). The recurrent
    products then skip the others; their states run on from a stale product,
    finite but meaningless, and their gradients in backward are exactly zero
    provided the gradient arriving there is (a masked loss makes it so).
    From a zero state no row needs step 0's product (h0 W_hh^T = 0, and
    backward's product at step 0 would only be the unused gradient of h0).

    Returns (h_all (T, B, H), cache, final state tuple).
    """
    forward, _ = _cell(cell)
    T, B, H = xp.shape[1], xp.shape[2], w_hh.shape[1]
    active = [B] * T if active is None else list(active)
    if state is None:
        state = tuple(np.zeros((B, H), xp.dtype) for _ in range(2 if cell == 'lstm' else 1))
        active[0] = 0               # the stale product of step 0 is the buffer's zeros
    state = tuple(np.asarray(s, xp.dtype) for s in state)
    return forward(xp, w_hh, b_hh, state, active)


def layer_backward(cell, dh_all, cache, w_hh):
    """dh_all (T, B, H) -> (dxp (G, T, B, H) internal gate order, the gradient
    w.r.t. x W_ih^T + b_ih; dW_hh (G*H, H), db_hh (G*H,) in PyTorch's order).
    ``cache`` is layer_forward's; backward may write over it."""
    _, backward = _cell(cell)
    return backward(dh_all, cache, w_hh)
