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
import os
import sys

from mr_rnn.codec.checkpoint import CheckpointError
from mr_rnn.config import (CELLS, DIVERGENCE, DTYPES, FORMATS, INITS, INNER_STATE, MODES, TASKS,
                           ConfigError, DataConfig, ModelConfig, TrainConfig)
from mr_rnn.kernels.optim import (DEFAULT_LR, OUTER_OPTIMIZERS, SCHEDULES, STATE_NAMES,
                                  OptimizerConfig)

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
    t.add_argument('--init-from', metavar='STATE.npz', help='start from the weights of a '
                   'torch-format state dict (mr-rnn export --format torch), e.g. trained elsewhere')
    t.add_argument('--quiet', action='store_true', help='print nothing but warnings and errors')
    t.add_argument('--log-json', action='store_true',
                   help='one JSON object per iteration on stdout, messages on stderr')
    t.add_argument('--job-retries', type=int, default=0, metavar='N',
                   help='run a failed MapReduce job again, up to N times (0); Hadoop '
                   'also retries single task attempts itself')
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
    o.add_argument('--mode', choices=MODES, default='gradient', help='gradient: one exact '
                   'gradient step per round; average: local SGD in every map task, then '
                   'the weights averaged (fewer rounds, result depends on the split)')
    o.add_argument('--local-steps', type=int, default=0,
                   help='average mode: exactly N optimizer steps per map task per round, '
                   'cycling over its shard (default: one pass, at least 64 steps)')
    o.add_argument('--local-epochs', type=float, default=0.0, metavar='F',
                   help='average mode: F passes over each map task\'s shard per round (0.5, 2)')
    o.add_argument('--local-memory-mb', type=int, default=256, metavar='MB',
                   help='average mode: batches a map task keeps to cycle over; past this, '
                   'a fresh random sample of them each round (256)')
    o.add_argument('--outer-optimizer', choices=OUTER_OPTIMIZERS, default='nesterov',
                   help='average mode: the step the reducers take on the mean of the tasks\' '
                   'weights (sgd with --outer-lr 1: plain averaging)')
    o.add_argument('--outer-lr', type=float, default=0.7, help='average mode: outer lr (0.7)')
    o.add_argument('--outer-momentum', type=float, default=0.9,
                   help='average mode: outer momentum (0.9)')
    o.add_argument('--inner-state', choices=INNER_STATE, default='reset',
                   help='average mode: the inner optimizer state across rounds: reset to zero '
                   'every round, or the tasks\' states averaged (reset)')
    o.add_argument('--schedule', choices=SCHEDULES, default='constant',
                   help='learning-rate schedule over --max-iter rounds')
    o.add_argument('--warmup', type=int, default=0, help='rounds of linear lr warm-up')
    o.add_argument('--step-size', type=int, default=10, help='step schedule: rounds per decay')
    o.add_argument('--gamma', type=float, default=0.5, help='step/exponential decay factor')
    o.add_argument('--min-lr', type=float, default=0.0, help='cosine schedule floor')
    o.add_argument('--clip-norm', type=float, default=0.0,
                   help='clip the gradient to this global L2 norm (0: off)')
    o.add_argument('--init', choices=INITS, default='pytorch', help='initial weights')
    o.add_argument('--forget-bias', type=float, help='LSTM: initial forget-gate bias')
    o.add_argument('--val-fraction', type=float, default=0.0,
                   help='hold out this share of the records for validation (per-record hash)')
    o.add_argument('--target-loss', type=float, help='stop when the loss is this low')
    o.add_argument('--on-divergence', choices=DIVERGENCE, default='stop',
                   help='a NaN, infinite or exploding loss: stop, or retry with half the lr')
    o.add_argument('--max-iter', type=int, help='MapReduce rounds (default 50)')
    o.add_argument('--tol', type=float, help='relative improvement of the best loss that '
                   'counts as progress (1e-4)')
    o.add_argument('--patience', type=int, help='stop after this many rounds without progress, '
                   'counted from the best (default 10 full batch, 20 with --sample-fraction or '
                   '--mode average)')

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
    s.add_argument('--top-k', type=int, default=0, metavar='K',
                   help='text: draw from the K most likely characters only (0: all)')
    s.add_argument('--history', metavar='CSV', help='regression: series whose end is continued')

    p = sub.add_parser('predict', help='score data with a checkpoint: one JSON line per record '
                       '(MapReduce, map only)')
    p.add_argument('checkpoint')
    p.add_argument('inputs', nargs='+', metavar='INPUT')
    p.add_argument('--top-k', type=int, default=5, metavar='K',
                   help='language models: list the K most likely next tokens')
    p.add_argument('--output', metavar='DIR', help='where the runner writes the predictions '
                   '(mrjob\'s --output-dir; HDFS on Hadoop); default: standard output')

    x = sub.add_parser('export', help='write a checkpoint as ONNX or as a PyTorch state dict')
    x.add_argument('checkpoint')
    x.add_argument('output', metavar='OUT', help='OUT.onnx, or OUT.npz (+ OUT.json) for torch')
    x.add_argument('--format', choices=('onnx', 'torch'),
                   help='default: from OUT\'s extension (.onnx: onnx, .npz: torch)')

    i = sub.add_parser('inspect', help='a readable summary of a checkpoint')
    i.add_argument('checkpoint')

    r = sub.add_parser('report', help='one self-contained HTML page about a run: loss '
                       'curves, configuration, timings, samples')
    r.add_argument('run_dir', metavar='RUN_DIR')
    r.add_argument('--output', metavar='HTML', help='default: RUN_DIR/report.html')
    r.add_argument('--samples', type=int, default=3,
                   help='language models: how many generated texts to show (3)')
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
        from mr_rnn.export import ExportError
        if isinstance(e, (RunDirError, TrainingStopped, ExportError)):
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
    from mr_rnn.driver.progress import make_progress
    from mr_rnn.driver.train import Trainer
    runner = runner_args(rest)
    if args.job_retries < 0:
        raise UserError('--job-retries must be 0 or more')
    progress = make_progress(args.quiet, args.log_json)
    trainer = Trainer(args.out, runner, echo=progress.message, warn=progress.warn,
                      on_row=progress.row, job_retries=args.job_retries)
    # what may change when a run is resumed; the rest comes from the checkpoint
    overrides = {k: v for k, v in (('max_iter', args.max_iter), ('tol', args.tol),
                                   ('patience', args.patience), ('target_loss', args.target_loss))
                 if v is not None}
    if args.resume:
        if args.inputs:
            raise UserError('--resume continues with the run\'s own inputs: leave INPUT out')
        model, history, inputs, val = trainer.resume(overrides, lr=args.lr)
    else:
        if not args.inputs:
            raise UserError('no INPUT given: name the training data')
        check_inputs(args.inputs)
        check_inputs(args.val, 'validation')
        inputs, val = args.inputs, args.val
        if args.init_from:
            check_inputs([args.init_from], '--init-from')
        model, history = trainer.start(train_config(args, overrides), inputs, val, args.init_from)
    with progress:
        progress.start(model.iteration, model.config.max_iter)
        model, history = trainer.train(model, history, inputs, val)
    first, last = history[0]['train_loss'], history[-1]['train_loss']
    progress.message(f'done: loss {first:.4f} -> {last:.4f} ({(first - last) / first:.0%} lower) '
                     f'after {history[-1]["iteration"]} iterations, stopped because '
                     f'{trainer.stop_reason}; final checkpoint {args.out}/final.npz')
    return 0


