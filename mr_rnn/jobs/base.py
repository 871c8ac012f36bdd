"""What every mr_rnn job shares: raw input records, and naming where a record is.

Line formats (text, jsonl) use a plain ``mapper``, so Hadoop may split files
anywhere; csv time series use ``mapper_raw``, one whole file per map task,
because a window needs consecutive rows.
"""
import bz2
import ctypes
import functools
import gzip
import os
import posixpath
import re
import sys

import numpy as np
from mrjob.compat import jobconf_from_env
from mrjob.job import MRJob
from mrjob.options import _add_basic_args, _add_job_args, _add_step_args
from mrjob.protocol import BytesValueProtocol
from mrjob.step import MRStep

from mr_rnn import fault_seams
from mr_rnn.codec.wire import add_packets
from mr_rnn.config import FORMATS
from mr_rnn.data.batching import BatchStream
from mr_rnn.data.records import BadRecord, CsvReader, Sequence, line_reader
from mr_rnn.data.sampling import in_sample
from mr_rnn.jobs.splits import input_segments
from mr_rnn.kernels.accumulate import LossSum
from mr_rnn.kernels.parallel import ThreadPool
from mr_rnn.model import Model


TASK_SWITCHES = ('--mapper', '--combiner', '--reducer')


class RecordJob(MRJob):
    INPUT_PROTOCOL = BytesValueProtocol

    def __init__(self, args=None):
        cl_args = sys.argv[1:] if args is None else args
        self._task = any(a in TASK_SWITCHES for a in cl_args)
        super().__init__(args)

    def configure_args(self):
        if self._task:
            # Every task makes a new job (inline: six a round, in the driver's
            # process), and mrjob's ~120 runner options, which only the job
            # that makes the runner reads, are most of what that costs. A
            # task's command line has none of them: mrjob's own arguments
            # without the runner's.
            self.arg_parser.add_argument(dest='args', nargs='*')
            _add_basic_args(self.arg_parser)
            _add_job_args(self.arg_parser)
            _add_step_args(self.arg_parser, include_deprecated=True)
        else:
            super().configure_args()
        self.add_passthru_arg('--format', choices=FORMATS, required=True,
                              help='input format of the records')

    # Overflow in a task (a record of huge values, weights that diverged) shows as a
    # non-finite loss, which the driver handles; numpy's RuntimeWarning would instead
    # be written as text to the inline runner's byte stream, and fail the task.
    def map_pairs(self, pairs, step_num=0):
        fault_seams.fail_once(type(self).__name__, 'mapper')
        with np.errstate(all='ignore'):
            yield from super().map_pairs(pairs, step_num)

    def combine_pairs(self, pairs, step_num=0):
        with np.errstate(all='ignore'):
            yield from super().combine_pairs(pairs, step_num)

    def reduce_pairs(self, pairs, step_num=0):
        fault_seams.fail_once(type(self).__name__, 'reducer')
        with np.errstate(all='ignore'):
            yield from super().reduce_pairs(pairs, step_num)

    def record_step(self, mapper_init, mapper_final, **rest):
        """An MRStep whose map phase calls ``self.on_record(raw, where)`` per record."""
        if self.options.format == 'csv':
            return MRStep(mapper_init=mapper_init, mapper_raw=self._mapper_raw_file,
                          mapper_final=mapper_final, **rest)
        return MRStep(mapper_init=mapper_init, mapper=self._mapper_line,
                      mapper_final=mapper_final, **rest)

    def _mapper_line(self, _, raw):
        """(None, raw line bytes) -> whatever on_record yields."""
        if not hasattr(self, '_offset'):
            self._segments = input_segments()[::-1]
            self._next_segment()
        while self._lines_left == 0 and self._segments:
            self._next_segment()
        if self._lines_left is not None:
            self._lines_left -= 1
        where = f'{self._path}:{self._line + 1}' if self._line is not None \
            else f'{self._path} at byte {self._offset}'
        self._offset += len(raw) + 1
        if self._line is not None:
            self._line += 1
        return self.on_record(raw, where) or ()

    def _next_segment(self):
        """Start the next piece of this task's split (jobs/splits.py: the local
        runners may join pieces of several files into one split)."""
        path, self._offset, self._lines_left = self._segments.pop()
        self._path = path[len('file://'):] if path.startswith('file://') else path
        self._line = _lines_before(self._path, self._offset)

    def _mapper_raw_file(self, path, uri):
        """(local path of one whole input file, its URI) -> whatever on_file yields.
        mrjob hands a raw file over as it is stored: this reads through .gz and .bz2."""
        self._path = uri
        with _open_decompressed(path, uri) as f:
            lines = (line.rstrip(b'\n') for line in f)
            yield from self.on_file(lines, lambda n: f'{uri}:{n}') or ()

    def on_record(self, raw, where):
        raise NotImplementedError

    def on_file(self, lines, where):
        raise NotImplementedError


