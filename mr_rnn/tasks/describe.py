"""Learn a data set's schema in one pass (docs/design.md §3.1): the map,
combine and reduce of MRDescribeData as plain functions.

    map:     record -> facts (small counters), summed in the task
             -> ('facts', facts of this task)
             and its tokens and class names counted, a key each (data/vocab.py)
             -> ('t:' + token, count), ('c:' + class name, count)
    combine: ('facts', facts...) -> ('facts', merged);  (key, counts...) -> (key, sum)
    reduce:  ('facts', facts...) -> ('facts', merged);  (key, counts...) -> kept in
             the task's bounded top of counts -> at its end ('vocab', [[token, count], ...]),
             ('classes', [[name, count], ...])

A record is a line (text, jsonl: its facts), a whole csv series (the facts
of its rows) or a row of a table of documents; one that cannot be read is
counted as a bad record, never a failed task.
"""
from mr_rnn.config import DataConfig
from mr_rnn.data.readers import facts_reader
from mr_rnn.data.records import as_bad_record
from mr_rnn.data.schema import merge_facts
from mr_rnn.data.vocab import FLUSH_AT, TopCounts, merge_top

FACTS_KEY = 'facts'
# a counted key is its kind, ':' and the token: a string, as Spark's grouping
# hashes keys and a JSON list is no hashable key
TOKEN, CLASS = 't', 'c'
# what a record's facts count by key: their key in the facts -> the key's kind
COUNTED = {'chars': TOKEN, 'tokens': TOKEN, 'class_names': CLASS}
# the reducers' lists, by the kind of key they kept
OUTPUT = {TOKEN: 'vocab', CLASS: 'classes'}


class DescribeMap:
    """The map of one task: ``add(record)`` each record (which may return the
    counts of FLUSH_AT distinct keys), then ``finish()``."""

    def __init__(self, fmt, max_ids=None, data=None):
        self.read_line, self.file_reader = facts_reader(fmt, max_ids, data)
        self.facts = {'records': 0, 'bad': 0, 'examples': []}
        self.counts = {}

    def add(self, record):
        try:
            facts = record.read()
        except Exception as e:     # never a failed task: records.as_bad_record says why
            facts = {'records': 1, 'bad': 1, 'examples': [f'{record.where}: {as_bad_record(e)}']}
        for name, kind in COUNTED.items():
            for key, n in facts.pop(name, {}).items():
                self.counts[kind, key] = self.counts.get((kind, key), 0) + n
        self.facts = merge_facts(self.facts, facts)
        if len(self.counts) >= FLUSH_AT:
            return list(self.emit_counts())
        return []

    def emit_counts(self):
        counts, self.counts = self.counts, {}
        for (kind, key), n in counts.items():
            yield f'{kind}:{key}', n

    def finish(self):
        yield FACTS_KEY, self.facts
        yield from self.emit_counts()


def merge(key, values):
    """The combiner: ('facts', facts...) -> ('facts', merged); a counted key's
    counts -> their sum"""
    if key == FACTS_KEY:
        total = {}
        for f in values:
            total = merge_facts(total, f)
        yield key, total
    else:
        yield key, sum(values)


class DescribeReduce:
    """A reduce task: facts merged, and each counted key's total kept in a
    bounded top of counts (data/vocab.TopCounts) until ``finish()``."""

    def __init__(self, fmt, data):
        data = data or DataConfig(format=fmt)
        self.tops = {TOKEN: TopCounts(tokens_kept(data, fmt), data.min_count),
                     CLASS: TopCounts(data.max_ids)}

    def add(self, key, values):
        if key == FACTS_KEY:
            yield from merge(key, values)
            return
        kind, name = key.split(':', 1)
        self.tops[kind].add(name, sum(values))

    def finish(self):
        for kind, top in self.tops.items():
            entries = top.top()
            if entries:
                yield OUTPUT[kind], entries


def tokens_kept(data, fmt):
    """How many tokens beside <unk> the vocabulary keeps: --max-vocab - 1."""
    return data.vocab_size(data.token_kind(fmt)) - 1


def results(output, fmt, data):
    """The describe job's output pairs -> its facts, with ``vocab`` and
    ``classes`` merged from every reducer's lists (data/vocab.merge_top)."""
    facts, lists = {'records': 0}, {'vocab': [], 'classes': []}
    for key, value in output:
        if key == FACTS_KEY:
            facts = value
        elif key in lists:
            lists[key].append(value)
    data = data or DataConfig(format=fmt)
    if lists['vocab']:
        facts['vocab'] = merge_top(lists['vocab'], tokens_kept(data, fmt), data.min_count)
    if lists['classes']:
        facts['classes'] = merge_top(lists['classes'], data.max_ids)
    return facts
