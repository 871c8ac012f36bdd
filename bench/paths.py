"""Where the benchmarks find this checkout, stated once: the repository root
(put first on sys.path on import, and on the PYTHONPATH of the commands they
start, so that they measure this checkout's mr_rnn and not an installed one)
and the sample text most of them train on."""
import os
import sys

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
SAMPLE_TEXT = os.path.join(ROOT, 'sample_data', 'text', 'austen_persuasion.txt')

if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def pythonpath(*first):
    """PYTHONPATH with ``first`` and ROOT ahead of what the environment has."""
    return os.pathsep.join(filter(None, [*first, ROOT, os.environ.get('PYTHONPATH')]))


def child_env(*first, **extra):
    """os.environ for a command of this checkout: pythonpath(*first), and ``extra``."""
    return dict(os.environ, PYTHONPATH=pythonpath(*first), **extra)
