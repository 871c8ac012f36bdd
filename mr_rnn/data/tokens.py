"""Text into tokens, and tokens into ids (docs/design.md §3.1).

    chars   every character is a token (the default of --format text)
    words   a word is a run of word characters (letters, marks, numbers, _);
            every other character that is not white space (a punctuation mark,
            a symbol) is a token of its own; white space only separates

A tokenizer's settings are a plain JSON-able dict, kept in the checkpoint as
``schema.tokens`` and written beside an exported model:

    {"kind": "words", "lowercase": true, "max_token_chars": 100}

A token longer than ``max_token_chars`` is ``<unk>`` (id 0), never a
vocabulary entry. The same text gives the same tokens on every task Python:
what is a word character and what lowercasing does come from the frozen
Unicode tables of word_chars.py, never from ``re``'s ``\\w`` or ``str.lower``,
which follow each Python's own Unicode version. ``re`` is given the tables'
ranges as explicit character classes, which it matches by code point alone.

Stdlib only, Python 3.7+, and nothing of mr_rnn but the tables: copied next to
an exported model's JSON file (``{"tokens": ..., "vocab": [...], ...}``),
``encode(text, settings, vocab)`` turns a raw string into the model's input
ids, and ``model_input(text, tokenizer)`` does it from the file's content alone,
cut to the model's --max-len as training and predict cut a record.
"""
import re

try:
    from mr_rnn.data import word_chars
except ImportError:         # copied beside word_chars.py, outside the package
    import word_chars

UNK = '<unk>'
KINDS = ('chars', 'words')
MAX_TOKEN_CHARS = 100


def settings(kind, lowercase=False, max_token_chars=MAX_TOKEN_CHARS):
    """The settings dict of a tokenizer (``schema.tokens``)."""
    if kind not in KINDS:
        raise ValueError(f'unknown tokens kind {kind!r}: one of {", ".join(KINDS)}')
    return {'kind': kind, 'lowercase': bool(lowercase), 'max_token_chars': int(max_token_chars)}


def _char_class(ranges):
    return ''.join(re.escape(chr(a)) if a == b else f'{re.escape(chr(a))}-{re.escape(chr(b))}'
                   for a, b in ranges)


def _token_pattern():
    """A run of word characters, else one character that is neither a word
    character nor space. ``re`` tests a class that holds code points past
    U+FFFF range by range, but a class of the Basic Multilingual Plane in one
    lookup; so the classes are split at U+10000, and only a character past it
    (an emoji, say) is tested against the ranges past it: 5 times faster."""
    astral = '\U00010000-\U0010ffff'
    word = _char_class(r for r in word_chars.WORD if r[1] < 0x10000)
    word_astral = _char_class(r for r in word_chars.WORD if r[0] >= 0x10000)
    assert not [r for r in word_chars.WORD if r[0] < 0x10000 <= r[1]]
    space = _char_class(word_chars.SPACE)
    word_char = f'(?:[{word}]+|(?=[{astral}])[{word_astral}])'
    return re.compile(f'{word_char}+|[^{word}{space}{astral}]|(?=[{astral}])[^{word_astral}]')


_TOKEN = _token_pattern()
_LOWER = None


def lower(text):
    """``text`` lowercased by the frozen tables (Unicode word_chars.UNICODE_VERSION)."""
    global _LOWER
    if _LOWER is None:
        table = dict(word_chars.LOWER_MULTI)
        for first, count, step, delta in word_chars.LOWER_RUNS:
            for k in range(count):
                table[first + k * step] = chr(first + k * step + delta)
        _LOWER = table
    return text.translate(_LOWER)


def tokenize(text, settings):
    """A string -> its tokens (strings); a token past max_token_chars is UNK."""
    if settings.get('lowercase'):
        text = lower(text)
    if settings['kind'] == 'chars':
        return list(text)
    limit = settings.get('max_token_chars', MAX_TOKEN_CHARS)
    return [t if len(t) <= limit else UNK for t in _TOKEN.findall(text)]


class Encoder:
    """Tokens -> ids by a vocabulary (a list of tokens by id; id 0 is UNK, and
    every token outside the vocabulary maps to it)."""

    def __init__(self, settings, vocab):
        self.settings = settings
        self.ids = {token: i for i, token in enumerate(vocab)}

    def __call__(self, text):
        get = self.ids.get
        return [get(t, 0) for t in tokenize(text, self.settings)]


def encode(text, settings, vocab):
    """A raw string -> the ids a model reads, from an exported model's JSON file
    alone: ``encode(s, meta["tokens"], meta["vocab"])``. For many strings, make
    one ``Encoder(settings, vocab)`` and call it."""
    return Encoder(settings, vocab)(text)


def model_input(text, tokenizer):
    """A raw string -> the ids an exported model reads, from its tokenizer
    file's content (``tokenizer``: the parsed ``OUT.tokenizer.json``): the
    tokens by its ``tokens`` and ``vocab``, then at most ``max_len`` of them,
    the first or (``keep`` "end") the last, as mr-rnn cut the records it
    trained on and cuts those it predicts (docs/design.md §3.1)."""
    ids = encode(text, tokenizer['tokens'], tokenizer['vocab'])
    n = tokenizer.get('max_len')
    if n:
        ids = ids[-n:] if tokenizer.get('keep') == 'end' else ids[:n]
    return ids
