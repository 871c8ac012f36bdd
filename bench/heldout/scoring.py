"""The one scorer of both models in bench/quality.py: held-out bits per
character, each held-out line (with its newline) from a zero state, every
character after the first predicted. An mr_rnn checkpoint's weights are loaded
into the same torch module as the PyTorch loop's; numpy_bits, mr_rnn's own
forward pass, checks the scorer on every run."""
import math

import numpy as np

LN2 = math.log(2)
BATCH_CHARS = 65536     # characters per scoring batch, lines of similar length together


def torch_model(torch, vocab_size, hidden):
    class CharLSTM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.LSTM(vocab_size, hidden)       # time-major, one-hot input
            self.head = torch.nn.Linear(hidden, vocab_size)

        def forward(self, ids):                                # ids (T, B) -> logits (T, B, V)
            x = torch.nn.functional.one_hot(ids, vocab_size).float()
            return self.head(self.rnn(x)[0])
    return CharLSTM()


def length_groups(held):
    """Indices of ``held`` in groups of about BATCH_CHARS, shortest lines first."""
    order = sorted(range(len(held)), key=lambda i: len(held[i]))
    start = 0
    while start < len(order):
        end = start + 1
        while end < len(order) and (end - start + 1) * len(held[order[end]]) <= BATCH_CHARS:
            end += 1
        yield order[start:end]
        start = end


def score(torch, params, text, hidden, lines=None):
    """Held-out bits per character: each line from a zero state."""
    model = torch_model(torch, len(text.vocab), hidden)
    model.load_state_dict({k: torch.from_numpy(np.asarray(v, np.float32)) for k, v in params.items()})
    held = text.held_ids if lines is None else [text.held_ids[i] for i in lines]
    nats, count = 0.0, 0
    with torch.no_grad():
        for group in length_groups(held):
            group = [held[i] for i in group]
            T = max(len(ids) for ids in group) - 1
            x = torch.zeros((T, len(group)), dtype=torch.long)
            y = torch.zeros((T, len(group)), dtype=torch.long)
            mask = torch.zeros((T, len(group)), dtype=torch.bool)
            for b, ids in enumerate(group):
                n = len(ids) - 1
                x[:n, b] = torch.from_numpy(ids[:-1])
                y[:n, b] = torch.from_numpy(ids[1:])
                mask[:n, b] = True
            logp = torch.log_softmax(model(x).double(), -1)
            picked = logp.gather(-1, y.unsqueeze(-1)).squeeze(-1)
            nats -= float(picked[mask].sum())
            count += int(mask.sum())
    return nats / count / LN2


def numpy_bits(params, text, hidden, lines):
    """mr_rnn's own forward pass on some held-out lines, to check the scorer."""
    from mr_rnn.kernels.network import NetworkSpec, forward
    spec = NetworkSpec('lstm', len(text.vocab), hidden, 1, len(text.vocab), True, 'per_step', 'xent')
    nats, count = 0.0, 0
    for i in lines:
        ids = text.held_ids[i]
        logits = forward(params, spec, ids[None, :-1], np.ones((1, len(ids) - 1), bool))[0]
        logits = logits.astype(np.float64)
        logz = np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1)) + logits.max(-1)
        nats += float((logz - logits[np.arange(len(ids) - 1), ids[1:]]).sum())
        count += len(ids) - 1
    return nats / count / LN2


def curve(torch, points, text, hidden):
    """Each point (a dict with 'params') scored: its 'bits' set."""
    for p in points:
        p['bits'] = score(torch, p['params'], text, hidden)
    return points


def first_reaching(points, bits):
    return next((p for p in points if p['bits'] <= bits), None)
