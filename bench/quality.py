"""How good a model you get for the time you spend: mr_rnn against a plain PyTorch loop.

    python bench/quality.py             # full run; writes bench/QUALITY.md
    python bench/quality.py --smoke     # 2 rounds, 8 PyTorch steps, the sample text only: proves it runs (CI)
    python bench/quality.py --sections scaling    # only the map-task table

Two English texts (heldout/texts.py): the sample text and the State of the
Union addresses of 1950-2016, every 10th line held out. Sections:

  equal      mr_rnn and a plain PyTorch loop at equal wall time, and the time
             and rounds each needs to reach held-out targets (heldout/equal_time.py)
  scaling    rounds to a held-out loss with 1, 2, 4, 8 and 16 map tasks on the
             same data, average mode, inline runner (heldout/map_tasks.py)

Both models are scored by the same code (heldout/scoring.py), checked against
mr_rnn's own numpy forward pass on every run.
"""
import argparse
import os
import shutil
import subprocess
import tempfile
import time

from paths import BENCH, ROOT  # first: it puts this checkout on sys.path
from heldout.equal_time import equal_time  # noqa: I100
from heldout.map_tasks import scaling
from heldout.texts import LINES, SOURCES, Text
from machine import machine_rows


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--smoke', action='store_true', help='tiny budgets and data: proves it runs')
    p.add_argument('--budget', type=float, default=100, help='wall seconds per run (100)')
    p.add_argument('--rounds', type=int, default=0,
                   help='a budget in work instead of seconds: mr-rnn trains ROUNDS rounds and '
                   'PyTorch --torch-steps steps, however long they take (0: --budget; --smoke: 2)')
    p.add_argument('--torch-steps', type=int, default=40, help='PyTorch steps with --rounds (40)')
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
    p.add_argument('--out', default=os.path.join(BENCH, 'QUALITY.md'))
    args = p.parse_args(argv)
    args.torch_lrs = [float(lr) for lr in args.torch_lrs.split(',')]
    if args.smoke:
        # a budget in rounds and steps, and the sample text only: on a loaded machine
        # the smoke run takes longer, it does not stop with nothing done, and it
        # reaches no network (the second text is an npm download)
        args.rounds, args.torch_steps, args.texts = 2, 8, 'austen'
        args.snapshots, args.hidden = 4, 32
        args.scaling, args.scale_hidden, args.scale_max_rounds = '1,2', 16, 1
        args.scale_local_steps, args.scale_target, args.scale_target_default = 2, 1.0, 1.0
        args.torch_lrs, args.one_task = args.torch_lrs[-1:], min(args.one_task, 5)
    return args


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


def budget_words(args):
    if args.rounds:
        return f'{args.rounds} mr-rnn rounds, {args.torch_steps} PyTorch steps'
    return f'{args.budget:g} s'


def head(args, info, texts):
    """The title, the machine and the data table."""
    out = ['# Held-out quality per second: mr_rnn and a plain PyTorch loop', '',
           f'`python bench/quality.py{" --smoke" if args.smoke else ""}` '
           f'(budget {budget_words(args)}), {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}.', '',
           '## Machine', '']
    out += [f'- {k}: {v}' for k, v in info]
    out += ['', '## Data', '',
            '| text | source | training | held out (every 10th line) | vocabulary | unigram bits/char |',
            '|---|---|---|---|---|---|']
    for t in texts:
        out.append(f'| {t.name} | {SOURCES[t.name]} | {len(t.train)} lines, {t.bytes / 1e6:.2f} MB | '
                   f'{len(t.held)} lines, {t.chars} characters | {len(t.vocab)} | {t.unigram:.3f} |')
    return out


def main(args):
    import torch
    torch.set_num_threads(2)
    started = time.time()
    info = machine(torch)
    scratch = tempfile.mkdtemp(prefix='mr_rnn-quality-')
    texts = []
    for name in args.texts.split(','):
        lines = LINES[name]()
        texts.append(Text(name, lines[:200] if args.smoke else lines, scratch))
    mr_flags = ['--mode', args.mode, '--optimizer', 'adam', '--lr', str(args.lr), *args.mr_flags.split()]
    out = head(args, info, texts)
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


if __name__ == '__main__':
    main(parse_args())
