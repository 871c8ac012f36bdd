"""A model job's map task: its records routed to the job's own sums or to the
validation loss sums (docs/design.md §6), batched, bad ones counted. The map
of each model job (gradient_step.GradientMap, ...) is a Shard:

    task = GradientMap(model, routing)
    for record in records:              # data/task_input.Records, read with
        task.add(record)                # task.read_line or task.file_reader
    packets = list(task.finish())       # the task's output; task.stats its counts

Memory is bounded by one batch per stream (with a carried state, one Lanes:
data/batching.py), not by the shard.
"""
from mr_rnn.data.batching import BatchStream
from mr_rnn.data.readers import LINE_FORMATS, file_reader, line_reader
from mr_rnn.data.routing import MAIN, VAL, Router
from mr_rnn.kernels.accumulate import LossSum
from mr_rnn.tasks.totals import VAL_KEY, loss_packet


class Stream:
    """Records in, batches into ``sums``."""

    def __init__(self, model, sums):
        self.batches = BatchStream(model.config.batch_size, model.schema, model.dtype,
                                   carry=model.carries_state)
        self.sums = sums

    def add(self, record):
        for batch in self.batches.add_record(record.read, record.where):
            self.sums.add(batch)

    def flush(self):
        batch = self.batches.flush()
        if batch is not None:
            self.sums.add(batch)
        return self.batches.stats


class Shard:
    """A model job's map task; its subclasses' ``finish()`` emit what it summed."""

    def __init__(self, model, routing, sums, samples=False):
        """``sums``: anything with ``add(batch)`` (kernels/accumulate.py), and
        optionally ``finish()``. ``samples``: a job that trains reads only the
        round's sample of records (--sample-fraction)."""
        cfg = model.config
        round_sample = (model.iteration, cfg.seed, cfg.sample_fraction) if samples else None
        self.router = Router(routing, cfg.val_fraction, round_sample)
        self.streams = {MAIN: Stream(model, sums)}
        if routing.with_val:
            # the loss of these very weights, never in the gradient or the local training
            self.streams[VAL] = Stream(model, LossSum(model.params, model.spec))
        self.sums = sums
        data = model.config.data
        # how the runner's input becomes records: a line at a time, or whole files
        if model.schema.format in LINE_FORMATS:
            self.read_line = line_reader(model.schema, data)
        else:
            self.file_reader = file_reader(model.schema, data)

    def add(self, record):
        if record.key is None:
            route = self.router.route_unread(record.file)
        else:
            route = self.router.route(record.key, record.file)
        if route is not None:
            self.streams[route].add(record)

    def flush(self):
        """Flush the job's own stream into its sums: -> its counts
        {records, bad, examples}."""
        stats = self.streams[MAIN].flush()
        if hasattr(self.sums, 'finish'):
            self.sums.finish()
        return stats

    def val_packets(self):
        """-> (VAL_KEY, {loss_sum, count, correct, records, bad, examples}) when
        the job measures validation data: the loss of its weights on them."""
        if VAL not in self.streams:
            return
        stream = self.streams[VAL]
        stats = stream.flush()
        yield VAL_KEY, loss_packet(stats, stream.sums, correct=stream.sums.correct)
