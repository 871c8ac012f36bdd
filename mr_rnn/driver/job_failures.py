"""A failed job as one line: which job, and the task's own error (its Python
exception) where mrjob's log has it, instead of Hadoop's "subprocess failed
with code 1" (docs/design.md §8.6)."""
import collections
import contextlib
import logging
import os
import re

from mrjob.step import StepFailedException

from mr_rnn.errors import MrRnnError


class JobFailed(MrRnnError):
    """A MapReduce job that did not succeed; the message names the job and why."""
    exit_code = 1


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


def spark_failure_message(job_name, error):
    """One line for a pass of the run's Spark application that failed: the
    task's Python exception, found in the traceback Spark carries back inside
    its own exception, else the exception's first line."""
    raised, _ = python_error(str(error).splitlines())
    if raised:
        hint = next((h for key, h in _HINTS if key in raised), None)
        return f'{job_name} failed: a task raised {raised}' + (f' ({hint})' if hint else '')
    text = str(error).strip().splitlines()[0] if str(error).strip() else ''
    return (f'{job_name} failed: {type(error).__name__}: {text} '
            f'(mr-rnn --debug shows the traceback)')
