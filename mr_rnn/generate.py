"""Using a trained model: text sampling for character language models and
multi-step forecasts for csv series (on the gateway machine), and the
per-record predictions that the predict job writes (in its map tasks)."""
import numpy as np

from mr_rnn.data.records import CsvReader, Sequence
from mr_rnn.kernels.network import forward, lengths_of, step


def softmax(logits, temperature=1.0):
    """Probabilities over the last axis, in float64."""
    z = np.asarray(logits, np.float64) / temperature
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    return p / p.sum(axis=-1, keepdims=True)


def top_k(p, k):
    """Indices of the k largest entries of p (V,), largest first; ties by lower index."""
    order = np.argsort(-p, kind='stable')
    return order[:k] if k else order


def sample_text(model, prime, length, temperature=1.0, seed=0, k=0):
    """Characters drawn one at a time from softmax(logits / temperature),
    restricted to the ``k`` most likely ones when k > 0 (renormalised)."""
    vocab = model.schema.vocab
    index = {c: i for i, c in enumerate(vocab)}
    rng = np.random.default_rng(seed)
    ids = [index.get(c, 0) for c in (prime or '\n')]
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
        raise ValueError('forecasting past --horizon feeds predictions back as inputs, '
                         'so the targets must be the input columns')
    reader = CsvReader(s, cfg.window, 0)
    with open(history_path, 'rb') as f:
        windows = [w for w in reader.sequences_from_file(
            (line.rstrip(b'\n') for line in f), str) if isinstance(w, Sequence)]
    if not windows:
        raise ValueError(f'{history_path} has fewer than --window {cfg.window} good rows')
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


# ── per-record predictions (the predict job) ──

def output_units(schema, horizon):
    """(name, mean, std) per output dimension: how to put outputs back into the
    data's units. csv outputs are horizon-major: step 1's target columns, then
    step 2's, ...; other formats have no normalisation (mean 0, std 1)."""
    if schema.norm is None:
        return [(str(i), 0.0, 1.0) for i in range(schema.output_size)]
    units = []
    for h in range(horizon):
        for col in schema.target_columns:
            mean, std = schema.norm[col]
            units.append((col if horizon == 1 else f'{col}@+{h + 1}', mean, std))
    return units


def predictions(model, batch, k=5):
    """One JSON-able dict per sequence of ``batch`` (its y is not used):

    - language model: ``next``, the k most likely next tokens after the last
      step, [{"token": character or id, "p": probability}, ...]
    - classification: ``class`` and ``probabilities`` (last-step models), or
      ``classes`` and ``probabilities`` per step (per-step models)
    - regression: ``values`` per output (per step for per-step models); csv
      models give {target column: [value at step +1, +2, ...]} in the data's units
    """
    s, spec = model.schema, model.spec
    out = forward(model.params, spec, batch.x, batch.mask).astype(np.float64)
    lengths = lengths_of(batch.mask)
    rows = []
    for b, length in enumerate(lengths):
        o = out[b, :length] if spec.head == 'per_step' else out[b]
        if s.task == 'lm':
            rows.append({'next': _next_tokens(s, softmax(o[-1]), k)})
        elif s.task == 'classify':
            p = softmax(o)
            key = 'classes' if spec.head == 'per_step' else 'class'
            rows.append({key: p.argmax(-1).tolist(), 'probabilities': p.tolist()})
        else:
            rows.append({'values': _in_units(s, model.config.data.horizon, o)})
    return rows


def _next_tokens(schema, p, k):
    name = (lambda i: schema.vocab[i]) if schema.vocab else int
    return [{'token': name(int(i)), 'p': float(p[i])} for i in top_k(p, k)]


def _in_units(schema, horizon, values):
    """csv: {target column: [value at step +1, +2, ...]} in the data's units."""
    if schema.norm is None:
        return values.tolist()
    columns = schema.target_columns
    by_column = {col: [] for col in columns}
    for i, ((_, mean, std), v) in enumerate(zip(output_units(schema, horizon), values)):
        by_column[columns[i % len(columns)]].append(float(v * std + mean))
    return by_column
