"""Shared test setup: isolate every test from the user's own ~/.mrjob.conf."""
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(ROOT, 'sample_data')


@pytest.fixture(autouse=True)
def _no_user_mrjob_conf(monkeypatch, tmp_path_factory):
    empty = tmp_path_factory.getbasetemp() / 'empty-mrjob.conf'
    empty.write_text('{}\n')
    monkeypatch.setenv('MRJOB_CONF', str(empty))
