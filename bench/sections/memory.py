"""Mapper memory: the peak RSS of the gradient job's map task, run as Hadoop
Streaming runs it (records on stdin, one process), with 1x and 10x the data."""
import os
import subprocess
import sys

from measure import heading, ratio_row
from shards import make_checkpoint, make_shard

MAX_RATIO = 1.2
MAPPER = [sys.executable, '-m', 'mr_rnn.jobs.mr_gradient_step', '--step-num=0', '--mapper',
          '--format', 'text', '--checkpoint']

# a small launcher, so that the measured child is forked from a small process:
# Linux counts the RSS a child inherits at fork (before exec) in its ru_maxrss
PEAK_RSS = """
import os, subprocess, sys
with open(sys.argv[1], 'rb') as stdin:
    child = subprocess.Popen(sys.argv[2:], stdin=stdin, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
code = os.waitstatus_to_exitcode(status)
print(usage.ru_maxrss if code == 0 else -code)
"""


def mapper_peak_rss(checkpoint, data):
    """Run the gradient job's map task as Hadoop Streaming runs it (stdin -> stdout)
    in a child process; return its peak resident memory in bytes."""
    done = subprocess.run([sys.executable, '-c', PEAK_RSS, data, *MAPPER, checkpoint],
                          capture_output=True, text=True, check=True)
    value = int(done.stdout.split()[-1])
    if value < 0:
        raise RuntimeError(f'mapper exited with {-value}: {done.stderr[-2000:]}')
    scale = 1 if sys.platform == 'darwin' else 1024          # ru_maxrss: KiB on Linux
    return value * scale


def measure(ctx):
    size = 10_000 if ctx.smoke else 50_000
    hidden = 16 if ctx.smoke else 128
    small = make_shard(os.path.join(ctx.work, 'mem-1x.txt'), size)
    large = make_shard(os.path.join(ctx.work, 'mem-10x.txt'), 10 * size)
    checkpoint = make_checkpoint(ctx.work, small, 'lstm', hidden)
    one, ten = mapper_peak_rss(checkpoint, small), mapper_peak_rss(checkpoint, large)
    return {'bytes': size, 'hidden': hidden, 'rss_1x': one, 'rss_10x': ten, 'ratio': ten / one}


def targets(r):
    return [ratio_row(f'mapper peak memory, 10× data ≤ {MAX_RATIO}× of 1×', r['ratio'],
                      r['ratio'] <= MAX_RATIO,
                      f"{r['rss_10x'] / 2**20:.0f} / {r['rss_1x'] / 2**20:.0f} MiB")]


def markdown(r):
    return heading('Mapper memory') + [
        f"Map task of the gradient job run as Hadoop Streaming runs it, LSTM {r['hidden']}: "
        f"peak RSS {r['rss_1x'] / 2**20:.1f} MiB on {r['bytes']} B, "
        f"{r['rss_10x'] / 2**20:.1f} MiB on {10 * r['bytes']} B ({r['ratio']:.2f}×)."]
