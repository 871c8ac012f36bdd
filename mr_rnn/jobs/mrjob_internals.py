"""Every use of mrjob's private names, in one place (docs/design.md §7).

mrjob has no public switch for what mr_rnn needs of it here, so this module
overrides or calls private methods of its classes; nothing else in mr_rnn or
its tests may (tests/test_mrjob_internals.py greps both, and checks mrjob's
version and that every name below still exists). ``PRIVATE_NAMES`` lists them.
setup.cfg pins mrjob to the minor version the tests run; docs/design.md §7
says what to check before raising the pin.

    a job's runner class     RunnerChoice._runner_class: one place decides it
      inline, gradient job   one map task per input file           (WholeFiles)
      inline/local, average  one map task per core, pieces joined  (SplitPerCore)
      every runner but inline  one BLAS thread per task by default (OneBlasThread)
      local                  reduce tasks by size, at most one per core (ReducersBySize)
      hadoop                 a round's fixed cost cut: Hadoop settings for small jobs,
                             one `hadoop fs` upload, one output read (HadoopRound)
    a task's arguments       add_task_args: mrjob's own task options only
    a Spark application      spark_submit_settings: what mrjob's spark runner would
                             give spark-submit, for the application of a run
    tests                    map_task_count, task_count, mrjob_splits
"""
import functools
import json
import os
import posixpath
import re
import shutil
import subprocess
import tempfile

from mrjob.cat import is_compressed
from mrjob.parse import is_uri
from mrjob.compat import jobconf_from_env
from mrjob.job import MRJob
from mrjob.options import _add_basic_args, _add_job_args, _add_step_args
from mrjob.sim import _split_records

from mr_rnn.data.task_input import Piece

# the pieces one joined split is made of: [[file, start byte, lines], ...]
SEGMENTS = 'mr_rnn.map.input.segments'
# BLAS reads these when it loads, in the task's process
BLAS_THREAD_VARS = ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS')
WHOLE_FILES, PER_CORE = 'file', 'core'
# the least sorted reduce input (bytes) worth a reduce task of its own on the
# local runner: a task is a Python process whose start (numpy, mrjob, mr_rnn)
# costs half a second to a second, and a reduce task gets through about 70 MB
# of packets a second (decoded, added, an Adam step, encoded: measured on two
# cores, bench/LOCAL_ROUND.md); below this, one more task saves less than it costs
MIN_REDUCE_INPUT = 64 << 20

# (owner, name) of every private name of mrjob used below; the attributes a
# runner sets on itself (_opts, _upload_mgr, _working_dir_mgr) are not class
# names, so only the Hadoop tests' jobs check them
PRIVATE_NAMES = (
    ('mrjob.job.MRJob', '_runner_class'),
    ('mrjob.options', '_add_basic_args'),
    ('mrjob.options', '_add_job_args'),
    ('mrjob.options', '_add_step_args'),
    ('mrjob.runner.MRJobRunner', '_cmdenv'),
    ('mrjob.runner.MRJobRunner', '_spark_deploy_mode'),
    ('mrjob.bin.MRJobBinRunner', '_spark_submit_args'),
    ('mrjob.bin.MRJobBinRunner', '_spark_cmdenv'),
    ('mrjob.spark.runner.SparkMRJobRunner', '_create_job_script_zip'),
    ('mrjob.runner.MRJobRunner', '_uses_input_manifest'),
    ('mrjob.sim.SimMRJobRunner', '_pick_mapper_split_size'),
    ('mrjob.sim.SimMRJobRunner', '_split_mapper_input'),
    ('mrjob.sim.SimMRJobRunner', '_simulate_jobconf_for_step'),
    ('mrjob.sim.SimMRJobRunner', '_num_mappers'),
    ('mrjob.sim.SimMRJobRunner', '_num_reducers'),
    ('mrjob.sim.SimMRJobRunner', '_task_input_path'),
    ('mrjob.sim.SimMRJobRunner', '_task_stderr_paths_glob'),
    ('mrjob.sim.SimMRJobRunner', '_split_reducer_input'),
    ('mrjob.sim.SimMRJobRunner', '_sorted_reducer_input_path'),
    ('mrjob.sim', '_split_records'),
    ('mrjob.runner.MRJobRunner', '_default_opts'),
    ('mrjob.runner.MRJobRunner', '_upload_local_files'),
    ('mrjob.runner.MRJobRunner', '_wd_mirror'),
    ('mrjob.runner.MRJobRunner', '_dest_in_wd_mirror'),
    ('mrjob.runner.MRJobRunner', '_get_local_tmp_dir'),
)


