"""mr_rnn and the plain PyTorch loop at equal wall time, and the time (and
rounds) each needs to reach held-out targets, from the same runs.

mr-rnn train -r local (default settings apart from --mode, --optimizer and
--lr) and the PyTorch loop each get the same wall time W from process start,
one after the other per text (mr_rnn, torch, mr_rnn, torch). mr-rnn is
stopped at W; its model is the newest checkpoint written by then, which is
what a user has after W seconds. Targets sit at 50, 75 and 90 % of the gain
below unigram that PyTorch reached in W.
"""
import glob
import os
import shutil
import signal
import subprocess
import sys
import time

from heldout import torch_loop
from heldout.scoring import curve, first_reaching, numpy_bits, score
from heldout.texts import PARTS
from paths import child_env

DEFAULT_HIDDEN = 128            # mr-rnn train's --hidden when none is given
MIN_GAIN_RATIO = 0.95           # the target: mr_rnn local's gain / PyTorch's, on every text
SHARES = (0.5, 0.75, 0.9)       # of PyTorch's gain: the held-out targets


def variants(one_task):
    """(name, runner flags, the Text's training folder, more flags) of each mr_rnn run.
    'local': -r local with default settings (average mode makes one map task per
    core of the part files: jobs/mrjob_internals.py); 'one task': the inline runner on one
    gzip file, which mrjob never splits, so one map task trains on all of the text,
    a checkpoint every ``one_task`` steps (a pass over a large text would be one round)."""
    found = [('local', ('-r', 'local'), 'train_dir', [])]
    if one_task:
        found.append(('one task', (), 'train_gz_dir', ['--local-steps', str(one_task)]))
    return found


def run_mr_rnn(text, data, budget, flags, hidden, scratch, runner, rounds=0):
    """mr-rnn train, stopped at ``budget`` seconds, or (``rounds``) run to the
    end of that many rounds: ([{seconds, step, round, params}] per checkpoint
    written by then, the command as shown)."""
    out = os.path.join(scratch, f'mr-{text.name}')
    shutil.rmtree(out, ignore_errors=True)
    size = [] if hidden == DEFAULT_HIDDEN else ['--hidden', str(hidden)]
    cmd = [sys.executable, '-m', 'mr_rnn', 'train', data, '--format', 'text',
           '--out', out, *runner, '--max-iter', str(rounds or 100000), '--quiet', *flags, *size,
           # every checkpoint is scored for the curve and the time to a target: keep them all
           '--keep-checkpoints', '0']
    t0 = time.time()
    proc = subprocess.Popen(cmd, env=child_env(), start_new_session=True)
    try:
        proc.wait(timeout=None if rounds else budget)
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
        if rounds or seconds <= budget:
            model = Model.load(path)
            points.append(dict(seconds=seconds, step=model.optim_step, round=model.iteration,
                               params=model.params))
    if not points:
        sys.exit(f'bench/quality.py: mr-rnn wrote no checkpoint on {text.name} within the budget '
                 f'of {budget:g} s (a busy machine?)')
    shown = ['mr-rnn', 'train', 'DATA', '--format', 'text', *runner, '--max-iter',
             str(rounds or 100000), *flags]
    return points, ' '.join(shown + size)


def measure_text(args, t, mr_flags, torch, scratch):
    """One repetition on text ``t``: {run name: (scored curve, command or windows)}."""
    runs = {}
    for name, runner, data, extra in variants(args.one_task):
        points, cmd = run_mr_rnn(t, getattr(t, data), args.budget, mr_flags + extra,
                                 args.hidden, scratch, runner, args.rounds)
        runs[name] = (curve(torch, points, t, args.hidden), cmd)
        print(f'{t.name}: mr_rnn {name} {points[-1]["bits"]:.3f} bits/char after '
              f'{points[-1]["round"]} rounds', flush=True)
    for lr in args.torch_lrs:
        tp, windows = torch_loop.run_torch(t, args.budget, lr, args.hidden, args.snapshots, scratch,
                                           args.torch_steps if args.rounds else 0)
        runs[f'torch {lr:g}'] = (curve(torch, tp, t, args.hidden), windows)
        print(f'{t.name}: torch lr {lr:g} {tp[-1]["bits"]:.3f} after {tp[-1]["step"]} steps',
              flush=True)
    # the baseline: PyTorch at its best learning rate of those tried
    best = min(args.torch_lrs, key=lambda lr: runs[f'torch {lr:g}'][0][-1]['bits'])
    runs['torch'], runs['torch lr'] = runs[f'torch {best:g}'], best
    return runs


