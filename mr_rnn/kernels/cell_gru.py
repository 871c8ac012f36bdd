"""The GRU cell over a batch of sequences, torch.nn.GRU's equations.

Forward, with xp_t = x_t W_ih^T + b_ih + (b_hr, b_hz, 0) from input_affine
(b_hn sits inside the reset product):

    a_r, a_z = xp_{r,t} + h_{t-1} W_hr^T,  xp_{z,t} + h_{t-1} W_hz^T
    r, z  = sigmoid(a_r, a_z)
    hn    = h_{t-1} W_hn^T + b_hn
    n     = tanh(xp_{n,t} + r hn)
    h_t   = (1 - z) n + z h_{t-1}

Backward, with dh_t the gradient reaching h_t (from the layer above,
dh_all_t, and from step t+1), and dhh_t the gradient of step t's recurrent
parts h_{t-1} W_hh^T + b_hh:

    dh_t  = dh_all_t + sum_k dhh_{k,t+1} W_hh,k + dh_{t+1} z_{t+1}
    da_n  = dh_t (1 - z)(1 - n^2)               tanh' = 1 - tanh^2
    da_z  = dh_t (h_{t-1} - n) z (1 - z)        sigmoid' = s (1 - s)
    da_r  = da_n hn r (1 - r)
    dhh   = (da_r, da_z, da_n r)                the reset gate scales W_hn's part
    dW_hh = sum_t dhh_t^T h_{t-1},   db_hh = sum_t dhh_t,   dxp_t = (da_r, da_z, da_n)

The factors right of dh_t and da_n do not depend on the step before, so
backward computes them for all steps at once, before the step loop.
"""
from dataclasses import dataclass

import numpy as np

from mr_rnn.kernels.cell_layout import (CellCache, back_through_w_hh, dsigmoid, dtanh,
                                        gate_major, gate_views, recurrent_weight_grads,
                                        recurrent_weights, states_from, tanh_to_sigmoid)


@dataclass(eq=False)
class GRUCache(CellCache):
    hn: np.ndarray          # (T, B, H) h_{t-1} W_hn^T + b_hn


def gru_forward(xp, w_hh, b_hh, state, active):
    """xp (3, T, B, H) from input_affine (b_hr, b_hz in it); becomes the gates."""
    (h0,) = state
    _, T, B, H = xp.shape
    w_t = recurrent_weights('gru', w_hh)                          # (3, H_in, H_out)
    b_hn, = gate_views('gru', gate_major('gru', b_hh), 'n')       # (H,)
    gates = xp
    r, z, n, rz = gate_views('gru', gates, 'r', 'z', 'n', 'rz')
    rec = np.zeros((3, B, H), xp.dtype)                           # h_{t-1} W_hh^T
    rec_rz, rec_n = gate_views('gru', rec, 'rz', 'n')
    hn = np.empty((T, B, H), xp.dtype)
    h_all = states_from(h0, T)                                    # h_all[t] enters step t
    tmp = np.empty((B, H), xp.dtype)
    for t, rows in enumerate(active):
        h = h_all[t]
        np.matmul(h[:rows], w_t, out=rec[:, :rows])               # every gate in one product
        # r, z = sigmoid(a_r, a_z), from tanh(a/2)
        a_rz = rz[:, t]
        a_rz += rec_rz
        np.tanh(a_rz, out=a_rz)
        tanh_to_sigmoid(a_rz)
        # n = tanh(xp_n + r hn)
        np.add(rec_n, b_hn, out=hn[t])
        np.multiply(r[t], hn[t], out=tmp)
        n_t = n[t]
        n_t += tmp
        np.tanh(n_t, out=n_t)
        # h_t = (1 - z) n + z h_{t-1}, as n + z (h_{t-1} - n)
        np.subtract(h, n_t, out=tmp)
        tmp *= z[t]
        np.add(n_t, tmp, out=h_all[t + 1])
    return h_all[1:], GRUCache(h_all, gates, active, hn), (h_all[T].copy(),)


def gru_backward(dh_all, cache, w_hh):
    """dh_all (T, B, H) -> dxp (3, T, B, H), dW_hh, db_hh. dxp is written over
    the cache's gates, step by step, as each step reads them for the last time."""
    gates, hn, h_all = cache.gates, cache.hn, cache.h_all
    _, T, B, H = gates.shape
    r, z, n = gate_views('gru', gates, 'r', 'z', 'n')
    # the factors right of dh_t and da_n, for all steps
    k_n = dtanh(n)
    k_n *= 1.0 - z                                                # da_n = dh_t (1 - z)(1 - n^2)
    k_z = np.subtract(h_all[:-1], n)
    k_z *= z
    k_z *= 1.0 - z                                                # da_z = dh_t (h_{t-1} - n) z (1 - z)
    k_r = dsigmoid(r)
    k_r *= hn                                                     # da_r = da_n hn r (1 - r)
    da_r, da_z, da_n, da_rz = gate_views('gru', gates, 'r', 'z', 'n', 'rz')   # dxp
    dhh = np.empty((3, T, B, H), gates.dtype)
    dhh_rz, dhh_n = gate_views('gru', dhh, 'rz', 'n')
    w = gate_major('gru', w_hh)                                   # (3, H_out, H_in)
    dh = np.empty((B, H), gates.dtype)
    dh_z = np.empty((B, H), gates.dtype)
    dh_next = np.zeros((B, H), gates.dtype)                       # dh_t but for dh_all_t
    scratch = np.empty((3, B, H), gates.dtype)
    for t in reversed(range(T)):
        # dh_t = dh_all_t + what step t+1 sent back (through W_hh and through z)
        np.add(dh_all[t], dh_next, out=dh)
        # dh_t z_t, before da_z takes z_t's place
        np.multiply(dh, z[t], out=dh_z)
        # da_n, da_z; dhh_n = da_n r before da_r takes r_t's place; da_r
        np.multiply(dh, k_n[t], out=da_n[t])
        np.multiply(dh, k_z[t], out=da_z[t])
        np.multiply(da_n[t], r[t], out=dhh_n[t])
        np.multiply(da_n[t], k_r[t], out=da_r[t])
        dhh_rz[:, t] = da_rz[:, t]
        # dh_{t-1}: sum_k dhh_{k,t} W_hh,k + dh_t z_t
        back_through_w_hh(dhh[:, t], w, cache.active[t], scratch, dh_next)
        dh_next += dh_z
    return (gates, *recurrent_weight_grads('gru', dhh, h_all[:-1]))
