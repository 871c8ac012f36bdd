"""How the counts of many map tasks add up, and the bad-record examples they
carry (docs/design.md §3.7, §8.1).

A task counts what it read in a small dict of JSON values: the scalars of a
packet (codec/wire.py) and the describe job's facts (data/schema.py). Both
add up by ``merge_counts``, in combiners and reducers, so a count means the
same whichever job carried it. Imports nothing of mr_rnn: data and codec both
use it.
"""
import re

# Bad-record examples ('FILE:LINE: reason') a task keeps, a merge keeps, and
# the driver prints: one number, since nothing uses more than it prints. A
# task keeps its first in reading order, so the merged ones are the first by
# file and line.
BAD_EXAMPLES = 5


def example_order(example):
    """Sort key of a bad-record example 'FILE:LINE: reason': by file, then by line
    as a number (file:11 before file:100), as a reader goes through the data."""
    return [(0, int(part), '') if part.isdigit() else (1, 0, part)
            for part in re.split(r'(\d+)', example)]


def merge_counts(a, b, rules=None):
    """``a`` and ``b`` added up key by key, as a new dict: numbers add,
    ``max_*`` keys take the larger, ``examples`` lists merge in example_order
    and keep BAD_EXAMPLES, dicts add up key by key; a key of one side only is
    taken as it is. ``rules`` {key: merge(a_value, b_value)} decides the keys
    it names, where both sides have them."""
    out = dict(a)
    for key, value in b.items():
        if key == 'examples':
            out[key] = sorted(out.get(key, []) + value, key=example_order)[:BAD_EXAMPLES]
        elif key not in out:
            out[key] = value
        elif rules and key in rules:
            out[key] = rules[key](out[key], value)
        elif key.startswith('max_'):
            out[key] = max(out[key], value)
        elif isinstance(value, dict):
            out[key] = merge_counts(out[key], value)
        else:
            out[key] = out[key] + value
    return out
