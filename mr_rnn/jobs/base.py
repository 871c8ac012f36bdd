"""What every mr_rnn job shares: raw input records, and naming where a record is.

Line formats (text, jsonl) use a plain ``mapper``, so Hadoop may split files
anywhere; csv time series use ``mapper_raw``, one whole file per map task,
because a window needs consecutive rows.
"""
import ctypes
import functools
import os
import sys
from concurrent.futures import ThreadPoolExecutor

from mrjob.compat import jobconf_from_env
from mrjob.job import MRJob
from mrjob.options import _add_basic_args, _add_job_args, _add_step_args
from mrjob.protocol import BytesValueProtocol
from mrjob.step import MRStep
from threadpoolctl import threadpool_limits

from mr_rnn.config import FORMATS
from mr_rnn.data.batching import BatchStream
from mr_rnn.data.records import BadRecord, CsvReader, Sequence, line_reader
from mr_rnn.data.sampling import in_sample
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

    def map_pairs(self, pairs, step_num=0):
        _fail_once_for_tests(self, 'mapper')
        return super().map_pairs(pairs, step_num)

    def reduce_pairs(self, pairs, step_num=0):
        _fail_once_for_tests(self, 'reducer')
        return super().reduce_pairs(pairs, step_num)

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
            path = jobconf_from_env('mapreduce.map.input.file', '?')
            self._path = path[len('file://'):] if path.startswith('file://') else path
            self._offset = int(jobconf_from_env('mapreduce.map.input.start', '0') or 0)
            self._line = _lines_before(self._path, self._offset)
        where = f'{self._path}:{self._line + 1}' if self._line is not None \
            else f'{self._path} at byte {self._offset}'
        self._offset += len(raw) + 1
        if self._line is not None:
            self._line += 1
        return self.on_record(raw, where) or ()

    def _mapper_raw_file(self, path, uri):
        """(local path of one whole input file, its URI) -> whatever on_file yields."""
        with open(path, 'rb') as f:
            lines = (line.rstrip(b'\n') for line in f)
            yield from self.on_file(lines, lambda n: f'{uri}:{n}') or ()

    def on_record(self, raw, where):
        raise NotImplementedError

    def on_file(self, lines, where):
        raise NotImplementedError


def _fail_once_for_tests(job, phase):
    """Fault injection, read by the tests only: MR_RNN_TEST_FAIL_ONCE=[JOB.]PHASE:MARKER
    makes the first mapper or reducer task (of any job, or of class JOB) fail, once:
    the marker file, created atomically, says it has."""
    what, _, marker = os.environ.get('MR_RNN_TEST_FAIL_ONCE', '').partition(':')
    if not marker or what not in (phase, f'{type(job).__name__}.{phase}'):
        return
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
    raise RuntimeError(f'{what} task failed on purpose (MR_RNN_TEST_FAIL_ONCE)')


def _lines_before(path, offset):
    """Line number where a split starts, when the file can be read here (local
    files: inline, local, Hadoop on file://); None on HDFS, where a byte offset
    names the record instead."""
    if offset == 0:
        return 0
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


@functools.cache
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
            # every worker runs its own BLAS calls: one BLAS thread each, or the
            # workers' BLAS threads fight over the same cores
            self.blas_limits = threadpool_limits(1, user_api='blas')
            self.pool = ThreadPoolExecutor(self.options.threads)
        self.sums = self.start_sums()
        self.fraction = cfg.sample_fraction if self.SAMPLES else 1.0

    def wanted(self, record_bytes):
        cfg = self.model.config
        if self.options.split != 'all' and cfg.val_fraction > 0:
            held_out = in_sample(record_bytes, VAL_ITERATION, VAL_SEED, cfg.val_fraction)
            if held_out != (self.options.split == 'val'):
                return False
        return in_sample(record_bytes, self.model.iteration, cfg.seed, self.fraction)

    def on_record(self, raw, where):
        if not self.wanted(raw):
            return
        for batch in self.stream.add_record(self.read, raw, where):
            self.sums.add(batch)

    def on_file(self, lines, where):
        cfg = self.model.config.data
        reader = CsvReader(self.model.schema, cfg.window, cfg.horizon)
        try:
            for item in reader.sequences_from_file(lines, where):
                if isinstance(item, Sequence):
                    if not self.wanted(item.x.tobytes() + item.y.tobytes()):
                        continue
                    self.stream.stats['records'] += 1
                    batches = self.stream.add_sequences([item])
                else:
                    self.stream.stats['records'] += 1
                    self.stream.add_bad(*item)
                    batches = []
                for batch in batches:
                    self.sums.add(batch)
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

    def close_threads(self):
        """End of a map task's work on the pool (mapper_final, after the last use)."""
        if self.pool is not None:
            self.pool.shutdown()
            self.blas_limits.restore_original_limits()
            self.pool = self.blas_limits = None

    def start_sums(self):
        raise NotImplementedError
