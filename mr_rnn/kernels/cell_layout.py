"""The gate-major layout the three cells share (docs/design.md §3.2), and what
they do alike in it.

PyTorch stacks a cell's gates as row blocks of W_ih, W_hh, b_ih and b_hh,
(G*H, ...) in the order i, f, g, o (LSTM) or r, z, n (GRU). Inside a forward
or backward call the cells hold them otherwise, for speed:

- Gate-major, (G, T, B, H): at step t each gate's values are one contiguous
  (B, H) block, so an element-wise operation on a gate, or on a run of
  consecutive gates, reads contiguous memory; numpy is much slower on the
  strided column slices of a (B, G*H) row layout.
- The gates treated alike are consecutive: the LSTM's internal order is
  o, i, f, g, so that the sigmoid gates o, i, f (forward) and i, f, g, the
  gates the cell state's gradient reaches (backward), are each one view and
  one numpy call per step. The GRU keeps r, z, n.
- Sigmoid in its tanh form, sigmoid(a) = (tanh(a/2) + 1) / 2, with the
  halving folded into the weights and biases (input_affine,
  recurrent_weights): one tanh call activates all of a step's gates, and
  tanh_to_sigmoid finishes the sigmoid ones. The halving lives in forward
  only; backward works with the gradients of the true pre-activations.

INTERNAL_ORDER is the one place the internal order is written. The cells
never index a gate by its number: gate_views gives them named views, and
gate_major and pytorch_rows convert weights and gradients from and to
PyTorch's rows on the way in and out.

Shapes: T time steps, B batch, H hidden units, G gates, D inputs.
"""
from dataclasses import dataclass

import numpy as np

# each gate by one letter; RNN's one "gate" is h_t = tanh(a_t) itself
PYTORCH_ORDER = {'rnn': 'h', 'lstm': 'ifgo', 'gru': 'rzn'}
INTERNAL_ORDER = {'rnn': 'h', 'lstm': 'oifg', 'gru': 'rzn'}
SIGMOID_GATES = {'rnn': '', 'lstm': 'oif', 'gru': 'rz'}

GATES = {cell: len(order) for cell, order in INTERNAL_ORDER.items()}
# internal gate k is PyTorch's gate ORDER[cell][k] (LSTM: (3, 0, 1, 2))
ORDER = {cell: tuple(PYTORCH_ORDER[cell].index(gate) for gate in order)
         for cell, order in INTERNAL_ORDER.items()}
# what each internal gate's pre-activation is scaled by: halved for the tanh form of sigmoid
HALVED = {cell: tuple(0.5 if gate in SIGMOID_GATES[cell] else 1.0 for gate in order)
          for cell, order in INTERNAL_ORDER.items()}


def gate_views(cell, a, *names):
    """Views of a gate-major array a (G, ...) by name: one gate ('o' -> a view
    (...)) or a run of consecutive gates ('oif' -> a view (3, ...))."""
    order = INTERNAL_ORDER[cell]
    views = []
    for name in names:
        k = order.find(name)
        if k < 0:
            raise ValueError(f'{name!r} is not a run of consecutive gates of {order!r}')
        views.append(a[k] if len(name) == 1 else a[k:k + len(name)])
    return views


def gate_major(cell, w):
    """(G*H, ...) rows in PyTorch's gate order -> (G, H, ...) in the internal
    order: a view of w where the two orders agree (RNN, GRU), else a copy;
    write into it only after a copy of your own."""
    G = GATES[cell]
    w = w.reshape(G, w.shape[0] // G, *w.shape[1:])
    return w if _same_order(cell) else w[list(ORDER[cell])]


def pytorch_rows(cell, g):
    """(G, H, ...) in the internal gate order -> (G*H, ...) rows in PyTorch's
    order (a view of g where the two orders agree, as gate_major)."""
    if _same_order(cell):
        return g.reshape(-1, *g.shape[2:])
    out = np.empty_like(g)
    out[list(ORDER[cell])] = g
    return out.reshape(-1, *g.shape[2:])


def _same_order(cell):
    return INTERNAL_ORDER[cell] == PYTORCH_ORDER[cell]


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
        b_hh = b_hh.copy()
        b_hn, = gate_views(cell, b_hh, 'n')
        b_hn[...] = 0.0                     # the loop adds it inside the reset product
    b = (gate_major(cell, b_ih) + b_hh) * half[:, None]
    return np.ascontiguousarray(w), b.reshape(G, -1)


def recurrent_weights(cell, w_hh):
    """(G, H_in, H_out): ``h @ w[k]`` is gate k's recurrent part, halved like xp."""
    half = np.asarray(HALVED[cell], w_hh.dtype)
    return np.ascontiguousarray(gate_major(cell, w_hh).transpose(0, 2, 1) * half[:, None, None])


# ── activations in the tanh form, and their derivatives from their values ──

def tanh_to_sigmoid(a):
    """In place: tanh(x/2) in, sigmoid(x) = (tanh(x/2) + 1) / 2 out."""
    a *= 0.5
    a += 0.5


def dsigmoid(s, out=None):
    """sigmoid' from the sigmoid's value s: s (1 - s), computed as (1 - s) s."""
    out = np.subtract(1.0, s, out=out)
    out *= s
    return out


def dtanh(y, out=None):
    """tanh' from the tanh's value y: 1 - y^2."""
    out = np.multiply(y, y, out=out)
    np.subtract(1.0, out, out=out)
    return out


# ── what every cell's forward hands its backward, and the one dW_hh path ──

@dataclass(eq=False)
class CellCache:
    """What a cell's backward needs from its forward; LSTM and GRU add their
    own. Backward may write over it."""
    h_all: np.ndarray       # (T+1, B, H) hidden state entering step t, h0 first
    gates: np.ndarray       # (G, T, B, H) activated gates, internal order (RNN: h_t)
    active: list            # rows running at each step (cells.layer_forward)

    @property
    def h(self):
        """(T, B, H) h_t, leaving each step: the layer's output."""
        return self.h_all[1:]


def states_from(first, T):
    """(T+1, B, H) buffer whose row t is the state entering step t; row 0 is ``first``."""
    out = np.empty((T + 1, *first.shape), first.dtype)
    out[0] = first
    return out


def back_through_w_hh(da, w, n, scratch, out):
    """out[:n] = sum_k da[k, :n] W_hh,k: what one step's gradients of the
    recurrent parts, da (G, B, H), send back to h_{t-1}, for the n running
    rows. w (G, H_out, H_in) is gate_major(W_hh); scratch is (G, B, H)."""
    np.matmul(da[:, :n], w, out=scratch[:, :n])
    np.add.reduce(scratch[:, :n], axis=0, out=out[:n])


def recurrent_weight_grads(cell, da, h_prev):
    """dW_hh = sum over steps of da_t^T h_{t-1}, db_hh = sum over steps of da_t:
    one product per gate over all steps. da (G, T, B, H) the gradients of the
    recurrent parts, h_prev (T, B, H) -> PyTorch-shaped dW_hh, db_hh."""
    G, T, B, H = da.shape
    da3 = da.reshape(G, T * B, H)
    dw = np.matmul(da3.transpose(0, 2, 1), h_prev.reshape(T * B, H))   # (G, H, H)
    return pytorch_rows(cell, dw), pytorch_rows(cell, sum_rows(da3))


def sum_rows(a):
    """a (..., N, K) summed over N, as one matrix-vector product per leading
    index: faster than numpy's sum over a middle axis, and no less exact
    (BLAS adds in blocks too)."""
    return np.matmul(np.ones(a.shape[-2], a.dtype), a)
