"""What every mr_rnn job shares: the mrjob adapter around a map task of
mr_rnn/tasks/ (docs/design.md §2).

A job's map task is a plain object of tasks/: ``add(record)`` for each record
(it may return output pairs), then ``finish()``, which yields the task's
packets. This adapter turns mrjob's input into data/task_input.Records and
hands them over:

    text, jsonl   ``mapper_add_line``: one line at a time, so Hadoop may split
                  files anywhere; each line's place is followed through the
                  split's pieces (jobs/mrjob_internals.input_pieces)
    csv           ``mapper_raw_add_file``: one whole file per map task (a
                  window needs consecutive rows), read through .gz and .bz2

The job's options (the checkpoint, validation routing, threads) are written
by ``command_line`` and read back in the task, in this one file.
"""
import sys

import numpy as np
from mrjob.protocol import BytesValueProtocol
from mrjob.step import MRStep

from mr_rnn import fault_seams
from mr_rnn.config import FORMATS
from mr_rnn.data.readers import LINE_FORMATS
from mr_rnn.data.routing import SPLITS, Routing
from mr_rnn.data.task_input import LineSplit, read_file
from mr_rnn.jobs.mrjob_internals import RunnerChoice, add_task_args, input_pieces
from mr_rnn.tasks.process_cache import keep_freed_memory, load_model, thread_pool

TASK_SWITCHES = ('--mapper', '--combiner', '--reducer')


class RecordJob(RunnerChoice):
    INPUT_PROTOCOL = BytesValueProtocol

    def __init__(self, args=None):
        cl_args = sys.argv[1:] if args is None else args
        self._task = any(a in TASK_SWITCHES for a in cl_args)
        super().__init__(args)

    def configure_args(self):
        if self._task:
            add_task_args(self.arg_parser)
        else:
            super().configure_args()
        self.add_passthru_arg('--format', choices=FORMATS, required=True,
                              help='input format of the records')

    @classmethod
    def command_line(cls, fmt, inputs, **options):
        """The job's arguments: ``--format``, then each option (``name=value``
        as ``--name value``, True as a switch, a list or tuple as the option
        repeated), then the inputs."""
        args = ['--format', fmt]
        for name, value in options.items():
            flag = '--' + name.replace('_', '-')
            if value is True:
                args.append(flag)
            elif isinstance(value, (list, tuple)):
                args += [a for v in value for a in (flag, str(v))]
            elif value not in (None, False):
                args += [flag, str(value)]
        return [*args, *inputs]

    # Overflow in a task (a record of huge values, weights that diverged) shows as a
    # non-finite loss, which the driver handles; numpy's RuntimeWarning would instead
    # be written as text to the inline runner's byte stream, and fail the task.
    def map_pairs(self, pairs, step_num=0):
        fault_seams.fail_once(type(self).__name__, 'mapper')
        fault_seams.hold_task(type(self).__name__, 'mapper')
        with np.errstate(all='ignore'):
            yield from super().map_pairs(pairs, step_num)

    def combine_pairs(self, pairs, step_num=0):
        with np.errstate(all='ignore'):
            yield from super().combine_pairs(pairs, step_num)

    def reduce_pairs(self, pairs, step_num=0):
        fault_seams.fail_once(type(self).__name__, 'reducer')
        fault_seams.hold_task(type(self).__name__, 'reducer')
        with np.errstate(all='ignore'):
            yield from super().reduce_pairs(pairs, step_num)

    # ── the map side: records into the task's map object ──

    # the map task emits each key once (its sums are kept in the task until
    # mapper_final), so a combiner only ever sees one packet per key
    ONE_PACKET_PER_KEY = False

    def record_step(self, mapper_init, **rest):
        """An MRStep whose map phase builds ``self.task`` in ``mapper_init`` and
        adds every record of the split to it.

        Without the combiner on the local runner when ``ONE_PACKET_PER_KEY``:
        there it is a sort and a Python process per map task that reads each
        key's one packet and writes the same values back, and the reducers get
        the same values in the same order without it. (This decides the steps
        the runner runs, in the driver's process; a task's own steps keep it.)"""
        if (self.ONE_PACKET_PER_KEY and not self._task
                and self.options.runner == 'local'):
            rest.pop('combiner', None)

        def start():
            mapper_init()
            if self.options.format in LINE_FORMATS:
                self.split = LineSplit(input_pieces(), self.task.read_line)
        if self.options.format in LINE_FORMATS:
            return MRStep(mapper_init=start, mapper=self.mapper_add_line, **rest)
        return MRStep(mapper_init=start, mapper_raw=self.mapper_raw_add_file, **rest)

    def mapper_add_line(self, _, raw):
        """(None, raw line bytes) -> whatever the task's ``add`` returns"""
        return self.task.add(self.split.record(raw))

    def mapper_raw_add_file(self, path, uri):
        """(local path of one whole input file, its URI) -> whatever ``add`` returns"""
        for record in read_file(path, uri, self.task.file_reader):
            yield from self.task.add(record) or ()

    def count_records(self, stats):
        """The task's records and bad records, as the runner's counters too."""
        self.increment_counter('mr_rnn', 'records', stats['records'])
        self.increment_counter('mr_rnn', 'bad_records', stats['bad'])


