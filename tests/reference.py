"""Deliberately naive float64 reference for the mr_rnn numpy RNN kernels.

Written straight from the PyTorch equations, with Python loops over sequences,
time steps and layers, explicit per-sequence length handling and one-hot
vectors for token inputs.  It is slow on purpose and shares no code with
mr_rnn; it only reads the parameter dict (PyTorch names) and the spec fields.

Equations (checked against PyTorch's documentation, docs.pytorch.org
torch.nn.RNN / torch.nn.LSTM / torch.nn.GRU and the RNNCell / LSTMCell /
GRUCell pages, "stable" docs, v2.x):

  RNN  (tanh):  h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
  LSTM:         i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)
                f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
                g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
                o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
                c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t ;  h_t = o_t ⊙ tanh(c_t)
                weight_ih_l[k] = (W_ii|W_if|W_ig|W_io), shape (4*hidden_size, input_size)
  GRU:          r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
                z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
                n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))
                h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t-1}
                weight_ih_l[k] = (W_ir|W_iz|W_in), shape (3*hidden_size, input_size)
  Multi-layer: the input of layer l ≥ 2 is the hidden state h_t of layer l-1
  (no dropout here).  h_0 = c_0 = 0.
  Embedding (torch.nn.Embedding): a token's input is row x_t of embedding.weight.
"""

from __future__ import annotations

import math

import numpy as np

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def sigmoid(a: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-a))


def one_hot(token: int, size: int) -> np.ndarray:
    v = np.zeros(size, dtype=np.float64)
    v[int(token)] = 1.0
    return v


def sequence_length(mask_row: np.ndarray) -> int:
    """Length of a left-aligned sequence; checks the mask really is left-aligned."""
    mask_row = np.asarray(mask_row, dtype=bool)
    length = int(mask_row.sum())
    assert mask_row[:length].all() and not mask_row[length:].any(), "mask not left-aligned"
    return length


def cell_step(cell, W_ih, W_hh, b_ih, b_hh, x, h, c):
    """One step of one layer for one sequence. x, h, c are 1-D vectors."""
    H = W_hh.shape[1]
    if cell == "rnn":
        h_new = np.tanh(W_ih @ x + b_ih + W_hh @ h + b_hh)
        return h_new, c
    if cell == "lstm":
        a = W_ih @ x + b_ih + W_hh @ h + b_hh
        i = sigmoid(a[0 * H:1 * H])
        f = sigmoid(a[1 * H:2 * H])
        g = np.tanh(a[2 * H:3 * H])
        o = sigmoid(a[3 * H:4 * H])
        c_new = f * c + i * g
        h_new = o * np.tanh(c_new)
        return h_new, c_new
    if cell == "gru":
        gi = W_ih @ x + b_ih
        gh = W_hh @ h + b_hh
        r = sigmoid(gi[0 * H:1 * H] + gh[0 * H:1 * H])
        z = sigmoid(gi[1 * H:2 * H] + gh[1 * H:2 * H])
        n = np.tanh(gi[2 * H:3 * H] + r * gh[2 * H:3 * H])
        h_new = (1.0 - z) * n + z * h
        return h_new, c
    raise ValueError(f"unknown cell {cell!r}")


def run_sequence(params, spec, x_row, length):
    """Top-layer hidden states h_1..h_length (list of 1-D arrays) for one sequence."""
    p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    H = spec.hidden
    h = [np.zeros(H) for _ in range(spec.layers)]
    c = [np.zeros(H) for _ in range(spec.layers)]
    tops = []
    for t in range(length):
        if "embedding.weight" in p:       # torch.nn.Embedding: the id's row of the table
            inp = p["embedding.weight"][int(x_row[t])].copy()
        elif spec.token_input:
            inp = one_hot(x_row[t], spec.input_size)
        else:
            inp = np.asarray(x_row[t], dtype=np.float64)
        for k in range(spec.layers):
            h[k], c[k] = cell_step(
                spec.cell,
                p[f"rnn.weight_ih_l{k}"],
                p[f"rnn.weight_hh_l{k}"],
                p[f"rnn.bias_ih_l{k}"],
                p[f"rnn.bias_hh_l{k}"],
                inp,
                h[k],
                c[k],
            )
            inp = h[k]
        tops.append(inp.copy())
    return tops


def head(params, h):
    W = np.asarray(params["head.weight"], dtype=np.float64)
    b = np.asarray(params["head.bias"], dtype=np.float64)
    return W @ h + b


def forward(params, spec, x, mask):
    """per_step: (B, T, O) with NaN at padded steps (undefined there); last_step: (B, O)."""
    B, T = np.asarray(mask).shape
    O = spec.output_size
    if spec.head == "per_step":
        out = np.full((B, T, O), np.nan)
    else:
        out = np.full((B, O), np.nan)
    for b in range(B):
        L = sequence_length(mask[b])
        tops = run_sequence(params, spec, x[b], L)
        if spec.head == "per_step":
            for t in range(L):
                out[b, t] = head(params, tops[t])
        else:
            out[b] = head(params, pooled(getattr(spec, "pool", "last"), tops))
    return out


def pooled(pool, tops):
    """What a last-step head reads of a sequence's top states h_1..h_L."""
    if pool == "last":
        return tops[-1]
    if pool == "mean":
        return sum(tops) / len(tops)
    return np.array([max(h[j] for h in tops) for j in range(len(tops[0]))])


def xent(logits, target):
    """-log_softmax(logits)[target], computed stably."""
    m = max(float(v) for v in logits)
    lse = m + math.log(sum(math.exp(float(v) - m) for v in logits))
    return lse - float(logits[int(target)])


def loss(params, spec, batch):
    """Return (loss_sum, count) exactly as the API documents them."""
    out = forward(params, spec, batch.x, batch.mask)
    B, T = np.asarray(batch.mask).shape
    O = spec.output_size
    total = 0.0
    count = 0
    for b in range(B):
        L = sequence_length(batch.mask[b])
        if spec.head == "per_step":
            pairs = [(out[b, t], batch.y[b, t]) for t in range(L)]
        else:
            pairs = [(out[b], batch.y[b])]
        for pred, target in pairs:
            if spec.loss == "xent":
                total += xent(pred, target)
                count += 1
            elif spec.loss == "mse":
                diff = pred - np.asarray(target, dtype=np.float64)
                total += float(sum(d * d for d in diff))
                count += O
            else:
                raise ValueError(spec.loss)
    return total, count
