"""One recurrent layer over a batch of sequences, forward and backward.

The equations are PyTorch's (torch.nn.RNN with tanh, torch.nn.LSTM,
torch.nn.GRU). Each cell takes the input projection already computed for all
time steps, ``xp = x @ W_ih.T + b_ih`` of shape (B, T, G*H), because that
product is one large matrix multiplication outside the time loop; the loop
only does the recurrent product with ``W_hh``. Backward returns the gradient
with respect to ``xp`` so the caller can form ``dW_ih`` and ``dx`` in one
product as well.

Shapes: B batch, T time steps, H hidden units, G gates.
"""
from dataclasses import dataclass

import numpy as np

GATES = {'rnn': 1, 'lstm': 4, 'gru': 3}


def sigmoid(a):
    # tanh form: no overflow warning for large negative a, same value
    return 0.5 * (np.tanh(0.5 * a) + 1.0)


@dataclass
class LayerCache:
    """What backward needs from forward, for one layer."""
    h_prev: np.ndarray          # (B, T, H) hidden state entering each step
    h: np.ndarray               # (B, T, H) hidden state leaving each step
    acts: np.ndarray            # (B, T, G*H) activated gates (cell-specific)
    extra: np.ndarray = None    # LSTM: cell states (B, T, H); GRU: W_hn h + b_hn


def rnn_forward(xp, w_hh, b_hh, h0):
    B, T, H = xp.shape
    h_prev = np.empty((B, T, H), xp.dtype)
    h_all = np.empty((B, T, H), xp.dtype)
    h = h0
    for t in range(T):
        h_prev[:, t] = h
        h = np.tanh(xp[:, t] + h @ w_hh.T + b_hh)
        h_all[:, t] = h
    return h_all, LayerCache(h_prev, h_all, h_all), (h,)


def rnn_backward(dh_all, cache, w_hh):
    """dh_all (B, T, H) -> dxp (B, T, H), dW_hh, db_hh."""
    B, T, H = dh_all.shape
    dxp = np.empty_like(dh_all)
    dh_next = np.zeros((B, H), dh_all.dtype)
    for t in reversed(range(T)):
        h = cache.h[:, t]
        # backprop through tanh
        da = (dh_all[:, t] + dh_next) * (1.0 - h * h)
        dxp[:, t] = da
        dh_next = da @ w_hh
    return dxp, *_recurrent_weight_grads(dxp, cache.h_prev)


def lstm_forward(xp, w_hh, b_hh, h0, c0):
    B, T, G = xp.shape
    H = G // 4
    h_prev = np.empty((B, T, H), xp.dtype)
    h_all = np.empty((B, T, H), xp.dtype)
    c_all = np.empty((B, T, H), xp.dtype)
    acts = np.empty((B, T, G), xp.dtype)
    h, c = h0, c0
    for t in range(T):
        h_prev[:, t] = h
        a = xp[:, t] + h @ w_hh.T + b_hh                       # (B, 4H)
        gates = acts[:, t]
        gates[:, :2 * H] = sigmoid(a[:, :2 * H])               # i, f
        gates[:, 2 * H:3 * H] = np.tanh(a[:, 2 * H:3 * H])     # g
        gates[:, 3 * H:] = sigmoid(a[:, 3 * H:])               # o
        i, f, g, o = np.split(gates, 4, axis=1)
        c = f * c + i * g
        h = o * np.tanh(c)
        c_all[:, t] = c
        h_all[:, t] = h
    return h_all, LayerCache(h_prev, h_all, acts, c_all), (h, c)


def lstm_backward(dh_all, cache, w_hh):
    """dh_all (B, T, H) -> dxp (B, T, 4H), dW_hh, db_hh."""
    B, T, H = dh_all.shape
    dxp = np.empty((B, T, 4 * H), dh_all.dtype)
    dh_next = np.zeros((B, H), dh_all.dtype)
    dc_next = np.zeros((B, H), dh_all.dtype)
    zeros = np.zeros((B, H), dh_all.dtype)
    for t in reversed(range(T)):
        i, f, g, o = np.split(cache.acts[:, t], 4, axis=1)
        c = cache.extra[:, t]
        c_prev = cache.extra[:, t - 1] if t > 0 else zeros
        tanh_c = np.tanh(c)
        dh = dh_all[:, t] + dh_next
        # h = o * tanh(c)
        do = dh * tanh_c
        dc = dc_next + dh * o * (1.0 - tanh_c * tanh_c)
        # c = f * c_prev + i * g
        di, df, dg = dc * g, dc * c_prev, dc * i
        dc_next = dc * f
        # backprop through the gate activations: sigmoid for i, f, o; tanh for g
        da = dxp[:, t]
        da[:, :H] = di * i * (1.0 - i)
        da[:, H:2 * H] = df * f * (1.0 - f)
        da[:, 2 * H:3 * H] = dg * (1.0 - g * g)
        da[:, 3 * H:] = do * o * (1.0 - o)
        dh_next = da @ w_hh
    return dxp, *_recurrent_weight_grads(dxp, cache.h_prev)


