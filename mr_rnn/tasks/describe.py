"""Learn a data set's schema in one pass (docs/design.md §3.1): the map,
combine and reduce of MRDescribeData as plain functions.

    map:     record -> facts (small counters), summed in the task
             -> ('facts', facts of this task)
    combine: ('facts', facts...) -> ('facts', merged)
    reduce:  ('facts', facts...) -> ('facts', merged)

A record is a line (text, jsonl: its facts) or a whole csv file (the facts of
its rows); one that cannot be read is counted as a bad record, never a failed task.
"""
from mr_rnn.data.readers import facts_reader
from mr_rnn.data.records import as_bad_record
from mr_rnn.data.schema import merge_facts

FACTS_KEY = 'facts'


class DescribeMap:
    """The map of one task: ``add(record)`` each record, then ``finish()``."""

    def __init__(self, fmt, max_ids=None):
        self.read_line, self.file_reader = facts_reader(fmt, max_ids)
        self.facts = {'records': 0, 'bad': 0, 'examples': []}

    def add(self, record):
        try:
            facts = record.read()
        except Exception as e:     # never a failed task: records.as_bad_record says why
            facts = {'records': 1, 'bad': 1, 'examples': [f'{record.where}: {as_bad_record(e)}']}
        self.facts = merge_facts(self.facts, facts)

    def finish(self):
        yield FACTS_KEY, self.facts


def merge(key, facts):
    """('facts', facts...) -> ('facts', merged): the combiner and the reducer"""
    total = {}
    for f in facts:
        total = merge_facts(total, f)
    yield key, total
