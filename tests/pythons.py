"""Task interpreters like the ones clusters ship: an old CPython in a fresh
venv holding numpy from PyPI and nothing else (no mrjob: it ships itself,
no mr_rnn: the job ships it). Made once, cached under
~/.cache/mr_rnn/pythons (MR_RNN_PYTHONS to move it); `make task-pythons`
makes them ahead of the tests.

Where an interpreter is missing (no python3.X on PATH, none under pyenv) or
PyPI cannot be reached, the tests that need it skip with the reason; under
CI that is a failure instead -- conftest.py's one rule, imported, so that no
value of CI counts as CI here and not there.
"""
import os
import shutil
import subprocess
import sys

import pytest

from conftest import in_ci, unavailable  # noqa: F401  (the one CI rule)
from prereqs import base_interpreter  # what make test's check looks for

# (Python, numpy requirement): the oldest supported pair, and 3.9 with the
# newest numpy it gets from PyPI
SUPPORTED = [('3.8', 'numpy==1.24.4'), ('3.9', 'numpy<2.1')]
CACHE = os.environ.get('MR_RNN_PYTHONS',
                       os.path.join(os.path.expanduser('~'), '.cache', 'mr_rnn', 'pythons'))


def venv_name(version, requirement):
    return f'py{version}-' + ''.join(c if c.isalnum() or c == '.' else '_' for c in requirement)


def task_python(version, requirement=None, make=False):
    """The venv's interpreter; ``requirement`` None: no numpy. ``make``: made
    if missing, numpy from PyPI (make task-pythons); the tests only use what
    that made, and reach no network."""
    base = base_interpreter(version)
    if base is None:
        unavailable(f'no Python {version} here (python{version} on PATH or pyenv)')
    dest = os.path.join(CACHE, venv_name(version, requirement or 'bare'))
    python = os.path.join(dest, 'bin', 'python')
    ready = os.path.join(dest, '.ready')
    if not os.path.exists(ready) and not make:
        unavailable(f'the Python {version} venv with {requirement or "no numpy"} is not made '
                    f'(in {dest}): make task-pythons makes it, before the tests')
    if not os.path.exists(ready):
        shutil.rmtree(dest, ignore_errors=True)
        os.makedirs(CACHE, exist_ok=True)
        made = subprocess.run([base, '-m', 'venv'] + (['--without-pip'] if not requirement else [])
                              + [dest], capture_output=True, text=True, timeout=600)
        if made.returncode:
            unavailable(f'cannot make a Python {version} venv: {made.stderr.strip()[-300:]}')
        if requirement:
            pip = subprocess.run([python, '-m', 'pip', 'install', '-q', requirement],
                                 capture_output=True, text=True, timeout=1200)
            if pip.returncode:
                unavailable(f'cannot install {requirement} for Python {version} from PyPI: '
                            f'{pip.stderr.strip()[-300:]}')
        open(ready, 'w').close()
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    has = subprocess.run([python, '-c', 'import mrjob'], capture_output=True, env=env, cwd=dest)
    assert has.returncode != 0, f'{python} has mrjob: not a bare node Python'
    return python


def numpy_version(python):
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    return subprocess.run([python, '-c', 'import numpy; print(numpy.__version__)'], env=env,
                          capture_output=True, text=True, check=True).stdout.strip()


def main():
    """make task-pythons: make every interpreter, print each one made and one
    line per one that could not be (with the reason, which the tests repeat
    when they skip); exit 1 under CI, where those tests may not skip."""
    failed = []
    for version, requirement in SUPPORTED + [('3.7', None), ('3.8', 'numpy==1.23.5')]:
        try:
            print(task_python(version, requirement, make=True))
        except (pytest.skip.Exception, pytest.fail.Exception) as e:
            failed.append(f'Python {version} with {requirement or "no numpy"}: {e.msg}')
    for line in failed:
        print(f'make task-pythons: missing {line}', file=sys.stderr)
    if failed:
        print('make task-pythons: the tests that need these skip with that reason '
              '(fail under CI); install the Pythons with pyenv (pyenv install 3.7 3.8 3.9) '
              'or put python3.X on the PATH', file=sys.stderr)
    return 1 if failed and in_ci() else 0


if __name__ == '__main__':       # make task-pythons
    sys.exit(main())
