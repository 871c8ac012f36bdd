"""`-r spark`: one Spark application for the whole run (docs/design.md §4,
"One Spark application per run").

The driver process itself is the application's driver: pyspark starts
spark-submit (the JVM) as its child, with exactly the arguments mrjob's spark
runner would give it (mrjob.conf's `spark` section and the command line:
spark_master, spark_args, cmdenv, python_bin, -D jobconf;
jobs/mrjob_internals.spark_submit_settings). Then

    describe   the input read once, the describe pass's map, sum by key, reduce
    records    the input read and parsed once with the schema, cut into
               partitions of consecutive records (one map task each), kept in
               the executors (MEMORY_AND_DISK)
    each round the checkpoint's model broadcast; the round's map over every
               partition; packets summed by key (Spark's map-side combine and
               shuffle: a tree of combiners); the round's reduce per block;
               the blocks collected -> tasks/round.round_result, as from a job

The work is tasks/partitions.py's, which calls the same map, combine and reduce
functions as the MapReduce jobs (tasks/). Only this process writes into the run
folder; the executors return packets. When the process dies, however it dies,
the JVM reads the end of its stdin pipe and exits, and the application with it,
so no application outlives its driver to write anything.
"""
import atexit
import contextlib
import functools
import operator
import os
import shlex
import sys
import tempfile

from mr_rnn.data.readers import LINE_FORMATS
from mr_rnn.driver.job_failures import JobFailed, spark_failure_message
from mr_rnn.driver.runner import package_zip
from mr_rnn.jobs.mr_describe_data import MRDescribeData
from mr_rnn.jobs.mrjob_internals import spark_submit_settings
from mr_rnn.tasks import partitions


def spark_app(runner_args, retries=0, warn=None):
    """The run's SparkApp when ``runner_args`` choose `-r spark` in client
    mode, else None (the other runners, and a driver that must run inside the
    cluster, run one mrjob job per round)."""
    job = MRDescribeData(args=[*runner_args, '--format', 'text'])
    if job.options.runner != 'spark':
        return None
    settings = spark_submit_settings(MRDescribeData(args=[
        *runner_args, '--no-bootstrap-mrjob', '--py-files', package_zip(), '--format', 'text']))
    if settings[3] == 'cluster':
        return None
    return SparkApp(settings, retries, warn, verbose='-v' in runner_args
                    or '--verbose' in runner_args)


