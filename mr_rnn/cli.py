"""mr-rnn: train, evaluate, sample and inspect recurrent networks on MapReduce.

Argument parsing and thin commands: the work is the driver's and the model's,
and so are the defaults: a command's options default to what the function it
calls does (``default_of``), the train flags to the configuration's fields.
Runner options are mrjob's own (-r/--runner, -c/--conf-path, --no-conf,
--num-cores, ...): anything this parser does not know is handed to mrjob.
Every mistake a user can make raises an MrRnnError (mr_rnn/errors.py), which
ends in one line on stderr and its exit code (docs/design.md §3.6).
"""
import argparse
import inspect
import json
import sys

from mr_rnn.config import GROUPS, WINDOW_STATES, from_options, options
from mr_rnn.driver.run_dir import KEEP_CHECKPOINTS
from mr_rnn.driver.runner import split_runner_args
from mr_rnn.driver.report import write_report
from mr_rnn.driver.scoring import predict
from mr_rnn.errors import MrRnnError, UserError
from mr_rnn.inference.generate import sample_text

CHECKPOINT_HELP = 'a checkpoint (.npz), or a run folder: its best.npz, else its final.npz'
TYPES = {int: int, float: float, str: None, tuple: lambda text: tuple(
    n.strip() for n in text.split(',') if n.strip())}     # a,b,c


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line naming the problem and where help is."""

    def error(self, message):
        self.exit(UserError.exit_code, f'{self.prog}: error: {message} (see {self.prog} --help)\n')


class Arguments:
    """Adds arguments with their default at the end of the help, and keeps
    every option string, to tell ours from mrjob's (driver/runner.split_runner_args)."""

    def __init__(self):
        self.option_strings = {'-h', '--help'}

    def add(self, parser, *names, help='', default=None, shown=None, **kwargs):
        """``shown``: the default to name in the help when the parser's own is
        None (a configuration field's: None there means 'not given')."""
        shown = default if shown is None else shown
        if not (shown is None or shown is False or shown in ('', (), [])):
            help = f'{help} (default {shown})' if help else f'default {shown}'
        action = parser.add_argument(*names, help=help, default=default, **kwargs)
        self.option_strings.update(action.option_strings)
        return action


def default_of(function, name):
    """The default of ``function``'s parameter ``name``: a command's options
    default to what the function it calls does, and --help shows it from there."""
    return inspect.signature(function).parameters[name].default


