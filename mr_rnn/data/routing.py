"""Where a record goes in a map task (docs/design.md §6): into the job's own
sums (training, or what evaluate measures), into the validation loss sums, or
nowhere.

    --val files       every record of them is validation data (with --val-fraction
                      too, only their held-out share)
    --val-fraction F  the held-out share of the inputs, decided per record by a
                      hash that depends on nothing but the record (data/sampling.py);
                      --split train / val picks the job's share, the other share
                      is validation data when the job measures it and no --val
                      files are given
    the round sample  --sample-fraction: of what is left, the records this round
                      trains on (jobs that train only)
"""
import posixpath
import re
from dataclasses import dataclass

from mr_rnn.data.sampling import in_sample

MAIN, VAL = 'main', 'val'
# the held-out share depends on nothing but the record: stable across runs and seeds
HELD_OUT_ITERATION, HELD_OUT_SEED = -1, 0x5EED
SPLITS = ('all', 'train', 'val')
UNNAMED = '?'       # what a runner that does not name a record's file gives
_URI = re.compile(r'^[A-Za-z][A-Za-z0-9+.-]*:(//[^/]*)?(?P<path>/.*)$')


@dataclass(frozen=True)
class Routing:
    """A job's options about which records it reads and measures."""
    split: str = 'all'          # with --val-fraction: the share this job reads
    with_val: bool = False      # also sum the loss of the validation records
    val_paths: tuple = ()       # --val files, as the driver names them
    val_names: tuple = ()       # their base names, where the runner uploads local files


def file_key(path):
    """One file's name as both the driver and a task see it: the path part of
    a URI. The driver names local files by absolute paths; tasks read them from
    mapreduce.map.input.file as given (mrjob's runners), or as file:/... and
    hdfs://host:port/... (Hadoop)."""
    match = _URI.match(path)
    return match.group('path') if match else path


class Router:
    """``route(key, file)`` -> MAIN, VAL or None, for one map task."""

    def __init__(self, routing, val_fraction, round_sample=None):
        """``round_sample`` (iteration, seed, fraction): the round's sample of the
        records a training job reads; None: every record."""
        self.routing, self.val_fraction, self.round_sample = routing, val_fraction, round_sample
        self.val_files = {file_key(p) for p in routing.val_paths}
        self._val_file_of = {}

    def route(self, key, file):
        r = self.routing
        if self.is_val_file(file):
            if not r.with_val:
                return None
            return VAL if not self.val_fraction or self.held_out(key) else None
        if self.val_fraction and r.split != 'all':
            held_out = self.held_out(key)
            if held_out != (r.split == 'val'):          # the other share
                return VAL if held_out and r.with_val and not self.val_files else None
        if self.round_sample is None or in_sample(key, *self.round_sample):
            return MAIN
        return None

    def route_unread(self, file):
        """Where a record without a key (a csv row that did not parse) is counted:
        by its file alone."""
        if self.is_val_file(file):
            return VAL if self.routing.with_val else None
        return MAIN

    def held_out(self, key):
        return in_sample(key, HELD_OUT_ITERATION, HELD_OUT_SEED, self.val_fraction)

    def is_val_file(self, file):
        if not self.val_files:
            return False
        if file == UNNAMED:
            # never guess: a validation record trained on would go unnoticed
            raise RuntimeError('this runner does not name the file a record comes from, so '
                               '--val files cannot be told apart: on Spark set '
                               'emulate_map_input_file: true in mrjob.conf, or use --val-fraction')
        if file not in self._val_file_of:       # once per file, not per record
            path = file_key(file)
            # or a local file that Hadoop (EMR, Dataproc) reads from the job's upload folder
            folder, name = posixpath.split(path)
            self._val_file_of[file] = path in self.val_files or (
                name in self.routing.val_names and posixpath.basename(folder) == 'files')
        return self._val_file_of[file]
