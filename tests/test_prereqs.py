"""make test's check of the machine (tests/prereqs.py): the README lists
exactly what it checks, it runs before anything is built, and under CI a
missing prerequisite stops it with one line naming how to install it."""
import os
import subprocess
import sys

import prereqs
from conftest import ROOT, in_ci


def test_the_readme_lists_exactly_what_make_test_checks():
    with open(os.path.join(ROOT, 'README.md'), encoding='utf-8') as f:
        lines = f.read().splitlines()
    start = next(i for i, line in enumerate(lines) if '(`tests/prereqs.py`' in line)
    listed = []
    for line in lines[start + 1:]:
        if line.startswith('- '):
            listed.append(line)
        elif listed:
            break
    assert listed == prereqs.readme_lines()


def test_make_test_checks_before_it_builds_anything():
    with open(os.path.join(ROOT, 'Makefile')) as f:
        makefile = f.read()
    recipe = makefile.split('\ntest:')[1].split('\n\n')[0].strip().splitlines()
    assert recipe[0].strip() == '$(PYTHON) tests/prereqs.py'          # first: system python3
    assert recipe[-1].strip() == '$(BIN)/python -m pytest'
    assert any('fetch-hadoop' in line for line in recipe[:-1])       # jars before pytest
    assert any('task-pythons' in line for line in recipe[:-1])


def check(tmp_path, ci, path):
    """tests/prereqs.py with ``path`` as PATH and no JAVA_HOME."""
    env = {k: v for k, v in os.environ.items() if k != 'JAVA_HOME'}
    env.update(CI=ci, PATH=path)
    return subprocess.run([sys.executable, os.path.join(ROOT, 'tests', 'prereqs.py')],
                          env=env, capture_output=True, text=True, cwd=tmp_path)


def test_without_java_ci_stops_with_one_line_naming_java_17(tmp_path):
    empty = tmp_path / 'bin'
    empty.mkdir()                                   # a PATH with no java on it
    done = check(tmp_path, 'true', str(empty))
    assert done.returncode == 1
    java = [line for line in done.stderr.splitlines() if 'Java 17' in line]
    assert java == ['make test: missing Java 17 (no java on the PATH, no $JAVA_HOME); '
                    'install: apt-get install -y openjdk-17-jdk-headless (or set JAVA_HOME)']
    assert 'stopping before anything is built' in done.stderr
    # outside CI the same machine goes on: the tests skip with their reasons
    done = check(tmp_path, 'false', str(empty))
    assert done.returncode == 0 and 'Java 17' in done.stderr and 'going on' in done.stderr


def test_one_ci_rule(monkeypatch):
    for value in ('woodpecker', 'true', '1', '', 'no'):
        monkeypatch.setenv('CI', value)
        assert prereqs.in_ci() is in_ci()
    assert prereqs.in_ci is in_ci
