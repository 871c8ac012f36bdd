"""Text into tokens (mr_rnn/data/tokens.py): what a word is, the frozen
Unicode tables the tokenizer reads instead of each Python's own, and the same
tokens on every task Python (docs/design.md §3.1)."""
import bisect
import json
import os
import random
import shutil
import subprocess
import sys

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from conftest import ROOT, unavailable
from mr_rnn.data import tokens, word_chars
from pythons import SUPPORTED, base_interpreter, task_python

WORDS = tokens.settings('words')
LOWER_WORDS = tokens.settings('words', lowercase=True)


def test_words_and_punctuation_marks_are_tokens():
    text = "Don't BUY cheap pills now!!! 3.5% off — naïve café, 東京タワー x_y 😀"
    assert tokens.tokenize(text, LOWER_WORDS) == [
        'don', "'", 't', 'buy', 'cheap', 'pills', 'now', '!', '!', '!', '3', '.', '5', '%',
        'off', '—', 'naïve', 'café', ',', '東京タワー', 'x_y', '😀']
    assert tokens.tokenize('Cheap  PILLS\n', WORDS) == ['Cheap', 'PILLS']
    assert tokens.tokenize(' \t\n\u3000', WORDS) == []
    # combining marks stay in their word
    assert tokens.tokenize('cafe\u0301 ok', WORDS) == ['cafe\u0301', 'ok']


def test_chars_are_every_character():
    assert tokens.tokenize('Ab c\n', tokens.settings('chars')) == ['A', 'b', ' ', 'c', '\n']
    assert tokens.tokenize('Ab', tokens.settings('chars', lowercase=True)) == ['a', 'b']


def test_a_token_past_the_limit_is_unk():
    huge = 'x' * 101
    assert tokens.tokenize(f'a {huge} b', WORDS) == ['a', tokens.UNK, 'b']
    assert tokens.tokenize('y' * 100, WORDS) == ['y' * 100]
    assert tokens.tokenize('a bb', tokens.settings('words', max_token_chars=1)) == ['a', '<unk>']


def test_one_huge_word_is_one_unk_quickly():
    assert tokens.tokenize('a' * (16 << 20), WORDS) == [tokens.UNK]


def test_encode_needs_only_the_settings_and_the_vocabulary():
    vocab = [tokens.UNK, '!', 'buy', 'cheap']
    meta = json.loads(json.dumps({'tokens': LOWER_WORDS, 'vocab': vocab}))
    assert tokens.encode('Buy CHEAP pills!', meta['tokens'], meta['vocab']) == [2, 3, 0, 1]
    assert tokens.encode('', meta['tokens'], meta['vocab']) == []


def test_the_settings_are_plain_json():
    assert json.loads(json.dumps(LOWER_WORDS)) == LOWER_WORDS == {
        'kind': 'words', 'lowercase': True, 'max_token_chars': 100}
    with pytest.raises(ValueError, match='unknown tokens kind'):
        tokens.settings('bytes')


# ── the tokenizer is its tables: a character at a time, by bisection ──

def in_ranges(ranges, cp):
    i = bisect.bisect_right([a for a, _ in ranges], cp) - 1
    return i >= 0 and ranges[i][0] <= cp <= ranges[i][1]


def reference_tokens(text, settings):
    """The word tokenizer written out from its definition and the tables."""
    if settings['lowercase']:
        text = tokens.lower(text)
    out, word = [], ''
    for c in text:
        if in_ranges(word_chars.WORD, ord(c)):
            word += c
            continue
        if word:
            out.append(word)
            word = ''
        if not in_ranges(word_chars.SPACE, ord(c)):
            out.append(c)
    if word:
        out.append(word)
    return [t if len(t) <= settings['max_token_chars'] else tokens.UNK for t in out]


any_text = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=60)


@hsettings(max_examples=300, deadline=None)
@given(text=any_text, lower=st.booleans())
def test_the_tokenizer_is_its_tables(text, lower):
    settings = tokens.settings('words', lowercase=lower, max_token_chars=5)
    assert tokens.tokenize(text, settings) == reference_tokens(text, settings)


