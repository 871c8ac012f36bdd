"""mr-rnn: train, evaluate, sample and inspect recurrent networks on MapReduce.

Runner options are mrjob's own (-r/--runner, -c/--conf-path, --no-conf,
--num-cores, ...): anything this parser does not know is handed to mrjob.
Every mistake a user can make ends in one line on stderr and exit code 2.
"""
import argparse
import contextlib
import glob
import io
import json
import math
import sys

from mr_rnn.codec.checkpoint import CheckpointError
from mr_rnn.config import CELLS, DTYPES, FORMATS, TASKS, ConfigError, DataConfig, ModelConfig, TrainConfig
from mr_rnn.kernels.optim import DEFAULT_LR, STATE_NAMES, OptimizerConfig

EXIT_USER_ERROR = 2
EXIT_JOB_FAILED = 1


class UserError(Exception):
    pass


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line naming the problem and where help is."""

    def error(self, message):
        self.exit(EXIT_USER_ERROR, f'{self.prog}: error: {message} (see {self.prog} --help)\n')


def build_parser():
    parser = OneLineParser(
        prog='mr-rnn', description='Train RNN, LSTM and GRU models with one MapReduce job per '
        'iteration. Runner options (-r inline|local|hadoop|spark, -c mrjob.conf, ...) are mrjob\'s.')
    parser.add_argument('--debug', action='store_true', help='show tracebacks')
    sub = parser.add_subparsers(dest='command', required=True, metavar='COMMAND')

    t = sub.add_parser('train', help='train a model; one MapReduce job per iteration')
    t.add_argument('inputs', nargs='*', metavar='INPUT', help='data files, globs or URIs')
    t.add_argument('--out', required=True, metavar='RUN_DIR', help='run directory')
    t.add_argument('--resume', action='store_true', help='continue the run in --out')
    t.add_argument('--val', nargs='+', default=[], metavar='PATH', help='validation data')
    m = t.add_argument_group('model')
    m.add_argument('--cell', choices=CELLS, default='lstm')
    m.add_argument('--hidden', type=int, default=128)
    m.add_argument('--layers', type=int, default=1)
    m.add_argument('--task', choices=TASKS, help='default: inferred from the data')
    m.add_argument('--dtype', choices=DTYPES, default='float32')
    d = t.add_argument_group('data')
    d.add_argument('--format', choices=FORMATS, help='default: from the file extension')
    d.add_argument('--seq-len', type=int, default=64, help='text: characters per window')
    d.add_argument('--max-vocab', type=int, default=256, help='text: vocabulary size cap')
    d.add_argument('--window', type=int, default=24, help='csv: input steps per window')
    d.add_argument('--horizon', type=int, default=1, help='csv: steps ahead to predict')
    d.add_argument('--columns', type=_names, default=(), help='csv: input columns, a,b,c')
    d.add_argument('--target', type=_names, default=(), help='csv: predicted columns')
    d.add_argument('--max-bad-fraction', type=float, default=0.01)
    o = t.add_argument_group('optimisation')
    o.add_argument('--optimizer', choices=tuple(STATE_NAMES), default='adam')
    o.add_argument('--lr', type=float, help='default: ' + ', '.join(
        f'{k} {v:g}' for k, v in DEFAULT_LR.items()))
    o.add_argument('--momentum', type=float, default=0.9)
    o.add_argument('--weight-decay', type=float, default=0.0)
    o.add_argument('--batch-size', type=int, default=32, help='sequences per forward/backward '
                   'in a map task (speed and memory only: the gradient is the same)')
    o.add_argument('--sample-fraction', type=float, default=1.0,
                   help='share of the records each iteration uses, chosen per record')
    o.add_argument('--seed', type=int, default=0)
    o.add_argument('--max-iter', type=int, help='MapReduce rounds (default 50)')
    o.add_argument('--tol', type=float, help='relative improvement to call converged (1e-4)')
    o.add_argument('--patience', type=int, help='iterations below --tol before stopping (3)')

    e = sub.add_parser('evaluate', help='loss and metrics of a checkpoint on data (MapReduce)')
    e.add_argument('checkpoint')
    e.add_argument('inputs', nargs='+', metavar='INPUT')
    e.add_argument('--json', action='store_true', help='one JSON object instead of text')

    s = sub.add_parser('sample', help='generate text, or forecast a series, from a checkpoint')
    s.add_argument('checkpoint')
    s.add_argument('--prime', default='', help='text: the start of the generated text')
    s.add_argument('--length', type=int, default=300, help='characters, or forecast steps')
    s.add_argument('--temperature', type=float, default=1.0)
    s.add_argument('--seed', type=int, default=0)
    s.add_argument('--history', metavar='CSV', help='regression: series whose end is continued')

    i = sub.add_parser('inspect', help='a readable summary of a checkpoint')
    i.add_argument('checkpoint')
    return parser


def _names(text):
    return tuple(n.strip() for n in text.split(',') if n.strip())


def main(argv=None):
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    rest, argv = split_runner_args(argv, parser)
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args, rest)
    except (UserError, ConfigError, CheckpointError) as e:
        return _fail(args, e, EXIT_USER_ERROR)
    except Exception as e:
        from mr_rnn.driver.run_dir import RunDirError
        from mr_rnn.driver.runner import JobFailed
        from mr_rnn.driver.train import TrainingStopped
        if isinstance(e, (RunDirError, TrainingStopped)):
            return _fail(args, e, EXIT_USER_ERROR)
        if isinstance(e, JobFailed):
            return _fail(args, e, EXIT_JOB_FAILED)
        raise


def _fail(args, error, code):
    if args.debug:
        raise error
    print(f'mr-rnn: error: {error}', file=sys.stderr)
    return code


# ── runner options ──

def split_runner_args(argv, parser):
    """Take mrjob's options (and their values) out of argv, using mrjob's own
    option table, so that ``-r hadoop`` never reads as an input path."""
    from mrjob.job import MRJob
    theirs = MRJob(args=[]).arg_parser._option_string_actions
    ours = {o for action in _all_actions(parser) for o in action.option_strings}
    runner, mine, i = [], [], 0
    while i < len(argv):
        name = argv[i].split('=', 1)[0]
        action = theirs.get(name)
        if action is not None and name not in ours and argv[i] != '--':
            runner.append(argv[i])
            if '=' not in argv[i] and action.nargs != 0 and i + 1 < len(argv):
                runner.append(argv[i + 1])
                i += 1
        else:
            mine.append(argv[i])
        i += 1
    return runner, mine


def _all_actions(parser):
    for action in parser._actions:
        yield action
        for sub in getattr(action, 'choices', None) or {}:
            if isinstance(action.choices, dict):
                yield from _all_actions(action.choices[sub])


def runner_args(rest):
    """Options for mrjob, checked now so that a bad value fails before any work."""
    from mr_rnn.driver.runner import quiet_mrjob
    from mr_rnn.jobs.mr_describe_data import MRDescribeData
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            MRDescribeData(args=[*rest, '--format', 'text'])
    except (SystemExit, ValueError) as e:
        lines = [ln for ln in captured.getvalue().splitlines() if 'error:' in ln]
        message = lines[-1].split('error:', 1)[1].strip() if lines else str(e) or 'bad runner options'
        raise UserError(f'{message} (runner options are mrjob\'s: see mrjob --help)') from None
    quiet_mrjob('-v' in rest or '--verbose' in rest)
    return rest


def check_inputs(paths, what='input'):
    for path in paths:
        if '://' in path:
            continue   # HDFS, S3, ...: the runner checks them
        if not glob.glob(path):
            raise UserError(f'{what} path {path!r} does not exist: check the path')


# ── commands ──

def cmd_train(args, rest):
    from mr_rnn.driver.train import Trainer
    runner = runner_args(rest)
    trainer = Trainer(args.out, runner, echo=print, warn=lambda m: print(m, file=sys.stderr))
    overrides = {k: v for k, v in (('max_iter', args.max_iter), ('tol', args.tol),
                                   ('patience', args.patience)) if v is not None}
    if args.resume:
        if args.inputs:
            raise UserError('--resume continues with the run\'s own inputs: leave INPUT out')
        model, history, inputs, val = trainer.resume(overrides)
    else:
        if not args.inputs:
            raise UserError('no INPUT given: name the training data')
        check_inputs(args.inputs)
        check_inputs(args.val, 'validation')
        inputs, val = args.inputs, args.val
        model, history = trainer.start(train_config(args, overrides), inputs, val)
    model, history = trainer.train(model, history, inputs, val)
    print(f'done: {len(history) - 1} iterations; final checkpoint {args.out}/final.npz')
    return 0


def train_config(args, overrides):
    optimizer = OptimizerConfig(
        name=args.optimizer, lr=args.lr if args.lr is not None else DEFAULT_LR[args.optimizer],
        momentum=args.momentum, weight_decay=args.weight_decay)
    return TrainConfig(
        model=ModelConfig(cell=args.cell, hidden=args.hidden, layers=args.layers,
                          task=args.task, dtype=args.dtype),
        data=DataConfig(format=args.format, seq_len=args.seq_len, max_vocab=args.max_vocab,
                        window=args.window, horizon=args.horizon, columns=args.columns,
                        target=args.target),
        optimizer=optimizer, seed=args.seed, batch_size=args.batch_size,
        max_bad_fraction=args.max_bad_fraction,
        sample_fraction=args.sample_fraction, **overrides)


def cmd_evaluate(args, rest):
    from mr_rnn.driver.train import Trainer
    from mr_rnn.model import Model
    runner = runner_args(rest)
    check_inputs(args.inputs)
    model = Model.load(args.checkpoint)
    trainer = Trainer('.', runner)
    stats = trainer.evaluate(args.checkpoint, model.schema.format, args.inputs)
    trainer.check_bad(stats.bad, stats.records, stats.examples,
                      model.config.max_bad_fraction, 'evaluating')
    if not stats.count:
        raise UserError('no valid records in the input for this checkpoint: check the data')
    result = {'loss': stats.loss, 'targets': stats.count, 'records': stats.records,
              'bad_records': stats.bad}
    task = model.schema.task
    if task == 'lm':
        result.update(perplexity=math.exp(stats.loss), bits_per_token=stats.loss / math.log(2))
    if task in ('lm', 'classify'):
        result['accuracy'] = stats.correct / stats.count
    if task == 'regress':
        result['rmse_normalised'] = math.sqrt(stats.loss)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f'{key:>16}  {value:.6g}' if isinstance(value, float) else f'{key:>16}  {value}')
    return 0


def cmd_sample(args, rest):
    from mr_rnn.generate import forecast, sample_text
    from mr_rnn.model import Model
    if rest:
        raise UserError(f'sample runs on this machine; unexpected option {rest[0]}')
    model = Model.load(args.checkpoint)
    if model.schema.task == 'lm' and model.schema.vocab is not None:
        if args.temperature <= 0:
            raise UserError('--temperature must be positive')
        print(args.prime + sample_text(model, args.prime, args.length, args.temperature, args.seed))
    elif model.schema.task == 'regress' and model.schema.format == 'csv':
        if not args.history:
            raise UserError('a forecast continues a series: add --history SERIES.csv')
        check_inputs([args.history], 'history')
        for row in forecast(model, args.history, args.length):
            print(','.join(f'{v:.6g}' for v in row))
    else:
        raise UserError(f'sample needs a text language model or a csv regression model; '
                        f'this checkpoint is a {model.schema.format} {model.schema.task} model')
    return 0


def cmd_inspect(args, rest):
    from mr_rnn.codec.checkpoint import load_checkpoint
    if rest:
        raise UserError(f'unexpected option {rest[0]}')
    arrays, meta = load_checkpoint(args.checkpoint)
    schema, config = meta['schema'], meta['config']
    print(f'checkpoint   {args.checkpoint} (format {meta["format"]}, checksum ok)')
    print(f'iteration    {meta["iteration"]}   seed {meta["seed"]}')
    print(f'model        {config["model"]["cell"]} hidden {config["model"]["hidden"]} '
          f'layers {config["model"]["layers"]} {config["model"]["dtype"]}')
    print(f'task         {schema["task"]} on {schema["format"]}: input '
          f'{"tokens" if schema["token_input"] else "dense"} x{schema["input_size"]}, '
          f'output {schema["output_size"]} {"per step" if schema["per_step"] else "at the last step"}')
    opt = config['optimizer']
    print(f'optimizer    {opt["name"]} lr {opt["lr"]:g}')
    if schema.get('vocab'):
        shown = ''.join(c for c in schema['vocab'][1:] if c.isprintable())
        print(f'vocabulary   {len(schema["vocab"])} symbols: {shown[:60]!r}')
    if schema.get('norm'):
        print('normalised   ' + ', '.join(f'{c} (mean {m:.4g}, std {s:.4g})'
                                            for c, (m, s) in schema['norm'].items()))
    total = 0
    print('arrays')
    for name, array in arrays.items():
        total += array.size if not name.startswith('optim.') else 0
        print(f'  {name:<36} {str(array.shape):<14} {array.dtype}')
    print(f'parameters   {total}')
    return 0


COMMANDS = {'train': cmd_train, 'evaluate': cmd_evaluate, 'sample': cmd_sample,
            'inspect': cmd_inspect}

if __name__ == '__main__':
    sys.exit(main())
