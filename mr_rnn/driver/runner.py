"""Run one mrjob job and bring its output back to the driver.

A runner runs a job once (mrjob's rule), so every iteration makes a new one.
"""
import atexit
import collections
import contextlib
import functools
import io
import logging
import os
import re
import shutil
import sys
import tempfile
import zipfile

from mrjob.step import StepFailedException

import mr_rnn
from mr_rnn.errors import MrRnnError, UserError
from mr_rnn.jobs.base import ModelRecordJob


class JobFailed(MrRnnError):
    """A MapReduce job that did not succeed; the message names the job and why."""
    exit_code = 1


def run_job(job_class, job_args, runner_args, retries=0, warn=None):
    """Return (list of (key, value) output records, counters dict).

    A job that fails is run again, up to ``retries`` times (``--job-retries``):
    safe, because a job is a pure function of its input and the checkpoint.
    Hadoop retries single task attempts itself; this also covers the inline,
    local and Spark runners, and a job that failed as a whole."""
    for attempt in range(retries + 1):
        try:
            return _run_once(job_class, job_args, runner_args)
        except Exception as e:
            if attempt == retries:
                raise
            if warn is not None:
                reason = e if isinstance(e, JobFailed) else f'{job_class.__name__} failed: {e}'
                warn(f'{str(reason).rstrip(".")}; running it again '
                     f'(retry {attempt + 1} of {retries})')


# BLAS reads these when it loads, in the task's process
BLAS_THREAD_VARS = ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS')


def make_job(job_class, job_args, runner_args):
    """The job, shipping mr_rnn to the tasks on every runner but inline.

    Inline, the one map task at a time gets a thread per core for its gradient
    sums. Every other runner runs one task per core (local) or per vcore
    (YARN, Spark), so each task gets one BLAS thread unless the user's cmdenv
    sets a thread count."""
    job = job_class(args=[*runner_args, *job_args])
    if _inline(job):
        extra = []
        if job.options.num_cores is None:
            # inline runs its tasks one after another: mrjob's default of two
            # map and two reduce tasks per core only adds tasks (each loads the
            # checkpoint and ends with a part batch) without adding cores
            extra += ['--num-cores', '1']
        if issubclass(job_class, ModelRecordJob):
            extra += ['--threads', str(usable_cores())]
        return job_class(args=[*runner_args, *extra, *job_args]) if extra else job
    # tasks import mr_rnn from a zip the job ships, as mrjob ships itself:
    # nothing has to be installed on the nodes but Python, numpy and mrjob's needs
    job = job_class(args=[*runner_args, '--py-files', package_zip(), *job_args])
    # mrjob asks the job for its runner class; this one adds the default cmdenv
    runner_class = job._runner_class()
    job._runner_class = lambda: one_blas_thread(runner_class)
    return job


def usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:          # not on Linux
        return os.cpu_count() or 1


@functools.cache
def one_blas_thread(runner_class):
    """``runner_class`` whose tasks get OMP/OPENBLAS/MKL_NUM_THREADS=1 unless
    the cmdenv from mrjob.conf or --cmdenv sets any of them (then that wins
    whole: OpenBLAS prefers OPENBLAS_NUM_THREADS to OMP_NUM_THREADS, so a
    user's OMP_NUM_THREADS=4 beside our OPENBLAS_NUM_THREADS=1 would do nothing).

    Without it every -r local task starts one OpenBLAS thread per core on
    cores the other tasks use: rounds took 7-116 s instead of 3.3 s."""

    class OneBlasThread(runner_class):
        def _cmdenv(self):
            env = super()._cmdenv()
            if any(var in env for var in BLAS_THREAD_VARS):
                return env
            return {**dict.fromkeys(BLAS_THREAD_VARS, '1'), **env}

    OneBlasThread.__name__ = OneBlasThread.__qualname__ = runner_class.__name__
    return OneBlasThread


def _inline(job):
    return (job.options.runner or 'inline') == 'inline'


def _run_once(job_class, job_args, runner_args):
    job = make_job(job_class, job_args, runner_args)
    with job_failures(job_class.__name__, in_process=_inline(job)):
        with job.make_runner() as runner:
            runner.run()
            output = list(job.parse_output(runner.cat_output()))
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
                try:
                    for chunk in runner.cat_output():
                        sink.write(chunk.decode('utf-8'))
                    sink.flush()
                except BrokenPipeError:     # | head: the reader has all it wants
                    sys.stdout = open(os.devnull, 'w')
            return _merge_counters(runner.counters()), runner.get_output_dir()


def _merge_counters(per_step):
    merged = {}
    for step in per_step or []:
        for group, counters in step.items():
            for name, value in counters.items():
                merged.setdefault(group, {}).setdefault(name, 0)
                merged[group][name] += value
    return merged


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


# ── a failed job, in one line ──

