"""The performance benchmark of issue 6: one command, one markdown table.

    python bench/run.py                 # full run (about 10-15 minutes on 2 cores)
    python bench/run.py --smoke         # tiny shapes, a few seconds (CI)
    python bench/run.py --threads 2     # BLAS threads per process (default 1)

Prints the table and writes it, with a description of the machine, to
bench/RESULTS.md (``--out DIR`` writes DIR/RESULTS.md instead).

Every comparison is measured side by side in the same run, repetitions
interleaved (A, B, A, B, ...), and reported as the ratio of the medians:
absolute times are informative only, because the machine may be shared.

Sections (issue 6, items 2-5):
  kernels   tokens/s of one layer forward + backward (float32, T=50) for RNN,
            LSTM and GRU at H 128/256/512 and B 32/256, against torch.nn's
            cells when torch is importable, and as a fraction of the float32
            matmul peak measured between the repetitions
  batch     gradient throughput of the LSTM language model by --batch-size
  overhead  one inline-runner iteration of MRGradientStep against the bare
            GradientSum over the same records
  scaling   local runner, --num-cores 2 against 1, same two map tasks
  wire      bytes per gradient emission against the raw float bytes, and the
            time spent in the codec as a share of the iteration
  memory    a map task's peak RSS with 1x and 10x the data in its shard
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEXT = os.path.join(ROOT, 'sample_data', 'text', 'austen_persuasion.txt')
THREAD_VARS = ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--smoke', action='store_true', help='tiny shapes: proves it runs, measures nothing')
    p.add_argument('--threads', type=int, default=1,
                   help='BLAS threads per process, for numpy and torch alike (default 1: '
                        'one map task per core, as a Hadoop slot runs it)')
    p.add_argument('--out', default=os.path.join(ROOT, 'bench'),
                   help='directory for RESULTS.md and scratch files (default bench/)')
    p.add_argument('--only',
                   default='kernels,batch,overhead,scaling,wire,memory,profile,fullbatch,localconf',
                   help='comma-separated sections to run')
    p.add_argument('--fullbatch-child', metavar='DIR',
                   help=argparse.SUPPRESS)   # one thread count of the fullbatch section, in DIR
    return p.parse_args(argv)


ARGS = parse_args() if __name__ == '__main__' else None
if ARGS is not None:
    # BLAS reads its thread count when it loads: set it before numpy is imported
    for var in THREAD_VARS:
        os.environ[var] = str(ARGS.threads)
    sys.path.insert(0, ROOT)
    os.environ['PYTHONPATH'] = os.pathsep.join(filter(None, [ROOT, os.environ.get('PYTHONPATH')]))

import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from machine import machine_rows  # noqa: E402  (bench/machine.py, beside this script)


# ── measuring ──

def interleaved(funcs, reps):
    """Run funcs round-robin ``reps`` times; return each one's median seconds."""
    times = [[] for _ in funcs]
    for _ in range(reps):
        for f, ts in zip(funcs, times):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
    return [float(np.median(ts)) for ts in times]


def matmul_peak_call(n):
    a = np.random.default_rng(1).random((n, n), dtype=np.float32)
    b = np.random.default_rng(2).random((n, n), dtype=np.float32)
    out = np.empty((n, n), np.float32)
    return (lambda: np.matmul(a, b, out=out)), 2.0 * n ** 3


def load_torch(threads):
    try:
        import torch
    except Exception as e:     # not installed, or a wheel whose CUDA libraries are missing
        return None, f'{type(e).__name__}: {str(e).splitlines()[0][:120]}'
    torch.set_num_threads(threads)
    return torch, torch.__version__


# ── machine ──

def machine(threads, torch_note):
    return machine_rows(('BLAS threads per process', str(threads)), ('torch', torch_note))


# ── 2. kernel throughput ──

def layer_flops(G, H, D, B, T):
    """Multiply-adds x2 of one layer's forward + backward without dx:
    input projection, recurrent products forward and backward, dW_ih, dW_hh."""
    return 2.0 * T * B * G * (2 * D + 3 * H)


