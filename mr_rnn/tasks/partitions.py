"""A run's passes over the partitions of records an engine keeps between
rounds (a Spark application: docs/design.md §4, "One Spark application per
run"). Plain functions of iterators, with no Spark in them: the engine hands
them to its own map over partitions and its own sum by key.

    input items      (file, line index, raw line bytes) of text and jsonl,
                     (file, whole file's bytes) of csv
    describe         items -> DescribeMap -> ('facts', ...), ('t:TOKEN', n), ...
                     summed by key (describe.merge) -> DescribeReduce per partition
    parse            items -> data/task_input.ReadRecord: each record read once,
                     against the schema, and kept
    a round          kept records -> the round's map task (gradient_step.GradientMap,
                     average_step.AverageMap, evaluate.EvaluateMap) -> (key, Packet)
                     summed by key (add_two: a combiner and a reducer's sum alike)
                     -> the round's reduces, per block (REDUCES)
    predict          items -> predict.PredictMap -> (LINE, its JSON line), in input
                     order, then (STATS, {records, bad}): map only, read once

A partition is one map task, as a split is on the other runners; ``contiguous``
cuts the records into partitions of consecutive records in input order, so
that which records a task trains on is known (average mode, §5). The fault
seams of the MapReduce jobs (fault_seams.py) are called at the same points,
under the job names of the other runners, so a test names a task alike on
every runner.
"""
import functools
import json

import numpy as np

from mr_rnn import fault_seams
from mr_rnn.codec.wire import add_packets
from mr_rnn.data.readers import LINE_FORMATS, file_reader, line_reader
from mr_rnn.data.task_input import Record, ReadRecord, bytes_records, local_path
from mr_rnn.tasks import average_step, gradient_step
from mr_rnn.tasks.describe import FACTS_KEY, DescribeMap, DescribeReduce, merge
from mr_rnn.tasks.evaluate import EvaluateMap
from mr_rnn.tasks.predict import PredictMap
from mr_rnn.tasks.totals import reduce_blocks

# the jobs of the other runners whose work each pass does: the names in fault
# seams and in a failed pass's one line
DESCRIBE, GRADIENT, AVERAGE, EVALUATE, PREDICT = ('MRDescribeData', 'MRGradientStep',
                                                  'MRAverageStep', 'MREvaluate', 'MRPredict')
LINE, STATS = 'line', 'stats'       # what the predict pass yields


def records(items, read_line, records_of_file):
    """Input items -> task_input.Records, named ``FILE:LINE`` as the other
    runners name them."""
    for item in items:
        if len(item) == 3:
            file, index, raw = item
            name = local_path(file)
            yield Record(raw, f'{name}:{index + 1}', name, functools.partial(read_line, raw))
        else:
            file, data = item
            yield from bytes_records(data, local_path(file), records_of_file)


def line_item(file, pair):
    """(raw line, its index in ``file``) -> an input item"""
    raw, index = pair
    return file, index, raw


def file_item(file, pair):
    """(the engine's name of a file, its bytes) -> an input item named ``file``"""
    return file, pair[1]


def count(items):
    yield sum(1 for _ in items)


def numbered(starts, part, items):
    """The items of partition ``part`` -> (index in the whole input, item)."""
    for index, item in enumerate(items, start=starts[part]):
        yield index, item


def contiguous(parts, total, index):
    """The partition of record ``index`` of ``total``: ``parts`` runs of
    consecutive records, of sizes that differ by one at most."""
    return index * parts // max(total, 1)


# ── describe ──

def describe_map(fmt, max_ids, data, items):
    """A partition's items -> the describe pass's map output (tasks/describe.py)."""
    fault_seams.fail_once(DESCRIBE, 'mapper')
    fault_seams.hold_task(DESCRIBE, 'mapper')
    task = DescribeMap(fmt, max_ids, data)
    for record in records(items, task.read_line, task.file_reader):
        yield from task.add(record)
    yield from task.finish()


def describe_add(a, b):
    """Two values of one describe key -> their sum (describe.merge: facts
    merged, counts added)."""
    return next(merge(FACTS_KEY if isinstance(a, dict) else 'count', [a, b]))[1]


def describe_reduce(fmt, data, pairs):
    """(key, its sum) of one partition -> the describe reducer's output."""
    fault_seams.fail_once(DESCRIBE, 'reducer')
    fault_seams.hold_task(DESCRIBE, 'reducer')
    reduce = DescribeReduce(fmt, data)
    for key, value in pairs:
        yield from reduce.add(key, [value])
    yield from reduce.finish()


# ── records kept between rounds ──

def parse(schema, data, items):
    """A partition's items -> its ReadRecords: every record read once, with
    the schema, to be kept (cached) for every round."""
    if schema.format in LINE_FORMATS:
        read_line, of_file = line_reader(schema, data), None
    else:
        read_line, of_file = None, file_reader(schema, data)
    for record in records(items, read_line, of_file):
        yield ReadRecord.of(record)


# ── a round ──

def _map_task(name, model, routing):
    if name == GRADIENT:
        return gradient_step.GradientMap(model, routing)
    if name == AVERAGE:
        return average_step.AverageMap(model, routing)
    if name == EVALUATE:
        return EvaluateMap(model.with_window_state(None), routing)
    raise ValueError(f'no map task for {name}')


def reduces(name, global_norm=False):
    """The round's reduce steps, each ``(model, key, total)`` -> pairs; none
    for the evaluate pass, whose sums are its output."""
    if name == GRADIENT:
        if global_norm:
            return (gradient_step.reduce_share_norms, gradient_step.reduce_clip_and_update)
        return (gradient_step.reduce_update,)
    if name == AVERAGE:
        return (average_step.reduce_average,)
    return ()


def round_map(name, weights, routing, kept):
    """A partition's kept records -> the map task's (key, Packet) pairs.
    ``weights.value``: the checkpoint's Model (a Spark broadcast)."""
    fault_seams.fail_once(name, 'mapper')
    fault_seams.hold_task(name, 'mapper')
    with np.errstate(all='ignore'):     # overflow shows as a non-finite loss (jobs/base.py)
        task = _map_task(name, weights.value, routing)
        for record in kept:
            task.add(record)
        yield from task.finish()


def add_two(a, b):
    """Two packets of one key -> their sum: the combiner's and the reducer's."""
    return add_packets([a, b])


def round_reduce(name, reduce_block, weights, pairs):
    """(key, its summed packet) of one partition -> the reduce's pairs; the
    totals keys pass through (totals.reduce_blocks)."""
    fault_seams.fail_once(name, 'reducer')
    fault_seams.hold_task(name, 'reducer')
    with np.errstate(all='ignore'):
        reduce = functools.partial(reduce_block, weights.value)
        for key, total in pairs:
            yield from reduce_blocks(key, [total], reduce)


# ── predict ──

def predict_map(weights, top_k, items):
    """A partition's input items -> (LINE, the JSON line MRPredict writes) of
    every record in order, then (STATS, {'records': n, 'bad': m}).
    ``weights.value``: the checkpoint's Model (a Spark broadcast)."""
    fault_seams.fail_once(PREDICT, 'mapper')
    fault_seams.hold_task(PREDICT, 'mapper')
    with np.errstate(all='ignore'):
        task = PredictMap(weights.value, top_k)
        for record in records(items, getattr(task, 'read_line', None), task.file_reader):
            for _, value in task.add(record):
                yield LINE, json.dumps(value)
        for _, value in task.finish():
            yield LINE, json.dumps(value)
    yield STATS, task.stats


def is_line(pair):
    return pair[0] == LINE


def is_stats(pair):
    return pair[0] == STATS
