"""Score records with a checkpoint: one JSON line per record, map only.

    map: record -> {"id": ..., <prediction>}     (batched inside the task)

There is no reduce: each map task writes its lines where the runner writes
output (``--output-dir``, on HDFS for Hadoop). What a record is, and its id:

    jsonl  one line; its "id" field, else FILE:LINE. "y" may be left out.
    text   one line; FILE:LINE. The k most likely characters to follow it.
    csv    every window of --window consecutive good rows of a file; FILE:LINE
           of the window's last row. The next --horizon rows of the targets,
           in the data's own units.

A record the model cannot read gives {"id": ..., "error": reason} and counts
as a bad record (counter mr_rnn/bad_records), so every input line has its
output line.
"""
import json

from mrjob.protocol import JSONValueProtocol

from mr_rnn.data.batching import make_batch
from mr_rnn.data.records import (BadRecord, CsvReader, JsonlReader, Sequence, TextReader,
                                 as_bad_record, decode_utf8, load_json)
from mr_rnn.inference.predictions import predictions
from mr_rnn.jobs.base import ModelRecordJob


class MRPredict(ModelRecordJob):
    OUTPUT_PROTOCOL = JSONValueProtocol

    def configure_args(self):
        super().configure_args()
        self.add_passthru_arg('--top-k', type=int, default=5,
                              help='language models: how many next tokens to list')

    def steps(self):
        return [self.record_step(mapper_init=self.mapper_init_predict,
                                 mapper_final=self.mapper_final_flush)]

    def mapper_init_predict(self):
        self.load_model()
        self.pending = []                  # (id, Sequence) waiting for a full batch
        self.records, self.bad_records = 0, 0
        schema, cfg = self.model.schema, self.model.config.data
        if schema.format == 'text':
            text = TextReader(schema, cfg.seq_len)
            self.read = lambda raw: _prime(text, raw)
        elif schema.format == 'jsonl':
            jsonl = JsonlReader(schema)
            self.read = lambda raw: jsonl.sequences(raw)[0]

    def on_record(self, raw, where):
        """(None, raw line) -> (None, {"id", prediction | "error"}) per record, a batch at a time"""
        self.records += 1
        record_id = where
        try:
            record_id, raw = self.identify(raw, where)
            seq = self.read(raw)
        except Exception as e:     # never a failed task: records.as_bad_record says why
            return [self.bad(record_id, as_bad_record(e))]
        return self.add(record_id, seq)

    def on_file(self, lines, where):
        """(path of one csv file) -> (None, {"id", "values" | "error"}) per window"""
        cfg = self.model.config.data
        reader = CsvReader(self.model.schema, cfg.window, 0)   # no targets: predict past them
        line_no = [1]

        def numbered(lines):
            for line_no[0], line in enumerate(lines, start=1):
                yield line
        try:
            for item in reader.sequences_from_file(numbered(lines), where):
                self.records += 1
                if isinstance(item, Sequence):
                    yield from self.add(where(line_no[0]), item)
                else:
                    yield self.bad(*item)
        except BadRecord as e:
            self.records += 1
            yield self.bad(where(1), e)

    def mapper_final_flush(self):
        """-> (None, {"id", prediction}) for the records of the last, partial batch"""
        yield from self.flush()
        self.increment_counter('mr_rnn', 'records', self.records)
        self.increment_counter('mr_rnn', 'bad_records', self.bad_records)

    # ── records in, predictions out ──

    def identify(self, raw, where):
        """-> (the record's id, raw bytes for the reader). A jsonl record without
        "y" gets a placeholder, which the reader checks and predict ignores."""
        if self.model.schema.format != 'jsonl':
            return where, raw
        try:
            record = load_json(raw)
        except BadRecord:
            return where, raw      # the reader names what is wrong
        if not isinstance(record, dict):
            return where, raw
        if 'y' not in record and isinstance(record.get('x'), list):
            record['y'] = placeholder_target(self.model.schema, len(record['x']))
            raw = json.dumps(record).encode('utf-8')
        return record.get('id', where), raw

    def add(self, record_id, seq):
        self.pending.append((record_id, seq))
        if len(self.pending) >= self.model.config.batch_size:
            return list(self.flush())
        return []

    def flush(self):
        if not self.pending:
            return
        schema = self.model.schema
        batch = make_batch([s for _, s in self.pending], schema.token_input, schema.per_step,
                           self.model.dtype)
        for (record_id, _), prediction in zip(self.pending, predictions(
                self.model, batch, self.options.top_k)):
            yield None, {'id': record_id, **prediction}
        self.pending = []

    def bad(self, record_id, error):
        self.bad_records += 1
        return None, {'id': record_id, 'error': str(error)}


def _prime(text_reader, raw):
    """A text line as the prime of a language model, as ``mr-rnn sample`` reads it."""
    ids = text_reader.encode(decode_utf8(raw) or '\n')
    return Sequence(ids, ids)


def placeholder_target(schema, steps):
    """A target of the model's kind for a record that has none: predict ignores it."""
    kind = schema.y_kind
    if kind == 'last:class':
        return 0
    if kind == 'step:class':
        return [0] * steps
    if kind.startswith('last:vec'):
        return [0.0] * schema.output_size
    return [[0.0] * schema.output_size] * steps


if __name__ == '__main__':
    MRPredict.run()