def numpy_layer(cell, H, B, T):
    from mr_rnn.kernels import cells, network
    spec = network.NetworkSpec(cell, H, H, 1, 1, False, 'per_step', 'mse')
    p = network.init_params(spec, 0, np.float32)
    x = np.random.default_rng(0).standard_normal((T, B, H)).astype(np.float32)
    dh = np.random.default_rng(1).standard_normal((T, B, H)).astype(np.float32)
    w_hh, b_hh = p['rnn.weight_hh_l0'], p['rnn.bias_hh_l0']

    def run():
        # as network.loss_and_grads does it: dW_ih in one product per gate
        xp = network._input_projection(p, spec, 0, x)
        _, cache, _ = cells.layer_forward(cell, xp, w_hh, b_hh)
        dxp, dw_hh, db_hh = cells.layer_backward(cell, dh, cache, w_hh)
        dxp3 = dxp.reshape(dxp.shape[0], T * B, H)
        return np.matmul(dxp3.transpose(0, 2, 1), x.reshape(T * B, H)), dxp3.sum(axis=1)
    return run


def torch_layer(torch, cell, H, B, T):
    cls = {'rnn': torch.nn.RNN, 'lstm': torch.nn.LSTM, 'gru': torch.nn.GRU}[cell]
    module = cls(H, H)                                   # (T, B, H) layout, float32
    x = torch.randn(T, B, H)
    dh = torch.randn(T, B, H)

    def run():
        module.zero_grad(set_to_none=True)
        out, _ = module(x)
        out.backward(dh)
    return run


def bench_kernels(smoke, threads, torch):
    shapes = [(16, 4)] if smoke else [(128, 32), (128, 256), (256, 32), (256, 256), (512, 32), (512, 256)]
    T = 5 if smoke else 50
    peak_call, peak_flops = matmul_peak_call(128 if smoke else 1024)
    rows = []
    for cell in ('rnn', 'lstm', 'gru'):
        for H, B in shapes:
            funcs = [numpy_layer(cell, H, B, T), peak_call]
            if torch is not None:
                funcs.append(torch_layer(torch, cell, H, B, T))
            for f in funcs:
                f()                                      # warm up
            G = {'rnn': 1, 'lstm': 4, 'gru': 3}[cell] * H      # gate rows
            reps = 2 if smoke else max(3, min(15, int(2e10 / layer_flops(G, H, H, B, T)) + 1))
            times = interleaved(funcs, reps)
            flops = layer_flops(G, H, H, B, T)
            row = {'cell': cell, 'H': H, 'B': B, 'T': T, 'reps': reps,
                   'tok_s': B * T / times[0], 'gflops': flops / times[0] / 1e9,
                   'peak_gflops': peak_flops / times[1] / 1e9}
            row['of_peak'] = row['gflops'] / row['peak_gflops']
            if torch is not None:
                row['torch_tok_s'] = B * T / times[2]
                row['vs_torch'] = times[2] / times[0]
            rows.append(row)
            print(f"  kernel {cell} H={H} B={B}: {row['tok_s']:.0f} tok/s, "
                  f"{row['of_peak']:.2f} of peak" +
                  (f", {row['vs_torch']:.2f}x torch" if torch is not None else ''), flush=True)
    return rows


# ── data and checkpoints for the job-level sections ──

def make_shard(path, size):
    """A text shard of about ``size`` bytes: the sample book, repeated as needed."""
    with open(TEXT, 'rb') as f:
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
    from mr_rnn.data.records import line_reader
    from mr_rnn.model import Model
    model = Model.load(checkpoint)
    stream = BatchStream(model.config.batch_size, model.schema, model.dtype)
    read = line_reader(model.schema, model.config.data)
    batches = []
    with open(data, 'rb') as f:
        for n, line in enumerate(f):
            batches.extend(stream.add_record(read, line.rstrip(b'\n'), f'{data}:{n + 1}'))
    last = stream.flush()
    return model, batches + ([last] if last is not None else [])


def bare_gradient(model, batches):
    from mr_rnn.kernels.accumulate import GradientSum

    def run():
        sums = GradientSum(model.params, model.spec)
        for batch in batches:
            sums.add(batch)
        sums.finish()
        return sums
    return run


