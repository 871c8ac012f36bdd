"""The LSTM cell over a batch of sequences, torch.nn.LSTM's equations.

Forward, with xp_t = x_t W_ih^T + b_ih + b_hh from input_affine, for each
gate k of i, f, g, o:

    a_k   = xp_{k,t} + h_{t-1} W_hh,k^T
    i, f, o = sigmoid(a_i, a_f, a_o),   g = tanh(a_g)
    c_t   = f c_{t-1} + i g
    h_t   = o tanh(c_t)

Backward, with dh_t and dc_t the gradients reaching h_t and c_t (from the
layer above, dh_all_t, and from step t+1):

    dh_t  = dh_all_t + sum_k da_{k,t+1} W_hh,k
    dc_t  = dh_t o (1 - tanh(c_t)^2) + dc_{t+1} f_{t+1}
    da_o  = dh_t tanh(c_t) o (1 - o)            sigmoid' = s (1 - s)
    da_i  = dc_t g i (1 - i)
    da_f  = dc_t c_{t-1} f (1 - f)
    da_g  = dc_t i (1 - g^2)                    tanh' = 1 - tanh^2
    dW_hh = sum_t da_t^T h_{t-1},   db_hh = sum_t da_t,   dxp_t = da_t

The factors right of dh_t and dc_t in the last four lines do not depend on
the step before, so backward computes them outside the step loop, for a
block of steps just before the loop reads them. In the layout of
cell_layout, o, i, f (sigmoid) and i, f, g (reached by dc_t) are each one
run of gates.
"""
from dataclasses import dataclass

import numpy as np

from mr_rnn.kernels.cell_layout import (CellCache, back_through_w_hh, dsigmoid, dtanh,
                                        gate_major, gate_views, recurrent_weight_grads,
                                        recurrent_weights, states_from, tanh_to_sigmoid)

# Backward computes its factors for blocks of steps of about this many
# elements per array, (K, B, H), so that the loop reads them from cache:
# over all T steps at once they leave the cache when B H is large.
BLOCK_ELEMENTS = 32768


@dataclass(eq=False)
class LSTMCache(CellCache):
    c_all: np.ndarray       # (T+1, B, H) cell state entering step t, c0 first
    tanh_c: np.ndarray      # (T, B, H) tanh(c_t)


def lstm_forward(xp, w_hh, b_hh, state, active):
    """xp (4, T, B, H) from input_affine (b_hh already in it); becomes the gates."""
    h0, c0 = state
    _, T, B, H = xp.shape
    w_t = recurrent_weights('lstm', w_hh)                         # (4, H_in, H_out)
    gates = xp
    o, i, f, g, sigmoid = gate_views('lstm', gates, 'o', 'i', 'f', 'g', 'oif')
    h_all = states_from(h0, T)                                    # h_all[t] enters step t
    c_all = states_from(c0, T)                                    # c_all[t] enters step t
    tanh_c = np.empty((T, B, H), xp.dtype)
    rec = np.zeros((4, B, H), xp.dtype)
    ig = np.empty((B, H), xp.dtype)
    for t, n in enumerate(active):
        # a = xp_t + h_{t-1} W_hh^T, every gate in one product
        a = gates[:, t]                                           # (4, B, H)
        np.matmul(h_all[t, :n], w_t, out=rec[:, :n])
        a += rec
        # g = tanh(a_g), and i, f, o = sigmoid(a) from tanh(a/2), in one tanh call
        np.tanh(a, out=a)
        tanh_to_sigmoid(sigmoid[:, t])
        # c_t = f c_{t-1} + i g
        c = np.multiply(f[t], c_all[t], out=c_all[t + 1])
        np.multiply(i[t], g[t], out=ig)
        c += ig
        # h_t = o tanh(c_t)
        np.tanh(c, out=tanh_c[t])
        np.multiply(o[t], tanh_c[t], out=h_all[t + 1])
    return (h_all[1:], LSTMCache(h_all, gates, active, c_all, tanh_c),
            (h_all[T].copy(), c_all[T].copy()))


