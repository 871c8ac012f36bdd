"""One recurrent layer over a batch of sequences, forward and backward.

The equations are PyTorch's (torch.nn.RNN with tanh, torch.nn.LSTM,
torch.nn.GRU). Each cell takes the input projection already computed for all
time steps, ``xp = x @ W_ih.T + b_ih`` of shape (T, B, G*H), because that
product is one large matrix multiplication outside the time loop; the loop
only does the recurrent product with ``W_hh``. Backward returns the gradient
with respect to ``xp`` so the caller can form ``dW_ih`` and ``dx`` in one
product as well, and forms ``dW_hh`` itself in one product over all steps.

Arrays are time-major, (T, B, ...), so that every step works on contiguous
(B, ...) slices. Inside the time loops every operation writes into a
preallocated buffer (``out=``), and whatever can be computed for all steps
at once (bias additions, activation derivatives) is, outside the loops.

Shapes: T time steps, B batch, H hidden units, G gates.
"""
from dataclasses import dataclass

import numpy as np

GATES = {'rnn': 1, 'lstm': 4, 'gru': 3}


def sigmoid(a):
    # tanh form: no overflow warning for large negative a, same value
    return 0.5 * (np.tanh(0.5 * a) + 1.0)


def _sigmoid_from_half(a):
    """In place: a holds a/2 on entry and sigmoid(a) on exit (tanh form)."""
    np.tanh(a, out=a)
    a *= 0.5
    a += 0.5


@dataclass
class LayerCache:
    """What backward needs from forward, for one layer."""
    h0: np.ndarray              # (B, H) hidden state entering step 0
    h: np.ndarray               # (T, B, H) hidden state leaving each step
    acts: np.ndarray            # (T, B, G*H) activated gates (cell-specific)
    extra: tuple = ()           # LSTM: (c0, c (T, B, H), tanh c); GRU: (W_h h + b_hh (T, B, 3H),)


# ── RNN: h = tanh(xp + h_prev W_hh^T + b_hh) ──

def rnn_forward(xp, w_hh, b_hh, h0):
    T, B, H = xp.shape
    h_all = np.add(xp, b_hh)                                     # (T, B, H)
    w_t = np.ascontiguousarray(w_hh.T)
    rec = np.empty((B, H), xp.dtype)
    h = h0
    for t in range(T):
        np.matmul(h, w_t, out=rec)
        h = h_all[t]
        h += rec
        np.tanh(h, out=h)
    return h_all, LayerCache(h0, h_all, h_all), (h_all[-1].copy(),)


def rnn_backward(dh_all, cache, w_hh):
    """dh_all (T, B, H) -> dxp (T, B, H), dW_hh, db_hh."""
    h = cache.h
    # backprop through tanh, for all steps at once: 1 - h^2
    dxp = np.multiply(h, h)
    np.subtract(1.0, dxp, out=dxp)
    dh_next = np.zeros(h.shape[1:], h.dtype)
    for t in reversed(range(h.shape[0])):
        da = dxp[t]
        dh_next += dh_all[t]
        da *= dh_next
        np.matmul(da, w_hh, out=dh_next)
    return dxp, *_recurrent_weight_grads(dxp, cache)


# ── LSTM: gates i, f, g, o; c = f c_prev + i g; h = o tanh(c) ──

def lstm_forward(xp, w_hh, b_hh, h0, c0):
    T, B, G = xp.shape
    H = G // 4
    # sigmoid(a) = (tanh(a/2) + 1) / 2: halve the i, f, o pre-activations up front
    # so that one tanh call per step activates all four gates
    scale = np.ones(G, xp.dtype)
    scale[:2 * H] = scale[3 * H:] = 0.5
    w_t = np.multiply(w_hh.T, scale, order='C')                   # (H, 4H)
    acts = np.add(xp, b_hh)
    acts *= scale                                                 # (T, B, 4H)
    c_all = np.empty((T, B, H), xp.dtype)
    tanh_c = np.empty((T, B, H), xp.dtype)
    h_all = np.empty((T, B, H), xp.dtype)
    rec = np.empty((B, G), xp.dtype)
    ig = np.empty((B, H), xp.dtype)
    h, c = h0, c0
    for t in range(T):
        a = acts[t]
        np.matmul(h, w_t, out=rec)
        a += rec
        np.tanh(a, out=a)
        sig_if, sig_o = a[:, :2 * H], a[:, 3 * H:]
        sig_if *= 0.5
        sig_if += 0.5
        sig_o *= 0.5
        sig_o += 0.5
        i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
        np.multiply(f, c, out=c_all[t])
        np.multiply(i, g, out=ig)
        c = c_all[t]
        c += ig
        np.tanh(c, out=tanh_c[t])
        h = np.multiply(o, tanh_c[t], out=h_all[t])
    return h_all, LayerCache(h0, h_all, acts, (c0, c_all, tanh_c)), (h.copy(), c.copy())