def build_parser():
    """(the parser, every option string it knows)."""
    a = Arguments()
    parser = OneLineParser(
        prog='mr-rnn', description='Train RNN, LSTM and GRU models with one MapReduce job per '
        'iteration. Runner options (-r inline|local|hadoop|spark, -c mrjob.conf, ...) are mrjob\'s.')
    a.add(parser, '--debug', action='store_true', help='show tracebacks')
    sub = parser.add_subparsers(dest='command', required=True, metavar='COMMAND')

    t = sub.add_parser('train', help='train a model; one MapReduce job per iteration')
    a.add(t, 'inputs', nargs='*', metavar='INPUT', help='data files, globs or URIs')
    a.add(t, '--out', required=True, metavar='RUN_DIR', help='run directory')
    a.add(t, '--resume', action='store_true', help='continue the run in --out')
    a.add(t, '--val', nargs='+', default=[], metavar='PATH', help='validation data')
    a.add(t, '--init-from', metavar='STATE.npz', help='start from the weights of a torch-format '
          'state dict (mr-rnn export --format torch), e.g. trained elsewhere')
    a.add(t, '--quiet', action='store_true', help='print nothing but warnings and errors')
    a.add(t, '--log-json', action='store_true',
          help='one JSON object per iteration on stdout, messages on stderr')
    a.add(t, '--job-retries', type=int, default=0, metavar='N', help='run a failed MapReduce '
          'job again, up to N times; Hadoop also retries single task attempts itself')
    a.add(t, '--keep-checkpoints', type=int, default=KEEP_CHECKPOINTS, metavar='N',
          help='keep the newest N checkpoints, plus iter-000000 and best.npz\'s; 0 keeps every one')
    groups = {name: t.add_argument_group(name) for name in GROUPS}
    for option in options():
        meta = option.meta
        # None: not given, so that --resume changes only what is given again
        a.add(groups[meta['group']], option.flag, dest=option.dest, type=TYPES[option.type],
              choices=meta.get('choices'), metavar=meta.get('metavar'), help=meta['help'],
              shown=option.default)

    e = sub.add_parser('evaluate', help='loss and metrics of a checkpoint on data (MapReduce)')
    a.add(e, 'checkpoint', help=CHECKPOINT_HELP)
    a.add(e, 'inputs', nargs='+', metavar='INPUT')
    a.add(e, '--json', action='store_true', help='one JSON object instead of text')
    a.add(e, '--window-state', choices=WINDOW_STATES,
          help="text: score a line as one stream (carry) or each window from zeros (reset); "
          "default: as the checkpoint was trained")

    s = sub.add_parser('sample', help='generate text, or forecast a series, from a checkpoint')
    a.add(s, 'checkpoint', help=CHECKPOINT_HELP)
    a.add(s, '--prime', default='', help='text: the start of the generated text, read as the '
          'training text was (characters, or words)')
    a.add(s, '--length', type=int, default=300, help='tokens (characters, or words for a word model), or forecast steps')
    a.add(s, '--temperature', type=float, default=default_of(sample_text, 'temperature'))
    a.add(s, '--seed', type=int, default=default_of(sample_text, 'seed'))
    a.add(s, '--top-k', type=int, default=default_of(sample_text, 'k'), metavar='K',
          help='text: draw from the K most likely tokens only (0: all)')
    a.add(s, '--history', metavar='CSV', help='regression: series whose end is continued')

    p = sub.add_parser('predict', help='score data with a checkpoint: one JSON line per record '
                       '(MapReduce, map only)')
    a.add(p, 'checkpoint', help=CHECKPOINT_HELP)
    a.add(p, 'inputs', nargs='+', metavar='INPUT')
    a.add(p, '--top-k', type=int, default=default_of(predict, 'top_k'), metavar='K',
          help='language models: list the K most likely next tokens')
    a.add(p, '--output', metavar='DIR', help='where the runner writes the predictions (mrjob\'s '
          '--output-dir; HDFS on Hadoop); default: standard output')

    x = sub.add_parser('export', help='write a checkpoint as ONNX or as a PyTorch state dict, '
                       'and the tokenizer file a runtime needs beside it')
    a.add(x, 'checkpoint', help=CHECKPOINT_HELP)
    a.add(x, 'output', metavar='OUT', help='OUT.onnx, or OUT.npz (+ OUT.json) for torch; either '
          'with OUT.tokenizer.json beside it (tokenizer settings, vocabulary, class names)')
    a.add(x, '--format', choices=('onnx', 'torch'),
          help='default: from OUT\'s extension (.onnx: onnx, .npz: torch)')

    i = sub.add_parser('inspect', help='a readable summary of a checkpoint')
    a.add(i, 'checkpoint', help=CHECKPOINT_HELP)

    r = sub.add_parser('report', help='one self-contained HTML page about a run: loss '
                       'curves, configuration, timings, samples')
    a.add(r, 'run_dir', metavar='RUN_DIR')
    a.add(r, '--output', metavar='HTML', help='default: RUN_DIR/report.html')
    a.add(r, '--samples', type=int, default=default_of(write_report, 'samples'),
          help='language models: how many generated texts to show')
    return parser, a.option_strings


def main(argv=None):
    parser, ours = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    rest, argv = split_runner_args(argv, ours)
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args, rest)
    except MrRnnError as e:
        if args.debug:
            raise
        print(f'mr-rnn: error: {e}', file=sys.stderr)
        return e.exit_code


def on_this_machine(command, rest):
    if rest:
        raise UserError(f'{command} runs on this machine; unexpected option {rest[0]}')


def checkpoint_file(path):
    """A checkpoint, or a run folder's (named on stderr, so stdout stays the output)."""
    from mr_rnn.driver.run_dir import checkpoint_of
    path, note = checkpoint_of(path)
    if note:
        print(f'mr-rnn: {note}', file=sys.stderr)
    return path


# ── commands ──

