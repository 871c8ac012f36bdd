"""Scoring data with a trained checkpoint, on the chosen runner:

    evaluate   one evaluate job -> its totals -> loss and the task's metrics (inference/metrics.py)
    predict    one map-only predict job -> a JSON line per record, streamed or in a folder

On `-r spark` each is one pass of a Spark application run in this process
(driver/spark_app.py), as training is, with the same map work: mrjob's spark
runner cannot hand a csv series' whole files to a task (docs/design.md §4).

Both count bad records and stop past the checkpoint's --max-bad-fraction
(driver/bad_records.py), as training does.
"""
import sys

from mrjob.job import MRJob

from mr_rnn.data.routing import Routing
from mr_rnn.driver.bad_records import check_bad_fraction
from mr_rnn.driver.runner import run_job, stream_job, write_out
from mr_rnn.driver.spark_app import spark_app
from mr_rnn.errors import UserError
from mr_rnn.codec.wire import Packet
from mr_rnn.jobs.mr_evaluate import MREvaluate
from mr_rnn.jobs.mr_predict import MRPredict
from mr_rnn.inference.metrics import evaluation_metrics
from mr_rnn.model import Model
from mr_rnn.tasks import partitions
from mr_rnn.tasks.predict import TOP_K
from mr_rnn.tasks.totals import STATS_KEY


def evaluate(checkpoint, files, runner_args, window_state=None):
    """``metrics.evaluation_metrics`` of ``checkpoint`` on the data ``files``;
    ``window_state``: text windows scored that way (carry, reset), not as the
    checkpoint was trained (None)."""
    model = Model.load(checkpoint).with_window_state(window_state)
    app = spark_app(runner_args)
    if app:
        try:
            output = app.round(partitions.EVALUATE, model, Routing(), files, keep=False)
        finally:
            app.stop()
    else:
        output, _ = run_job(MREvaluate, MREvaluate.command_line(
            checkpoint, model.schema.format, files, window_state=window_state), runner_args)
    totals = dict(output).get(STATS_KEY, Packet())
    scalars = totals.scalars
    check_bad_fraction(scalars.get('bad', 0), scalars.get('records', 0),
                       scalars.get('examples', []), model.config.max_bad_fraction, 'evaluating')
    if not scalars.get('count'):
        raise UserError('no valid records in the input for this checkpoint: check the data')
    return evaluation_metrics(model, scalars, totals.arrays)


def predict(checkpoint, files, runner_args, say, top_k=TOP_K):
    """Run the predict job: its lines go to standard output, or to mrjob's
    --output-dir when ``runner_args`` name one; ``say`` gets the summary line;
    language models list the ``top_k`` most likely next tokens."""
    model = Model.load(checkpoint)
    output_dir = MRJob(args=list(runner_args)).options.output_dir     # mrjob's -o
    to_stdout = output_dir is None
    app = spark_app(runner_args)
    if app:
        try:
            stats = app.predict(model, files, top_k, lambda lines: write_out(
                sys.stdout, (line + '\n' for line in lines)), output_dir)
        finally:
            app.stop()
        records, bad = stats['records'], stats['bad']
    else:
        counters, output_dir = stream_job(
            MRPredict, MRPredict.command_line(checkpoint, model.schema.format, files,
                                              top_k=top_k),
            runner_args, sys.stdout if to_stdout else None)
        counters = counters.get('mr_rnn', {})
        records, bad = counters.get('records', 0), counters.get('bad_records', 0)
    where = 'standard output' if to_stdout else output_dir
    say(f'predict: {records} records, {bad} bad (lines with "error"), written to {where}')
    check_bad_fraction(bad, records, [], model.config.max_bad_fraction, 'predicting')