class _LogTail(logging.Handler):
    """The last lines mrjob logged during a job: its runner's messages and the
    output of `hadoop jar` / `spark-submit`, where a task's traceback lands."""

    def __init__(self, lines=3000):
        super().__init__(logging.DEBUG)
        self.lines = collections.deque(maxlen=lines)

    def emit(self, record):
        try:
            message = record.getMessage()
        except Exception:
            return
        for line in message.splitlines() or ['']:
            self.lines.append((record.name, record.levelno, line))


@contextlib.contextmanager
def job_failures(job_name, in_process=False):
    """Turn mrjob's StepFailedException into a JobFailed whose message is one
    line naming the task's own error (its Python exception), where mrjob's
    log has it, instead of Hadoop's "subprocess failed with code 1".
    ``in_process``: the inline runner, whose tasks raise in this process."""
    tail = _LogTail()
    logger = logging.getLogger('mrjob')
    logger.addHandler(tail)
    try:
        yield
    except StepFailedException as e:
        raise JobFailed(failure_message(job_name, e, list(tail.lines))) from None
    except (JobFailed, KeyboardInterrupt):
        raise
    except Exception as e:
        # a task's exception (inline), or the runner's own (a `hadoop fs` call
        # that failed, say): one line; --debug still shows the traceback
        what = 'a task raised ' if in_process else ''
        text = str(e).splitlines()[0] if str(e) else ''
        raise JobFailed(f'{job_name} failed: {what}{type(e).__name__}: {text} '
                        f'(mr-rnn --debug shows the traceback)') from e
    finally:
        logger.removeHandler(tail)


_TRACEBACK = 'Traceback (most recent call last):'
_LOG_PATH = re.compile(r'^\s*\(from (?:lines? [\d-]+ of )?(?P<path>\S+)\)\s*$')
_SUBPROCESS = re.compile(r'subprocess failed with code (\d+)')
_APPLICATION = re.compile(r'\b(application_\d+_\d+)\b')
_HINTS = (
    ("No module named 'numpy'",
     "the tasks' Python (python_bin) cannot import numpy: install numpy on every node, "
     "or ship it with the job (docs/running-on-hadoop.md)"),
    ("No module named 'mrjob'",
     "mrjob ships itself unless bootstrap_mrjob is false in mrjob.conf"),
)


def failure_message(job_name, error, lines):
    """One line: which job failed and why, from the tail of mrjob's log
    (``lines``: (logger name, level, text)) and the StepFailedException."""
    texts = [text for _, _, text in lines]
    raised, log_path = python_error(texts)
    if raised:
        hint = next((h for key, h in _HINTS if key in raised), None)
        message = f'{job_name} failed: a task raised {raised}'
        if hint:
            message += f' ({hint})'
        if log_path:
            message += f'; task log: {log_path}'
        return message
    joined = '\n'.join(texts)
    code = _SUBPROCESS.findall(joined)
    apps = _APPLICATION.findall(joined)
    if code:
        where = (f'`yarn logs -applicationId {apps[-1]}` shows it' if apps
                 else "see the tasks' stderr logs")
        return (f'{job_name} failed: a task\'s Python process exited with code {code[-1]} '
                f'and its traceback was not found in the logs mrjob could read ({where}; '
                f'-v shows mrjob\'s log)')
    errors = [text.strip() for name, level, text in lines
              if name == 'mrjob.logs.step' and level >= logging.ERROR and text.strip()]
    if errors:
        return f'{job_name} failed: {errors[-1]}'
    reason = error.reason or str(error)
    command = re.match(r"Command '\[(.*?)\]' returned non-zero exit status (\d+)", reason)
    if command:
        argv = [a.strip(" '") for a in command.group(1).split(',')]
        shown = ' '.join(os.path.basename(a) if i == 0 else a for i, a in enumerate(argv[:2]))
        return (f'{job_name} failed: `{shown} ...` exited with status {command.group(2)}; '
                f'-v shows its output')
    return f'{job_name} failed: {reason.splitlines()[0] if reason else "unknown error"}'


def python_error(texts):
    """(the exception line of the last Python traceback in ``texts``, the path
    of the log mrjob found it in, if it says) or (None, None)."""
    starts = [i for i, text in enumerate(texts) if _TRACEBACK in text]
    if not starts:
        return None, None
    start = starts[-1]
    raised = None
    for i in range(start + 1, len(texts)):
        text = texts[i]
        if not text.strip() or text[:1].isspace():
            continue        # the frames: "  File ...", the code, "    ^^^^"
        raised, rest = text.strip(), texts[i + 1:i + 40]
        break
    if raised is None:
        return None, None
    path = next((m.group('path') for m in map(_LOG_PATH.match, rest) if m), None)
    return raised, path


_ZIP = None


def package_zip():
    """A zip of the mr_rnn package (at the zip root), built once per process."""
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
                        z.write(path, os.path.join('mr_rnn', os.path.relpath(path, root)))
    return _ZIP