def test_the_tokenizer_is_its_tables_on_every_code_point():
    text = ''.join(chr(cp) for cp in range(0x110000) if cp % 3 == 0 or cp < 0x3000)
    assert tokens.tokenize(text, WORDS) == reference_tokens(text, WORDS)


def test_lowercasing_is_its_table():
    assert tokens.lower('ÀB İ ΣΑΣ Ǆ') == 'àb i\u0307 σασ ǆ'     # no final sigma: one table
    table = dict(word_chars.LOWER_MULTI)
    for first, count, step, delta in word_chars.LOWER_RUNS:
        table.update((first + k * step, chr(first + k * step + delta)) for k in range(count))
    assert len(table) > 1400
    assert all(tokens.lower(chr(cp)) == low for cp, low in table.items())


# ── the tables are the script's, from the pinned Unicode ──

def test_the_tables_are_what_the_script_writes_from_the_pinned_unicode(tmp_path):
    script = os.path.join(ROOT, 'tools', 'unicode_tables.py')
    python = sys.executable
    import unicodedata
    if unicodedata.unidata_version != word_chars.UNICODE_VERSION:
        python = base_interpreter('3.11')
        if python is None:
            unavailable(f'no Python 3.11 (Unicode {word_chars.UNICODE_VERSION}) to run '
                        'tools/unicode_tables.py with')
    copy = tmp_path / 'tools' / 'unicode_tables.py'
    copy.parent.mkdir()
    shutil.copy(script, copy)
    (tmp_path / 'mr_rnn' / 'data').mkdir(parents=True)
    subprocess.run([python, str(copy)], check=True, timeout=300)
    with open(os.path.join(ROOT, 'mr_rnn', 'data', 'word_chars.py'), encoding='utf-8') as f:
        committed = f.read()
    assert (tmp_path / 'mr_rnn' / 'data' / 'word_chars.py').read_text('utf-8') == committed


# ── the same tokens on every task Python ──

def sample_texts():
    """Text that reaches every Unicode version's differences: every code point
    up to U+33FFF and a sample past it, in words of random lengths."""
    rng = random.Random(7)
    points = [cp for cp in range(0x34000) if not 0xD800 <= cp < 0xE000]
    points += rng.sample(range(0x34000, 0x110000), 20000)
    rng.shuffle(points)
    out, i = [], 0
    while i < len(points):
        n = rng.randint(1, 12)
        out.append(''.join(map(chr, points[i:i + n])))
        i += n
    return [' '.join(out[j:j + 50]) for j in range(0, len(out), 50)]


PRINT_TOKENS = r'''
import json, sys
from tokens import settings, tokenize
texts = json.load(open(sys.argv[1]))
out = [[tokenize(t, settings('words', lowercase=lower)) for t in texts] for lower in (False, True)]
json.dump(out, open(sys.argv[2], 'w'))
'''


@pytest.mark.parametrize('version,requirement', [('3.7', None)] + SUPPORTED)
def test_tokens_are_the_same_on_every_task_python(tmp_path, version, requirement):
    python = task_python(version, requirement)
    texts = sample_texts()
    want = [[tokens.tokenize(t, tokens.settings('words', lowercase=lower)) for t in texts]
            for lower in (False, True)]
    # the two modules alone, as beside an exported model: no mr_rnn, no numpy needed
    for name in ('tokens.py', 'word_chars.py'):
        shutil.copy(os.path.join(ROOT, 'mr_rnn', 'data', name), tmp_path / name)
    (tmp_path / 'run.py').write_text(PRINT_TOKENS)
    (tmp_path / 'texts.json').write_text(json.dumps(texts))
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    subprocess.run([python, 'run.py', 'texts.json', 'out.json'], cwd=tmp_path, env=env,
                   check=True, timeout=600)
    got = json.loads((tmp_path / 'out.json').read_text())
    assert got == want
    # what the tables stand in for: this Python's own \w disagrees somewhere
    own = subprocess.run([python, '-c', 'import re, unicodedata, sys; '
                          'print(unicodedata.unidata_version)'], env=env, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert own != word_chars.UNICODE_VERSION
