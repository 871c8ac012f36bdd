"""The suite's own rules (docs/design.md §4): no test sleeps to wait for
something, decides by the wall clock, or reaches the network. Tests wait for
events (a task held on a fifo, a checkpoint, a process's exit), count budgets
in rounds or steps, and read data from sample_data/ or make it; what must be
downloaded (the Hadoop jars, the task Pythons' numpy, pip packages) is fetched
by `make test` before pytest.

Every line of tests/ that matches a rule below fails this test unless
ALLOWED lists it with the reason it is safe.
"""
import os
import re

from conftest import ROOT

TESTS = os.path.join(ROOT, 'tests')

RULES = {
    'sleeps': re.compile(r'\bsleep\('),
    'reads the clock': re.compile(r'\btime\.(time|monotonic|perf_counter)\(|datetime\.now\('),
    # a subprocess timeout is a guard against a hang, never a budget: generous, or flagged
    'a short timeout': re.compile(r'\btimeout=(\d|[1-5]\d)(\.\d+)?\b'),
    'reaches the network': re.compile(
        r'urllib|urlopen|\brequests\b|http\.client|create_connection|\.connect\(|https?://'
        r"|'pip', 'install'|\bnpm\b|\bmvn\b|\bcurl\b|\bwget\b"),
}

# (file under tests/, a piece of the line): why it is safe
ALLOWED = {
    # the aimed kills of the 20-kill test: a time is only where a kill is aimed; what
    # it hit is read from the files afterwards, and the test aims again until every
    # kind of moment is hit, so the load decides how many kills it takes, not the verdict
    ('test_faults.py', 'started = time.monotonic()'):
        'the start of a run, to aim a kill at a time into it',
    ('test_faults.py', "if kind == 'time' and time.monotonic() - started >= seconds:"):
        'the aimed moment of a kill',
    ('test_faults.py', 'time.sleep(0.002)'):
        'the pace of the aim, between two polls of the driver',
    ('test_faults.py', "assert time.monotonic() - started < 120, 'the driver hangs'"):
        'a hang guard: 120 s where a whole run takes about 2 s',
    ('test_faults.py', 'duration = time.monotonic() - started'):
        'the length of a straight run, to spread the aims over it',
    # no test, a tool: it prints timings and decides nothing
    ('hadoop/smoke_mrjob.py', 'time.time()'):
        'a manual tool (python tests/hadoop/smoke_mrjob.py) that prints how long steps took',
    # downloads that make does, before pytest, and never a test
    ('pythons.py', "pip = subprocess.run([python, '-m', 'pip', 'install', '-q', requirement],"):
        'only with make=True, which `make task-pythons` passes and no test does',
    ('prereqs.py', 'mvn'):
        "make test's check looks for Maven; make fetches the jars (prereqs.py fetch-hadoop) "
        'before pytest',
    ('hadoop/clusters.py', 'mvn'):
        'finds and names Maven, which only a benchmark runs: the tests call '
        'find_hadoop_lib(fetch=False) (test_the_tests_fetch_no_hadoop_jars)',
}


def scanned_files():
    for folder, _, files in os.walk(TESTS):
        for name in sorted(files):
            path = os.path.join(folder, name)
            if name.endswith('.py') and not os.path.samefile(path, __file__):
                yield os.path.relpath(path, TESTS), path


def findings(text, rel):
    """[(rule, line number, line)] of one file's code (comments left out)."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        code = line.strip()
        if not code or code.startswith('#'):
            continue
        for rule, pattern in RULES.items():
            if pattern.search(code):
                found.append((rule, number, code))
    return found


def test_no_test_sleeps_reads_the_clock_or_reaches_the_network():
    used, bad = set(), []
    for rel, path in scanned_files():
        with open(path, encoding='utf-8') as f:
            text = f.read()
        for rule, number, code in findings(text, rel):
            allowed = [key for key in ALLOWED if key[0] == rel and key[1] in code]
            if allowed:
                used.update(allowed)
            else:
                bad.append(f'tests/{rel}:{number}: {rule}: {code}')
    assert not bad, 'lines that break the suite\'s rules (or list them in ALLOWED, with why):\n' \
        + '\n'.join(bad)
    assert used == set(ALLOWED), f'ALLOWED entries that match nothing: {set(ALLOWED) - used}'


def test_the_rules_catch_what_they_are_for():
    caught = {rule for rule, _, _ in findings('\n'.join([
        'time.sleep(0.3)',
        'deadline = time.time() + 120',
        'subprocess.run(cmd, timeout=10)',
        "urllib.request.urlopen('https://example.org/data.txt')",
        "subprocess.run([sys.executable, '-m', 'pip', 'install', 'numpy'])",
    ]), 'x.py')}
    assert caught == set(RULES)
    assert findings('# time.sleep(1) in a comment\nproc.wait(timeout=300)', 'x.py') == []


def test_the_tests_fetch_no_hadoop_jars():
    """The Hadoop tests take the jars make fetched, never Maven's download."""
    with open(os.path.join(TESTS, 'hadoop', 'harness.py'), encoding='utf-8') as f:
        harness = f.read()
    assert 'find_hadoop_lib(fetch=False)' in harness and 'find_hadoop_lib()' not in harness
