"""Learn a data set's schema in one pass: the vocabulary of a text, the shapes
and classes of jsonl records, the columns and statistics of csv series, the
vocabulary and class names of documents (docs/design.md §3.1). The work is
tasks/describe.py's.

    map:     record -> facts (small counters), summed in the task; tokens and
             class names counted by key: ('t:' + token, n), ('c:' + name, n)
    combine: merge facts; add the counts of a key
    reduce:  merge facts -> ('facts', totals); a key's total into the task's
             bounded top -> ('vocab', [[token, n], ...]), ('classes', [[name, n], ...])
"""
import json

from mrjob.protocol import JSONProtocol

from mr_rnn.config import DataConfig
from mr_rnn.jobs.base import RecordJob
from mr_rnn.tasks.describe import DescribeMap, DescribeReduce, merge


class MRDescribeData(RecordJob):
    INTERNAL_PROTOCOL = JSONProtocol
    OUTPUT_PROTOCOL = JSONProtocol

    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg('--max-ids', type=int, default=None,
                              help='jsonl: token and class ids must be below this')
        self.add_passthru_arg('--data', default=None,
                              help="the run's data section as JSON: fields, columns, tokens, "
                                   'the vocabulary size')

    def data_config(self):
        if self.options.data is None:
            return None
        return DataConfig(**json.loads(self.options.data))

    def steps(self):
        return [self.record_step(mapper_init=self.mapper_init_facts,
                                 mapper_final=self.mapper_final_emit_facts,
                                 combiner=self.combiner_merge,
                                 reducer_init=self.reducer_init_top,
                                 reducer=self.reducer_merge,
                                 reducer_final=self.reducer_final_emit_top)]

    def mapper_init_facts(self):
        self.task = DescribeMap(self.options.format, self.options.max_ids, self.data_config())

    def mapper_final_emit_facts(self):
        """-> ('facts', facts of this task), ('KIND:TOKEN', count) of the rest"""
        return self.task.finish()

    def combiner_merge(self, key, values):
        """('facts', facts...) -> ('facts', merged); ('KIND:TOKEN', counts) -> sum"""
        return merge(key, values)

    def reducer_init_top(self):
        self.reduce = DescribeReduce(self.options.format, self.data_config())

    def reducer_merge(self, key, values):
        """('facts', facts...) -> ('facts', merged); ('KIND:TOKEN', counts) -> nothing yet"""
        return self.reduce.add(key, values)

    def reducer_final_emit_top(self):
        """-> ('vocab', [[token, count], ...]), ('classes', [[name, count], ...])"""
        return self.reduce.finish()


if __name__ == '__main__':
    MRDescribeData.run()