def equal_time(args, texts, mr_flags, torch, scratch):
    """Both sections' markdown lines."""
    results = {t.name: [measure_text(args, t, mr_flags, torch, scratch)
                        for _ in range(args.repeats)] for t in texts}
    # the scorer against mr_rnn's own numpy forward pass, on the last mr_rnn model
    t = texts[-1]
    some = list(range(0, len(t.held), max(1, len(t.held) // 10)))
    params = results[t.name][-1]['local'][0][-1]['params']
    check = abs(score(torch, params, t, args.hidden, some) - numpy_bits(params, t, args.hidden, some))
    out = at_equal_time(args, texts, results, check) + to_targets(args, texts, results)
    print('\n'.join(out[-14:]), flush=True)
    return out


def setting(args, results, first, check):
    """The paragraph that says how the runs were made."""
    runs = results[first][0]
    gets = (f'Each run gets {args.budget:g} s of wall time from its process start (reading the '
            f'data, mrjob\'s describe job and the initial checkpoint included), one after the other. '
            ) if not args.rounds else (
            f'Each mr_rnn run trains {args.rounds} rounds and each PyTorch run '
            f'{args.torch_steps} steps, however long they take, one after the other. ')
    text = (gets +
            f'mr_rnn local: `{runs["local"][1]}` on the {PARTS} part files (in average mode '
            f'mr_rnn\'s local runner joins them into one map task per core, {os.cpu_count()} here, '
            f'running side by side; mrjob\'s own splits would be 2 per core)')
    if args.one_task:
        text += (f'; mr_rnn one task: `{runs["one task"][1]}` on the training lines in one gzip '
                 f'file (mrjob splits no gzip file: one map task, in the driver\'s process)')
    return text + (
        f'. LSTM {args.hidden}, stopped at {args.budget:g} s' if not args.rounds else
        f'. LSTM {args.hidden}, stopped at the end of its budget') + (
        f', scored at the newest checkpoint '
        f'written by then. PyTorch: the same one-hot LSTM {args.hidden} + linear head, the same '
        f'windows (mr_rnn\'s `TextReader`, seq-len {torch_loop.SEQ_LEN}, each from a zero state), '
        f'shuffled minibatches of {torch_loop.BATCH_SIZE}, Adam at lr '
        f'{" and ".join(f"{lr:g}" for lr in args.torch_lrs)} (the better one is the baseline), '
        f'`torch.set_num_threads({torch_loop.THREADS})`. Held-out lines scored by one torch module '
        f'for both (each line from a zero state; it agrees with mr_rnn\'s numpy forward pass to '
        f'{check:.1e} bits/char).')


def at_equal_time(args, texts, results, check):
    out = ['', '## At equal wall time', '', setting(args, results, texts[0].name, check), '',
           '| text | run | held-out bits/char | gain below unigram | gain / PyTorch\'s | '
           'rounds (mr_rnn) / steps (PyTorch) |', '|---|---|---|---|---|---|']
    ratios = []
    for t in texts:
        for rep, runs in enumerate(results[t.name]):
            g_t = t.unigram - runs['torch'][0][-1]['bits']
            tag = f' ({rep + 1})' if args.repeats > 1 else ''
            for name, *_ in variants(args.one_task):
                mr = runs[name][0][-1]
                g_mr = t.unigram - mr['bits']
                if name == 'local':
                    ratios.append(g_mr / g_t)
                out.append(f'| {t.name}{tag} | mr_rnn {name} | {mr["bits"]:.3f} | {g_mr:.3f} | '
                           f'**{g_mr / g_t:.2f}** | {mr["round"]} rounds ({mr["step"]} '
                           f'optimizer steps per task) |')
            for lr in args.torch_lrs:
                tq, windows = runs[f'torch {lr:g}']
                g = t.unigram - tq[-1]['bits']
                base = ' (baseline)' if lr == runs['torch lr'] else ''
                out.append(f'| {t.name}{tag} | PyTorch lr {lr:g}{base} | {tq[-1]["bits"]:.3f} | '
                           f'{g:.3f} | {g / g_t:.2f} | {tq[-1]["step"]} steps '
                           f'({tq[-1]["step"] * torch_loop.BATCH_SIZE / windows:.1f} epochs) |')
    worst = min(ratios)
    return out + ['', f'Target: mr_rnn local\'s gain at least {MIN_GAIN_RATIO}× PyTorch\'s on '
                  f'both texts: worst {worst:.2f}×, '
                  f'**{"met" if worst >= MIN_GAIN_RATIO else "NOT met"}**.']


def fmt_time(p):
    return '—' if p is None else f'{p["seconds"]:.0f} s'


def to_targets(args, texts, results):
    names = [name for name, *_ in variants(args.one_task)]
    percents = [f'{100 * share:.0f}' for share in SHARES]
    shares = f'{", ".join(percents[:-1])} and {percents[-1]}'
    out = ['', '## Time and rounds to a held-out target', '',
           f'Targets at {shares} % of the gain below unigram that PyTorch reached in the budget; '
           'time from process start (— : not reached within the budget).', '',
           '| text | target bits/char | PyTorch time | '
           + ' | '.join(f'mr_rnn {n} time (rounds)' for n in names) + ' |', '|---' * (3 + len(names)) + '|']
    for t in texts:
        runs = results[t.name][0]
        tp = runs['torch'][0]
        for share in SHARES:
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
            who = f'PyTorch lr {n[6:]}' if n.startswith('torch') else f'mr_rnn {n}'
            out.append(f'- {t.name}, {who}: ' + ', '.join(
                f'{p["seconds"]:.0f} s {p["bits"]:.2f}' for p in runs[n][0]))
    return out
