"""Shared test setup: isolate every test from the user's own ~/.mrjob.conf, and
the one rule for a test whose requirement is missing: skip on a user's machine,
fail in CI."""
import importlib
import os

import pytest

from prereqs import in_ci  # noqa: F401  (the one CI rule; make test's check uses it too)

try:
    from hypothesis import settings as hypothesis_settings
except ImportError:          # the test extra is not installed: test_fuzz.py says so
    hypothesis_settings = None

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(ROOT, 'sample_data')


# Property tests draw the same examples on every run and machine (derandomize:
# a failure on a fresh clone comes back on the rerun, with no example database
# to keep), and no example is timed: a loaded machine is not a failure.
# A test's own @settings keeps these unless it names them.
if hypothesis_settings is not None:
    hypothesis_settings.register_profile('mr_rnn', derandomize=True, deadline=None,
                                         database=None, print_blob=True)
    hypothesis_settings.load_profile('mr_rnn')




def unavailable(reason):
    """Skip, with the reason; in CI nothing may skip, so there it is a failure."""
    if in_ci():
        pytest.fail(f'{reason} -- and CI is set: every test must run in CI', pytrace=False)
    pytest.skip(reason)


def need_module(name, install):
    """The module ``name``, or unavailable(...) naming how to ``install`` it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        unavailable(f'{name} is not installed: {install}')


@pytest.fixture(autouse=True)
def _no_user_mrjob_conf(monkeypatch, tmp_path_factory):
    empty = tmp_path_factory.getbasetemp() / 'empty-mrjob.conf'
    empty.write_text('{}\n')
    monkeypatch.setenv('MRJOB_CONF', str(empty))
