"""The material of the job-level sections of bench/run.py: a text shard of
the sample book, the checkpoint of a real run's iteration 0 on it, the
batches a map task would form from it, and the two ways to compute its
gradient -- the bare kernels (GradientSum) and a whole MRGradientStep job."""
import os
import shutil
import subprocess
import sys

from paths import SAMPLE_TEXT


def make_shard(path, size):
    """A text shard of about ``size`` bytes: the sample book, repeated as needed."""
    with open(SAMPLE_TEXT, 'rb') as f:
        book = f.read()
    with open(path, 'wb') as out:
        written = 0
        while written < size:
            chunk = book[:size - written]
            cut = chunk.rfind(b'\n') + 1 if len(chunk) < len(book) else len(chunk)
            chunk = chunk[:cut or len(chunk)]
            out.write(chunk if chunk.endswith(b'\n') else chunk + b'\n')
            written += len(chunk)
    return path


def make_checkpoint(work, data, cell, hidden, batch_size=32, seq_len=64):
    """Iteration 0 of a real run (the CLI describes the data and saves the weights)."""
    run_dir = os.path.join(work, f'run-{cell}{hidden}-b{batch_size}-s{seq_len}')
    shutil.rmtree(run_dir, ignore_errors=True)
    done = subprocess.run([sys.executable, '-m', 'mr_rnn', 'train', data, '--cell', cell,
                           '--hidden', str(hidden), '--batch-size', str(batch_size),
                           '--seq-len', str(seq_len), '--max-iter', '0', '--out', run_dir],
                          capture_output=True, text=True, cwd=work)
    if done.returncode:
        raise RuntimeError(f'mr-rnn train failed:\n{done.stderr}')
    return os.path.join(run_dir, 'checkpoints', 'iter-000000.npz')


def shard_batches(checkpoint, data):
    """The batches a map task would form from ``data`` (parsing outside any timing)."""
    from mr_rnn.data.batching import BatchStream
    from mr_rnn.data.readers import line_reader
    from mr_rnn.model import Model
    model = Model.load(checkpoint)
    stream = BatchStream(model.config.batch_size, model.schema, model.dtype)
    read = line_reader(model.schema, model.config.data)
    batches = []
    with open(data, 'rb') as f:
        for n, line in enumerate(f):
            raw = line.rstrip(b'\n')
            batches.extend(stream.add_record(lambda: read(raw), f'{data}:{n + 1}'))
    last = stream.flush()
    return model, batches + ([last] if last is not None else [])


def target_tokens(batches):
    return int(sum(b.mask.sum() for b in batches))


def bare_gradient(model, batches):
    """A call that sums the gradient of ``batches`` with the kernels alone."""
    from mr_rnn.kernels.accumulate import GradientSum

    def run():
        sums = GradientSum(model.params, model.spec)
        for batch in batches:
            sums.add(batch)
        sums.finish()
        return sums
    return run


def gradient_job(checkpoint, inputs, runner_args, job_args=()):
    """A call that runs one MRGradientStep job on ``inputs`` (one training round)."""
    from mr_rnn.driver.runner import run_job
    from mr_rnn.jobs.mr_gradient_step import MRGradientStep

    def run():
        return run_job(MRGradientStep, ['--format', 'text', '--checkpoint', checkpoint,
                                        *job_args, *inputs], runner_args)
    return run
