"""How mrjob's own runners (inline, local) cut the input into map tasks.

mrjob's sim runners aim at two input splits per core, and cut an uncompressed
file to get there; Hadoop and Spark decide their splits themselves and are not
touched here. Each class below subclasses the runner mrjob picked and overrides
a private method of mrjob's sim runner (there is no public switch; mrjob's own
TODO reads "look up mapred.job.maps"). tests/test_splits.py and
tests/test_threads.py check the task counts these give where mrjob's would
differ, so an mrjob upgrade that breaks an override fails a test rather than
silently changing the splits.
"""
import functools
import json
import os
import shutil

from mrjob.cat import is_compressed
from mrjob.compat import jobconf_from_env

# the pieces one joined split is made of: [[file, start byte, lines], ...]
SEGMENTS = 'mr_rnn.map.input.segments'


@functools.lru_cache(maxsize=None)
def whole_files(runner_class):
    """``runner_class`` with one input split per file (gradient mode, inline:
    docs/design.md §7)."""

    class WholeFiles(runner_class):
        def _pick_mapper_split_size(self, input_paths, step_num):
            return 1 << 62

    WholeFiles.__name__ = WholeFiles.__qualname__ = runner_class.__name__
    return WholeFiles


@functools.lru_cache(maxsize=None)
def split_per_core(runner_class):
    """``runner_class`` whose uncompressed line input becomes one map task per
    core: consecutive pieces of the files (cut at lines, as mrjob cuts them)
    joined into splits of about equal size. Average mode averages one model
    per map task, and on one machine more models than cores add no
    parallelism but cost learning per round (docs/design.md §5). A gzip file
    stays one map task of its own, as on Hadoop, so a split fixed with gzip
    part files stays fixed. Whole-file input (csv) is left to mrjob."""

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

    SplitPerCore.__name__ = SplitPerCore.__qualname__ = runner_class.__name__
    return SplitPerCore


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


def input_segments():
    """In a map task: [(file, start byte, lines or None), ...], the pieces of
    its split in order; one piece of unknown length unless the split was joined."""
    joined = jobconf_from_env(SEGMENTS, None)
    if joined:
        return [tuple(s) for s in json.loads(joined)]
    return [(jobconf_from_env('mapreduce.map.input.file', '?'),
             int(jobconf_from_env('mapreduce.map.input.start', '0') or 0), None)]
