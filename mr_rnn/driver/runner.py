"""Run one mrjob job and bring its output back to the driver.

A runner runs a job once (mrjob's rule), so every iteration makes a new one.
"""
import logging
import os
import tempfile
import zipfile

from mrjob.step import StepFailedException

import mr_rnn


class JobFailed(Exception):
    """A MapReduce job that did not succeed; the message names the job and why."""


def run_job(job_class, job_args, runner_args):
    """Return (list of (key, value) output records, counters dict)."""
    job = job_class(args=[*runner_args, *job_args])
    if (job.options.runner or 'inline') != 'inline':
        # tasks import mr_rnn from a zip the job ships, as mrjob ships itself:
        # nothing has to be installed on the nodes but Python, numpy and mrjob's needs
        job = job_class(args=[*runner_args, '--py-files', package_zip(), *job_args])
    try:
        with job.make_runner() as runner:
            runner.run()
            output = list(job.parse_output(runner.cat_output()))
            counters = _merge_counters(runner.counters())
    except StepFailedException as e:
        raise JobFailed(f'{job_class.__name__} failed: {e.reason or e}') from None
    return output, counters


def _merge_counters(per_step):
    merged = {}
    for step in per_step or []:
        for group, counters in step.items():
            for name, value in counters.items():
                merged.setdefault(group, {}).setdefault(name, 0)
                merged[group][name] += value
    return merged


def quiet_mrjob(verbose):
    """mrjob's chatter only with -v; warnings always."""
    logging.basicConfig(format='%(message)s')
    logging.getLogger('mrjob').setLevel(logging.INFO if verbose else logging.WARNING)
    if not verbose:
        # says only that mrjob.conf has no section for this runner, which is fine
        logging.getLogger('mrjob.conf').addFilter(
            lambda record: not record.getMessage().startswith('No configs specified'))


_ZIP = None


def package_zip():
    """A zip of the mr_rnn package (at the zip root), built once per process."""
    global _ZIP
    if _ZIP is None or not os.path.exists(_ZIP):
        root = os.path.dirname(os.path.abspath(mr_rnn.__file__))
        folder = tempfile.mkdtemp(prefix='mr_rnn-')
        _ZIP = os.path.join(folder, 'mr_rnn.zip')
        with zipfile.ZipFile(_ZIP, 'w', zipfile.ZIP_DEFLATED) as z:
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = sorted(d for d in dirnames if d != '__pycache__')
                for name in sorted(filenames):
                    if name.endswith('.py'):
                        path = os.path.join(dirpath, name)
                        z.write(path, os.path.join('mr_rnn', os.path.relpath(path, root)))
    return _ZIP
