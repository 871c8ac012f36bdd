"""Learn a data set's schema in one pass: the vocabulary of a text, the shapes
and classes of jsonl records, the columns and statistics of csv series.

    map:     record -> facts (small counters), summed in the task
    combine: merge facts
    reduce:  merge facts -> ('facts', totals)
"""
from mrjob.protocol import JSONProtocol

from mr_rnn.data.records import LINE_FACTS, as_bad_record, csv_facts
from mr_rnn.data.schema import merge_facts
from mr_rnn.jobs.base import RecordJob


class MRDescribeData(RecordJob):
    INTERNAL_PROTOCOL = JSONProtocol
    OUTPUT_PROTOCOL = JSONProtocol

    def steps(self):
        return [self.record_step(
            mapper_init=self.mapper_init_facts,
            mapper_final=self.mapper_final_emit_facts,
            combiner=self.reducer_merge_facts,
            reducer=self.reducer_merge_facts)]

    def mapper_init_facts(self):
        self.facts = {'records': 0, 'bad': 0, 'examples': []}
        self.line_facts = LINE_FACTS.get(self.options.format)

    def on_record(self, raw, where):
        try:
            facts = self.line_facts(raw)
        except Exception as e:     # never a failed task: records.as_bad_record says why
            facts = {'records': 1, 'bad': 1, 'examples': [f'{where}: {as_bad_record(e)}']}
        self.facts = merge_facts(self.facts, facts)

    def on_file(self, lines, where):
        self.facts = merge_facts(self.facts, csv_facts(lines, where))
        return ()

    def mapper_final_emit_facts(self):
        """-> ('facts', facts of this task)"""
        yield 'facts', self.facts

    def reducer_merge_facts(self, key, facts):
        """('facts', facts...) -> ('facts', merged)"""
        total = {}
        for f in facts:
            total = merge_facts(total, f)
        yield key, total


if __name__ == '__main__':
    MRDescribeData.run()
