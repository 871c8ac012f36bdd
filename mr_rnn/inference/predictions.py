"""What the predict job writes for each record (in its map tasks), and the
probabilities and output units it shares with sampling and evaluation.
Task side: Python 3.8+ (docs/design.md §7)."""
import numpy as np

from mr_rnn.kernels.network import forward, lengths_of


def softmax(logits, temperature=1.0):
    """Probabilities over the last axis, in float64."""
    z = np.asarray(logits, np.float64) / temperature
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    return p / p.sum(axis=-1, keepdims=True)


def top_k(p, k):
    """Indices of the k largest entries of p (V,), largest first; ties by lower index."""
    order = np.argsort(-p, kind='stable')
    return order[:k] if k else order


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
      ``classes`` and ``probabilities`` per step (per-step models); a model
      that knows its class names (``schema.classes``) gives the name and
      {name: probability}, one without gives the id and a list by id
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
            rows.append(_classes(s, softmax(o), spec.head == 'per_step'))
        else:
            rows.append({'values': _in_units(s, model.config.data.horizon, o)})
    return rows


def _classes(schema, p, per_step):
    """p (C,) or (T, C): the most likely class and the probabilities, by name
    when the model has names (docs/design.md §3.4), else by id as before names
    existed, so that older consumers of the lines keep working."""
    best = p.argmax(-1).tolist()
    if schema.classes is None:
        probabilities = p.tolist()
    elif per_step:
        best = [schema.classes[c] for c in best]
        probabilities = [dict(zip(schema.classes, row)) for row in p.tolist()]
    else:
        best = schema.classes[best]
        probabilities = dict(zip(schema.classes, p.tolist()))
    return {'classes' if per_step else 'class': best, 'probabilities': probabilities}


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
