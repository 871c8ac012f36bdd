"""Run one mrjob job and bring its output back to the driver.

A runner runs a job once (mrjob's rule), so every iteration makes a new one.
"""
import atexit
import contextlib
import importlib.util
import io
import logging
import marshal
import os
import shutil
import sys
import tempfile
import zipfile

from mrjob.job import MRJob

import mr_rnn
from mr_rnn.errors import UserError
from mr_rnn.driver.job_failures import JobFailed, job_failures
from mr_rnn.jobs.base import ModelJob
from mr_rnn.tasks.process_cache import forget_model


def run_job(job_class, job_args, runner_args, retries=0, warn=None, read=list):
    """Return (``read`` of the (key, value) output records, counters dict):
    by default their list; a ``read`` that consumes them as they stream keeps
    no more of them than it wants (a round's blocks, tasks/round.round_result).

    A job that fails is run again, up to ``retries`` times (``--job-retries``):
    safe, because a job is a pure function of its input and the checkpoint.
    Hadoop retries single task attempts itself; this also covers the inline,
    local and Spark runners, and a job that failed as a whole."""
    for attempt in range(retries + 1):
        try:
            return _run_once(job_class, job_args, runner_args, read)
        except Exception as e:
            if attempt == retries:
                raise
            if warn is not None:
                reason = e if isinstance(e, JobFailed) else f'{job_class.__name__} failed: {e}'
                warn(f'{str(reason).rstrip(".")}; running it again '
                     f'(retry {attempt + 1} of {retries})')


def make_job(job_class, job_args, runner_args):
    """The job, shipping mr_rnn to the tasks on every runner but inline.

    Inline, the one map task at a time gets a thread per core for its gradient
    sums. Every other runner runs one task per core (local) or per vcore
    (YARN, Spark), so each task gets one BLAS thread unless the user's cmdenv
    sets a thread count (jobs/mrjob_internals.RunnerChoice)."""
    job = job_class(args=[*runner_args, *job_args])
    if _inline(job):
        extra = []
        if job.options.num_cores is None:
            # inline runs its tasks one after another: mrjob's default of two
            # map and two reduce tasks per core only adds tasks (each loads the
            # checkpoint and ends with a part batch) without adding cores
            extra += ['--num-cores', '1']
        if issubclass(job_class, ModelJob):
            extra += ['--threads', str(usable_cores())]
        return job_class(args=[*runner_args, *extra, *job_args]) if extra else job
    # tasks import mr_rnn from a zip the job ships, as mrjob ships itself:
    # nothing has to be installed on the nodes but Python, numpy and mrjob's needs
    return job_class(args=[*runner_args, '--py-files', package_zip(), *job_args])


def usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:          # not on Linux
        return os.cpu_count() or 1


def _inline(job):
    return (job.options.runner or 'inline') == 'inline'


def _run_once(job_class, job_args, runner_args, read=list):
    job = make_job(job_class, job_args, runner_args)
    with job_failures(job_class.__name__, in_process=_inline(job)):
        with job.make_runner() as runner:
            runner.run()
            if _inline(job):
                forget_model()
            output = read(job.parse_output(runner.cat_output()))
            counters = _merge_counters(runner.counters())
    return output, counters


def stream_job(job_class, job_args, runner_args, sink):
    """Run a job whose output is for the user, not the driver: its lines go to
    ``sink`` (a text file) unless None, never held in memory.
    Returns (counters, the output directory)."""
    job = make_job(job_class, job_args, runner_args)
    with job_failures(job_class.__name__, in_process=_inline(job)):
        with job.make_runner() as runner:
            runner.run()
            if sink is not None:
                write_out(sink, (chunk.decode('utf-8') for chunk in runner.cat_output()))
            return _merge_counters(runner.counters()), runner.get_output_dir()


def write_out(sink, texts):
    """Write ``texts`` to ``sink`` (standard output) as they come; a reader
    that has all it wants (``| head``) ends the writing, not the command."""
    try:
        for text in texts:
            sink.write(text)
        sink.flush()
    except BrokenPipeError:
        sys.stdout = open(os.devnull, 'w')


def _merge_counters(per_step):
    merged = {}
    for step in per_step or []:
        for group, counters in step.items():
            for name, value in counters.items():
                merged.setdefault(group, {}).setdefault(name, 0)
                merged[group][name] += value
    return merged


def split_runner_args(argv, ours):
    """(mrjob's options with their values, the rest), so that ``-r hadoop`` never
    reads as an input path. An option that is not ours (nor a prefix of ours)
    is mrjob's when mrjob's own parser takes it, with a value when it takes one:
    its public parser answers that (docs/design.md §3.6), so a runner option a
    newer mrjob adds is known without a list of ours."""
    theirs = MRJob(args=[]).arg_parser
    runner, mine, i = [], [], 0
    while i < len(argv):
        name = argv[i].split('=', 1)[0]
        mine_ = not name.startswith('-') or name == '--' or any(o.startswith(name) for o in ours)
        n = 0 if mine_ else _mrjob_tokens(theirs, argv[i])
        if n:
            runner += argv[i:i + n]
        else:
            mine.append(argv[i])
        i += max(n, 1)
    return runner, mine