def gradient_job(checkpoint, inputs, runner_args, job_args=()):
    from mr_rnn.driver.runner import run_job
    from mr_rnn.jobs.mr_gradient_step import MRGradientStep

    def run():
        return run_job(MRGradientStep, ['--format', 'text', '--checkpoint', checkpoint,
                                        *job_args, *inputs], runner_args)
    return run


class CodecClock:
    """Time spent in wire.encode_packet / decode_packet while installed."""

    def __init__(self):
        from mr_rnn.codec import wire
        self.wire, self.seconds = wire, 0.0
        self.originals = wire.encode_packet, wire.decode_packet

    def _timed(self, f):
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return f(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t0
        return timed

    def __enter__(self):
        self.wire.encode_packet, self.wire.decode_packet = map(self._timed, self.originals)
        return self

    def __exit__(self, *exc):
        self.wire.encode_packet, self.wire.decode_packet = self.originals


# ── 3. iteration overhead, 5. codec share ──

def bench_overhead(work, smoke):
    size = 20_000 if smoke else 1_000_000
    hidden = 16 if smoke else 256
    data = make_shard(os.path.join(work, 'overhead.txt'), size)
    checkpoint = make_checkpoint(work, data, 'lstm', hidden)
    model, batches = shard_batches(checkpoint, data)
    bare = bare_gradient(model, batches)
    job = gradient_job(checkpoint, [data], ['-r', 'inline'])
    clock = CodecClock()

    def inline():
        with clock:
            job()
    reps = 1 if not smoke else 2
    t_bare, t_inline = interleaved([bare, inline], reps)
    tokens = int(sum(b.mask.sum() for b in batches))
    return {'bytes': os.path.getsize(data), 'hidden': hidden, 'tokens': tokens, 'reps': reps,
            'bare_s': t_bare, 'inline_s': t_inline, 'ratio': t_inline / t_bare,
            'codec_share': clock.seconds / reps / t_inline}


# ── where an iteration's time goes ──

def bench_profile(work, smoke):
    """cProfile of one inline iteration (LSTM, small shard) on one thread (cProfile
    sees only the thread it runs in: with the pool, the time is the main
    thread's wait for its workers): the functions with the most time of their
    own, so an unmet target shows where its time went."""
    import cProfile
    import pstats
    size = 20_000 if smoke else 60_000
    hidden = 16 if smoke else 256
    data = make_shard(os.path.join(work, 'profile.txt'), size)
    job = gradient_job(make_checkpoint(work, data, 'lstm', hidden), [data], ['-r', 'inline'],
                       ['--threads', '1'])
    job()
    profile = cProfile.Profile()
    profile.runcall(job)
    stats = pstats.Stats(profile)
    total = stats.total_tt
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:15]
    out = []
    for (path, line, func), (_, calls, tottime, cumtime, _) in rows:
        where = func if path == '~' else f'{os.path.relpath(path, ROOT) if path.startswith(ROOT) else os.path.basename(path)}:{line} {func}'
        out.append({'where': where, 'calls': calls, 'own_s': tottime, 'share': tottime / total})
    return {'bytes': size, 'hidden': hidden, 'total_s': total, 'rows': out}


# ── batch size ──

def bench_batch_size(work, smoke):
    size = 20_000 if smoke else 60_000
    hidden = 16 if smoke else 256
    sizes = [8, 32] if smoke else [16, 32, 64, 128, 256]
    data = make_shard(os.path.join(work, 'batch.txt'), size)
    funcs, tokens = [], None
    for bs in sizes:
        model, batches = shard_batches(make_checkpoint(work, data, 'lstm', hidden, bs), data)
        tokens = int(sum(b.mask.sum() for b in batches))
        funcs.append(bare_gradient(model, batches))
    times = interleaved(funcs, 2)
    return [{'batch_size': bs, 'tok_s': tokens / t, 'vs_32': times[sizes.index(32)] / t}
            for bs, t in zip(sizes, times)]


# ── 4. scaling ──