class ModelJob(RecordJob):
    """A job whose tasks read a checkpoint's model (``--checkpoint``)."""
    # every model job's map task sums in the task and emits in mapper_final,
    # but predict's, which has no combiner
    ONE_PACKET_PER_KEY = True
    THREADED = False        # its map task sums on a thread pool with --threads > 1
    # its map task is one sequence of steps whose products are small: with
    # --threads > 1 (inline), BLAS gets one thread, as a task of every other runner does
    ONE_BLAS_THREAD = False

    def configure_args(self):
        super().configure_args()
        self.add_file_arg('--checkpoint', required=True,
                          help='checkpoint (.npz): weights, optimizer state, configuration')
        self.add_passthru_arg('--split', choices=SPLITS, default='all',
                              help='with --val-fraction: the training or the held-out records')
        self.add_passthru_arg('--with-val', action='store_true',
                              help='also sum the loss of the validation records (--val-path '
                              'files, else the --val-fraction share) under __val__')
        self.add_passthru_arg('--val-path', action='append', default=[],
                              help='an input file whose records are validation records')
        self.add_passthru_arg('--val-name', action='append', default=[],
                              help='the name of a local --val-path file that the runner '
                              'uploads (into a files/ folder) before the tasks read it')
        self.add_passthru_arg('--threads', type=int, default=1,
                              help='threads per map task for the gradient sums (the inline '
                                   'runner passes all cores; other runners run one task per core)')

    @classmethod
    def command_line(cls, checkpoint, fmt, inputs, routing=Routing(), **options):
        return super().command_line(
            fmt, inputs, checkpoint=checkpoint,
            split=None if routing.split == 'all' else routing.split, with_val=routing.with_val,
            val_path=routing.val_paths, val_name=routing.val_names, **options)

    def load_model(self, optimizer_state=True):
        """A task's first step: ``self.model``, the checkpoint's (reducer_init
        too, so it yields nothing); without ``optimizer_state``, its weights
        only, for a task that only runs the network (docs/design.md §8.2)."""
        keep_freed_memory()
        self.model = load_model(self.options.checkpoint, optimizer_state)

    def routing(self):
        o = self.options
        return Routing(o.split, o.with_val, tuple(o.val_path), tuple(o.val_name))

    def start_threads(self):
        """The process's thread pool for a THREADED job with --threads > 1,
        BLAS limited to one thread per worker until ``stop_threads()`` (every
        worker runs its own BLAS calls); else None. A ONE_BLAS_THREAD job
        with --threads > 1 gets no pool, and BLAS limited to one thread
        until ``stop_threads()``."""
        self.blas_limits = None
        if self.options.threads <= 1 or not (self.THREADED or self.ONE_BLAS_THREAD):
            return None
        pool, blas = thread_pool(self.options.threads)
        self.blas_limits = blas.limit(limits=1, user_api='blas')
        return pool if self.THREADED else None

    def stop_threads(self):
        if self.blas_limits is not None:
            self.blas_limits.restore_original_limits()
            self.blas_limits = None