def _mrjob_tokens(parser, option):
    """0 when mrjob's parser does not know ``option``; else the tokens it takes:
    1 (a switch, or --name=value), or 2 (the option and its value)."""
    probe = '\0'
    try:
        known, unknown = parser.parse_known_args([option, probe])
    except (ValueError, SystemExit):    # it took the probe as a value, and refused it
        return 2
    if option in unknown or option in known.args:       # unknown, or a negative number
        return 0
    return 1 if probe in known.args else 2


def check_runner_args(runner_args):
    """mrjob's options, checked now so that a bad value fails before any work;
    mrjob's log set to show with -v only."""
    from mr_rnn.jobs.mr_describe_data import MRDescribeData
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            MRDescribeData(args=[*runner_args, '--format', 'text'])
    except (SystemExit, ValueError) as e:
        lines = [ln for ln in captured.getvalue().splitlines() if 'error:' in ln]
        message = lines[-1].split('error:', 1)[1].strip() if lines else str(e) or 'bad runner options'
        raise UserError(f'{message} (runner options are mrjob\'s: see mrjob --help)') from None
    quiet_mrjob('-v' in runner_args or '--verbose' in runner_args)
    return runner_args


def quiet_mrjob(verbose):
    """mrjob's chatter only with -v; warnings always.

    mrjob logs at INFO either way (the console shows less), so that when a job
    fails, job_failures() can read the task's error from what mrjob logged."""
    logger = logging.getLogger('mrjob')
    logger.setLevel(logging.INFO)
    logger.propagate = False
    _CONSOLE.setLevel(logging.INFO if verbose else logging.WARNING)
    _CONSOLE.verbose = verbose
    if _CONSOLE not in logger.handlers:
        logger.addHandler(_CONSOLE)


class _Console(logging.StreamHandler):
    """mrjob's log on the current sys.stderr (looked up at each message)."""
    verbose = False
    # without -v: things the one-line JobFailed message says better
    _NOISE = ('No configs specified',            # no mrjob.conf section: fine
              'Probable cause of failure', "Can't fetch history log",
              "Can't fetch task logs", 'No counters found', 'Scanning logs',
              'Error while reading from')     # mrjob's temporary copy of the input

    def __init__(self):
        super().__init__()
        self.setFormatter(logging.Formatter('%(message)s'))

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass

    def filter(self, record):
        if not self.verbose:
            if record.name == 'mrjob.logs.step':   # Hadoop's / Spark's own output
                return False
            if record.getMessage().lstrip().startswith(self._NOISE):
                return False
        return super().filter(record)


_CONSOLE = _Console()


_ZIP = None


def package_zip():
    """A zip of the mr_rnn package (at the zip root), built once per process.

    Beside each ``.py``, its ``.pyc`` compiled by this Python: a zip import
    cannot write bytecode, so every task process compiled the whole package
    again (about 0.15 s of each task's start on -r local). A task whose
    Python is another version finds the wrong magic number, passes over the
    ``.pyc`` and compiles the ``.py`` as before. The ``.pyc`` is unchecked
    (hash-based, never compared with its source): the zip is written at once
    and never changed. Its frames name ``mr_rnn.zip/mr_rnn/...``, where the
    runners put the zip, in the task's working directory."""
    global _ZIP
    if _ZIP is None or not os.path.exists(_ZIP):
        root = os.path.dirname(os.path.abspath(mr_rnn.__file__))
        folder = tempfile.mkdtemp(prefix='mr_rnn-')
        atexit.register(shutil.rmtree, folder, ignore_errors=True)   # never left behind
        _ZIP = os.path.join(folder, 'mr_rnn.zip')
        with zipfile.ZipFile(_ZIP, 'w', zipfile.ZIP_DEFLATED) as z:
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = sorted(d for d in dirnames if d != '__pycache__')
                for name in sorted(filenames):
                    if name.endswith('.py'):
                        path = os.path.join(dirpath, name)
                        inside = os.path.join('mr_rnn', os.path.relpath(path, root))
                        z.write(path, inside)
                        z.writestr(inside[:-len('.py')] + '.pyc', _unchecked_pyc(path, inside))
    return _ZIP


def _unchecked_pyc(path, inside):
    """The bytes of an unchecked hash-based .pyc of the source file ``path``
    (PEP 552), its code named ``mr_rnn.zip/<inside>``."""
    with open(path, 'rb') as f:
        source = f.read()
    code = compile(source, os.path.join('mr_rnn.zip', inside), 'exec', dont_inherit=True)
    flags = 0b01        # hash-based, not checked against the source
    return (importlib.util.MAGIC_NUMBER + flags.to_bytes(4, 'little')
            + importlib.util.source_hash(source) + marshal.dumps(code))