def train_config(args, overrides):
    try:
        optimizer = optimizer_config(args)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    return TrainConfig(
        model=ModelConfig(cell=args.cell, hidden=args.hidden, layers=args.layers,
                          task=args.task, dtype=args.dtype),
        data=DataConfig(format=args.format, seq_len=args.seq_len, max_vocab=args.max_vocab,
                        window=args.window, horizon=args.horizon, columns=args.columns,
                        target=args.target),
        optimizer=optimizer, seed=args.seed, batch_size=args.batch_size,
        max_bad_fraction=args.max_bad_fraction,
        sample_fraction=args.sample_fraction, mode=args.mode, local_steps=args.local_steps,
        local_epochs=args.local_epochs, local_memory_mb=args.local_memory_mb,
        outer_optimizer=args.outer_optimizer, outer_lr=args.outer_lr,
        outer_momentum=args.outer_momentum, inner_state=args.inner_state,
        val_fraction=args.val_fraction,
        on_divergence=args.on_divergence, init=args.init, forget_bias=args.forget_bias,
        **overrides)


def optimizer_config(args):
    return OptimizerConfig(
        name=args.optimizer, lr=args.lr if args.lr is not None else DEFAULT_LR[args.optimizer],
        momentum=args.momentum, weight_decay=args.weight_decay, schedule=args.schedule,
        warmup=args.warmup, step_size=args.step_size, gamma=args.gamma, min_lr=args.min_lr,
        clip_norm=args.clip_norm)


