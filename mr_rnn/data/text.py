"""Text: a line is a record, cut into windows of --seq-len + 1 tokens (docs/design.md §3.1).

Tokens are characters (the default), or words (data/tokens.py), each line's
followed by the token of its line break, "\\n", so that a word model learns
where lines end as a character model does."""
import numpy as np

from mr_rnn.data import tokens as tokenizer
from mr_rnn.data.records import Sequence, decode_utf8


def text_facts(raw, settings=None):
    """A line's facts: its characters' counts (``chars``), or with word
    ``settings`` (schema.tokens) its tokens' (``tokens``)."""
    line = decode_utf8(raw) + '\n'
    if settings is not None and settings['kind'] == 'words':
        counts = {}
        for t in _line_tokens(line, settings):
            counts[t] = counts.get(t, 0) + 1
        counts.pop(tokenizer.UNK, None)
        return {'records': 1, 'tokens': counts}
    if settings is not None and settings.get('lowercase'):
        line = tokenizer.lower(line)
    chars = {}
    for c in line:
        chars[c] = chars.get(c, 0) + 1
    return {'records': 1, 'chars': chars}


def _line_tokens(text, settings):
    """Words of each line of ``text``, each line break a token of its own."""
    pieces = text.split('\n')
    out = []
    for i, piece in enumerate(pieces):
        out += tokenizer.tokenize(piece, settings)
        if i < len(pieces) - 1:
            out.append('\n')
    return out


class TextReader:
    """Windows of a line (with its newline): input ids[s:s+L], target ids[s+1:s+L+1]."""

    def __init__(self, schema, seq_len):
        self.settings = schema.tokens or tokenizer.settings('chars')
        self.seq_len = seq_len
        if self.settings['kind'] == 'words':
            self.words = tokenizer.Encoder(self.settings, schema.vocab).ids
            return
        self.words = None
        # ids by code point, one array lookup per line instead of a dict lookup
        # per character; code points past the vocabulary's largest map to the
        # last slot, 0 (unknown), as do characters outside the vocabulary
        chars = [(ord(c), i) for i, c in enumerate(schema.vocab) if len(c) == 1]
        self.table = np.zeros(max((cp for cp, _ in chars), default=0) + 2, np.int64)
        for cp, i in chars:
            self.table[cp] = i

    def encode(self, text):
        if self.words is not None:
            get = self.words.get
            return np.array([get(t, 0) for t in _line_tokens(text, self.settings)], np.int64)
        if self.settings.get('lowercase'):
            text = tokenizer.lower(text)
        points = np.frombuffer(text.encode('utf-32-le'), np.uint32)
        return self.table[np.minimum(points, len(self.table) - 1)]

    def sequences(self, raw):
        ids = self.encode(decode_utf8(raw) + '\n')
        L, n = self.seq_len, len(ids)
        # the last window may be short; its input stops where the targets do
        return [Sequence(ids[s:min(s + L, n - 1)], ids[s + 1:s + L + 1])
                for s in range(0, n - 1, L)]
