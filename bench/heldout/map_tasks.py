"""Rounds to a held-out loss by the number of map tasks: average mode on the
inline runner, the training lines in N gzip part files (mrjob never splits a
gzip file, so a round runs exactly N map tasks), once with --local-steps
fixed and once with the default inner work."""
import json
import os
import shutil
import subprocess
import sys
import time

from heldout.scoring import LN2
from heldout.texts import write_parts
from paths import child_env


def rounds_to(text, tasks, target, flags, max_rounds, hidden, scratch):
    """(the first round whose held-out loss is at most ``target`` bits/char or
    None, the last round's, the run's seconds) with ``tasks`` map tasks."""
    folder = os.path.join(scratch, f'scale-{text.name}-{tasks}')
    write_parts(folder, text.train, tasks, compress=True)
    out = folder + '-run'
    shutil.rmtree(out, ignore_errors=True)
    started = time.time()
    subprocess.run([sys.executable, '-m', 'mr_rnn', 'train', folder, '--format', 'text',
                    '--val', text.held_dir, '--out', out, '--hidden', str(hidden),
                    '--max-iter', str(max_rounds), '--target-loss', str(target * LN2),
                    '--patience', '1000', '--quiet', *flags], check=True, env=child_env())
    seconds = time.time() - started
    with open(os.path.join(out, 'metrics.jsonl')) as f:
        rows = [json.loads(line) for line in f]
    reached = next((r['iteration'] for r in rows if r['val_loss'] / LN2 <= target), None)
    return reached, rows[-1]['val_loss'] / LN2, seconds


def settings(args):
    """(label, flags, target bits/char) of each inner-work setting asked for."""
    common = ['--mode', 'average', '--optimizer', 'adam', '--lr', str(args.scale_lr)]
    found = {'fixed': (f'--local-steps {args.scale_local_steps}',
                       common + ['--local-steps', str(args.scale_local_steps)], args.scale_target),
             'default': ('default inner work', common, args.scale_target_default)}
    return [found[key] for key in found if key in args.scale_settings.split(',')]


def scaling(args, t, scratch):
    """The section's markdown lines (none without task counts)."""
    order = [int(n) for n in args.scaling.split(',') if n]    # run in the order given,
    counts = sorted(order)                                    # shown in increasing order
    if not counts:
        return []
    out = ['', '## Rounds to a held-out loss by the number of map tasks', '',
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
    for label, flags, target in settings(args):
        cells = {}
        for n in order:
            reached, last, seconds = rounds_to(t, n, target, flags, args.scale_max_rounds,
                                               args.scale_hidden, scratch)
            table[label, n] = reached
            cells[n] = f'{shown(reached, args.scale_max_rounds)} ({seconds:.0f} s)'
            print(f'scaling {label} {n} tasks: {cells[n]}, last {last:.3f}', flush=True)
        out.append(f'| {label} | {target:g} | ' + ' | '.join(cells[n] for n in counts) + ' |')
    return out + verdicts(args, table, counts)


def shown(reached, max_rounds):
    return f'> {max_rounds}' if reached is None else str(reached)


def verdicts(args, table, counts):
    """The two targets: more tasks need no more rounds with fixed inner work
    (8 against 1), and at most twice as many with the default (16 against 1)."""
    fixed, default = f'--local-steps {args.scale_local_steps}', 'default inner work'

    def rounds(label, n):
        reached = table.get((label, n))
        return args.scale_max_rounds + 1 if reached is None else reached

    def line(what, label, many, ok):
        return (f'{what}: {shown(table.get((label, many)), args.scale_max_rounds)} against '
                f'{shown(table.get((label, 1)), args.scale_max_rounds)}, '
                f'**{"met" if ok else "NOT met"}**.')
    out = []
    if 1 in counts and 8 in counts:
        out.append('\n' + line(f'Target: with {fixed}, 8 tasks need no more rounds than 1',
                               fixed, 8, rounds(fixed, 8) <= rounds(fixed, 1)))
    if 1 in counts and 16 in counts:
        out.append(line('Target: default inner work, 16 tasks at most 2× the rounds of 1',
                        default, 16, rounds(default, 16) <= 2 * rounds(default, 1)))
    return out
