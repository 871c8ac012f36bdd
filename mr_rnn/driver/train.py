"""The training loop: one MapReduce job per round, until a stopping rule holds
(docs/design.md §2, §9); on Spark, one pass of the run's one Spark application
per round instead (driver/spark_app.py, §4), with the same map and reduce.

    describe the data (one pass) -> schema -> initial weights = checkpoint 0
    for k = 0, 1, ...:  a training job on checkpoint k -> loss(k), val_loss(k), checkpoint k+1
                        metrics line k; the stopping rules
    the final evaluation: the evaluate job on the last checkpoint -> its metrics line

One job per round, with or without validation: validation records (--val
files, or the --val-fraction share) go through the same job and add to loss
sums of their own. Metrics line k always describes checkpoint k: the losses
are those of its weights, measured by the same pass that computed its update.
"""
import dataclasses
import json
import math
import os
import time
from dataclasses import replace

from mr_rnn.codec.checkpoint import write_atomic
from mr_rnn.config import ConfigError, flag_of, with_options
from mr_rnn.data.schema import schema_from_facts
from mr_rnn.driver import stopping
from mr_rnn.driver.bad_records import check_bad_fraction
from mr_rnn.driver.inputs import format_of, list_inputs
from mr_rnn.driver.plot import loss_png
from mr_rnn.driver.progress import progress_line
from mr_rnn.driver.run_dir import (KEEP_CHECKPOINTS, RunDir, check_keep_checkpoints,
                                   checkpoint_of)
from mr_rnn.driver.runner import JobFailed, run_job
from mr_rnn.driver.spark_app import spark_app
from mr_rnn.errors import MrRnnError
from mr_rnn.jobs.mr_average_step import MRAverageStep
from mr_rnn.jobs.mr_describe_data import MRDescribeData
from mr_rnn.jobs.mr_evaluate import MREvaluate
from mr_rnn.jobs.mr_gradient_step import MRGradientStep
from mr_rnn.model import Model, init_from_state_dict
from mr_rnn.tasks.describe import results as describe_results
from mr_rnn.tasks.round import MissingBlocks, round_result


class TrainingStopped(MrRnnError):
    """Training cannot go on; the message says why and what to do."""


