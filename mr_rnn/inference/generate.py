"""Using a trained model on the gateway machine: text sampling for character
language models and multi-step forecasts for csv series."""
import numpy as np

from mr_rnn.data.csv_series import CsvReader
from mr_rnn.data.records import Sequence
from mr_rnn.errors import UserError
from mr_rnn.kernels.network import forward, step
from mr_rnn.inference.predictions import softmax, top_k


def sample_text(model, prime, length, temperature=1.0, seed=0, k=0):
    """Characters drawn one at a time from softmax(logits / temperature),
    restricted to the ``k`` most likely ones when k > 0 (renormalised)."""
    vocab = model.schema.vocab
    index = {c: i for i, c in enumerate(vocab)}
    rng = np.random.default_rng(seed)
    ids = [index.get(c, 0) for c in (prime or '\n')]
    # the whole prime is one stream from zeros, as a text line is with the state
    # carried across its windows (docs/design.md §3.1)
    logits, state = step(model.params, model.spec, np.array([ids]))
    out = []
    for _ in range(length):
        p = softmax(logits[0, -1], temperature)
        if 0 < k < len(p):
            best, kept = top_k(p, k), np.zeros_like(p)
            kept[best] = p[best]
            p = kept / kept.sum()
        token = int(rng.choice(len(p), p=p))
        out.append(vocab[token] if token else '?')
        logits, state = step(model.params, model.spec, np.array([[token]]), state)
    return ''.join(out)


def forecast(model, history_path, steps):
    """Continue a series ``steps`` rows past its end, in the data's own units.

    Each prediction is fed back as the next input row, which needs the targets
    to be the input columns.
    """
    s, cfg = model.schema, model.config.data
    if steps > cfg.horizon and tuple(s.target_columns) != tuple(s.columns):
        raise UserError('forecasting past --horizon feeds predictions back as inputs, '
                         'so the targets must be the input columns')
    reader = CsvReader(s, cfg.window, 0)
    with open(history_path, 'rb') as f:
        windows = [w for w in reader.sequences_from_file(
            (line.rstrip(b'\n') for line in f), str) if isinstance(w, Sequence)]
    if not windows:
        raise UserError(f'{history_path} has fewer than --window {cfg.window} good rows')
    window = list(windows[-1].x)
    out_mean, out_std = reader.normalise(s.target_columns)
    rows = []
    while len(rows) < steps:
        x = np.array([window[-cfg.window:]])
        mask = np.ones(x.shape[:2], bool)
        pred = forward(model.params, model.spec, x, mask)[0].astype(np.float64)
        for h in range(cfg.horizon):
            normalised = pred[h * len(s.target_columns):(h + 1) * len(s.target_columns)]
            rows.append(normalised * out_std + out_mean)
            window.append(normalised)
    return rows[:steps]