def _open_decompressed(path, uri):
    """The file as text bytes. The name alone cannot say: mrjob's local runner
    hands over a decompressed copy of a .gz, its inline runner and Hadoop the
    stored bytes, so the file's first bytes decide."""
    with open(path, 'rb') as f:
        magic = f.read(3)
    name = uri.lower()
    if name.endswith('.gz') and magic[:2] == b'\x1f\x8b':
        return gzip.open(path, 'rb')
    if name.endswith('.bz2') and magic == b'BZh':
        return bz2.open(path, 'rb')
    return open(path, 'rb')


def _lines_before(path, offset):
    """Line number where a split starts, when the file can be read here (local
    files: inline, local, Hadoop on file://); None on HDFS, where a byte offset
    names the record instead, and inside a compressed file (Hadoop splits .bz2
    at offsets in the compressed bytes)."""
    if offset == 0:
        return 0
    if path.lower().endswith(('.gz', '.bz2')):
        return None
    try:
        count, left = 0, offset
        with open(path, 'rb') as f:
            while left > 0:
                chunk = f.read(min(left, 1 << 20))
                if not chunk:
                    break
                count += chunk.count(b'\n')
                left -= len(chunk)
        return count
    except OSError:
        return None


_LOADED = {}


def load_model(path):
    """Model.load, remembered while the file is unchanged: the inline runner
    runs all of a job's map and reduce tasks in one process, and each would
    read and check the same checkpoint again. Tasks only read the model.
    (A checkpoint is written once, under a new name each round.)"""
    stat = os.stat(path)
    key = (os.path.realpath(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if key not in _LOADED:
        _LOADED.clear()
        _LOADED[key] = Model.load(path)
    return _LOADED[key]


@functools.lru_cache(maxsize=None)
def inline_threads(threads):
    """(thread pool, threadpoolctl controller), made once per process and kept
    across map tasks and jobs: the inline runner runs every task in the
    driver's process, and starting the threads and scanning the loaded
    libraries for BLAS cost about 3 ms a task. Only the inline runner's tasks
    get here: a cluster's nodes need nothing but Python and numpy."""
    from threadpoolctl import ThreadpoolController
    return ThreadPool(threads), ThreadpoolController()


@functools.lru_cache(maxsize=None)    # functools.cache is 3.9+; tasks run 3.8
def keep_freed_memory():
    """Ask glibc's malloc to keep freed memory for the next arrays instead of
    handing every large one back to the kernel (mmap/munmap, or a trim of the
    heap's top). A gradient makes arrays of several MB per batch, and fresh
    pages cost a page fault each when first touched: 1,700 faults per batch and
    a quarter of the CPU time of an LSTM-128 language-model gradient (measured,
    bench/README.md). A task's memory stays bounded by one batch's arrays.
    Returns whether malloc took the settings (False where it is not glibc's)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    # 32 MiB is the largest mmap threshold glibc accepts on 64-bit
    return bool(mallopt(M_MMAP_THRESHOLD, 32 << 20)) and bool(mallopt(M_TRIM_THRESHOLD, 512 << 20))


# the held-out share depends on nothing but the record: stable across runs and seeds
VAL_ITERATION, VAL_SEED = -1, 0x5EED
# the keys of a model job's totals beside its parameter blocks (docs/design.md §3.7)
STATS_KEY, VAL_KEY = '__stats__', '__val__'
TOTALS = (STATS_KEY, VAL_KEY)
_URI = re.compile(r'^[A-Za-z][A-Za-z0-9+.-]*:(//[^/]*)?(?P<path>/.*)$')


def block_reducer(reduce_block):
    """A reducer of parameter blocks: ``reduce_block(self, name, total)`` gets
    the sum of a block's packets, while the totals keys (STATS_KEY, VAL_KEY)
    pass through, added up."""
    @functools.wraps(reduce_block)
    def reducer(self, key, packets):
        total = add_packets(packets)
        if key in TOTALS:
            yield key, total
        else:
            yield from reduce_block(self, key, total)
    return reducer


def file_key(path):
    """One file's name as both the driver and a task see it: the path part of
    a URI. The driver names local files by absolute paths; tasks read them from
    mapreduce.map.input.file as given (mrjob's runners), or as file:/... and
    hdfs://host:port/... (Hadoop)."""
    match = _URI.match(path)
    return match.group('path') if match else path


class ModelRecordJob(RecordJob):
    """A job whose map tasks push records through a checkpoint's model.

    Subclasses set ``self.sums`` in ``start_sums()``: anything with ``add(batch)``.
    A job that trains sets SAMPLES, and then sees only the iteration's sample
    of records (``--sample-fraction``). A job whose sums use ``self.pool``
    (kernels/parallel.py) sets THREADED: with ``--threads`` N > 1 its map tasks
    get a pool of N threads, BLAS limited to one thread each, until
    ``close_threads()``.
    """
    SAMPLES = False
    THREADED = False

    def configure_args(self):
        super().configure_args()
        self.add_file_arg('--checkpoint', required=True,
                          help='checkpoint (.npz): weights, optimizer state, configuration')
        self.add_passthru_arg('--split', choices=('all', 'train', 'val'), default='all',
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

    def load_model(self):
        self.model = load_model(self.options.checkpoint)

    def mapper_init_model(self):
        keep_freed_memory()
        self.load_model()
        cfg = self.model.config
        self.stream = BatchStream(cfg.batch_size, self.model.schema, self.model.dtype)
        if self.model.schema.format != 'csv':
            self.read = line_reader(self.model.schema, cfg.data)
        self.pool = self.blas_limits = None
        if self.THREADED and self.options.threads > 1:
            self.pool, blas = inline_threads(self.options.threads)
            # every worker runs its own BLAS calls: one BLAS thread each, or the
            # workers' BLAS threads fight over the same cores
            self.blas_limits = blas.limit(limits=1, user_api='blas')
        self.sums = self.start_sums()
        self.fraction = cfg.sample_fraction if self.SAMPLES else 1.0
        # validation records: the loss of these very weights, in sums of their
        # own, never in the gradient or the local training
        self.val_stream = self.val_sums = None
        if self.options.with_val:
            self.val_stream = BatchStream(cfg.batch_size, self.model.schema, self.model.dtype)
            self.val_sums = LossSum(self.model.params, self.model.spec)
        self.val_files = {file_key(p) for p in self.options.val_path}
        self._val_file_of = {}

    def route(self, record_bytes):
        """Where a record goes: 'train', 'val', or None (not used by this job)."""
        cfg = self.model.config
        from_val_file = self.from_val_file()
        held_out = None
        if cfg.val_fraction > 0 and (self.options.split != 'all' or from_val_file):
            held_out = in_sample(record_bytes, VAL_ITERATION, VAL_SEED, cfg.val_fraction)
        if from_val_file:       # with --val-fraction too, only their held-out share
            return 'val' if held_out is not False and self.val_sums is not None else None
        if held_out is not None and held_out != (self.options.split == 'val'):
            val_here = self.val_sums is not None and not self.val_files and held_out
            return 'val' if val_here else None
        if in_sample(record_bytes, self.model.iteration, cfg.seed, self.fraction):
            return 'train'
        return None

    def from_val_file(self):
        if not self.val_files:
            return False
        if getattr(self, '_path', '?') == '?':
            # never guess: a validation record trained on would go unnoticed
            raise RuntimeError('this runner does not name the file a record comes from, so '
                               '--val files cannot be told apart: on Spark set '
                               'emulate_map_input_file: true in mrjob.conf, or use --val-fraction')
        if self._path not in self._val_file_of:       # once per file, not per record
            path = file_key(self._path)
            # or a local file that Hadoop (EMR, Dataproc) reads from the job's upload folder
            folder, name = posixpath.split(path)
            self._val_file_of[self._path] = path in self.val_files or (
                name in self.options.val_name and posixpath.basename(folder) == 'files')
        return self._val_file_of[self._path]

    def stream_for(self, record_bytes):
        """(batch stream, sums) for a record, or None."""
        where = self.route(record_bytes)
        if where == 'train':
            return self.stream, self.sums
        return (self.val_stream, self.val_sums) if where == 'val' else None

    def on_record(self, raw, where):
        target = self.stream_for(raw)
        if target is None:
            return
        stream, sums = target
        for batch in stream.add_record(self.read, raw, where):
            sums.add(batch)

    def on_file(self, lines, where):
        cfg = self.model.config.data
        reader = CsvReader(self.model.schema, cfg.window, cfg.horizon)
        try:
            for item in reader.sequences_from_file(lines, where):
                stream, sums = self.stream, self.sums
                if self.from_val_file():
                    stream, sums = self.val_stream, self.val_sums
                if isinstance(item, Sequence):
                    target = self.stream_for(item.x.tobytes() + item.y.tobytes())
                    if target is None:
                        continue
                    stream, sums = target
                    stream.stats['records'] += 1
                    batches = stream.add_sequences([item])
                else:
                    stream.stats['records'] += 1
                    stream.add_bad(*item)
                    batches = []
                for batch in batches:
                    sums.add(batch)
        except BadRecord as e:
            self.stream.add_bad(where(1), e)
        return ()

    def flush_stream(self):
        batch = self.stream.flush()
        if batch is not None:
            self.sums.add(batch)
        if hasattr(self.sums, 'finish'):
            self.sums.finish()
        stats = self.stream.stats
        self.increment_counter('mr_rnn', 'records', stats['records'])
        self.increment_counter('mr_rnn', 'bad_records', stats['bad'])
        return stats

    def val_packets(self):
        """-> (VAL_KEY, {loss_sum, count, correct, records, bad, examples})
        when validating: the loss of the job's weights on the validation records."""
        if self.val_sums is None:
            return
        batch = self.val_stream.flush()
        if batch is not None:
            self.val_sums.add(batch)
        sums = self.val_sums
        yield VAL_KEY, {'scalars': dict(self.val_stream.stats, loss_sum=sums.loss_sum,
                                        count=sums.count, correct=sums.correct), 'arrays': {}}

    def add_up(self, key, packets):
        """(key, packets) -> (key, their sum): a combiner, or a reducer of totals."""
        yield key, add_packets(packets)

    def close_threads(self):
        """End of a map task's work on the pool (mapper_final, after the last use)."""
        if self.pool is not None:
            self.blas_limits.restore_original_limits()
            self.pool = self.blas_limits = None

    def start_sums(self):
        raise NotImplementedError
