"""The command blocks of README.md and docs/*.md run as written, in the order
a reader meets them (README.md, then docs/using-models.md, docs/troubleshooting.md,
docs/running-on-hadoop.md, docs/design.md), in one folder that holds the
repository's sample_data/ and mrjob.conf, with `mr-rnn` on the PATH.

What is not run is marked in the docs (tests/doc_blocks.py: installs, make
targets, benchmarks, cluster commands, output, placeholders) and listed in
NOT_RUN below, so a new block runs unless its author marks it. The README's
Quick start has a reader run `make demo` first: the test runs that target's
own recipe (the Makefile's, into the folder) before the docs.

Figures printed next to a command are checked against what it prints: every
`name  number` line a `$ ` block shows (to 1 % relative), the digits
example's accuracy, and the demo's bits per character.
"""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

import doc_blocks
from conftest import ROOT

DOCS = ['README.md', 'docs/using-models.md', 'docs/troubleshooting.md',
        'docs/running-on-hadoop.md', 'docs/design.md']

# (document, kind): how many blocks of that kind the document marks as not run
NOT_RUN = {
    ('README.md', 'make'): 2, ('README.md', 'cluster'): 1, ('README.md', 'install'): 2,
    ('README.md', 'benchmark'): 1, ('README.md', 'placeholder'): 1,
    ('docs/using-models.md', 'make'): 1,
    ('docs/troubleshooting.md', 'placeholder'): 2,
    ('docs/running-on-hadoop.md', 'install'): 3, ('docs/running-on-hadoop.md', 'cluster'): 6,
    ('docs/running-on-hadoop.md', 'benchmark'): 3,
    ('docs/design.md', 'cluster'): 1,
}
FIGURE = re.compile(r'^\s*(\w+)\s+(-?\d+(?:\.\d+)?(?:e-?\d+)?)\s*$')
RELATIVE = 0.01             # a figure shown in the docs, against what the command prints


def all_blocks():
    for doc in DOCS:
        with open(os.path.join(ROOT, doc), encoding='utf-8') as f:
            yield from doc_blocks.blocks(doc, f.read())


def test_the_blocks_not_run_are_the_ones_listed():
    marked = {}
    for block in all_blocks():
        if block.is_command() and block.mark:
            marked[block.path, block.mark] = marked.get((block.path, block.mark), 0) + 1
    assert marked == NOT_RUN


def test_the_extractor_reads_indented_fenced_and_marked_blocks():
    text = '\n'.join([
        'Para.', '', '    mr-rnn inspect runs/x', '', '<!-- not run: install -->', '',
        '    pip install thing', '', '```python', 'print(1)', '```', '',
        '    a diagram ──► not a command', '', 'Para.', '', '    $ mr-rnn evaluate runs/x data',
        '          loss  0.5', ''])
    found = doc_blocks.blocks('x.md', text)
    assert [(b.line, b.language, b.mark, b.is_command()) for b in found] == [
        (3, 'shell', '', True), (7, 'shell', 'install', True), (10, 'python', '', True),
        (13, 'shell', '', False), (17, 'shell', '', True)]
    assert found[-1].commands() == 'mr-rnn evaluate runs/x data'


@pytest.fixture(scope='module')
def reader(tmp_path_factory):
    """A reader's folder: sample_data/, mrjob.conf, `mr-rnn` on the PATH, and
    runs/demo from the Makefile's own demo recipe."""
    home = tmp_path_factory.mktemp('reader')
    for name in ('sample_data', 'mrjob.conf'):
        os.symlink(os.path.join(ROOT, name), home / name)
    bin_dir = home / 'bin'
    bin_dir.mkdir()
    wrapper = bin_dir / 'mr-rnn'
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH={ROOT} exec {sys.executable} -m mr_rnn "$@"\n')
    wrapper.chmod(0o755)
    env = dict(os.environ, PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}')
    env.pop('PYTHONPATH', None)
    # make demo's recipe, with this folder's runs and this mr-rnn; its venv left alone
    bin_var = str(bin_dir)
    demo = subprocess.run(['make', '--no-print-directory', '-C', ROOT, '-o', f'{bin_var}/.demo-deps',
                           'demo', f'BIN={bin_var}', f'RUN={home}/runs/demo',
                           f'DATA={home}/runs/demo-data'],
                          env=env, capture_output=True, text=True)
    assert demo.returncode == 0, demo.stderr[-3000:]
    return home, env, demo.stdout


def run_shell(block, home, env):
    done = subprocess.run(['bash', '-e', '-u', '-c', block.commands()], cwd=home, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, (f'{block.where} failed (exit {done.returncode}):\n'
                                  f'{block.commands()}\n--- stderr\n{done.stderr[-3000:]}')
    return done.stdout


def check_figures(block, printed):
    """Every `name  number` line the block shows, against the printed one."""
    shown = [FIGURE.match(line) for line in block.text.splitlines()
             if not line.startswith('$ ')]
    got = {}
    for line in printed.splitlines():
        m = FIGURE.match(line)
        if m:
            got.setdefault(m.group(1), []).append(float(m.group(2)))
    for m in filter(None, shown):
        name, value = m.group(1), float(m.group(2))
        assert name in got, f'{block.where}: shows {name}, the command prints no such line'
        actual = got[name].pop(0)
        assert actual == pytest.approx(value, rel=RELATIVE, abs=1e-9), \
            f'{block.where}: shows {name} {value}, the command prints {actual}'


def test_the_docs_commands_run_as_written(reader):
    home, env, demo_out = reader
    # the README's figure for make demo: held-out bits per character
    bits = float(re.search(r'bits_per_token\s+([\d.]+)', demo_out).group(1))
    assert bits == pytest.approx(1.98119, abs=0.005)
    python_so_far = {}
    ran = []
    for block in all_blocks():
        if not block.is_command() or block.mark:
            continue
        if block.language == 'python':
            # a document's snippets build on each other: each runs after the ones above it
            python_so_far.setdefault(block.path, []).append(block.text)
            done = subprocess.run([sys.executable, '-c', '\n'.join(python_so_far[block.path])],
                                  cwd=home, env=env, capture_output=True, text=True)
            assert done.returncode == 0, f'{block.where} failed:\n{done.stderr[-3000:]}'
        else:
            printed = run_shell(block, home, env)
            check_figures(block, printed)
        ran.append(block.where)
        if block.where.startswith('README.md') and 'runs/digits' in block.text and \
                'mr-rnn train' in block.text:
            # "about 90 % validation accuracy in 40 rounds": within 5 points
            scored = subprocess.run(['mr-rnn', 'evaluate', 'runs/digits',
                                     'sample_data/sequences/digits-val.jsonl', '--json'],
                                    cwd=home, env=env, capture_output=True, text=True)
            assert json.loads(scored.stdout)['accuracy'] == pytest.approx(0.90, abs=0.05)
    assert len(ran) >= 15, ran
    shutil.rmtree(home / 'runs', ignore_errors=True)
