"""The one rule by which a test whose requirement is missing skips on a user's
machine and fails in CI (conftest.py): Hadoop, Spark, ONNX, matplotlib, torch
and Chromium tests all use it."""
import pytest

from conftest import in_ci, need_module, unavailable


@pytest.mark.parametrize('value, ci', [(None, False), ('', False), ('0', False),
                                       ('false', False), ('False', False), ('no', False),
                                       ('true', True), ('1', True), ('yes', True),
                                       ('TRUE', True), ('github-actions', True)])
def test_ci_is_any_value_but_empty_zero_false_or_no(monkeypatch, value, ci):
    if value is None:
        monkeypatch.delenv('CI', raising=False)
    else:
        monkeypatch.setenv('CI', value)
    assert in_ci() is ci


@pytest.mark.parametrize('value', ['true', '1'])
def test_a_missing_requirement_fails_in_ci(monkeypatch, value):
    monkeypatch.setenv('CI', value)
    with pytest.raises(pytest.fail.Exception, match='every test must run in CI'):
        need_module('mr_rnn_no_such_module', 'nothing to install')
    with pytest.raises(pytest.fail.Exception, match='chromium'):
        unavailable('chromium is not installed')


def test_a_missing_requirement_skips_outside_ci(monkeypatch):
    monkeypatch.setenv('CI', 'false')
    with pytest.raises(pytest.skip.Exception, match='mr_rnn_no_such_module is not installed'):
        need_module('mr_rnn_no_such_module', 'nothing to install')


def test_harness_uses_the_same_rule(monkeypatch):
    import os
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'hadoop'))
    import harness
    monkeypatch.setenv('CI', '1')
    with pytest.raises(pytest.fail.Exception, match='every test must run in CI'):
        harness.unavailable('Hadoop is not here')


@pytest.mark.parametrize('value, ci', [('woodpecker', True), ('true', True), ('1', True),
                                       ('false', False), ('', False)])
def test_task_pythons_use_the_same_rule(monkeypatch, value, ci):
    """tests/pythons.py (the old task interpreters) decides CI as conftest does:
    any value but empty, 0, false or no, including a service's own name."""
    import pythons
    monkeypatch.setenv('CI', value)
    assert pythons.in_ci() is in_ci() is ci
    expected = pytest.fail.Exception if ci else pytest.skip.Exception
    with pytest.raises(expected, match='no Python 3.8 here'):
        pythons.unavailable('no Python 3.8 here')
    # and a missing interpreter goes through it
    monkeypatch.setattr(pythons, 'base_interpreter', lambda version: None)
    with pytest.raises(expected, match='no Python 3.8 here'):
        pythons.task_python('3.8', 'numpy==1.24.4')
