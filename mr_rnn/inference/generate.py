"""Using a trained model on the gateway machine: text sampling for character
and word language models and multi-step forecasts for csv series."""
import unicodedata

import numpy as np

from mr_rnn.data.csv_series import CsvReader
from mr_rnn.data.records import Sequence
from mr_rnn.errors import UserError
from mr_rnn.kernels.network import forward, step
from mr_rnn.inference.predictions import softmax, top_k


class TextCodec:
    """How a language model's text becomes token ids and its tokens text again:
    ``encode(text) -> ids`` (unknown tokens are id 0, ``<unk>``), ``join(tokens,
    prime) -> text`` to follow ``prime``, and ``unknown``, what id 0 is shown as."""

    def __init__(self, encode, join, unknown):
        self.encode, self.join, self.unknown = encode, join, unknown


def char_codec(vocab):
    """Characters (``--tokens chars``): one id per character, joined as they are."""
    index = {c: i for i, c in enumerate(vocab)}
    return TextCodec(lambda text: [index.get(c, 0) for c in text],
                     lambda tokens, prime='': ''.join(tokens), '?')


def word_codec(vocab, tokenize):
    """Words and punctuation marks (``--tokens words``): ``tokenize(text) ->
    tokens``, the same function that made the vocabulary, so a prime is read
    as the training text was; the generated tokens are joined by
    ``join_words``."""
    index = {t: i for i, t in enumerate(vocab)}
    return TextCodec(lambda text: [index.get(t, 0) for t in tokenize(text)], join_words, '<unk>')


def text_codec(schema):
    """The codec of a language model's ``schema.token_settings()``."""
    settings = schema.token_settings()
    if settings['kind'] == 'words':
        from mr_rnn.data import tokens
        return TextCodec(lambda text: tokens.encode(text, settings, schema.vocab), join_words,
                         '<unk>')
    return char_codec(schema.vocab)


OPENING = set('([{\u00bf\u00a1')          # no space after these
CLOSING = set('.,;:!?)]}%\u2026')       # nor before these
ATTACHED = set("'\u2019-/")               # nor on either side: don't, well-known, and/or
QUOTES = set('"\u201c\u201d')           # the first of a pair opens, the second closes


def join_words(tokens, prime=''):
    """Word tokens as text that follows ``prime``: a space between words, none
    before closing punctuation or after opening punctuation, none around an
    apostrophe or a hyphen (nor before a token that starts with one: 's), and
    straight double quotes taken to open and close in turn, counting those of
    ``prime``. A token of whitespace (a line break the tokenizer kept) stands as
    it is, with no space beside it."""
    quotes = prime.count('"')
    last = prime[-1:]
    glue = not prime or last.isspace() or last in OPENING or last in ATTACHED or (
        last == '"' and quotes % 2 == 1) or last == '\u201c'
    text = ''
    for token in tokens:
        if token in QUOTES:
            opening = token == '\u201c' or (token == '"' and quotes % 2 == 0)
            quotes += 1
            text += token if glue or not opening else ' ' + token
            glue = opening
            continue
        before = not (glue or token.isspace() or token in CLOSING or token[:1] in ATTACHED
                      or _is_closing_mark(token))
        text += ' ' + token if before else token
        glue = token.isspace() or token in OPENING or token in ATTACHED
    return text


def _is_closing_mark(token):
    """Punctuation that closes what precedes it, beyond the common ones listed
    in CLOSING: Unicode's closing and final-quote classes."""
    return len(token) == 1 and unicodedata.category(token) in ('Pe', 'Pf')


def sample_text(model, prime, length, temperature=1.0, seed=0, k=0, codec=None):
    """Tokens (characters, or words) drawn one at a time from
    softmax(logits / temperature), restricted to the ``k`` most likely ones
    when k > 0 (renormalised), after the model has read ``prime`` (a line
    break when empty); the text that follows ``prime``. ``codec``: how text
    and tokens convert, by default the model's own (``text_codec``)."""
    vocab = model.schema.vocab
    codec = codec or text_codec(model.schema)
    rng = np.random.default_rng(seed)
    # a word tokenizer may keep nothing of a line break: then <unk> starts the text
    ids = codec.encode(prime or '\n') or [0]
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
        out.append(vocab[token] if token else codec.unknown)
        logits, state = step(model.params, model.spec, np.array([[token]]), state)
    return codec.join(out, prime)


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