def cmd_train(args, rest):
    from mr_rnn.driver.inputs import check_local
    from mr_rnn.driver.progress import make_progress
    from mr_rnn.driver.runner import check_runner_args
    from mr_rnn.driver.train import Trainer
    runner = check_runner_args(rest)
    progress = make_progress(args.quiet, args.log_json)
    trainer = Trainer(args.out, runner, echo=progress.message, warn=progress.warn,
                      on_row=progress.row, job_retries=args.job_retries,
                      keep_checkpoints=args.keep_checkpoints)
    given = {o.dest: getattr(args, o.dest) for o in options() if getattr(args, o.dest) is not None}
    if args.resume:
        if args.inputs:
            raise UserError('--resume continues with the run\'s own inputs: leave INPUT out')
        # what may change when a run is resumed; the rest comes from the checkpoint
        model, history, inputs, val = trainer.resume(
            {o.dest: given[o.dest] for o in options() if o.meta.get('resumable') and o.dest in given})
    else:
        if not args.inputs:
            raise UserError('no INPUT given: name the training data')
        check_local(args.inputs)
        check_local(args.val, 'validation')
        inputs, val = args.inputs, args.val
        if args.init_from:
            check_local([args.init_from], '--init-from')
        model, history = trainer.start(from_options(given), inputs, val, args.init_from)
    with progress:
        progress.start(model.iteration, model.config.max_iter)
        model, history = trainer.train(model, history, inputs, val)
    first, last = history[0]['train_loss'], history[-1]['train_loss']
    progress.message(f'done: loss {first:.4f} -> {last:.4f} ({(first - last) / first:.0%} lower) '
                     f'after {history[-1]["iteration"]} iterations, stopped because '
                     f'{trainer.stop_reason}; the model commands on this run folder use '
                     f'{trainer.model_note}')
    return 0


def cmd_evaluate(args, rest):
    from mr_rnn.driver.inputs import data_files
    from mr_rnn.driver.runner import check_runner_args
    from mr_rnn.driver.scoring import evaluate
    from mr_rnn.inference.metrics import evaluation_lines
    runner = check_runner_args(rest)
    files = data_files(args.inputs, runner)
    result = evaluate(checkpoint_file(args.checkpoint), files, runner, args.window_state)
    print(json.dumps(result) if args.json else '\n'.join(evaluation_lines(result)))
    return 0


def cmd_sample(args, rest):
    from mr_rnn.driver.inputs import check_local
    from mr_rnn.inference.generate import forecast
    from mr_rnn.model import Model
    on_this_machine('sample', rest)
    model = Model.load(checkpoint_file(args.checkpoint))
    schema = model.schema
    if schema.task == 'lm' and schema.vocab is not None:
        if args.temperature <= 0:
            raise UserError('--temperature must be positive')
        if args.top_k < 0:
            raise UserError('--top-k must be 0 (all tokens) or more')
        print(args.prime + sample_text(model, args.prime, args.length, args.temperature,
                                       args.seed, args.top_k))
    elif schema.task == 'regress' and schema.format == 'csv':
        if not args.history:
            raise UserError('a forecast continues a series: add --history SERIES.csv')
        check_local([args.history], 'history')
        rows = forecast(model, args.history, args.length)
        print(','.join(schema.target_columns))
        for row in rows:
            print(','.join(f'{v:.6g}' for v in row))
    else:
        raise UserError(f'sample needs a text language model (characters or words) or a csv '
                        f'regression model; this checkpoint is a {schema.format} {schema.task} model')
    return 0


def cmd_inspect(args, rest):
    from mr_rnn.outputs.summary import checkpoint_summary
    on_this_machine('inspect', rest)
    print('\n'.join(checkpoint_summary(checkpoint_file(args.checkpoint))))
    return 0


def cmd_predict(args, rest):
    from mr_rnn.driver.inputs import data_files
    from mr_rnn.driver.runner import check_runner_args
    runner = check_runner_args(rest)
    files = data_files(args.inputs, runner)
    checkpoint = checkpoint_file(args.checkpoint)
    if args.top_k < 1:
        raise UserError('--top-k must be at least 1')
    if args.output:
        runner = [*runner, '--output-dir', args.output]
    predict(checkpoint, files, runner, lambda line: print(line, file=sys.stderr), args.top_k)
    return 0


def cmd_export(args, rest):
    from mr_rnn.outputs.export import export
    from mr_rnn.model import Model
    on_this_machine('export', rest)
    checkpoint = checkpoint_file(args.checkpoint)
    print(export(Model.load(checkpoint), args.output, args.format))
    return 0


def cmd_report(args, rest):
    on_this_machine('report', rest)
    if args.samples < 0:
        raise UserError('--samples must be 0 or more')
    print(f'wrote {write_report(args.run_dir, args.output, samples=args.samples)}')
    return 0


COMMANDS = {'train': cmd_train, 'evaluate': cmd_evaluate, 'sample': cmd_sample,
            'inspect': cmd_inspect, 'predict': cmd_predict, 'export': cmd_export,
            'report': cmd_report}

if __name__ == '__main__':
    sys.exit(main())
