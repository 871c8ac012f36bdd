"""Text: a line is a record, cut into windows of --seq-len + 1 characters (docs/design.md §3.1)."""
import numpy as np

from mr_rnn.data.records import Sequence, decode_utf8


def text_facts(raw):
    line = decode_utf8(raw) + '\n'
    chars = {}
    for c in line:
        chars[c] = chars.get(c, 0) + 1
    return {'records': 1, 'chars': chars}


class TextReader:
    """Windows of a line (with its newline): input ids[s:s+L], target ids[s+1:s+L+1]."""

    def __init__(self, schema, seq_len):
        # ids by code point, one array lookup per line instead of a dict lookup
        # per character; code points past the vocabulary's largest map to the
        # last slot, 0 (unknown), as do characters outside the vocabulary
        chars = [(ord(c), i) for i, c in enumerate(schema.vocab) if len(c) == 1]
        self.table = np.zeros(max((cp for cp, _ in chars), default=0) + 2, np.int64)
        for cp, i in chars:
            self.table[cp] = i
        self.seq_len = seq_len

    def encode(self, text):
        points = np.frombuffer(text.encode('utf-32-le'), np.uint32)
        return self.table[np.minimum(points, len(self.table) - 1)]

    def sequences(self, raw):
        ids = self.encode(decode_utf8(raw) + '\n')
        L, n = self.seq_len, len(ids)
        # the last window may be short; its input stops where the targets do
        return [Sequence(ids[s:min(s + L, n - 1)], ids[s + 1:s + L + 1])
                for s in range(0, n - 1, L)]