def cmd_evaluate(args, rest):
    from mr_rnn.driver.train import Trainer
    from mr_rnn.model import Model
    runner = runner_args(rest)
    check_inputs(args.inputs)
    model = Model.load(args.checkpoint)
    totals = evaluate_totals(args.checkpoint, model.schema.format, args.inputs, runner)
    scalars = totals['scalars']
    Trainer.check_bad(scalars.get('bad', 0), scalars.get('records', 0),
                      scalars.get('examples', []), model.config.max_bad_fraction, 'evaluating')
    if not scalars.get('count'):
        raise UserError('no valid records in the input for this checkpoint: check the data')
    result = evaluation_metrics(model, scalars, totals['arrays'])
    if args.json:
        print(json.dumps(result))
    else:
        print_evaluation(result)
    return 0


def evaluate_totals(checkpoint, fmt, inputs, runner):
    """The evaluate job's totals: scalars, and the arrays behind the metrics."""
    from mr_rnn.driver.runner import run_job
    from mr_rnn.jobs.mr_evaluate import STATS_KEY, MREvaluate
    output, _ = run_job(MREvaluate, ['--format', fmt, '--checkpoint', checkpoint, *inputs], runner)
    return dict(output).get(STATS_KEY, {'scalars': {}, 'arrays': {}})


def evaluation_metrics(model, scalars, arrays):
    """Loss and the task's metrics, JSON-able; regression errors in the data's units."""
    from mr_rnn.generate import output_units
    from mr_rnn.kernels.accumulate import classification_metrics, regression_metrics
    count = scalars['count']
    loss = scalars['loss_sum'] / count
    result = {'loss': loss, 'targets': count, 'records': scalars.get('records', 0),
              'bad_records': scalars.get('bad', 0)}
    task = model.schema.task
    if task == 'lm':
        result.update(perplexity=math.exp(loss), bits_per_token=loss / math.log(2))
    if task in ('lm', 'classify'):
        result['accuracy'] = scalars.get('correct', 0) / count
    if task == 'classify':
        confusion = arrays['confusion']
        cls = classification_metrics(confusion)
        result.update(macro_f1=cls['macro_f1'], f1_per_class=cls['f1'].tolist(),
                      confusion=confusion.astype(int).tolist())
    if task == 'regress':
        units = output_units(model.schema, model.config.data.horizon)
        reg = regression_metrics(arrays['sq_err'], arrays['abs_err'], count,
                                 [std for _, _, std in units])
        result.update(rmse=reg['rmse'], mae=reg['mae'], rmse_normalised=math.sqrt(loss),
                      per_output={name: {'rmse': float(r), 'mae': float(a)} for (name, _, _), r, a
                                  in zip(units, reg['rmse_per_output'], reg['mae_per_output'])})
    return result


def print_evaluation(result):
    for key, value in result.items():
        if isinstance(value, (list, dict)):
            continue
        print(f'{key:>16}  {value:.6g}' if isinstance(value, float) else f'{key:>16}  {value}')
    if 'confusion' in result:
        confusion = result['confusion']
        width = max(5, len(str(max(max(row) for row in confusion))) + 1)
        print('confusion matrix (rows: true class, columns: predicted class)')
        print(' ' * 6 + ''.join(f'{c:>{width}}' for c in range(len(confusion))) + '      F1')
        for c, (row, f1) in enumerate(zip(confusion, result['f1_per_class'])):
            print(f'{c:>6}' + ''.join(f'{n:>{width}}' for n in row) + f'  {f1:6.3f}')
    if len(result.get('per_output', {})) > 1:
        print(f'{"output":>16}  {"rmse":>10}  {"mae":>10}   (data units)')
        for name, errors in result['per_output'].items():
            print(f'{name:>16}  {errors["rmse"]:10.6g}  {errors["mae"]:10.6g}')