def add_task_args(parser):
    """A task's command line has mrjob's own task options only. Every task
    makes a new job (inline: six a round, in the driver's process), and
    mrjob's ~120 runner options, which only the job that makes the runner
    reads, are most of what that costs."""
    parser.add_argument(dest='args', nargs='*')
    _add_basic_args(parser)
    _add_job_args(parser)
    _add_step_args(parser, include_deprecated=True)


class RunnerChoice(MRJob):
    """A job whose runner class is mrjob's, adapted by ``SPLITS`` (how the
    local runners cut the input into map tasks) and the task environment."""
    SPLITS = None           # None: mrjob's; WHOLE_FILES (inline); PER_CORE (inline, local)

    def _runner_class(self):
        return adapted_runner(MRJob._runner_class(self), self.SPLITS)


@functools.lru_cache(maxsize=None)
def adapted_runner(runner_class, splits):
    alias = runner_class.alias
    adapted = runner_class
    if alias != 'inline':
        adapted = _one_blas_thread(adapted)
    if alias == 'local':
        adapted = _reducers_by_size(adapted)
    if alias == 'hadoop':
        adapted = _hadoop_round(adapted)
    if splits == WHOLE_FILES and alias == 'inline':
        adapted = _whole_files(adapted)
    elif splits == PER_CORE and alias in ('inline', 'local'):
        adapted = _split_per_core(adapted)
    return adapted


def _named_like(adapted, runner_class):
    adapted.__name__ = adapted.__qualname__ = runner_class.__name__
    return adapted


def _one_blas_thread(runner_class):
    """Tasks get OMP/OPENBLAS/MKL_NUM_THREADS=1 unless the cmdenv from
    mrjob.conf or --cmdenv sets any of them (then that wins whole: OpenBLAS
    prefers OPENBLAS_NUM_THREADS to OMP_NUM_THREADS, so a user's
    OMP_NUM_THREADS=4 beside our OPENBLAS_NUM_THREADS=1 would do nothing).
    Every runner but inline runs a task per core or vcore, and each task's
    BLAS would otherwise start a thread per core on cores the others use."""

    class OneBlasThread(runner_class):
        def _cmdenv(self):
            env = super()._cmdenv()
            if any(var in env for var in BLAS_THREAD_VARS):
                return env
            return {**dict.fromkeys(BLAS_THREAD_VARS, '1'), **env}

    return _named_like(OneBlasThread, runner_class)


