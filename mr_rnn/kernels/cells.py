"""One recurrent layer over a batch of sequences, forward and backward.

The equations are PyTorch's (torch.nn.RNN with tanh, torch.nn.LSTM,
torch.nn.GRU), and so are the parameters' layouts. Each cell takes the input
projection already computed for all time steps (``xp``, see input_affine),
because that product is one large matrix multiplication outside the time loop;
the loop only does the recurrent product with ``W_hh``. Backward returns the
gradient with respect to the input projection so the caller can form ``dW_ih``
and ``dx`` in one product per gate as well, and forms ``dW_hh`` and ``db_hh``
itself, the same way for every cell (cell_layout.recurrent_weight_grads).

Each cell is a module, its equations in its docstring and its forward and
backward following them line for line: cell_rnn, cell_lstm, cell_gru. The
gate-major layout they share, and the conversions between it and PyTorch's
rows, are cell_layout's (docs/design.md §3.2). Inside the time loops every
operation writes into a preallocated buffer (``out=``), and whatever does not
depend on the step before (activation derivatives) is computed outside the
loops.

This module is what the rest of the kernels import: CELLS (a cell's name ->
its forward and backward), layer_forward and layer_backward, and the
layout's names the network needs.
"""
import numpy as np

from mr_rnn.kernels.cell_gru import gru_backward, gru_forward
from mr_rnn.kernels.cell_layout import GATES, gate_major, input_affine, pytorch_rows, sum_rows
from mr_rnn.kernels.cell_lstm import lstm_backward, lstm_forward
from mr_rnn.kernels.cell_rnn import rnn_backward, rnn_forward

__all__ = ['CELLS', 'GATES', 'gate_major', 'input_affine', 'layer_backward', 'layer_forward',
           'pytorch_rows', 'sum_rows']

# one table for both directions: cell -> (forward, backward)
CELLS = {'rnn': (rnn_forward, rnn_backward), 'lstm': (lstm_forward, lstm_backward),
         'gru': (gru_forward, gru_backward)}


def _cell(cell):
    try:
        return CELLS[cell]
    except KeyError:
        raise ValueError(f'unknown cell {cell!r}: choose rnn, lstm or gru') from None


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