def lstm_backward(dh_all, cache, w_hh):
    """dh_all (T, B, H) -> dxp (T, B, 4H), dW_hh, db_hh."""
    acts, (c0, c_all, tanh_c) = cache.acts, cache.extra
    T, B, G = acts.shape
    H = G // 4
    i, f, g, o = acts[..., :H], acts[..., H:2 * H], acts[..., 2 * H:3 * H], acts[..., 3 * H:]
    # for all steps at once: the local derivative of each gate's pre-activation,
    # times what multiplies it in the forward pass, so that in the loop
    #   da_{i,f,g} = dc * dxp[:, :3H],  da_o = dh * dxp[:, 3H:]
    dxp = np.subtract(1.0, acts)
    dxp *= acts                                          # sigmoid' = s (1 - s)
    np.multiply(g, g, out=dxp[..., 2 * H:3 * H])
    np.subtract(1.0, dxp[..., 2 * H:3 * H], out=dxp[..., 2 * H:3 * H])   # tanh' = 1 - g^2
    dxp[..., :H] *= g                                    # c = f c_prev + i g
    dxp[1:, :, H:2 * H] *= c_all[:-1]
    dxp[0, :, H:2 * H] *= c0
    dxp[..., 2 * H:3 * H] *= i
    dxp[..., 3 * H:] *= tanh_c                           # h = o tanh(c)
    # dc from dh: o (1 - tanh(c)^2)
    dc_dh = np.multiply(tanh_c, tanh_c)
    np.subtract(1.0, dc_dh, out=dc_dh)
    dc_dh *= o
    dh = np.empty((B, H), acts.dtype)
    dc = np.empty((B, H), acts.dtype)
    dh_next = np.zeros((B, H), acts.dtype)
    dc_next = np.zeros((B, H), acts.dtype)
    for t in reversed(range(T)):
        np.add(dh_all[t], dh_next, out=dh)
        # backprop through h = o tanh(c) into c
        np.multiply(dh, dc_dh[t], out=dc)
        dc += dc_next
        # backprop through c = f c_prev + i g and the gate activations
        da = dxp[t]
        da.reshape(B, 4, H)[:, :3] *= dc[:, None, :]
        da[:, 3 * H:] *= dh
        np.multiply(dc, f[t], out=dc_next)
        np.matmul(da, w_hh, out=dh_next)
    return dxp, *_recurrent_weight_grads(dxp, cache)


# ── GRU: gates r, z, n; n = tanh(W_in x + b_in + r (W_hn h + b_hn)); h = (1 - z) n + z h_prev ──

def gru_forward(xp, w_hh, b_hh, h0):
    T, B, G = xp.shape
    H = G // 3
    # halve the r, z pre-activations up front: sigmoid(a) = (tanh(a/2) + 1) / 2
    scale = np.ones(G, xp.dtype)
    scale[:2 * H] = 0.5
    w_t = np.multiply(w_hh.T, scale, order='C')                   # (H, 3H)
    b_s = b_hh * scale
    x_rz = xp[..., :2 * H] * 0.5                                  # (T, B, 2H)
    acts = np.empty((T, B, G), xp.dtype)
    hh = np.empty((T, B, G), xp.dtype)                             # (W_hh h + b_hh), r, z halved
    h_all = np.empty((T, B, H), xp.dtype)
    tmp = np.empty((B, H), xp.dtype)
    h = h0
    for t in range(T):
        a, rec = acts[t], hh[t]
        np.matmul(h, w_t, out=rec)
        rec += b_s
        rz = np.add(x_rz[t], rec[:, :2 * H], out=a[:, :2 * H])
        _sigmoid_from_half(rz)
        r, z = a[:, :H], a[:, H:2 * H]
        # PyTorch keeps b_hn inside the reset product
        n = np.multiply(r, rec[:, 2 * H:], out=a[:, 2 * H:])
        n += xp[t, :, 2 * H:]
        np.tanh(n, out=n)
        # h = n + z (h_prev - n)
        np.subtract(h, n, out=tmp)
        tmp *= z
        h = np.add(n, tmp, out=h_all[t])
    hn = hh[..., 2 * H:]
    return h_all, LayerCache(h0, h_all, acts, (hn,)), (h.copy(),)


