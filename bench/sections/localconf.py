"""-r local rounds without a conf file: the same gradient job, -r local,
--no-conf against -c mrjob.conf, interleaved, with no BLAS thread variables in
the environment the tasks inherit (a user's shell would not have them). Without
the product's default of one BLAS thread per task, every task's OpenBLAS would
start a thread per core, on cores the other tasks use."""
import os

from measure import heading, interleaved, ratio_row
from paths import ROOT
from shards import gradient_job, make_checkpoint, make_shard

from mr_rnn.jobs.mrjob_internals import BLAS_THREAD_VARS

MAX_RATIO = 1.2


def measure(ctx):
    size = 20_000 if ctx.smoke else 300_000
    hidden = 16 if ctx.smoke else 128
    data = make_shard(os.path.join(ctx.work, 'localconf.txt'), size)
    checkpoint = make_checkpoint(ctx.work, data, 'lstm', hidden)
    bare = gradient_job(checkpoint, [data], ['-r', 'local', '--no-conf'])
    conf = gradient_job(checkpoint, [data], ['-r', 'local', '-c', os.path.join(ROOT, 'mrjob.conf')])
    # the variables bench/run.py set for itself
    saved = {var: os.environ.pop(var) for var in BLAS_THREAD_VARS if var in os.environ}
    try:
        reps = 1 if ctx.smoke else 3
        t_bare, t_conf = interleaved([bare, conf], reps)
    finally:
        os.environ.update(saved)
    return {'bytes': os.path.getsize(data), 'hidden': hidden, 'reps': reps,
            'no_conf_s': t_bare, 'conf_s': t_conf, 'ratio': t_bare / t_conf}


def targets(r):
    return [ratio_row(f'-r local round without a conf file ≤ {MAX_RATIO}× with mrjob.conf',
                      r['ratio'], r['ratio'] <= MAX_RATIO,
                      f"{r['no_conf_s']:.1f} s / {r['conf_s']:.1f} s")]


def markdown(r):
    return heading('-r local without a conf file') + [
        f"The gradient job on `-r local` (2 map tasks per core), {r['bytes'] / 1e3:.0f} kB "
        f"of text, LSTM {r['hidden']}, no thread variables in the environment: "
        f"`--no-conf` {r['no_conf_s']:.2f} s, `-c mrjob.conf` {r['conf_s']:.2f} s "
        f"({r['ratio']:.2f}×), {r['reps']} interleaved repetitions. Tasks get one BLAS "
        "thread from the product's default cmdenv (mr_rnn/jobs/mrjob_internals.py), no conf needed."]
