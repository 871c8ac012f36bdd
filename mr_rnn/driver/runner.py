"""Run one mrjob job and bring its output back to the driver.

A runner runs a job once (mrjob's rule), so every iteration makes a new one.
"""
import logging

from mrjob.step import StepFailedException


class JobFailed(Exception):
    """A MapReduce job that did not succeed; the message names the job and why."""


def run_job(job_class, job_args, runner_args):
    """Return (list of (key, value) output records, counters dict)."""
    job = job_class(args=[*runner_args, *job_args])
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
