"""The benchmark of bench/run.py runs end to end (tiny shapes). How fast is not tested."""
import os
import subprocess
import sys

from conftest import ROOT

SECTIONS = ('## Targets', '## Kernel throughput', '## Gradient throughput by --batch-size',
            '## Iteration overhead', '## Scaling', '## Wire', '## Mapper memory',
            '## Full-batch inline iteration against a PyTorch loop', '## -r local without a conf file')


def test_bench_smoke_runs_and_prints_the_table(tmp_path):
    result = subprocess.run([sys.executable, os.path.join(ROOT, 'bench', 'run.py'), '--smoke',
                             '--out', str(tmp_path)],
                            capture_output=True, text=True, timeout=600, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert '| target | measured | verdict |' in result.stdout
    written = (tmp_path / 'RESULTS.md').read_text()
    for heading in SECTIONS:
        assert heading in result.stdout and heading in written
    assert '## Machine' in written


QUALITY_SECTIONS = ('## Machine', '## Data', '## At equal wall time', '## Time and rounds to a held-out target',
                    '## Rounds to a held-out loss by the number of map tasks')


def test_quality_bench_smoke_runs_and_writes_every_section(tmp_path):
    out = tmp_path / 'QUALITY.md'
    result = subprocess.run([sys.executable, os.path.join(ROOT, 'bench', 'quality.py'), '--smoke',
                             '--out', str(out)],
                            capture_output=True, text=True, timeout=900, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    written = out.read_text()
    for heading in QUALITY_SECTIONS:
        assert heading in written
    # the sample text was prepared and both systems scored on it; the smoke run's
    # budget is in rounds and steps, and it reads no downloaded text
    assert written.count('| austen |') >= 3 and '| sotu |' not in written
    assert '(budget 2 mr-rnn rounds, 8 PyTorch steps)' in written
    assert "Target: mr_rnn local's gain" in written