class SparkApp:
    def __init__(self, settings, retries=0, warn=None, verbose=False):
        self.submit, self.args, self.env, _ = settings
        self.retries, self.warn, self.verbose = retries, warn or print, verbose
        self.sc = None
        self.kept, self.kept_for = None, None

    # ── the application ──

    def context(self):
        if self.sc is not None:
            return self.sc
        try:
            from pyspark import SparkConf, SparkContext
            from pyspark.java_gateway import launch_gateway
        except ImportError:
            raise JobFailed("-r spark runs the Spark application in this process, which "
                            "needs pyspark (of the cluster's Spark version): "
                            "pip install -e '.[spark]'") from None
        home = os.path.dirname(os.path.dirname(os.path.realpath(self.submit[0])))
        env = {'PYSPARK_SUBMIT_ARGS': shlex.join([*self.args, 'pyspark-shell']),
               # the executors' Python: python_bin, as mrjob's runner sets it
               'PYSPARK_PYTHON': self.env.get('PYSPARK_PYTHON', sys.executable)}
        if os.path.exists(os.path.join(home, 'bin', 'spark-submit')):
            env['SPARK_HOME'] = home        # spark_submit_bin's installation
        if self.verbose:
            print(f'starting one Spark application (SparkContext) for the run: '
                  f'{shlex.join([*self.submit, *self.args])}', file=sys.stderr)
            log = None
        else:
            # Spark's own log (the JVM's stdout and stderr) goes to a file; -v shows it
            fd, self.log_path = tempfile.mkstemp(prefix='mr_rnn-spark-', suffix='.log')
            log = os.fdopen(fd, 'wb')
            atexit.register(_remove, self.log_path)
        with _environ(env):
            try:
                gateway = launch_gateway(popen_kwargs=None if log is None
                                         else {'stdout': log, 'stderr': log})
                self.sc = SparkContext(gateway=gateway,
                                       conf=SparkConf().setAppName('mr-rnn train'))
            except Exception as e:
                where = '' if log is None else f' (Spark\'s log: {self.log_path})'
                raise JobFailed(f'the Spark application did not start: {type(e).__name__}: '
                                f'{str(e).strip().splitlines()[0] if str(e).strip() else ""}'
                                f'{where}') from e
        if not self.verbose:
            self.sc.setLogLevel('ERROR')
        atexit.register(self.stop)
        return self.sc

    def stop(self):
        if self.sc is not None:
            self.sc.stop()
            self.sc = None

    def run(self, name, action, retries=None):
        """``action()`` (a Spark action), retried as a failed job is
        (--job-retries, or ``retries``); a failure as one line naming ``name``."""
        retries = self.retries if retries is None else retries
        for attempt in range(retries + 1):
            try:
                try:
                    return action()
                except JobFailed:
                    raise
                except Exception as e:
                    raise JobFailed(spark_failure_message(name, e)) from e
            except JobFailed as e:
                if attempt == retries:
                    raise
                self.warn(f'{str(e).rstrip(".")}; running it again '
                          f'(retry {attempt + 1} of {self.retries})')

    # ── the input ──

    def items(self, files, fmt):
        """Every input file as items (tasks/partitions.py): text and jsonl a
        line each, with its index in its file; csv a whole file each."""
        sc = self.context()
        rdds = []
        for f in files:
            if fmt in LINE_FORMATS:
                rdd = sc.textFile(f, use_unicode=False).zipWithIndex() \
                    .map(functools.partial(partitions.line_item, f))
            else:
                rdd = sc.binaryFiles(f).map(functools.partial(partitions.file_item, f))
            rdds.append(rdd)
        return sc.union(rdds)

    def describe(self, fmt, files, max_ids, data):
        """The describe pass -> its output pairs, as MRDescribeData's."""
        def action():
            parts = self.context().defaultParallelism
            return self.items(files, fmt) \
                .mapPartitions(functools.partial(partitions.describe_map, fmt, max_ids, data)) \
                .reduceByKey(partitions.describe_add, parts) \
                .mapPartitions(functools.partial(partitions.describe_reduce, fmt, data)) \
                .collect()
        return self.run(partitions.DESCRIBE, action)

    def records(self, model, files):
        """The run's records, read with ``model``'s schema, in partitions of
        consecutive records, kept in the executors: built once per run."""
        wanted = (tuple(files), model.schema, model.config.data)
        if self.kept_for == wanted:
            return self.kept
        from pyspark import StorageLevel
        sc = self.context()
        if self.kept is not None:
            self.kept.unpersist()
        items = self.items(files, model.schema.format).persist(StorageLevel.MEMORY_AND_DISK)
        counts = items.mapPartitions(partitions.count).collect()
        starts = [sum(counts[:i]) for i in range(len(counts))]
        parts, total = sc.defaultParallelism, sum(counts)
        kept = items.mapPartitionsWithIndex(functools.partial(partitions.numbered, starts)) \
            .repartitionAndSortWithinPartitions(
                parts, functools.partial(partitions.contiguous, parts, total)) \
            .map(operator.itemgetter(1)) \
            .mapPartitions(functools.partial(partitions.parse, model.schema, model.config.data)) \
            .persist(StorageLevel.MEMORY_AND_DISK)
        kept.count()                    # read and parsed now, once
        items.unpersist()
        self.kept, self.kept_for = kept, wanted
        return kept

    # ── a round ──

    def round(self, name, model, routing, files, global_norm=False, keep=True):
        """One round's (or the final evaluation's) output pairs on checkpoint
        ``model``: {key: Packet} as the job ``name`` would give them. Without
        ``keep`` (a single pass: `mr-rnn evaluate`) the records are read as
        they come, neither numbered, cut into runs nor kept."""
        def action():
            if keep:
                kept = self.records(model, files)
            else:
                kept = self.items(files, model.schema.format).mapPartitions(
                    functools.partial(partitions.parse, model.schema, model.config.data))
            sc = self.context()
            weights = sc.broadcast(model)
            try:
                parts = sc.defaultParallelism
                pairs = kept.mapPartitions(functools.partial(partitions.round_map, name,
                                                             weights, routing))
                steps = partitions.reduces(name, global_norm)
                for step in steps:
                    pairs = pairs.reduceByKey(partitions.add_two, parts).mapPartitions(
                        functools.partial(partitions.round_reduce, name, step, weights))
                if not steps:
                    pairs = pairs.reduceByKey(partitions.add_two, parts)
                return pairs.collect()
            finally:
                weights.destroy()
        return self.run(name, action)

    # ── scoring with a trained checkpoint ──

    def predict(self, model, files, top_k, write_lines=None, output_dir=None):
        """MRPredict's lines of ``files`` with checkpoint ``model``: given to
        ``write_lines`` as an iterator in input order, or written to
        ``output_dir`` as part files (Spark's saveAsTextFile, as mrjob's spark
        runner writes them). The lines are
        computed and kept first, so a retried pass never writes a line twice.
        -> the task stats summed: {'records': n, 'bad': m}."""
        from pyspark import StorageLevel
        sc = self.context()
        weights = sc.broadcast(model)
        scored = self.items(files, model.schema.format).mapPartitions(
            functools.partial(partitions.predict_map, weights, top_k)) \
            .persist(StorageLevel.MEMORY_AND_DISK)
        try:
            stats = self.run(partitions.PREDICT,
                             lambda: scored.filter(partitions.is_stats).values().collect())
            lines = scored.filter(partitions.is_line).values()

            def write():
                if output_dir is not None:
                    lines.saveAsTextFile(output_dir)
                    return
                write_lines(lines.toLocalIterator())
            # written lines cannot be taken back: never run twice
            self.run(partitions.PREDICT, write, retries=0)
        finally:
            scored.unpersist()
            weights.destroy()
        return {key: sum(s[key] for s in stats) for key in ('records', 'bad')}


@contextlib.contextmanager
def _environ(values):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _remove(path):
    with contextlib.suppress(OSError):
        os.remove(path)
