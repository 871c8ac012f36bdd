"""Learn a data set's schema in one pass: the vocabulary of a text, the shapes
and classes of jsonl records, the columns and statistics of csv series
(docs/design.md §3.1). The work is tasks/describe.py's.

    map:     record -> facts (small counters), summed in the task
    combine: merge facts
    reduce:  merge facts -> ('facts', totals)
"""
from mrjob.protocol import JSONProtocol

from mr_rnn.jobs.base import RecordJob
from mr_rnn.tasks.describe import DescribeMap, merge


class MRDescribeData(RecordJob):
    INTERNAL_PROTOCOL = JSONProtocol
    OUTPUT_PROTOCOL = JSONProtocol

    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg('--max-ids', type=int, default=None,
                              help='jsonl: token and class ids must be below this')

    def steps(self):
        return [self.record_step(mapper_init=self.mapper_init_facts,
                                 mapper_final=self.mapper_final_emit_facts,
                                 combiner=self.reducer_merge_facts,
                                 reducer=self.reducer_merge_facts)]

    def mapper_init_facts(self):
        self.task = DescribeMap(self.options.format, self.options.max_ids)

    def mapper_final_emit_facts(self):
        """-> ('facts', facts of this task)"""
        return self.task.finish()

    def reducer_merge_facts(self, key, facts):
        """('facts', facts...) -> ('facts', merged)"""
        return merge(key, facts)


if __name__ == '__main__':
    MRDescribeData.run()
