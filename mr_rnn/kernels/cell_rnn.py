"""The RNN cell with tanh over a batch of sequences, torch.nn.RNN's equations.

Forward, with xp_t = x_t W_ih^T + b_ih + b_hh from input_affine:

    a_t   = xp_t + h_{t-1} W_hh^T
    h_t   = tanh(a_t)

Backward, with dh_t the gradient reaching h_t (from the layer above, dh_all_t,
and from step t+1 through W_hh):

    dh_t  = dh_all_t + da_{t+1} W_hh
    da_t  = dh_t (1 - h_t^2)                    tanh' = 1 - tanh^2
    dW_hh = sum_t da_t^T h_{t-1},   db_hh = sum_t da_t,   dxp_t = da_t

Its one gate in the layout of cell_layout is h itself: the cache's gates are
the h_t, and dW_hh goes the way of every cell's (recurrent_weight_grads).
"""
import numpy as np

from mr_rnn.kernels.cell_layout import (CellCache, dtanh, gate_major, gate_views,
                                        recurrent_weight_grads, recurrent_weights, states_from)


def rnn_forward(xp, w_hh, b_hh, state, active):
    """xp (1, T, B, H) from input_affine (both biases in it); read, not kept."""
    (h0,) = state
    _, T, B, H = xp.shape
    xa, = gate_views('rnn', xp, 'h')                              # (T, B, H)
    w_t, = gate_views('rnn', recurrent_weights('rnn', w_hh), 'h')  # (H_in, H_out)
    h_all = states_from(h0, T)                                    # h_all[t] enters step t
    rec = np.zeros((B, H), xp.dtype)
    for t, n in enumerate(active):
        # a_t = xp_t + h_{t-1} W_hh^T
        np.matmul(h_all[t, :n], w_t, out=rec[:n])
        h = np.add(xa[t], rec, out=h_all[t + 1])
        # h_t = tanh(a_t)
        np.tanh(h, out=h)
    return h_all[1:], CellCache(h_all, h_all[None, 1:], active), (h_all[T].copy(),)


def rnn_backward(dh_all, cache, w_hh):
    """dh_all (T, B, H) -> dxp (1, T, B, H), dW_hh, db_hh."""
    h, = gate_views('rnn', cache.gates, 'h')                      # (T, B, H) h_t
    w, = gate_views('rnn', gate_major('rnn', w_hh), 'h')          # (H_out, H_in)
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
        np.matmul(da[t, :n], w, out=dh[:n])
    return (dxp, *recurrent_weight_grads('rnn', dxp, cache.h_all[:-1]))
