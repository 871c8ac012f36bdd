"""Input paths as Hadoop reads them, and the record format their names say.

A user names folders, globs and URIs; the jobs get the data files they
stand for, listed once by the driver through mrjob's filesystem (the
runner's, so hdfs:// and s3:// paths list as they will be read). Like
Hadoop's FileInputFormat, names that start with ``_`` or ``.`` are not data
(``_SUCCESS``, ``_logs/``, ``.part-00000.crc``) and are skipped, so a folder
another job wrote reads the same on every runner -- mrjob's inline and local
runners would otherwise read them as records.

Compressed files (``.gz``, ``.bz2``) are read decompressed by every runner:
Hadoop by its codecs, mrjob's inline and local runners by mrjob.cat, csv
series (one whole file per map task) by jobs/base.py.
"""
import glob
import os
import re
from dataclasses import dataclass

from mr_rnn.config import ConfigError
from mr_rnn.data.routing import Routing

COMPRESSED = ('.gz', '.bz2')
EXTENSIONS = {'.jsonl': 'jsonl', '.json': 'jsonl', '.csv': 'csv', '.tsv': 'csv', '.txt': 'text'}
_GLOB = re.compile(r'[*?\[{]')
_SHOWN = 5      # files named in a message


def is_uri(path):
    return '://' in path


def filesystem(paths, runner_args):
    """mrjob's filesystem for these paths: the local one when they are all
    local, else the one of the runner the jobs will use (hdfs://, s3://, ...)."""
    from mrjob.fs.local import LocalFilesystem
    if not any(is_uri(p) for p in paths):
        return LocalFilesystem()
    from mr_rnn.jobs.mr_describe_data import MRDescribeData
    job = MRDescribeData(args=[*runner_args, '--format', 'text'])
    return job.make_runner().fs


def runner_name(runner_args):
    from mr_rnn.jobs.mr_describe_data import MRDescribeData
    return MRDescribeData(args=[*runner_args, '--format', 'text']).options.runner or 'inline'


def uploads_local_files(runner_args):
    """Does the runner copy local input files elsewhere before tasks read them
    (Hadoop, EMR, Dataproc: under their base names, into an upload folder)?
    mrjob's inline, local and Spark runners read them where they are."""
    return runner_name(runner_args) in ('hadoop', 'emr', 'dataproc')


def check_upload_names(files, val_files):
    """Tasks tell an uploaded validation file by its base name, which mrjob
    keeps unless two local files share it (it renames one): refuse that."""
    seen = {}
    for f in [*files, *val_files]:
        if is_uri(f):
            continue
        name = os.path.basename(f)
        if name in seen and seen[name] != f and (f in val_files or seen[name] in val_files):
            raise ConfigError(
                f'{seen[name]} and {f} have the same name, and this runner uploads local '
                'files under their names, so its tasks cannot tell training from validation '
                'data: rename one, or put the data on the cluster (hdfs://...) first')
        seen[name] = f


def check_local(paths, what='input'):
    """Fail at once on a local path that names nothing; URIs (hdfs://, s3://,
    ...) are the runner's to check."""
    for path in paths:
        if not is_uri(path) and not glob.glob(path):
            raise ConfigError(f'{what} path {path!r} does not exist: check the path')


def data_files(paths, runner_args):
    """Folders, globs and URIs -> the data files, skipping _* and .* as Hadoop does."""
    check_local(paths)
    return expand(paths, filesystem(paths, runner_args))


def expand(paths, fs, what='input'):
    """The data files behind ``paths`` (files, folders, globs, URIs), in the
    order given and sorted within each; hidden and underscore names skipped;
    local files as absolute paths."""
    files, seen = [], set()
    for path in paths:
        try:
            found = sorted(fs.ls(path))
        except (IOError, OSError) as e:
            raise ConfigError(f'cannot list {what} path {path!r}: {e}') from None
        kept = [f for f in found if not _hidden(f, path)]
        if not found:
            raise ConfigError(f'{what} path {path!r} does not exist: check the path')
        if not kept:
            raise ConfigError(f'{what} path {path!r} holds no data files, only '
                              f'{_names(found)} (names starting with _ or . are not data, '
                              'as in Hadoop)')
        for f in kept:
            # absolute: a task (mapreduce.map.input.file) names the same file
            # from whatever folder it runs in
            f = f if is_uri(f) else os.path.abspath(f)
            if f not in seen:
                seen.add(f)
                files.append(f)
    return files