def _reducers_by_size(runner_class):
    """The sorted reduce input cut into at most one task per core, each of
    at least MIN_REDUCE_INPUT bytes, so a small model's round has one reduce
    task. mrjob's local runner aims at two per core whatever the size: a
    tiny model's seven keys made three reduce tasks, three process starts in
    two waves. A key's values all go to one task, in the order mrjob sorted
    them, whatever the number of tasks, so no result changes."""

    class ReducersBySize(runner_class):
        def _split_reducer_input(self, step_num):
            path = self._sorted_reducer_input_path(step_num)
            size = os.path.getsize(path)
            tasks = max(1, min(self._num_reducers(step_num), size // MIN_REDUCE_INPUT))
            count = 0
            with open(path, 'rb') as src:
                # a new task at the first new key once a task has size / tasks bytes
                for records in _split_records(src, -(-size // tasks),
                                              lambda line: line.split(b'\t')[0]):
                    task_input = self._task_input_path('reducer', step_num, count)
                    os.makedirs(os.path.dirname(task_input), exist_ok=True)
                    with open(task_input, 'wb') as dest:
                        dest.writelines(records)
                    count += 1
            return count

    return _named_like(ReducersBySize, runner_class)


# how `hadoop fs -put` says the folder to put into is missing
_NO_SUCH_DIR = re.compile(rb'.*No such file or directory', re.DOTALL)

# Hadoop settings of every mr_rnn job on -r hadoop, below the user's: mrjob.conf's
# jobconf and -D override any of them (docs/design.md §7, "Hadoop settings").
HADOOP_JOBCONF = {
    # a job whose input fits ubertask.maxbytes runs its tasks inside the
    # ApplicationMaster's container, one after another: no container per
    # task, about half of a tiny round on the tests' cluster (docs/running-on-
    # hadoop.md, "Hadoop settings for small rounds"). A bigger input runs as
    # before, its tasks side by side, where they share more work than a
    # container's start costs. Hadoop itself keeps a job with more than one
    # reducer, or tasks asking more memory than the AM has, out of it.
    'mapreduce.job.ubertask.enable': 'true',
    'mapreduce.job.ubertask.maxbytes': str(1 << 20),
    # the client asks the ApplicationMaster for the job's state every
    # second by default; the round waits for that answer
    'mapreduce.client.progressmonitor.pollinterval': '250',
    # the output is read back with one `hadoop fs -cat` of its part files
    # (HadoopRound.cat_output), which does not decompress
    'mapreduce.output.fileoutputformat.compress': 'false',
}


def _hadoop_round(runner_class):
    """A round on Hadoop pays for every `hadoop fs` call mrjob makes (a JVM
    start, about a second each) besides the job itself. mrjob makes
    thirteen on a tiny round (tests/hadoop/NOTES.md): a check that the input
    exists (the driver listed it already), mkdirs and a put per file, two
    calls to read the output. Here the job's
    files go up in one put of a local folder of links, and the output comes
    back in one cat; defaults of HADOOP_JOBCONF make a small job one
    container (docs/design.md §7, "Hadoop settings")."""

    class HadoopRound(runner_class):
        @classmethod
        def _default_opts(cls):
            opts = super()._default_opts()
            return {**opts, 'check_input_paths': False,
                    'jobconf': {**HADOOP_JOBCONF, **(opts.get('jobconf') or {})}}

        def _upload_local_files(self):
            files = self._files_to_upload()
            if files is None:
                return super()._upload_local_files()
            job_dir = posixpath.dirname(self._upload_mgr.prefix.rstrip('/'))
            stage = tempfile.mkdtemp(dir=self._get_local_tmp_dir(), prefix='upload-')
            top = os.path.join(stage, posixpath.basename(job_dir))
            for src, dest in files:
                link = os.path.join(top, *dest[len(job_dir) + 1:].split('/'))
                os.makedirs(os.path.dirname(link), exist_ok=True)
                os.symlink(os.path.abspath(src), link)
            # `hadoop fs -put` follows the links; as with cp, the folder
            # becomes job_dir, which is new (mrjob names it by the time)
            put = ['fs', '-put', top, job_dir]
            hadoop = self.fs.hadoop
            if hadoop.invoke_hadoop(put, ok_stderr=[_NO_SUCH_DIR]):
                # the first job: the scratch dir itself is not there yet
                hadoop.mkdir(posixpath.dirname(job_dir))
                hadoop.invoke_hadoop(put)

        def _files_to_upload(self):
            """[(local path, its URI)] of what mrjob would upload, or None
            where the one-put folder cannot hold it (a URI to copy, a name
            outside the job's folder)."""
            if not (self._upload_mgr and self._wd_mirror()):
                return None
            files = []
            for kind in ('file', 'archive_file'):
                for name, path in sorted(self._working_dir_mgr.name_to_path(kind).items()):
                    dest = self._dest_in_wd_mirror(path, name)
                    if dest:
                        files.append((path, dest))
            files += sorted(self._upload_mgr.path_to_uri().items())
            job_dir = posixpath.dirname(self._upload_mgr.prefix.rstrip('/')) + '/'
            if any(is_uri(src) or not dest.startswith(job_dir) for src, dest in files):
                return None
            return files

        def cat_output(self):
            """The part files in one `hadoop fs -cat` (mrjob lists the output
            dir, then cats each file: a JVM each), unless the output may be
            compressed, which mrjob's way decompresses."""
            output_dir = self.get_output_dir()
            compress = str(self._opts['jobconf'].get(
                'mapreduce.output.fileoutputformat.compress', 'false')).lower()
            if output_dir is None or not is_uri(output_dir) or compress != 'false':
                yield from super().cat_output()
                return
            args = self.get_hadoop_bin() + ['fs', '-cat', posixpath.join(output_dir, 'part-*')]
            with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as cat:
                yield from iter(functools.partial(cat.stdout.read, 1 << 16), b'')
                error = cat.stderr.read().decode('utf-8', 'replace').strip()
                if cat.wait():
                    raise IOError(f'could not read {output_dir}: {error[-500:]}')

    return _named_like(HadoopRound, runner_class)


def _whole_files(runner_class):
    """One input split per file: mrjob's inline runner would cut a file in two
    even for one core (it aims at two splits per core; docs/design.md §7)."""

    class WholeFiles(runner_class):
        def _pick_mapper_split_size(self, input_paths, step_num):
            return 1 << 62

    return _named_like(WholeFiles, runner_class)


def _split_per_core(runner_class):
    """The uncompressed line input as one map task per core: consecutive pieces
    of the files (cut at lines, as mrjob cuts them) joined into splits of about
    equal size (docs/design.md §5). A gzip file stays one map task of its own,
    as on Hadoop, so a split fixed with gzip part files stays fixed. Whole-file
    input (csv) is left to mrjob."""

    class SplitPerCore(runner_class):
        def _split_mapper_input(self, input_paths, step_num):
            splits = super()._split_mapper_input(input_paths, step_num)
            if step_num == 0 and self._uses_input_manifest():
                return splits
            return _join_pieces(self, splits, step_num, self._num_mappers(step_num))

        def _simulate_jobconf_for_step(self, task_type, step_num, task_num, map_split=None):
            jobconf = super()._simulate_jobconf_for_step(task_type, step_num, task_num, map_split)
            if map_split and 'segments' in map_split:
                jobconf[SEGMENTS] = json.dumps(map_split['segments'])
            return jobconf

    return _named_like(SplitPerCore, runner_class)


def _join_pieces(runner, splits, step_num, cores):
    """mrjob's splits (their input files already written, task i's at its
    input path) -> at most ``cores`` joined splits of the uncompressed pieces,
    in input order, then each compressed file's split as it was."""
    def path(i):
        return runner._task_input_path('mapper', step_num, i)

    plain = [i for i, s in enumerate(splits) if not is_compressed(s['file'])]
    if len(plain) <= cores:
        return splits
    sizes = [os.path.getsize(path(i)) for i in plain]
    total = max(sum(sizes), 1)
    groups, done = [[] for _ in range(cores)], 0
    for i, size in zip(plain, sizes):
        # by the middle of the piece, so that every group gets about total/cores
        groups[min(cores - 1, (2 * done + size) * cores // (2 * total))].append(i)
        done += size
    groups = [g for g in groups if g]
    for i in range(len(splits)):            # out of the way of the joined files
        os.replace(path(i), path(i) + '.piece')
    joined = []
    for g in groups:
        with open(path(len(joined)), 'wb') as out:
            segments = [[splits[i]['file'], splits[i]['start'],
                         _move_lines(path(i) + '.piece', out)] for i in g]
        joined.append(dict(splits[g[0]], length=sum(splits[i]['length'] for i in g),
                           segments=segments))
    for i in (i for i, s in enumerate(splits) if is_compressed(s['file'])):
        os.replace(path(i) + '.piece', path(len(joined)))
        joined.append(splits[i])
    for i in range(len(joined), len(splits)):
        shutil.rmtree(os.path.dirname(path(i)), ignore_errors=True)
    return joined


def _move_lines(piece, out):
    """Append the file ``piece`` to ``out`` in chunks (a piece may be large),
    ending with a newline so that its last line cannot run into the next
    piece's first; remove it. -> its number of lines."""
    lines, last = 0, b'\n'
    with open(piece, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            out.write(chunk)
            lines += chunk.count(b'\n')
            last = chunk[-1:]
    if last != b'\n':
        out.write(b'\n')
        lines += 1
    os.remove(piece)
    return lines


def input_pieces():
    """In a map task: the pieces of its split in order (data/task_input.Piece);
    one piece of unknown length unless the split was joined."""
    joined = jobconf_from_env(SEGMENTS, None)
    if joined:
        return [Piece(*s) for s in json.loads(joined)]
    return [Piece(jobconf_from_env('mapreduce.map.input.file', '?'),
                  int(jobconf_from_env('mapreduce.map.input.start', '0') or 0), None)]


def spark_submit_settings(job):
    """What mrjob's spark runner gives spark-submit for ``job``'s first step,
    from the mrjob.conf ``spark`` section and the command line alike:
    (the spark-submit command as a list, its arguments (--conf of the
    executors' environment and -D jobconf, --master, --deploy-mode, --py-files,
    spark_args), the executors' environment (PYSPARK_PYTHON from python_bin,
    cmdenv, with the BLAS thread default of OneBlasThread), the deploy mode).
    mrjob has no public way to read them; the run's Spark application
    (driver/spark_app.py) is started with exactly these (docs/design.md §4)."""
    runner = job.make_runner()
    try:
        settings = (list(runner.get_spark_submit_bin()), list(runner._spark_submit_args(0)),
                    dict(runner._spark_cmdenv(0)), runner._spark_deploy_mode())
        # the zip of the job's script, which the application does not run: only the
        # package zip and the user's py_files are shipped
        script_zip = runner._create_job_script_zip()
    finally:
        runner.cleanup()
    shutil.rmtree(os.path.dirname(script_zip), ignore_errors=True)
    args = settings[1]
    if '--py-files' in args:
        at = args.index('--py-files') + 1
        kept = [p for p in args[at].split(',') if p != script_zip]
        args[at - 1:at + 1] = ['--py-files', ','.join(kept)] if kept else []
    return settings


# ── for the tests: what mrjob itself would do, and what a runner did ──

def map_task_count(runner):
    """How many map tasks of step 0 a local runner (inline, local) ran."""
    return task_count(runner, 'mapper')


def task_count(runner, task_type):
    """How many ``task_type`` ('mapper', 'combiner', 'reducer') tasks of step 0
    a local runner (inline, local) ran."""
    return len(list(runner.fs.ls(runner._task_stderr_paths_glob(task_type, 0))))


def mrjob_splits(runner, input_paths):
    """The input splits a local runner makes of ``input_paths`` for step 0."""
    return runner._split_mapper_input(input_paths, 0)
