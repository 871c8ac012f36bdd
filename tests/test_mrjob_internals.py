"""mrjob's private names are used in one module of mr_rnn only
(mr_rnn/jobs/mrjob_internals.py), each one still exists, and mrjob's version
is the one the tests run (setup.cfg pins it)."""
import importlib
import inspect
import os
import pkgutil
import re

import mrjob

from mr_rnn.jobs import mrjob_internals

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTED = ((0, 7, 4), (0, 8))        # from the first, below the second (setup.cfg)
# a private name where code reaches one: obj._name, def _name, import _name, a, _name
USE = re.compile(r'(?:\.|\bdef |\bimport |, )(_[A-Za-z]\w*)\b')


def mrjob_private_names():
    """Every single-underscore name that mrjob's modules or classes define."""
    names = set()
    for info in pkgutil.walk_packages(mrjob.__path__, 'mrjob.'):
        try:
            module = importlib.import_module(info.name)
        except Exception:       # an optional dependency of one runner (boto3, google-cloud)
            continue
        for name, value in vars(module).items():
            names.add(name)
            if inspect.isclass(value) and value.__module__.startswith('mrjob'):
                for cls in value.__mro__:
                    names.update(vars(cls))
    return {n for n in names if n.startswith('_') and not n.startswith('__')}


def test_mrjob_is_the_tested_version():
    version = tuple(int(part) for part in re.findall(r'\d+', mrjob.__version__)[:3])
    assert TESTED[0] <= version < TESTED[1], (
        f'mrjob {mrjob.__version__} is outside the tested range: check every name in '
        'mr_rnn/jobs/mrjob_internals.PRIVATE_NAMES (docs/design.md §7) before raising the pin')
    with open(os.path.join(ROOT, 'setup.cfg')) as f:
        assert 'mrjob>=0.7.4,<0.8' in f.read()


def resolve(dotted):
    """The module or class that a dotted name (mrjob.sim.SimMRJobRunner) names."""
    parts = dotted.split('.')
    for cut in range(len(parts), 0, -1):
        try:
            found = importlib.import_module('.'.join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            found = getattr(found, attribute)
        return found
    raise ImportError(dotted)


def test_every_private_name_used_still_exists():
    assert len(mrjob_internals.PRIVATE_NAMES) >= 10
    for owner, name in mrjob_internals.PRIVATE_NAMES:
        assert hasattr(resolve(owner), name), f'{owner}.{name} is gone from mrjob {mrjob.__version__}'


def test_private_names_of_mrjob_appear_in_mrjob_internals_only():
    private = mrjob_private_names()
    assert {'_runner_class', '_cmdenv', '_split_mapper_input'} <= private   # the scan works
    used, elsewhere = set(), []
    for top in ('mr_rnn', 'tests'):
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            for name in (f for f in files if f.endswith('.py')):
                path = os.path.join(folder, name)
                with open(path, encoding='utf-8') as f:
                    text = f.read()
                found = {m for m in USE.findall(text) if m in private}
                if os.path.samefile(path, mrjob_internals.__file__):
                    used = found
                elif found and not os.path.samefile(path, __file__):
                    elsewhere.append((os.path.relpath(path, ROOT), sorted(found)))
    assert not elsewhere, f'private names of mrjob outside jobs/mrjob_internals.py: {elsewhere}'
    listed = {name for _, name in mrjob_internals.PRIVATE_NAMES}
    assert used == listed, 'PRIVATE_NAMES must list exactly what mrjob_internals.py uses'
