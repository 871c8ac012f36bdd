"""mr_rnn: RNN, LSTM and GRU training with one MapReduce job per round.

Two sides, two minimums. The gateway (cli, driver: the machine you type
mr-rnn on) needs Python 3.11+ and numpy 1.26+ (setup.cfg). The map and
reduce tasks import only the jobs and what they import (kernels, data,
codec, model, config), written for the Python that cluster nodes ship as
python3 -- 3.8 and 3.9 on RHEL 8/9, Amazon Linux 2023, EMR 6/7 -- with
numpy 1.24 or newer. A task on an older one stops here, at its first import
of mr_rnn, with one line saying what it found and what it needs.

This file must stay importable by any Python 3 (no newer syntax here).
"""
import re
import sys

TASK_PYTHON = (3, 8)
TASK_NUMPY = (1, 24)


def environment_problem(python=None, numpy_version=None):
    """What makes this interpreter unable to run mr_rnn's tasks, or None.
    ``python`` (a version tuple) and ``numpy_version`` (a string) default to
    this process's own."""
    python = tuple(sys.version_info[:3]) if python is None else tuple(python)
    where = 'set python_bin in mrjob.conf (or --python-bin) to a newer one'
    if python[:2] < TASK_PYTHON:
        return ('mr_rnn tasks need Python %d.%d or newer; this task runs Python %s (%s): %s'
                % (TASK_PYTHON + ('.'.join(map(str, python)), sys.executable, where)))
    if numpy_version is None:
        try:
            import numpy
        except ImportError:
            return None         # the import that needs it names it, with a hint
        numpy_version = numpy.__version__
    match = re.match(r'(\d+)\.(\d+)', numpy_version)
    if match and (int(match.group(1)), int(match.group(2))) < TASK_NUMPY:
        return ('mr_rnn tasks need numpy %d.%d or newer; the task\'s Python (%s) has numpy %s: '
                'upgrade numpy on the nodes, or %s' % (TASK_NUMPY + (sys.executable,
                                                                     numpy_version, where)))
    return None


_problem = environment_problem()
if _problem:
    raise RuntimeError(_problem)
