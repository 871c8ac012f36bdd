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
(``out=``), and whatever can be computed for all steps at once (activation
derivatives) is, outside the loops. Sigmoid is computed as
(tanh(a/2) + 1) / 2, with the halving folded into the weights, so that one
tanh call activates all of a step's gates.

Shapes: T time steps, B batch, H hidden units, G gates, D inputs.
"""
from dataclasses import dataclass

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


def sigmoid(a):
    # tanh form: no overflow warning for large negative a, same value
    return 0.5 * (np.tanh(0.5 * a) + 1.0)


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


@dataclass
class LayerCache:
    """What backward needs from forward, for one layer."""
    h0: np.ndarray              # (B, H) hidden state entering step 0
    h: np.ndarray               # (T, B, H) hidden state leaving each step
    acts: np.ndarray            # (G, T, B, H) activated gates (cell-specific)
    extra: tuple = ()           # LSTM: (c (T+1, B, H) with c0 first, tanh c (T, B, H));
                                # GRU: (h (T+1, B, H) with h0 first, W_hn h + b_hn (T, B, H))
    active: list = None         # rows running at each step (see layer_forward)


# ── RNN: h = tanh(xp + h_prev W_hh^T), xp holding both biases ──

def rnn_forward(xp, w_hh, b_hh, h0, active):
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
    return h_all, LayerCache(h0, h_all, xp, active=active), (h_all[-1].copy(),)


def rnn_backward(dh_all, cache, w_hh):
    """dh_all (T, B, H) -> dxp (1, T, B, H), dW_hh, db_hh."""
    h = cache.h
    # backprop through tanh, for all steps at once: 1 - h^2
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


# ── LSTM: gates i, f, g, o; c = f c_prev + i g; h = o tanh(c) ──

def lstm_forward(xp, w_hh, b_hh, h0, c0, active):
    """xp (4, T, B, H) from input_affine (b_hh already in it); becomes the activations."""
    _, T, B, H = xp.shape
    w_t = _recurrent_weights('lstm', w_hh)                        # (4, H, H)
    acts = xp
    c_all = np.empty((T + 1, B, H), xp.dtype)                     # c_all[t] enters step t
    c_all[0] = c0
    tanh_c = np.empty((T, B, H), xp.dtype)
    h_all = np.empty((T + 1, B, H), xp.dtype)                     # h_all[t] enters step t
    h_all[0] = h0
    rec = np.zeros((4, B, H), xp.dtype)
    ig = np.empty((B, H), xp.dtype)
    for t, n in enumerate(active):
        a = acts[:, t]                                            # (4, B, H): o, i, f, g
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
    return (h_all[1:], LayerCache(h0, h_all[1:], acts, (c_all, tanh_c, h_all), active),
            (h_all[T].copy(), c_all[T].copy()))


def lstm_backward(dh_all, cache, w_hh):
    """dh_all (T, B, H) -> dxp (4, T, B, H), dW_hh, db_hh. dxp is written over
    the cache's activations, which are read for the last time here."""
    acts, (c_all, tanh_c, h_all) = cache.acts, cache.extra
    _, T, B, H = acts.shape
    f = acts[2]
    w = gate_major('lstm', w_hh)                         # (4, H_out, H_in)
    K = min(T, max(1, BLOCK_ELEMENTS // (B * H)))
    factor = np.empty((4, K, B, H), acts.dtype)
    dc_dh = np.empty((K, B, H), acts.dtype)
    dh = np.empty((B, H), acts.dtype)
    dc = np.empty((B, H), acts.dtype)
    dh_next = np.zeros((B, H), acts.dtype)
    dc_next = np.zeros((B, H), acts.dtype)
    back = np.empty((4, B, H), acts.dtype)
    for t1 in range(T, 0, -K):
        t0 = max(0, t1 - K)
        a, d, q = acts[:, t0:t1], factor[:, :t1 - t0], dc_dh[:t1 - t0]
        # for the block's steps at once: the local derivative of each gate's
        # pre-activation, times what multiplies it in the forward pass, so that
        # in the loop  da_o = dh * d[0],  da_{i,f,g} = dc * d[1:]
        np.subtract(1.0, a[:3], out=d[:3])
        d[:3] *= a[:3]                                   # sigmoid' = s (1 - s)
        np.multiply(a[3], a[3], out=d[3])
        np.subtract(1.0, d[3], out=d[3])                 # tanh' = 1 - g^2
        d[0] *= tanh_c[t0:t1]                            # h = o tanh(c)
        d[1] *= a[3]                                     # c = f c_prev + i g
        d[2] *= c_all[t0:t1]
        d[3] *= a[1]
        # dc from dh: o (1 - tanh(c)^2)
        np.multiply(tanh_c[t0:t1], tanh_c[t0:t1], out=q)
        np.subtract(1.0, q, out=q)
        q *= a[0]
        for t in reversed(range(t0, t1)):
            k = t - t0
            np.add(dh_all[t], dh_next, out=dh)
            # backprop through h = o tanh(c) into c
            np.multiply(dh, q[k], out=dc)
            dc += dc_next
            np.multiply(dc, f[t], out=dc_next)
            # backprop through c = f c_prev + i g and the gate activations,
            # into the activations' place (f[t] is read above, for the last time)
            da = acts[:, t]
            np.multiply(d[1:, k], dc, out=da[1:])
            np.multiply(d[0, k], dh, out=da[0])
            n = cache.active[t]
            np.matmul(da[:, :n], w, out=back[:, :n])
            np.add.reduce(back[:, :n], axis=0, out=dh_next[:n])
    return (acts, *_recurrent_weight_grads('lstm', acts, h_all[:-1]))


# ── GRU: gates r, z, n; n = tanh(W_in x + b_in + r (W_hn h + b_hn)); h = (1 - z) n + z h_prev ──

def gru_forward(xp, w_hh, b_hh, h0, active):
    """xp (3, T, B, H) from input_affine (b_hr, b_hz in it); becomes the activations."""
    _, T, B, H = xp.shape
    w_t = _recurrent_weights('gru', w_hh)                         # (3, H, H)
    b_hn = b_hh[2 * H:]
    acts = xp
    hn = np.empty((T, B, H), xp.dtype)                            # W_hn h + b_hn
    h_all = np.empty((T + 1, B, H), xp.dtype)                     # h_all[t] enters step t
    h_all[0] = h0
    rec = np.zeros((3, B, H), xp.dtype)
    tmp = np.empty((B, H), xp.dtype)
    for t, rows in enumerate(active):
        a = acts[:, t]                                            # (3, B, H): r, z, n
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
    return h_all[1:], LayerCache(h0, h_all[1:], acts, (h_all, hn), active), (h_all[T].copy(),)


def gru_backward(dh_all, cache, w_hh):
    """dh_all (T, B, H) -> dxp (3, T, B, H), dW_hh, db_hh."""
    acts, (h_all, hn) = cache.acts, cache.extra
    _, T, B, H = acts.shape
    r, z, n = acts
    # for all steps at once, the factors that turn dh into each pre-activation's gradient:
    #   da_n = dh (1 - z)(1 - n^2)
    #   da_z = dh (h_prev - n) z (1 - z)
    #   da_r = da_n (W_hn h + b_hn) r (1 - r)
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
    dxp = np.empty((3, T, B, H), acts.dtype)
    dhh = np.empty((3, T, B, H), acts.dtype)             # gradient w.r.t. W_hh h + b_hh
    dh = np.empty((B, H), acts.dtype)
    dh_z = np.empty((B, H), acts.dtype)
    dh_next = np.zeros((B, H), acts.dtype)
    back = np.empty((3, B, H), acts.dtype)
    for t in reversed(range(T)):
        np.add(dh_all[t], dh_next, out=dh)
        dan = np.multiply(dh, k_n[t], out=dxp[2, t])
        np.multiply(dh, k_z[t], out=dxp[1, t])
        np.multiply(dan, k_r[t], out=dxp[0, t])
        # the recurrent product sees r * (W_hn h + b_hn): da_n times r
        dhh[:2, t] = dxp[:2, t]
        np.multiply(dan, r[t], out=dhh[2, t])
        # h = (1 - z) n + z h_prev, plus the path through W_hh
        np.multiply(dh, z[t], out=dh_z)
        rows = cache.active[t]
        np.matmul(dhh[:, t, :rows], w, out=back[:, :rows])
        np.add.reduce(back[:, :rows], axis=0, out=dh_next[:rows])
        dh_next += dh_z
    return (dxp, *_recurrent_weight_grads('gru', dhh, h_all[:-1]))


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
    T, B, H = xp.shape[1], xp.shape[2], w_hh.shape[1]
    active = [B] * T if active is None else list(active)
    if state is None:
        state = tuple(np.zeros((B, H), xp.dtype) for _ in range(2 if cell == 'lstm' else 1))
        active[0] = 0               # the stale product of step 0 is the buffer's zeros
    state = tuple(np.asarray(s, xp.dtype) for s in state)
    if cell == 'rnn':
        return rnn_forward(xp, w_hh, b_hh, *state, active)
    if cell == 'lstm':
        return lstm_forward(xp, w_hh, b_hh, *state, active)
    if cell == 'gru':
        return gru_forward(xp, w_hh, b_hh, *state, active)
    raise ValueError(f'unknown cell {cell!r}: choose rnn, lstm or gru')


def layer_backward(cell, dh_all, cache, w_hh):
    """dh_all (T, B, H) -> (dxp (G, T, B, H) internal gate order, the gradient
    w.r.t. x W_ih^T + b_ih; dW_hh (G*H, H), db_hh (G*H,) in PyTorch's order)."""
    backward = {'rnn': rnn_backward, 'lstm': lstm_backward, 'gru': gru_backward}[cell]
    return backward(dh_all, cache, w_hh)