def gru_backward(dh_all, cache, w_hh):
    """dh_all (T, B, H) -> dxp (T, B, 3H), dW_hh, db_hh."""
    acts, (hn,) = cache.acts, cache.extra
    T, B, G = acts.shape
    H = G // 3
    r, z, n = acts[..., :H], acts[..., H:2 * H], acts[..., 2 * H:]
    # for all steps at once, the factors that turn dh into each pre-activation's gradient:
    #   da_n = dh (1 - z)(1 - n^2)
    #   da_z = dh (h_prev - n) z (1 - z)
    #   da_r = da_n (W_hn h + b_hn) r (1 - r)
    k_n = np.multiply(n, n)
    np.subtract(1.0, k_n, out=k_n)
    k_n *= 1.0 - z
    k_z = np.empty((T, B, H), acts.dtype)
    k_z[0] = cache.h0
    k_z[1:] = cache.h[:-1]
    k_z -= n
    k_z *= z
    k_z *= 1.0 - z
    k_r = np.subtract(1.0, r)
    k_r *= r
    k_r *= hn
    dxp = np.empty((T, B, G), acts.dtype)
    dhh = np.empty((T, B, G), acts.dtype)           # gradient w.r.t. W_hh h + b_hh
    dh = np.empty((B, H), acts.dtype)
    dh_z = np.empty((B, H), acts.dtype)
    dh_next = np.zeros((B, H), acts.dtype)
    for t in reversed(range(T)):
        np.add(dh_all[t], dh_next, out=dh)
        dan = np.multiply(dh, k_n[t], out=dxp[t, :, 2 * H:])
        np.multiply(dh, k_z[t], out=dxp[t, :, H:2 * H])
        np.multiply(dan, k_r[t], out=dxp[t, :, :H])
        # the recurrent product sees r * (W_hn h + b_hn): da_n times r
        dhh[t, :, :2 * H] = dxp[t, :, :2 * H]
        np.multiply(dan, r[t], out=dhh[t, :, 2 * H:])
        # h = (1 - z) n + z h_prev, plus the path through W_hh
        np.multiply(dh, z[t], out=dh_z)
        np.matmul(dhh[t], w_hh, out=dh_next)
        dh_next += dh_z
    return dxp, *_recurrent_weight_grads(dhh, cache)


def _recurrent_weight_grads(da, cache):
    """dW_hh = sum_t da_t^T h_{t-1}: one product over all time steps."""
    T, B, G = da.shape
    h, H = cache.h, cache.h.shape[-1]
    dw = da[0].T @ cache.h0
    if T > 1:
        dw += da[1:].reshape(-1, G).T @ h[:-1].reshape(-1, H)
    return dw, da.reshape(-1, G).sum(axis=0)


def layer_forward(cell, xp, w_hh, b_hh, state=None):
    """Run one layer on xp (T, B, G*H); ``state`` is a tuple (h0,) or (h0, c0),
    zeros if None.

    Returns (h_all (T, B, H), cache, final state tuple).
    """
    B, H = xp.shape[1], w_hh.shape[1]
    if state is None:
        state = tuple(np.zeros((B, H), xp.dtype) for _ in range(2 if cell == 'lstm' else 1))
    state = tuple(np.asarray(s, xp.dtype) for s in state)
    if cell == 'rnn':
        return rnn_forward(xp, w_hh, b_hh, *state)
    if cell == 'lstm':
        return lstm_forward(xp, w_hh, b_hh, *state)
    if cell == 'gru':
        return gru_forward(xp, w_hh, b_hh, *state)
    raise ValueError(f'unknown cell {cell!r}: choose rnn, lstm or gru')


def layer_backward(cell, dh_all, cache, w_hh):
    """dh_all (T, B, H) -> (dxp (T, B, G*H), dW_hh (G*H, H), db_hh (G*H,))."""
    backward = {'rnn': rnn_backward, 'lstm': lstm_backward, 'gru': gru_backward}[cell]
    return backward(dh_all, cache, w_hh)