def gru_forward(xp, w_hh, b_hh, h0):
    B, T, G = xp.shape
    H = G // 3
    h_prev = np.empty((B, T, H), xp.dtype)
    h_all = np.empty((B, T, H), xp.dtype)
    acts = np.empty((B, T, G), xp.dtype)
    hn_all = np.empty((B, T, H), xp.dtype)
    h = h0
    for t in range(T):
        h_prev[:, t] = h
        hh = h @ w_hh.T + b_hh                                  # (B, 3H)
        gates = acts[:, t]
        gates[:, :2 * H] = sigmoid(xp[:, t, :2 * H] + hh[:, :2 * H])   # r, z
        r, z = gates[:, :H], gates[:, H:2 * H]
        # PyTorch keeps b_hn inside the reset product: n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        hn = hh[:, 2 * H:]
        n = gates[:, 2 * H:] = np.tanh(xp[:, t, 2 * H:] + r * hn)
        h = (1.0 - z) * n + z * h
        hn_all[:, t] = hn
        h_all[:, t] = h
    return h_all, LayerCache(h_prev, h_all, acts, hn_all), (h,)


def gru_backward(dh_all, cache, w_hh):
    """dh_all (B, T, H) -> dxp (B, T, 3H), dW_hh, db_hh."""
    B, T, H = dh_all.shape
    dxp = np.empty((B, T, 3 * H), dh_all.dtype)
    dhh = np.empty((B, T, 3 * H), dh_all.dtype)   # gradient w.r.t. W_hh h + b_hh
    dh_next = np.zeros((B, H), dh_all.dtype)
    for t in reversed(range(T)):
        r, z, n = np.split(cache.acts[:, t], 3, axis=1)
        h_prev = cache.h_prev[:, t]
        dh = dh_all[:, t] + dh_next
        # h = (1 - z) * n + z * h_prev
        dn = dh * (1.0 - z)
        dz = dh * (h_prev - n)
        # backprop through tanh of n, then through r * (W_hn h + b_hn)
        dan = dn * (1.0 - n * n)
        dr = dan * cache.extra[:, t]
        # backprop through the sigmoids of r and z
        dar = dr * r * (1.0 - r)
        daz = dz * z * (1.0 - z)
        dxp[:, t, :H], dxp[:, t, H:2 * H], dxp[:, t, 2 * H:] = dar, daz, dan
        dhh[:, t, :H], dhh[:, t, H:2 * H], dhh[:, t, 2 * H:] = dar, daz, dan * r
        dh_next = dh * z + dhh[:, t] @ w_hh
    return dxp, *_recurrent_weight_grads(dhh, cache.h_prev)


def _recurrent_weight_grads(da, h_prev):
    """One product over all time steps instead of one per step."""
    G, H = da.shape[-1], h_prev.shape[-1]
    da2 = da.reshape(-1, G)
    return da2.T @ h_prev.reshape(-1, H), da2.sum(axis=0)


def layer_forward(cell, xp, w_hh, b_hh, state=None):
    """Run one layer; ``state`` is a tuple (h0,) or (h0, c0), zeros if None.

    Returns (h_all (B, T, H), cache, final state tuple).
    """
    B, H = xp.shape[0], w_hh.shape[1]
    if state is None:
        state = tuple(np.zeros((B, H), xp.dtype) for _ in range(2 if cell == 'lstm' else 1))
    if cell == 'rnn':
        return rnn_forward(xp, w_hh, b_hh, *state)
    if cell == 'lstm':
        return lstm_forward(xp, w_hh, b_hh, *state)
    if cell == 'gru':
        return gru_forward(xp, w_hh, b_hh, *state)
    raise ValueError(f'unknown cell {cell!r}: choose rnn, lstm or gru')


def layer_backward(cell, dh_all, cache, w_hh):
    """Returns (dxp (B, T, G*H), dW_hh (G*H, H), db_hh (G*H,))."""
    backward = {'rnn': rnn_backward, 'lstm': lstm_backward, 'gru': gru_backward}[cell]
    return backward(dh_all, cache, w_hh)