def bench_scaling(work, smoke):
    size = 20_000 if smoke else 300_000
    hidden = 16 if smoke else 256
    halves = [make_shard(os.path.join(work, f'scale-{k}.txt'), size // 2) for k in (0, 1)]
    checkpoint = make_checkpoint(work, halves[0], 'lstm', hidden)
    one = gradient_job(checkpoint, halves, ['-r', 'local', '--num-cores', '1'])
    two = gradient_job(checkpoint, halves, ['-r', 'local', '--num-cores', '2'])
    reps = 1 if smoke else 2
    t1, t2 = interleaved([one, two], reps)
    return {'bytes': 2 * (size // 2), 'hidden': hidden, 'reps': reps,
            'one_s': t1, 'two_s': t2, 'speedup': t1 / t2}


# ── 5. wire bytes ──

def bench_wire(work, smoke):
    from mr_rnn.codec.wire import decode_packet, encode_packet
    hidden = 16 if smoke else 256
    data = make_shard(os.path.join(work, 'wire.txt'), 5_000)
    model, batches = shard_batches(make_checkpoint(work, data, 'lstm', hidden), data)
    sums = bare_gradient(model, batches)()
    raw = sum(g.nbytes for g in sums.grads.values())
    lines = [name.encode() + b'\t' + encode_packet({'count': sums.count}, {'grad': g})
             for name, g in sums.grads.items()]
    wire = sum(len(line) + 1 for line in lines)
    reps = 3 if smoke else 5

    def encode():
        for name, g in sums.grads.items():
            encode_packet({'count': sums.count}, {'grad': g})

    def decode():
        for line in lines:
            decode_packet(line.partition(b'\t')[2])
    t_enc, t_dec = interleaved([encode, decode], reps)
    return {'hidden': hidden, 'raw_bytes': raw, 'wire_bytes': wire, 'ratio': wire / raw,
            'encode_s': t_enc, 'decode_s': t_dec}


# ── 5. mapper memory ──

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


def bench_memory(work, smoke):
    size = 10_000 if smoke else 50_000
    hidden = 16 if smoke else 128
    small = make_shard(os.path.join(work, 'mem-1x.txt'), size)
    large = make_shard(os.path.join(work, 'mem-10x.txt'), 10 * size)
    checkpoint = make_checkpoint(work, small, 'lstm', hidden)
    rss = {1: [], 10: []}
    for _ in range(1):
        rss[1].append(mapper_peak_rss(checkpoint, small))
        rss[10].append(mapper_peak_rss(checkpoint, large))
    one, ten = max(rss[1]), max(rss[10])
    return {'bytes': size, 'hidden': hidden, 'rss_1x': one, 'rss_10x': ten, 'ratio': ten / one}


# ── full-batch iteration against a torch loop, per thread count ──

FULLBATCH_BYTES, FULLBATCH_SEQ_LEN, FULLBATCH_HIDDEN = 118_000, 50, 128
TORCH_BATCHES = (32, 64, 128)


def torch_lm_loop(torch, model, batches, batch_size):
    """The plain PyTorch loop for the same loss and gradient: nn.LSTM + nn.Linear
    on the same windows (one-hot inputs, as our W_ih sees them), regrouped into
    batches of ``batch_size``; forward, masked sum of cross-entropy, backward."""
    V, H, O = model.spec.input_size, model.spec.hidden, model.spec.output_size
    lstm, head = torch.nn.LSTM(V, H), torch.nn.Linear(H, O)
    windows = [(b.x[i, :n], b.y[i, :n]) for b in batches
               for i, n in enumerate(b.mask.sum(axis=1))]
    tensors = []
    for s in range(0, len(windows), batch_size):
        group = windows[s:s + batch_size]
        T = max(len(x) for x, _ in group)
        x, y = np.zeros((T, len(group)), np.int64), np.zeros((T, len(group)), np.int64)
        mask = np.zeros((T, len(group)), bool)
        for j, (xs, ys) in enumerate(group):
            x[:len(xs), j], y[:len(ys), j], mask[:len(xs), j] = xs, ys, True
        tensors.append((torch.nn.functional.one_hot(torch.from_numpy(x), V).float(),
                        torch.from_numpy(y), torch.from_numpy(mask)))

    def run():
        lstm.zero_grad(set_to_none=True)
        head.zero_grad(set_to_none=True)
        for x, y, mask in tensors:
            out, _ = lstm(x)
            loss = torch.nn.functional.cross_entropy(head(out)[mask], y[mask], reduction='sum')
            loss.backward()
    return run


def fullbatch_child(work, smoke, threads, torch):
    """One thread count, in a process of its own (BLAS reads its thread count at
    load) restricted to ``threads`` cores: the inline runner then uses that many
    worker threads, torch that many intra-op threads."""
    cores = sorted(os.sched_getaffinity(0))[:threads] if hasattr(os, 'sched_getaffinity') else None
    if cores:
        os.sched_setaffinity(0, cores)
    size = 5_000 if smoke else FULLBATCH_BYTES
    data = make_shard(os.path.join(work, 'fullbatch.txt'), size)
    hidden, seq_len = (16, 10) if smoke else (FULLBATCH_HIDDEN, FULLBATCH_SEQ_LEN)
    checkpoint = make_checkpoint(work, data, 'lstm', hidden, seq_len=seq_len)
    model, batches = shard_batches(checkpoint, data)
    funcs = [gradient_job(checkpoint, [data], ['-r', 'inline'])]
    sizes = TORCH_BATCHES[:1] if smoke else TORCH_BATCHES
    if torch is not None:
        funcs += [torch_lm_loop(torch, model, batches, bs) for bs in sizes]
    for f in funcs:
        f()                                          # warm up
    reps = 1 if smoke else 5
    times = interleaved(funcs, reps)
    from mr_rnn.driver.runner import usable_cores
    return {'threads': threads, 'cores': usable_cores(), 'bytes': os.path.getsize(data),
            'tokens': int(sum(b.mask.sum() for b in batches)), 'vocab': model.spec.input_size,
            'hidden': hidden, 'seq_len': seq_len, 'batch_size': model.config.batch_size,
            'reps': reps, 'inline_s': times[0],
            'torch_s': dict(zip(sizes, times[1:])) if torch is not None else {}}


def bench_fullbatch(work, smoke):
    """Each thread count in a child process; thread counts beyond the cores are skipped."""
    import json
    rows = []
    for threads in (1, 2):
        if threads > (len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity')
                      else os.cpu_count()):
            continue
        out = os.path.join(work, f'fullbatch-{threads}')
        os.makedirs(out, exist_ok=True)
        done = subprocess.run([sys.executable, os.path.abspath(__file__), '--threads', str(threads),
                               '--fullbatch-child', out] + (['--smoke'] if smoke else []),
                              capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f'fullbatch child failed:\n{done.stderr[-3000:]}')
        with open(os.path.join(out, 'fullbatch.json')) as f:
            row = json.load(f)
        if row['torch_s']:
            best = min(row['torch_s'], key=row['torch_s'].get)
            row['torch_best'], row['ratio'] = best, row['inline_s'] / row['torch_s'][best]
        rows.append(row)
        print(f'  {row}', flush=True)
    return rows


# ── -r local rounds without a conf file against the repository's mrjob.conf ──

def bench_localconf(work, smoke):
    """The same gradient job, -r local, --no-conf against -c mrjob.conf,
    interleaved. Without the product's default of one BLAS thread per task,
    every task's OpenBLAS would start a thread per core on cores the other
    tasks use. The thread variables this script set for itself are taken out of
    the environment the tasks inherit, as a user's shell would not have them."""
    size = 20_000 if smoke else 300_000
    hidden = 16 if smoke else 128
    data = make_shard(os.path.join(work, 'localconf.txt'), size)
    checkpoint = make_checkpoint(work, data, 'lstm', hidden)
    bare = gradient_job(checkpoint, [data], ['-r', 'local', '--no-conf'])
    conf = gradient_job(checkpoint, [data], ['-r', 'local', '-c', os.path.join(ROOT, 'mrjob.conf')])
    saved = {var: os.environ.pop(var) for var in THREAD_VARS if var in os.environ}
    try:
        reps = 1 if smoke else 3
        t_bare, t_conf = interleaved([bare, conf], reps)
    finally:
        os.environ.update(saved)
    return {'bytes': os.path.getsize(data), 'hidden': hidden, 'reps': reps,
            'no_conf_s': t_bare, 'conf_s': t_conf, 'ratio': t_bare / t_conf}


# ── the table ──

def verdict(ok):
    return 'met' if ok else '**not met**'


def kernel_table(rows, torch_present):
    out = ['| cell | H | B | tokens/s | GFLOP/s | of matmul peak | torch tokens/s | ours / torch |',
           '|---|---|---|---|---|---|---|---|']
    for r in rows:
        t = (f"{r['torch_tok_s']:.0f} | {r['vs_torch']:.2f}" if torch_present else 'absent | —')
        out.append(f"| {r['cell']} | {r['H']} | {r['B']} | {r['tok_s']:.0f} | {r['gflops']:.1f} | "
                   f"{r['of_peak']:.2f} (peak {r['peak_gflops']:.0f}) | {t} |")
    return out


def targets(res, torch_present):
    rows = []
    kern = res.get('kernels')
    if kern:
        for cell in ('lstm', 'gru'):
            for big in (False, True):
                sel = [r for r in kern if r['cell'] == cell and (r['H'] >= 256) == big]
                if not sel:
                    continue
                need = 0.8 if big else 0.6
                what = f"{cell.upper()} H {'≥ 256' if big else '128'}: ≥ {need}× torch"
                if torch_present:
                    worst = min(r['vs_torch'] for r in sel)
                    rows.append((what, f'worst {worst:.2f}×', verdict(worst >= need)))
                else:
                    worst = min(r['of_peak'] for r in sel)
                    rows.append((what, f'torch absent; worst {worst:.2f} of matmul peak',
                                 'not measured'))
    if 'overhead' in res:
        r = res['overhead']
        rows.append(('inline iteration ≤ 1.25× bare gradient (LSTM, text shard)',
                     f"{r['ratio']:.2f}× ({r['inline_s']:.1f} s / {r['bare_s']:.1f} s)",
                     verdict(r['ratio'] <= 1.25)))
    if 'scaling' in res:
        r = res['scaling']
        rows.append(('local runner 2 map tasks ≥ 1.6× faster than 1',
                     f"{r['speedup']:.2f}× ({r['one_s']:.1f} s / {r['two_s']:.1f} s)",
                     verdict(r['speedup'] >= 1.6)))
    if 'wire' in res:
        r = res['wire']
        rows.append(('gradient emission ≤ 1.4× raw float bytes',
                     f"{r['ratio']:.3f}× ({r['wire_bytes']} / {r['raw_bytes']} B)",
                     verdict(r['ratio'] <= 1.4)))
    if 'overhead' in res:
        r = res['overhead']
        rows.append(('codec < 5 % of an iteration', f"{100 * r['codec_share']:.2f} %",
                     verdict(r['codec_share'] < 0.05)))
    for r in res.get('fullbatch', []):
        if 'ratio' in r:
            rows.append((f"full-batch inline iteration ≤ 1.0× torch, {r['threads']} thread"
                         f"{'s' if r['threads'] > 1 else ''} (LSTM {r['hidden']} LM)",
                         f"{r['ratio']:.2f}× ({r['inline_s']:.2f} s / {r['torch_s'][r['torch_best']]:.2f} s, "
                         f"torch batch {r['torch_best']})", verdict(r['ratio'] <= 1.0)))
    if 'localconf' in res:
        r = res['localconf']
        rows.append(('-r local round without a conf file ≤ 1.2× with mrjob.conf',
                     f"{r['ratio']:.2f}× ({r['no_conf_s']:.1f} s / {r['conf_s']:.1f} s)",
                     verdict(r['ratio'] <= 1.2)))
    if 'memory' in res:
        r = res['memory']
        rows.append(('mapper peak memory, 10× data ≤ 1.2× of 1×',
                     f"{r['ratio']:.2f}× ({r['rss_10x'] / 2**20:.0f} / {r['rss_1x'] / 2**20:.0f} MiB)",
                     verdict(r['ratio'] <= 1.2)))
    out = ['| target | measured | verdict |', '|---|---|---|']
    out += [f'| {a} | {b} | {c} |' for a, b, c in rows]
    return out


def report(res, info, args, torch_present, seconds):
    lines = [f"# Benchmark results{' (smoke run: tiny shapes, numbers mean nothing)' if args.smoke else ''}",
             '', f'`python bench/run.py{" --smoke" if args.smoke else ""} --threads {args.threads}`, '
             f'{time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, {seconds:.0f} s.', '',
             '## Machine', '']
    lines += [f'- {k}: {v}' for k, v in info]
    lines += ['', '## Targets', ''] + targets(res, torch_present)
    if 'kernels' in res:
        lines += ['', '## Kernel throughput (one layer, forward + backward, float32, T = '
                  f"{res['kernels'][0]['T']}, input size = H)", '']
        if not torch_present:
            lines += ['torch is **not importable** here, so there is no torch column: throughput '
                      'is given as a fraction of the float32 matmul peak, measured between the '
                      'kernel repetitions (n × n @ n × n).', '']
        lines += kernel_table(res['kernels'], torch_present)
    if 'batch' in res:
        lines += ['', '## Gradient throughput by --batch-size (LSTM LM, bare GradientSum)', '',
                  '| batch size | tokens/s | vs 32 |', '|---|---|---|']
        lines += [f"| {r['batch_size']} | {r['tok_s']:.0f} | {r['vs_32']:.2f} |" for r in res['batch']]
    if 'overhead' in res:
        r = res['overhead']
        lines += ['', '## Iteration overhead', '',
                  f"Text shard {r['bytes'] / 1e6:.2f} MB ({r['tokens']} target tokens), LSTM "
                  f"{r['hidden']}, {r['reps']} interleaved repetition(s): inline runner "
                  f"{r['inline_s']:.2f} s, bare GradientSum {r['bare_s']:.2f} s, "
                  f"ratio {r['ratio']:.2f}; codec {100 * r['codec_share']:.2f} % of the inline iteration."]
    if 'scaling' in res:
        r = res['scaling']
        lines += ['', '## Scaling', '',
                  f"Local runner, two input files of {r['bytes'] // 2} B, LSTM "
                  f"{r['hidden']}: --num-cores 1 {r['one_s']:.2f} s, --num-cores 2 "
                  f"{r['two_s']:.2f} s, speed-up {r['speedup']:.2f}, {r['reps']} interleaved "
                  "repetitions. mrjob's local runner cuts the input into 2 × num-cores map "
                  "tasks and runs num-cores of them at a time: 2 tasks one after the other "
                  "against 4 tasks two at a time, each task one BLAS thread."]
    if 'wire' in res:
        r = res['wire']
        lines += ['', '## Wire', '',
                  f"LSTM {r['hidden']} gradient, one emission per parameter block: {r['wire_bytes']} B "
                  f"on the wire for {r['raw_bytes']} B of float64 ({r['ratio']:.3f}×); "
                  f"encode {1e3 * r['encode_s']:.2f} ms, decode {1e3 * r['decode_s']:.2f} ms per emission set."]
    if 'memory' in res:
        r = res['memory']
        lines += ['', '## Mapper memory', '',
                  f"Map task of the gradient job run as Hadoop Streaming runs it, LSTM {r['hidden']}: "
                  f"peak RSS {r['rss_1x'] / 2**20:.1f} MiB on {r['bytes']} B, "
                  f"{r['rss_10x'] / 2**20:.1f} MiB on {10 * r['bytes']} B ({r['ratio']:.2f}×)."]
    if res.get('fullbatch'):
        first = res['fullbatch'][0]
        lines += ['', '## Full-batch inline iteration against a PyTorch loop', '',
                  f"One `MRGradientStep` job on the inline runner over a {first['bytes'] / 1e3:.0f} kB "
                  f"slice of the sample text ({first['tokens']} target characters, vocabulary "
                  f"{first['vocab']}, windows of {first['seq_len']}, LSTM {first['hidden']}, "
                  f"--batch-size {first['batch_size']}), against `torch.nn.LSTM` + `nn.Linear` "
                  "forward and backward of the same summed cross-entropy over the same windows "
                  "(one-hot inputs, tensors built outside the timing) at torch batch sizes "
                  f"{', '.join(map(str, TORCH_BATCHES))}; each thread count in a process of its own, "
                  "limited to that many cores (the inline runner runs one gradient worker per core, "
                  "torch that many threads), "
                  f"{first['reps']} interleaved repetitions, medians.", '',
                  '| threads | inline s | ' + ' | '.join(f'torch B {b} s' for b in TORCH_BATCHES) +
                  ' | inline / best torch |', '|---|---|' + '---|' * len(TORCH_BATCHES) + '---|']
        for r in res['fullbatch']:
            ts = ' | '.join(f"{r['torch_s'][str(b)]:.3f}" if str(b) in r['torch_s'] else '—'
                            for b in TORCH_BATCHES)
            ratio = f"{r['ratio']:.2f}" if 'ratio' in r else 'torch absent'
            lines.append(f"| {r['threads']} | {r['inline_s']:.3f} | {ts} | {ratio} |")
    if 'localconf' in res:
        r = res['localconf']
        lines += ['', '## -r local without a conf file', '',
                  f"The gradient job on `-r local` (2 map tasks per core), {r['bytes'] / 1e3:.0f} kB "
                  f"of text, LSTM {r['hidden']}, no thread variables in the environment: "
                  f"`--no-conf` {r['no_conf_s']:.2f} s, `-c mrjob.conf` {r['conf_s']:.2f} s "
                  f"({r['ratio']:.2f}×), {r['reps']} interleaved repetitions. Tasks get one BLAS "
                  "thread from the product's default cmdenv (mr_rnn/driver/runner.py), no conf needed."]
    if 'profile' in res:
        r = res['profile']
        lines += ['', '## Profile of one inline iteration', '',
                  f"cProfile, LSTM {r['hidden']}, {r['bytes']} B text shard, {r['total_s']:.2f} s "
                  'in all, one gradient thread (profiled, so slower than above). Own time, top 15:', '',
                  '| function | calls | own s | share |', '|---|---|---|---|']
        lines += [f"| `{x['where']}` | {x['calls']} | {x['own_s']:.3f} | {100 * x['share']:.1f} % |"
                  for x in r['rows']]
    return lines


def main(args):
    t_start = time.perf_counter()
    sections = args.only.split(',')
    torch, torch_note = load_torch(args.threads)
    if args.fullbatch_child:
        import json
        row = fullbatch_child(args.fullbatch_child, args.smoke, args.threads, torch)
        with open(os.path.join(args.fullbatch_child, 'fullbatch.json'), 'w') as f:
            json.dump(row, f)
        return 0
    if torch is None:
        torch_note = f'absent ({torch_note}): kernel targets measured against the matmul peak only'
    info = machine(args.threads, torch_note)
    os.makedirs(args.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix='mr_rnn-bench-')
    res = {}
    try:
        steps = [('kernels', lambda: bench_kernels(args.smoke, args.threads, torch)),
                 ('batch', lambda: bench_batch_size(work, args.smoke)),
                 ('overhead', lambda: bench_overhead(work, args.smoke)),
                 ('scaling', lambda: bench_scaling(work, args.smoke)),
                 ('wire', lambda: bench_wire(work, args.smoke)),
                 ('memory', lambda: bench_memory(work, args.smoke)),
                 ('profile', lambda: bench_profile(work, args.smoke)),
                 ('fullbatch', lambda: bench_fullbatch(work, args.smoke)),
                 ('localconf', lambda: bench_localconf(work, args.smoke))]
        for name, step in steps:
            if name in sections:
                print(f'{name} ...', flush=True)
                res[name] = step()
                if name not in ('kernels', 'profile', 'fullbatch'):
                    print(f'  {res[name]}', flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = report(res, info, args, torch is not None, time.perf_counter() - t_start)
    text = '\n'.join(lines) + '\n'
    print(text)
    with open(os.path.join(args.out, 'RESULTS.md'), 'w') as f:
        f.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main(ARGS))
