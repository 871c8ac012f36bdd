"""Writes mr_rnn/data/word_chars.py: the frozen Unicode tables of the word
tokenizer (docs/design.md §3.1), from one pinned Unicode version.

Python's unicodedata is the version of the Python running it (11.0 on 3.7,
12.1 on 3.8, 13.0 on 3.9, 14.0 on 3.11, 15.1 on 3.13), so `\\w`, str.isalnum
and str.lower do not give the same answer on every task Python. The tokenizer
reads these tables instead, and this script is the one way they are made:

    python3.11 tools/unicode_tables.py      # refuses any other Unicode version

tests/test_tokens.py checks that running it again gives the committed file.
"""
import os
import sys
import unicodedata

PINNED = '14.0.0'
OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                   'mr_rnn', 'data', 'word_chars.py')
MAX_CODE_POINT = 0x10FFFF
# letters, marks, numbers and the connector punctuation (_): what a word is made of
WORD_CATEGORIES = ('L', 'M', 'N', 'Pc')


def ranges(predicate):
    """[(first, last), ...] of the code points where predicate holds, merged."""
    out = []
    for cp in range(MAX_CODE_POINT + 1):
        if predicate(cp):
            if out and out[-1][1] == cp - 1:
                out[-1][1] = cp
            else:
                out.append([cp, cp])
    return [tuple(r) for r in out]


def is_word(cp):
    return unicodedata.category(chr(cp)).startswith(WORD_CATEGORIES)


def is_space(cp):
    return chr(cp).isspace()


def lower_runs():
    """str.lower of this version as runs (first, count, step, delta): for k <
    count, first + k*step lowers to the one code point first + k*step + delta;
    and {code point: lowered string} for the few that lower to more than one."""
    single, multi = [], {}
    for cp in range(MAX_CODE_POINT + 1):
        low = chr(cp).lower()
        if low == chr(cp):
            continue
        if len(low) == 1:
            single.append((cp, ord(low) - cp))
        else:
            multi[cp] = low
    runs = []
    for cp, delta in single:
        if runs:
            first, count, step, d = runs[-1]
            last = first + (count - 1) * step
            if d == delta and (count == 1 and cp - last in (1, 2) or
                               count > 1 and cp - last == step):
                runs[-1] = (first, count + 1, cp - last if count == 1 else step, d)
                continue
        runs.append((cp, 1, 1, delta))
    return runs, multi


def wrapped(items, per_line):
    lines = []
    for i in range(0, len(items), per_line):
        lines.append('    ' + ' '.join(f'{item},' for item in items[i:i + per_line]))
    return '\n'.join(lines)


def source():
    words, spaces = ranges(is_word), ranges(is_space)
    runs, multi = lower_runs()
    hexes = lambda t: '(' + ', '.join(f'0x{v:X}' if v >= 0 else f'-0x{-v:X}' for v in t) + ')'
    return f'''"""Frozen Unicode {PINNED} tables of the word tokenizer (data/tokens.py,
docs/design.md §3.1), so that every task Python tokenizes alike whatever its
own unicodedata. Written by tools/unicode_tables.py; do not edit.
Task side: stdlib only, Python 3.7+."""

UNICODE_VERSION = {PINNED!r}

# (first, last) code points of the word characters: letters, marks, numbers, connector
# punctuation (categories {", ".join(WORD_CATEGORIES)})
WORD = (
{wrapped([hexes(r) for r in words], 6)}
)

# (first, last) code points of white space (str.isspace)
SPACE = (
{wrapped([hexes(r) for r in spaces], 6)}
)

# str.lower as runs (first, count, step, delta): first + k*step lowers to first + k*step + delta
LOWER_RUNS = (
{wrapped([hexes(r) for r in runs], 4)}
)

# code points that lower to more than one character
LOWER_MULTI = {{
{wrapped([f'0x{cp:X}: {ascii(low)}' for cp, low in sorted(multi.items())], 4)}
}}
'''


def main():
    if unicodedata.unidata_version != PINNED:
        sys.exit(f'this Python has Unicode {unicodedata.unidata_version}; the tables are '
                 f'pinned to {PINNED}: run it with Python 3.11')
    with open(OUT, 'w', encoding='utf-8') as f:
        f.write(source())


if __name__ == '__main__':
    main()
