"""The training loop: one MapReduce job per iteration, until done.

    describe the data (one pass) -> schema -> initial weights = checkpoint 0
    for k = 0, 1, ...:  gradient job on checkpoint k -> loss(k), val_loss(k), checkpoint k+1
                        metrics line k, convergence test
    evaluate job on the last checkpoint             -> its metrics line

One job per round, with or without validation: validation records (--val
files, or the --val-fraction share) go through the same job and add to loss
sums of their own. Metrics line k always describes checkpoint k: the losses
are those of its weights, measured by the same pass that computed its gradient.
"""
import math
import os
import time
from dataclasses import dataclass, replace

import numpy as np

from mr_rnn.codec.checkpoint import OPTIM_PREFIX, write_atomic
from mr_rnn.config import (PATIENCE_FULL_BATCH, PATIENCE_NOISY, ConfigError, flag_of,
                           with_options)
from mr_rnn.data.schema import schema_from_facts
from mr_rnn.driver.bad_records import check_bad_fraction
from mr_rnn.driver.inputs import (check_upload_names, expand, filesystem, format_of, is_uri,
                                  runner_name, uploads_local_files)
from mr_rnn.driver.plot import loss_png
from mr_rnn.driver.progress import progress_line
from mr_rnn.driver.run_dir import RunDir
from mr_rnn.driver.runner import JobFailed, run_job
from mr_rnn.errors import MrRnnError
from mr_rnn.jobs.mr_average_step import MRAverageStep
from mr_rnn.jobs.base import VAL_KEY
from mr_rnn.jobs.mr_describe_data import MRDescribeData
from mr_rnn.jobs.mr_evaluate import MREvaluate
from mr_rnn.jobs.mr_gradient_step import STATS_KEY, MRGradientStep
from mr_rnn.model import Model, init_from_state_dict


class TrainingStopped(MrRnnError):
    """Training cannot go on; the message says why and what to do."""


@dataclass
class Stats:
    loss: float
    count: int
    records: int
    bad: int
    examples: list
    correct: int = 0


def _stats(scalars):
    count = scalars.get('count', 0)
    loss = scalars.get('loss_sum', 0.0) / count if count else math.nan
    return Stats(loss, count, scalars.get('records', 0), scalars.get('bad', 0),
                 scalars.get('examples', []), scalars.get('correct', 0))