def _hidden(file, given):
    """Does a name below the part of ``given`` without wildcards start with _ or .?"""
    parts = given.rstrip('/').split('/')
    fixed = next((i for i, p in enumerate(parts) if _GLOB.search(p)), len(parts))
    root = '/'.join(parts[:fixed])
    below = file[len(root) + 1:] if file.startswith(root + '/') else os.path.basename(file)
    names = [n for n in below.split('/') if n] or [os.path.basename(file)]
    return any(n.startswith(('_', '.')) for n in names)


def format_of(files, given=None):
    """--format if given, else the one format every file's extension names,
    looking through .gz and .bz2."""
    if given:
        return given
    by_format, unknown = {}, []
    for f in files:
        fmt = EXTENSIONS.get(data_extension(f))
        if fmt is None:
            unknown.append(f)
        else:
            by_format.setdefault(fmt, []).append(f)
    if unknown:
        raise ConfigError(f'cannot tell the input format of {_names(unknown)} from '
                          f'{"its name" if len(unknown) == 1 else "their names"} (.txt, .jsonl, '
                          '.json, .csv or .tsv, optionally .gz or .bz2): add --format text, jsonl '
                          'or csv')
    if len(by_format) > 1:
        mixed = '; '.join(f'{fmt}: {_names(fs)}' for fmt, fs in sorted(by_format.items()))
        raise ConfigError(f'the inputs mix formats ({mixed}): give files of one format, or '
                          'choose one with --format')
    if not by_format:
        raise ConfigError('no input files: name the training data')
    return by_format.popitem()[0]


def data_extension(path):
    """'.jsonl' for part-0.jsonl and part-0.jsonl.gz; '' for part-00000."""
    name = os.path.basename(path.rstrip('/')).lower()
    for suffix in COMPRESSED:
        if name.endswith(suffix):
            name = name[:-len(suffix)]
    return os.path.splitext(name)[1]


def _names(files):
    shown = ', '.join(files[:_SHOWN])
    return shown + (f' and {len(files) - _SHOWN} more' if len(files) > _SHOWN else '')


@dataclass(frozen=True)
class Inputs:
    """A run's data files, listed once, and what the jobs need to tell
    training from validation records (docs/design.md §6)."""
    files: tuple                # training data files
    val_files: tuple            # --val data files
    val_names: tuple            # base names of local --val files the runner uploads

    def routing(self, config):
        """How a training round's (or the final evaluation's) tasks route records."""
        return Routing(split='train' if config.val_fraction > 0 else 'all',
                       with_val=bool(self.val_files or config.val_fraction),
                       val_paths=self.val_files, val_names=self.val_names)


def list_inputs(inputs, val, runner_args):
    """The data files behind the paths given (folders, globs, URIs), for a run
    on ``runner_args`` (to which Spark's file naming is added when --val files
    need it)."""
    fs = filesystem([*inputs, *val], runner_args)
    files, val_files = expand(inputs, fs), expand(val, fs, 'validation')
    both = [f for f in val_files if f in set(files)]
    if both:
        # a task tells validation records by their file: one file cannot be both
        raise ConfigError(f'{both[0]} is both training and validation data: '
                          'give --val files that are not among the inputs, or use '
                          '--val-fraction to hold out a share of the inputs')
    val_names = ()
    if val_files and runner_name(runner_args) == 'spark' and \
            '--emulate-map-input-file' not in runner_args:
        # Spark's tasks name a record's file only when asked to
        runner_args.append('--emulate-map-input-file')
    if val_files and uploads_local_files(runner_args):
        check_upload_names(files, val_files)
        val_names = tuple(os.path.basename(f) for f in val_files if not is_uri(f))
    return Inputs(tuple(files), tuple(val_files), val_names)
