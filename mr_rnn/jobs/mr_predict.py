"""Score records with a checkpoint: one JSON line per record, map only. The
work is tasks/predict.py's (what a record is, its id, and what is written).

    map: record -> (None, {"id": ..., <prediction>} | {"id": ..., "error": reason})

There is no reduce: each map task writes its lines where the runner writes
output (``--output-dir``, on HDFS for Hadoop). A record the model cannot read
counts as a bad record (counter mr_rnn/bad_records), so every input line has
its output line.
"""
from mrjob.protocol import JSONValueProtocol

from mr_rnn.jobs.base import ModelJob
from mr_rnn.tasks.predict import TOP_K, PredictMap


class MRPredict(ModelJob):
    OUTPUT_PROTOCOL = JSONValueProtocol

    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg('--top-k', type=int, default=TOP_K,
                              help='language models: how many next tokens to list')

    def steps(self):
        return [self.record_step(mapper_init=self.mapper_init_predict,
                                 mapper_final=self.mapper_final_flush)]

    def mapper_init_predict(self):
        self.load_model(optimizer_state=False)
        self.task = PredictMap(self.model, self.options.top_k)

    def mapper_final_flush(self):
        """-> (None, {"id", prediction}) for the records of the last, partial batch"""
        yield from self.task.finish()
        self.count_records(self.task.stats)


if __name__ == '__main__':
    MRPredict.run()