class Trainer:
    def __init__(self, run_dir, runner_args, echo=print, warn=print, on_row=None,
                 job_retries=0, keep_checkpoints=0):
        self.run = RunDir(run_dir)
        self.runner_args = list(runner_args)
        self.echo, self.warn = echo, warn
        # each metrics row once written, with the config (driver/progress.py shows it)
        self.on_row = on_row or (lambda row, config: echo(progress_line(row)))
        self.job_retries = job_retries      # a failed job runs again this many times
        # newest checkpoints kept (and iter-000000, and best's); 0: all
        if keep_checkpoints and keep_checkpoints < 2:
            raise ConfigError('--keep-checkpoints must be 0 (keep all) or at least 2: a '
                              'diverged round goes back to the checkpoint before the newest')
        self.keep_checkpoints = keep_checkpoints
        self._files = {}
        self.uploaded_val_names = []    # local --val files a runner uploads: their names

    def data_files(self, inputs, val):
        """The data files behind the paths given (folders, globs, URIs), listed
        once per session: (training files, validation files)."""
        key = (tuple(inputs), tuple(val))
        if key not in self._files:
            fs = filesystem([*inputs, *val], self.runner_args)
            files, val_files = expand(inputs, fs), expand(val, fs, 'validation')
            both = [f for f in val_files if f in set(files)]
            if both:
                # a task tells validation records by their file: one file cannot be both
                raise ConfigError(f'{both[0]} is both training and validation data: '
                                  'give --val files that are not among the inputs, or use '
                                  '--val-fraction to hold out a share of the inputs')
            if val_files and runner_name(self.runner_args) == 'spark' and \
                    '--emulate-map-input-file' not in self.runner_args:
                # Spark's tasks name a record's file only when asked to
                self.runner_args.append('--emulate-map-input-file')
            if val_files and uploads_local_files(self.runner_args):
                check_upload_names(files, val_files)
                self.uploaded_val_names = [os.path.basename(f) for f in val_files
                                           if not is_uri(f)]
            self._files[key] = (files, val_files)
        return self._files[key]
        self.stop_reason = None             # why train() stopped, for the final line

    def run_job(self, job_class, job_args):
        return run_job(job_class, job_args, self.runner_args, self.job_retries, self.warn)

    # ── the passes ──

    def describe(self, inputs, fmt):
        output, _ = self.run_job(MRDescribeData, ['--format', fmt, *inputs])
        return dict(output).get('facts', {'records': 0})

    def training_step(self, model, inputs, val=()):
        """One round: the gradient job (or the averaging job) on checkpoint k,
        which also measures checkpoint k's validation loss when there is
        validation data: (train Stats, blocks, counters, steps, val Stats or None)."""
        path = self.run.checkpoint_path(model.iteration)
        cfg = model.config
        args = ['--format', model.schema.format, '--checkpoint', path, *self.split('train', cfg)]
        if cfg.optimizer.clip_norm and cfg.mode == 'gradient':
            args.append('--global-norm')
        job = MRAverageStep if cfg.mode == 'average' else MRGradientStep
        output, counters = self.run_job(job, [*args, *self.with_val(cfg, val), *inputs, *val])
        blocks = dict(output)
        stats_packet = blocks.pop(STATS_KEY, {'scalars': {}})['scalars']
        val_stats = self.val_stats(blocks.pop(VAL_KEY, None), cfg, val)
        return (_stats(stats_packet), blocks, counters, stats_packet.get('max_steps', 1),
                val_stats)

    @staticmethod
    def split(which, config):
        return ['--split', which] if config.val_fraction > 0 else []

    def with_val(self, config, val):
        """The job options that route validation records (the --val files, else
        the --val-fraction share of the inputs) into sums of their own."""
        if not (val or config.val_fraction):
            return []
        return ['--with-val', *(a for path in val for a in ('--val-path', path)),
                *(a for name in self.uploaded_val_names for a in ('--val-name', name))]

    @staticmethod
    def val_stats(packet, config, val):
        if not (val or config.val_fraction):
            return None
        return _stats((packet or {'scalars': {}})['scalars'])

    def evaluate(self, model_path, fmt, inputs, split=(), val=(), config=None):
        """(Stats, validation Stats or None) of a checkpoint: one job."""
        with_val = self.with_val(config, val) if config is not None else []
        output, _ = self.run_job(MREvaluate, ['--format', fmt, '--checkpoint', model_path,
                                              *split, *with_val, *inputs, *val])
        totals = dict(output)
        stats = _stats(totals.get(STATS_KEY, {'scalars': {}})['scalars'])
        return stats, (self.val_stats(totals.get(VAL_KEY), config, val) if config else None)

    # ── the loop ──

    def start(self, config, inputs, val, init_from=None):
        files, _ = self.data_files(inputs, val)
        fmt = format_of(files, config.data.format)
        config = replace(config, data=replace(config.data, format=fmt))
        # the paths as given: a resumed run lists its folders again
        self.run.create({'config': config.to_dict(), 'inputs': list(inputs), 'val': list(val),
                         'runner_args': self.runner_args})
        facts = self.describe(files, fmt)
        check_bad_fraction(facts.get('bad', 0), facts.get('records', 0),
                           facts.get('examples', []), config.max_bad_fraction,
                           'describing the data')
        schema = schema_from_facts(facts, config.data, config.model.task)
        model = Model.initial(config, schema)
        if init_from:
            # weights trained elsewhere (a torch-format state dict), fresh optimizer state
            model = init_from_state_dict(model, init_from)
        self.run.save(model)
        self.echo(f'data: {facts.get("records", 0)} records, task {schema.task}, '
                  f'input {"tokens" if schema.token_input else "dense"} x{schema.input_size}, '
                  f'output {schema.output_size}')
        return model, []

    def resume(self, overrides):
        """The newest valid checkpoint, with ``overrides`` ({dest: value} of the
        flags --resume may change, config.options) in its configuration."""
        description = self.run.description()
        model = self.run.newest_valid_model(self.warn)
        model = replace(model, config=with_options(model.config, overrides))
        history = self.run.keep_metrics_before(model.iteration)
        self.echo(f'resuming {self.run.path} from iteration {model.iteration}')
        return model, history, description['inputs'], description['val']

    def train(self, model, history, inputs, val):
        inputs, val = self.data_files(inputs, val)
        while True:
            config = model.config
            self.stop_reason = (f'--max-iter {config.max_iter} reached'
                                if model.iteration >= config.max_iter
                                else self.should_stop(history, config))
            done = self.stop_reason is not None
            started = time.time()
            path = self.run.checkpoint_path(model.iteration)
            if done:
                stats, held_out = self.evaluate(path, model.schema.format, inputs,
                                                self.split('train', config), val, config)
                blocks, counters, steps = None, {}, 0
            else:
                stats, blocks, counters, steps, held_out = self.training_step(model, inputs, val)
            check_bad_fraction(stats.bad, stats.records, stats.examples,
                               config.max_bad_fraction, f'iteration {model.iteration}')
            self.report_bad(stats, history)
            if not stats.count:
                raise TrainingStopped('no valid records in the input: check the paths and --format')
            bad_rounds = self.diverged(stats.loss, history, config)
            if bad_rounds:
                model, history = self.recover(model, stats.loss, history, bad_rounds)
                continue
            row = self.metrics_row(model, stats, blocks, counters, started)
            if held_out is not None:
                row['val_loss'] = held_out.loss
            row['seconds'] = round(time.time() - started, 3)
            self.run.append_metrics(row)
            history.append(row)
            self.on_row(row, config)
            self.publish_best(history)
            if done:
                self.run.publish('final.npz', model.iteration)
                plot_losses(self.run)
                return model, history
            model = self.updated(model, blocks, steps)
            self.run.save(model)
            if not model.finite():
                # the update overflowed: no job can load these weights to measure their
                # loss, and they have diverged as surely as a NaN loss says
                model, history = self.recover(model, math.nan, history)
                continue
            self.run.prune(self.keep_checkpoints, [self.best_iteration(history)])
            plot_losses(self.run)

    @staticmethod
    def metrics_row(model, stats, blocks, counters, started):
        row = {'iteration': model.iteration, 'train_loss': stats.loss, 'val_loss': None,
               'grad_norm': None, 'lr': model.lr(), 'seconds': None,
               'records': stats.records, 'bad_records': stats.bad}
        # the runner's own counters, where it reports them (Hadoop, local, inline)
        ours = counters.get('mr_rnn', {})
        if 'records' in ours:
            row['records'], row['bad_records'] = ours['records'], ours.get('bad_records', 0)
        if blocks and all('grad_sq' in b['scalars'] for b in blocks.values()):
            row['grad_norm'] = math.sqrt(sum(b['scalars']['grad_sq'] for b in blocks.values()))
        return row

    @staticmethod
    def diverged(loss, history, config):
        """0, or the number of rounds (this one included) a divergence has lasted.

        A NaN or infinite loss diverges at once. A finite one only when it has
        stayed above max(--divergence-factor x the best training loss before
        it, the first round's loss) for ``divergence_rounds`` rounds in a row:
        an optimizer's spike that recovers is not divergence, and a loss near
        zero does not make every wobble a factor of 10 (the first round's loss
        is the floor: only worse than the untrained model counts).
        """
        if not math.isfinite(loss):
            return 1
        losses = [r['train_loss'] for r in history] + [loss]
        rounds = 0
        for i in range(len(losses) - 1, 0, -1):
            if not losses[i] > max(config.divergence_factor * min(losses[:i]), losses[0]):
                break
            rounds += 1
        return rounds if rounds >= config.divergence_rounds else 0

    def recover(self, model, loss, history, rounds=1):
        """The weights of checkpoints k-rounds+1 ... k are bad: set them aside
        and stop, or go back to the newest checkpoint at or before k-rounds
        (--keep-checkpoints may have pruned k-rounds itself; iter-000000 is
        always kept) and redo its update with half the learning rate."""
        k = model.iteration
        bad = self.run.checkpoint_path(k)
        if k - rounds < 0:
            raise TrainingStopped(f'the loss of the initial weights is {loss}: check the data')
        back_to = max(i for i in self.run.iterations() if i <= k - rounds)
        previous = self.run.checkpoint_path(back_to)
        for i in self.run.iterations():
            if back_to < i <= k:
                path = self.run.checkpoint_path(i)
                os.replace(path, path + '.diverged')
        what, config = f'at iteration {k}', model.config
        if math.isfinite(loss):     # not NaN or infinite: a blow-up that lasted (diverged)
            what += (f', after {rounds} round(s) above {flag_of(config, "divergence_factor")} '
                     f'{config.divergence_factor:g} x the best loss')
        if model.config.on_divergence == 'stop' or model.lr_scale < 2 ** -10:
            raise TrainingStopped(
                f'the loss diverged to {loss:.4g} {what}; its weights are set aside as '
                f'{bad}.diverged and the last good checkpoint is {previous}: '
                f'lower --lr and add --resume, or use --on-divergence halve-lr')
        good = Model.load(previous)
        good.lr_scale = model.lr_scale / 2
        self.run.save(good)
        self.warn(f'the loss diverged to {loss:.4g} {what}: redoing '
                  f'iteration {good.iteration} with the learning rate times {good.lr_scale:g}')
        return good, self.run.keep_metrics_before(good.iteration)

    @staticmethod
    def updated(model, blocks, steps):
        if set(blocks) != set(model.params):
            missing = sorted(set(model.params) - set(blocks))
            raise JobFailed(f'the training job returned no update for {", ".join(missing)}')
        params, state = {}, {}
        for name, block in blocks.items():
            arrays = block['arrays']
            params[name] = np.array(arrays['param'], model.params[name].dtype)
            state[name] = {k[len(OPTIM_PREFIX):]: np.array(v) for k, v in arrays.items()
                           if k.startswith(OPTIM_PREFIX)}
        return Model(model.config, model.schema, params, state, model.iteration + 1,
                     model.optim_step + steps, model.lr_scale)

    def publish_best(self, history):
        if self.best_iteration(history) == history[-1]['iteration']:
            self.run.publish('best.npz', history[-1]['iteration'])

    @staticmethod
    def best_iteration(history):
        """The iteration best.npz holds: the lowest validation (else training) loss."""
        key = 'val_loss' if history[-1]['val_loss'] is not None else 'train_loss'
        return min(history, key=lambda r: r[key])['iteration']

    @staticmethod
    def should_stop(history, config):
        """None, or why training stops now: --target-loss reached, or the best
        loss has not improved by more than --tol (relative) for --patience
        rounds (validation loss when there is one).

        Improvement is judged against the best so far, not the previous
        round: noise that goes up and down never stops a run early, and a
        slow creep that adds up to more than tol counts. The count starts at
        the round that last improved the best by more than tol.
        """
        key = 'val_loss' if history and history[-1]['val_loss'] is not None else 'train_loss'
        losses = [r[key] for r in history]
        which = key.split('_')[0]
        if config.target_loss is not None and losses and losses[-1] <= config.target_loss:
            return f'target loss {config.target_loss:g} reached ({which} loss {losses[-1]:.4f})'
        since = plateau_start(losses, config.tol)
        patience = effective_patience(config)
        if since is None or len(losses) - 1 - since < patience:
            return None
        return (f'no improvement of the {which} loss by more than --tol {config.tol:g} for '
                f'{patience} rounds since round {history[since]["iteration"]} '
                f'(best {min(losses):.4f})')

    def report_bad(self, stats, history):
        """Name the first bad records once, and again whenever their number changes."""
        if stats.bad and (not history or history[-1]['bad_records'] != stats.bad):
            self.warn(f'skipping {stats.bad} bad record(s) of {stats.records}; first:')
            for example in stats.examples:      # counts.BAD_EXAMPLES at most
                self.warn(f'  {example}')


def plateau_start(losses, tol):
    """Index of the last loss that beat the reference best by more than tol
    (relative), where the reference is the loss that last did so; None when
    there is no loss yet."""
    since, reference = None, None
    for i, loss in enumerate(losses):
        if not math.isfinite(loss):
            continue
        if reference is None or loss < reference - tol * abs(reference):
            since, reference = i, loss
    return since


def effective_patience(config):
    if config.patience is not None:
        return config.patience
    if config.mode == 'gradient' and config.sample_fraction == 1:
        return PATIENCE_FULL_BATCH
    return PATIENCE_NOISY


def plot_losses(run):
    """loss.png beside the metrics, when matplotlib is installed (extra 'plot')."""
    png = loss_png(run.metrics())
    if png is None:
        return False
    write_atomic(os.path.join(run.path, 'loss.png'), png)
    return True