class Trainer:
    # the stopping rules, as the loop applies them (driver/stopping.py)
    should_stop = staticmethod(stopping.should_stop)
    diverged = staticmethod(stopping.diverged)

    def __init__(self, run_dir, runner_args, echo=print, warn=print, on_row=None,
                 job_retries=0, keep_checkpoints=KEEP_CHECKPOINTS):
        """``keep_checkpoints``: the newest checkpoints kept (and iter-000000,
        and best's); 0 keeps all. ``job_retries``: a failed job runs again this
        many times."""
        if job_retries < 0:
            raise ConfigError('--job-retries must be 0 or more')
        check_keep_checkpoints(keep_checkpoints)
        self.run = RunDir(run_dir)
        self.runner_args = list(runner_args)
        self.echo, self.warn = echo, warn
        # each metrics row once written, with the config (driver/progress.py shows it)
        self.on_row = on_row or (lambda row, config: echo(progress_line(row)))
        self.job_retries, self.keep_checkpoints = job_retries, keep_checkpoints
        self.inputs = None
        # -r spark: one Spark application for the whole run, its passes the same
        # map and reduce functions as the jobs' (docs/design.md §4); else None
        self.spark = spark_app(self.runner_args, job_retries, warn)
        self.stop_reason = None             # why train() stopped, for the final line
        self.model_note = None              # the checkpoint later commands use, and why

    def run_job(self, job_class, job_args, read=list):
        return run_job(job_class, job_args, self.runner_args, self.job_retries, self.warn, read)

    def list_inputs(self, inputs, val):
        if self.inputs is None:         # listed once per session
            self.inputs = list_inputs(inputs, val, self.runner_args)
        return self.inputs

    # ── a new run, or one resumed ──

    def start(self, config, inputs, val, init_from=None):
        listed = self.list_inputs(inputs, val)
        fmt = format_of(listed.files, config.data.format)
        config = replace(config, data=replace(config.data, format=fmt))
        check_documents(config.data)
        # the paths as given: a resumed run lists its folders again
        self.run.create({'config': config.to_dict(), 'inputs': list(inputs), 'val': list(val),
                         'runner_args': self.runner_args})
        if self.spark:
            output = self.spark.describe(fmt, listed.files, config.data.max_ids, config.data)
        else:
            output, _ = self.run_job(MRDescribeData, MRDescribeData.command_line(
                fmt, listed.files, max_ids=config.data.max_ids,
                data=json.dumps(dataclasses.asdict(config.data))))
        facts = describe_results(output, fmt, config.data)
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
        changed = with_options(model.config, overrides)
        if changed != model.config:
            # the round's tasks read the checkpoint file, not this process's model:
            # rewritten, the first resumed round already runs with the new flags
            model = replace(model, config=changed)
            self.run.save(model)
        history = self.run.keep_metrics_before(model.iteration)
        self.echo(f'resuming {self.run.path} from iteration {model.iteration}')
        if model.config.patience is None:
            # written when the plateau rule was on by default: it keeps that rule
            # (docs/design.md §9, "Runs started before")
            patience = stopping.effective_patience(model.config)
            self.echo(f'this run was started when the plateau rule was on by default: it '
                      f'keeps it, stopping after {patience} rounds without progress '
                      f'(give --patience 0 to run to --max-iter, or --patience N)')
        return model, history, description['inputs'], description['val']

    # ── the loop ──

    def train(self, model, history, inputs, val):
        listed = self.list_inputs(inputs, val)
        while True:
            self.stop_reason = (f'--max-iter {model.config.max_iter} reached'
                                if model.iteration >= model.config.max_iter
                                else self.should_stop(history, model.config))
            started = time.time()
            job = MREvaluate if self.stop_reason else (
                MRAverageStep if model.config.mode == 'average' else MRGradientStep)
            result, counters = self.measure(job, model, listed)
            bad_rounds = self.check(model, result, history)
            if bad_rounds:
                model, history = self.recover(model, result.train.loss, history, bad_rounds)
                continue
            self.append_row(model, result, counters, started, history)
            if self.stop_reason:        # that was the final evaluation
                self.run.publish('final.npz', model.iteration)
                self.model_note = self.model_used(history, model)
                plot_losses(self.run)
                return model, history
            try:
                model = result.next_model(model)
            except MissingBlocks as e:
                raise JobFailed(str(e)) from None
            self.run.save(model)
            if not model.finite():
                # the update overflowed: no job can load these weights to measure their
                # loss, and they have diverged as surely as a NaN loss says
                model, history = self.recover(model, math.nan, history)
                continue
            self.run.prune(self.keep_checkpoints, [stopping.best_iteration(history, model.config)])
            plot_losses(self.run)

    def model_used(self, history, model):
        """Which checkpoint the model commands take from this run folder
        (run_dir.checkpoint_of: best.npz, else final.npz), its iteration and why."""
        path, _ = checkpoint_of(self.run.path)
        if os.path.basename(path) != 'best.npz':
            return f'{path} (iteration {model.iteration})'
        best = stopping.best_iteration(history, model.config)
        same = ('the same as final.npz' if best == model.iteration
                else f'final.npz is iteration {model.iteration}')
        return (f'{path} (iteration {best}, {stopping.best_why(history, model.config)}; '
                f'{same})')

    def measure(self, job, model, listed):
        """Run ``job`` (a round's training job, or the final evaluation) on
        checkpoint k: (tasks/round.RoundResult, the runner's counters)."""
        routing = listed.routing(model.config)
        extra = {'global_norm': True} if (job is MRGradientStep
                                          and model.config.optimizer.clip_norm) else {}
        if self.spark:
            output = self.spark.round(job.__name__, model, routing,
                                      [*listed.files, *listed.val_files], **extra)
            return round_result(dict(output), routing.with_val), {}
        args = job.command_line(self.run.checkpoint_path(model.iteration), model.schema.format,
                                [*listed.files, *listed.val_files], routing, **extra)
        # the blocks are put together as the output streams in, never all its packets at once
        return self.run_job(job, args, lambda pairs: round_result(pairs, routing.with_val))

    def check(self, model, result, history):
        """Stop on too many bad records or none good; -> the rounds a divergence
        has lasted (stopping.diverged), 0 if none."""
        stats = result.train
        check_bad_fraction(stats.bad, stats.records, stats.examples,
                           model.config.max_bad_fraction, f'iteration {model.iteration}')
        if stats.bad and (not history or history[-1]['bad_records'] != stats.bad):
            # named once, and again whenever their number changes
            self.warn(f'skipping {stats.bad} bad record(s) of {stats.records}; first:')
            for example in stats.examples:      # counts.BAD_EXAMPLES at most
                self.warn(f'  {example}')
        if not stats.count:
            raise TrainingStopped('no valid records in the input: check the paths and --format')
        return self.diverged(stats.loss, history, model.config)

    def append_row(self, model, result, counters, started, history):
        """Metrics line k (docs/design.md §3.5), and best.npz when it is the best."""
        row = {'iteration': model.iteration, 'train_loss': result.train.loss,
               'val_loss': result.val.loss if result.val else None,
               'grad_norm': result.grad_norm, 'lr': model.lr(), 'seconds': None,
               'records': result.train.records, 'bad_records': result.train.bad,
               # a training round of average mode measures the tasks' inner steps;
               # the final evaluation, the checkpoint itself (docs/design.md §3.3)
               'inner_loss': model.config.mode == 'average' and not self.stop_reason}
        # the runner's own counters, where it reports them (Hadoop, local, inline)
        ours = counters.get('mr_rnn', {})
        if 'records' in ours:
            row['records'], row['bad_records'] = ours['records'], ours.get('bad_records', 0)
        row['seconds'] = round(time.time() - started, 3)
        self.run.append_metrics(row)
        history.append(row)
        self.on_row(row, model.config)
        if stopping.best_iteration(history, model.config) == model.iteration:
            self.run.publish('best.npz', model.iteration)

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


def plot_losses(run):
    """loss.png beside the metrics, when matplotlib is installed (extra 'plot')."""
    png = loss_png(run.metrics())
    if png is None:
        return False
    write_atomic(os.path.join(run.path, 'loss.png'), png)
    return True


def check_documents(data):
    """A table of documents names the column of its text and of its label;
    the flags mean nothing to another format (docs/design.md §3.1)."""
    given = [flag_of(data, f) for f in ('text_column', 'label_column')
             if getattr(data, f) is not None]
    if given and data.format != 'csv':
        raise ConfigError(f'{" and ".join(given)} name columns of a csv or tsv table of '
                          f'documents, not of {data.format} input: leave them out, or use '
                          '--text-field and --label-field for jsonl')
    if len(given) == 1:
        raise ConfigError(f'a table of documents needs both {flag_of(data, "text_column")} '
                          f'and {flag_of(data, "label_column")}')
