"""The RNN cell with tanh over a batch of sequences, torch.nn.RNN's equations.

Forward, with xp_t = x_t W_ih^T + b_ih + b_hh from input_affine:

    a_t   = xp_t + h_{t-1} W_hh^T
    h_t   = tanh(a_t)

Backward, with dh_t the gradient reaching h_t (from the layer above, dh_all_t,
and from step t+1 through W_hh):

    dh_t  = dh_all_t + da_{t+1} W_hh
    da_t  = dh_t (1 - h_t^2)                    tanh' = 1 - tanh^2
    dW_hh = sum_t da_t^T h_{t-1},   db_hh = sum_t da_t,   dxp_t = da_t

Its one gate in the layout of cell_layout is h itself.
"""
from dataclasses import dataclass

import numpy as np

from mr_rnn.kernels.cell_layout import dtanh, gate_views, recurrent_weights, sum_rows


@dataclass(eq=False)
class RNNCache:
    h: np.ndarray           # (T, B, H) h_t, leaving each step (written over xp)
    h0: np.ndarray          # (B, H) state entering step 0
    active: list            # rows running at each step (cells.layer_forward)


def rnn_forward(xp, w_hh, b_hh, state, active):
    """xp (1, T, B, H) from input_affine (both biases in it); becomes h."""
    (h0,) = state
    _, T, B, H = xp.shape
    hs, = gate_views('rnn', xp, 'h')                              # (T, B, H), in place
    w_t, = gate_views('rnn', recurrent_weights('rnn', w_hh), 'h')  # (H_in, H_out)
    rec = np.zeros((B, H), xp.dtype)
    h = h0
    for t, n in enumerate(active):
        # a_t = xp_t + h_{t-1} W_hh^T
        np.matmul(h[:n], w_t, out=rec[:n])
        h = hs[t]
        h += rec
        # h_t = tanh(a_t)
        np.tanh(h, out=h)
    return hs, RNNCache(hs, h0, active), (hs[-1].copy(),)


def rnn_backward(dh_all, cache, w_hh):
    """dh_all (T, B, H) -> dxp (1, T, B, H), dW_hh, db_hh."""
    h = cache.h
    # tanh' = 1 - h_t^2 for all steps at once; the loop multiplies in dh_t
    dxp = dtanh(h)[None]                                          # (1, T, B, H)
    da, = gate_views('rnn', dxp, 'h')
    dh = np.zeros(h.shape[1:], h.dtype)
    for t in reversed(range(h.shape[0])):
        n = cache.active[t]
        # dh_t = dh_all_t + da_{t+1} W_hh
        dh += dh_all[t]
        # da_t = dh_t (1 - h_t^2)
        da[t] *= dh
        # da_t W_hh, the part of dh_{t-1} through W_hh (rows that ran)
        np.matmul(da[t, :n], w_hh, out=dh[:n])
    # dW_hh = sum_t da_t^T h_{t-1}: step 0's term from h0, the others' from h
    dw = da[0].T @ cache.h0
    if h.shape[0] > 1:
        dw += da[1:].reshape(-1, h.shape[-1]).T @ h[:-1].reshape(-1, h.shape[-1])
    return dxp, dw, sum_rows(da.reshape(-1, h.shape[-1]))