def cmd_sample(args, rest):
    from mr_rnn.generate import forecast, sample_text
    from mr_rnn.model import Model
    if rest:
        raise UserError(f'sample runs on this machine; unexpected option {rest[0]}')
    model = Model.load(args.checkpoint)
    if model.schema.task == 'lm' and model.schema.vocab is not None:
        if args.temperature <= 0:
            raise UserError('--temperature must be positive')
        if args.top_k < 0:
            raise UserError('--top-k must be 0 (all characters) or more')
        print(args.prime + sample_text(model, args.prime, args.length, args.temperature,
                                       args.seed, args.top_k))
    elif model.schema.task == 'regress' and model.schema.format == 'csv':
        if not args.history:
            raise UserError('a forecast continues a series: add --history SERIES.csv')
        check_inputs([args.history], 'history')
        try:
            rows = forecast(model, args.history, args.length)
        except ValueError as e:
            raise UserError(str(e)) from None
        print(','.join(model.schema.target_columns))
        for row in rows:
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


def cmd_predict(args, rest):
    from mr_rnn.driver.runner import stream_job
    from mr_rnn.driver.train import Trainer
    from mr_rnn.jobs.mr_predict import MRPredict
    from mr_rnn.model import Model
    runner = runner_args(rest)
    check_inputs(args.inputs)
    if args.top_k < 1:
        raise UserError('--top-k must be at least 1')
    model = Model.load(args.checkpoint)
    if args.output:
        runner = [*runner, '--output-dir', args.output]
    to_stdout = not any(a in ('-o', '--output-dir') or a.startswith('--output-dir=')
                        for a in runner)
    counters, output_dir = stream_job(
        MRPredict, ['--format', model.schema.format, '--checkpoint', args.checkpoint,
                    '--top-k', str(args.top_k), *args.inputs],
        runner, sys.stdout if to_stdout else None)
    counters = counters.get('mr_rnn', {})
    records, bad = counters.get('records', 0), counters.get('bad_records', 0)
    where = 'standard output' if to_stdout else output_dir
    print(f'predict: {records} records, {bad} bad (lines with "error"), written to {where}',
          file=sys.stderr)
    Trainer.check_bad(bad, records, [], model.config.max_bad_fraction, 'predicting')
    return 0


def cmd_export(args, rest):
    from mr_rnn.export import ExportError, export_onnx, export_torch
    from mr_rnn.model import Model
    if rest:
        raise UserError(f'export runs on this machine; unexpected option {rest[0]}')
    fmt = args.format or {'.onnx': 'onnx', '.npz': 'torch'}.get(
        os.path.splitext(args.output)[1].lower())
    if fmt is None:
        raise UserError('cannot tell the export format from OUT: add --format onnx or torch')
    if fmt == 'torch' and not args.output.endswith('.npz'):
        raise UserError('--format torch writes a numpy .npz state dict: name OUT like model.npz')
    model = Model.load(args.checkpoint)
    try:
        (export_onnx if fmt == 'onnx' else export_torch)(model, args.output)
    except ExportError as e:
        raise UserError(str(e)) from None
    extra = f' and {os.path.splitext(args.output)[0]}.json' if fmt == 'torch' else ''
    print(f'wrote {args.output}{extra} ({fmt}, {model.spec.cell} x{model.spec.layers}, '
          f'hidden {model.spec.hidden})')
    return 0


def cmd_report(args, rest):
    from mr_rnn.report import ReportError, write_report
    if rest:
        raise UserError(f'report runs on this machine; unexpected option {rest[0]}')
    if args.samples < 0:
        raise UserError('--samples must be 0 or more')
    try:
        path = write_report(args.run_dir, args.output, samples=args.samples)
    except ReportError as e:
        raise UserError(str(e)) from None
    print(f'wrote {path}')
    return 0


COMMANDS = {'train': cmd_train, 'evaluate': cmd_evaluate, 'sample': cmd_sample,
            'inspect': cmd_inspect, 'predict': cmd_predict, 'export': cmd_export,
            'report': cmd_report}

if __name__ == '__main__':
    sys.exit(main())
