"""Score records with a checkpoint (map only): MRPredict's map as a plain function.

    map: record -> (None, {"id": ..., <prediction>} | {"id": ..., "error": reason})
         (batched inside the task)

What a record is, and its id:

    jsonl  one line; its "id" field, else FILE:LINE. "y" may be left out.
    text   one line; FILE:LINE. The k most likely tokens (characters, or words) to follow it.
    csv    every window of --window consecutive good rows of a file; FILE:LINE
           of the window's last row. The next --horizon rows of the targets,
           in the data's own units.

A record the model cannot read gives {"id": ..., "error": reason} and counts
as a bad record, so every input line has its output line.
"""
import functools
import json

from mr_rnn.data.batching import make_batch
from mr_rnn.data.jsonl import JsonlReader, load_json
from mr_rnn.data.readers import file_reader
from mr_rnn.data.records import BadRecord, Sequence, as_bad_record, decode_utf8
from mr_rnn.data.text import TextReader
from mr_rnn.inference.predictions import predictions

TOP_K = 5       # language models: the next tokens listed per record


class PredictMap:
    """``add(record)`` -> the lines of any batch it completes; ``finish()`` the rest."""

    def __init__(self, model, top_k=TOP_K):
        self.model, self.top_k = model, top_k
        self.pending = []                  # (id, Sequence) waiting for a full batch
        self.stats = {'records': 0, 'bad': 0}
        schema, data = model.schema, model.config.data
        self.jsonl = (JsonlReader(schema, data.max_ids, data) if schema.format == 'jsonl'
                      else None)
        if schema.format == 'text':
            self.text = TextReader(schema, data.seq_len)
            self.read_line = self.prime
        elif self.jsonl is not None:
            self.read_line = self.jsonl.sequences
        # csv: no targets, predict past the end of the series; documents need no label
        self.file_reader = file_reader(schema, data, horizon=0)

    def prime(self, raw):
        """A text line as the prime of a language model, as ``mr-rnn sample`` reads it."""
        ids = self.text.encode(decode_utf8(raw) or '\n')
        return [Sequence(ids, ids)]

    def add(self, record):
        self.stats['records'] += 1
        record_id, read = record.where, record.read
        if self.jsonl is not None:
            record_id, raw = self.identify(record.key, record.where)
            read = functools.partial(self.jsonl.sequences, raw)
        try:
            seq, = read()
        except Exception as e:     # never a failed task: records.as_bad_record says why
            self.stats['bad'] += 1
            return [(None, {'id': record_id, 'error': str(as_bad_record(e))})]
        self.pending.append((record_id, seq))
        if len(self.pending) >= self.model.config.batch_size:
            return list(self.flush())
        return []

    def finish(self):
        yield from self.flush()

    def identify(self, raw, where):
        """-> (the record's id, raw bytes for the reader). A jsonl record without
        its target ("y", or --label-field) gets a placeholder, which the reader
        checks and predict ignores."""
        try:
            record = load_json(raw)
        except BadRecord:
            return where, raw      # the reader names what is wrong
        if not isinstance(record, dict):
            return where, raw
        x_name, y_name = self.jsonl.data.text_field, self.jsonl.data.label_field
        if y_name not in record and isinstance(record.get(x_name), (list, str)):
            record[y_name] = placeholder_target(self.model.schema, len(record[x_name]))
            raw = json.dumps(record).encode('utf-8')
        return record.get('id', where), raw

    def flush(self):
        if not self.pending:
            return
        schema = self.model.schema
        batch = make_batch([s for _, s in self.pending], schema.token_input, schema.per_step,
                           self.model.dtype)
        for (record_id, _), prediction in zip(self.pending, predictions(
                self.model, batch, self.top_k)):
            yield None, {'id': record_id, **prediction}
        self.pending = []


def placeholder_target(schema, steps):
    """A target of the model's kind for a record that has none: predict ignores it."""
    kind = schema.y_kind
    if kind == 'last:class':
        return 0
    if kind == 'step:class':
        return [0] * steps
    if kind == 'last:name':
        return schema.classes[0]
    if kind == 'step:name':
        return [schema.classes[0]] * steps
    if kind.startswith('last:vec'):
        return [0.0] * schema.output_size
    return [[0.0] * schema.output_size] * steps
