"""The vocabulary and the class names, as the describe job counts them
(docs/design.md §3.1): a key per token, never one dict of every token.

    map:     a task's counts {token: n}, emitted whenever they reach FLUSH_AT
             distinct tokens, and at its end
    combine: counts of one token added
    reduce:  a token's total; a reducer task keeps the k of most count that
             reach --min-count (``TopCounts``), and emits them at its end
    driver:  the reducers' lists merged (``merge_top``) into the k of most count

Every list holds at most k entries (2k while a TopCounts fills), so no task
and not the driver holds more than that, whatever the number of distinct
tokens. Ties of count go to the smaller token (code point order), so the
same data gives the same vocabulary on every runner, whatever its reducers.
"""
UNK = '<unk>'
# a map task's distinct tokens before it emits their counts and starts again
FLUSH_AT = 1 << 16


def rank(count, token):
    """Order of the kept tokens: most count first, ties by the smaller token."""
    return -count, token


class TopCounts:
    """The ``k`` (token, count) of most count, among those of at least
    ``min_count``; memory: at most 2k entries."""

    def __init__(self, k, min_count=1):
        self.k, self.min_count = k, min_count
        self.kept = []

    def add(self, token, count):
        if count >= self.min_count and self.k > 0:
            self.kept.append(rank(count, token))
            if len(self.kept) >= 2 * self.k:
                self._trim()

    def _trim(self):
        self.kept.sort()
        del self.kept[self.k:]

    def top(self):
        """[[token, count], ...] by rank"""
        self._trim()
        return [[token, -minus] for minus, token in self.kept]


def merge_top(lists, k, min_count=1):
    """Lists of [token, count] (each token's total in one list, as a reducer
    has it) -> the k of most count."""
    top = TopCounts(k, min_count)
    for entries in lists:
        for token, count in entries:
            top.add(token, count)
    return top.top()


def top_of_counts(counts, k, min_count=1):
    """{token: count} held in memory (a test, a bench) -> the k of most count."""
    return merge_top([counts.items()], k, min_count)


def vocab_of(top):
    """The vocabulary of the kept tokens: <unk> as id 0, then the tokens in
    their own order (characters in code point order, as before words came)."""
    return (UNK,) + tuple(sorted(token for token, _ in top))