def lstm_backward(dh_all, cache, w_hh):
    """dh_all (T, B, H) -> dxp (4, T, B, H), dW_hh, db_hh. dxp is written over
    the cache's gates, step by step, as each step reads them for the last time."""
    gates, c_all, tanh_c = cache.gates, cache.c_all, cache.tanh_c
    _, T, B, H = gates.shape
    f, = gate_views('lstm', gates, 'f')
    da_o, da_ifg = gate_views('lstm', gates, 'o', 'ifg')           # dxp, in the gates' place
    w = gate_major('lstm', w_hh)                                  # (4, H_out, H_in)
    K = min(T, max(1, BLOCK_ELEMENTS // (B * H)))
    factors = np.empty((4, K, B, H), gates.dtype)
    k_c = np.empty((K, B, H), gates.dtype)
    dh = np.empty((B, H), gates.dtype)
    dc = np.empty((B, H), gates.dtype)
    dh_next = np.zeros((B, H), gates.dtype)                       # sum_k da_{k,t+1} W_hh,k
    dc_next = np.zeros((B, H), gates.dtype)                       # dc_{t+1} f_{t+1}
    scratch = np.empty((4, B, H), gates.dtype)
    for t1 in range(T, 0, -K):
        t0 = max(0, t1 - K)
        k_o, k_ifg = _factors(gates[:, t0:t1], c_all[t0:t1], tanh_c[t0:t1],
                              factors[:, :t1 - t0], k_c[:t1 - t0])
        for t in reversed(range(t0, t1)):
            j = t - t0
            # dh_t = dh_all_t + sum_k da_{k,t+1} W_hh,k
            np.add(dh_all[t], dh_next, out=dh)
            # dc_t = dh_t o (1 - tanh(c_t)^2) + dc_{t+1} f_{t+1}
            np.multiply(dh, k_c[j], out=dc)
            dc += dc_next
            np.multiply(dc, f[t], out=dc_next)
            # da_o = dh_t (its factor), da_{i,f,g} = dc_t (theirs): over the
            # gates of step t, read for the last time (f_t just above)
            np.multiply(k_ifg[:, j], dc, out=da_ifg[:, t])
            np.multiply(k_o[j], dh, out=da_o[t])
            # sum_k da_{k,t} W_hh,k, for step t-1
            back_through_w_hh(gates[:, t], w, cache.active[t], scratch, dh_next)
    return (gates, *recurrent_weight_grads('lstm', gates, cache.h_all[:-1]))


def _factors(gates, c_prev, tanh_c, factors, k_c):
    """The factors of the backward equations that do not depend on dh_t or
    dc_t, for a block of steps: gates (4, K, B, H), c_prev, tanh_c (K, B, H)
    -> into factors (4, K, B, H) and k_c (K, B, H); returns the views
    (factor of o, factors of i, f, g) that the step loop reads."""
    o, i, f, g = gate_views('lstm', gates, 'o', 'i', 'f', 'g')
    k_o, k_i, k_f, k_g = gate_views('lstm', factors, 'o', 'i', 'f', 'g')
    # da_o = dh_t tanh(c_t) o (1 - o)
    dsigmoid(o, out=k_o)
    k_o *= tanh_c
    # da_i = dc_t g i (1 - i)
    dsigmoid(i, out=k_i)
    k_i *= g
    # da_f = dc_t c_{t-1} f (1 - f)
    dsigmoid(f, out=k_f)
    k_f *= c_prev
    # da_g = dc_t i (1 - g^2)
    dtanh(g, out=k_g)
    k_g *= i
    # dc_t from dh_t: o (1 - tanh(c_t)^2)
    dtanh(tanh_c, out=k_c)
    k_c *= o
    return gate_views('lstm', factors, 'o', 'ifg')
