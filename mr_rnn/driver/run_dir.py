"""The run directory (docs/design.md §3.5)::

    RUN_DIR/config.json          configuration, inputs, runner
    RUN_DIR/metrics.jsonl        one line per checkpoint: line k describes iter-k
    RUN_DIR/checkpoints/iter-NNNNNN.npz
    RUN_DIR/final.npz, best.npz
    RUN_DIR/loss.png             when matplotlib is installed
"""
import glob
import json
import os
import re
import shutil

from mr_rnn.codec.checkpoint import CheckpointError, write_atomic
from mr_rnn.errors import MrRnnError
from mr_rnn.model import Model


# resume needs the newest checkpoint and a diverged round the one before it; a
# few more leave room to go back by hand, and disk use stays at N + 2 files
KEEP_CHECKPOINTS = 5


def check_keep_checkpoints(keep):
    """--keep-checkpoints: 0 keeps every checkpoint; 1 would leave a diverged
    round nothing to go back to (docs/design.md §8.4)."""
    if type(keep) is not int or keep < 0 or keep == 1:
        raise RunDirError('--keep-checkpoints must be 0 (keep all) or at least 2: a '
                          'diverged round goes back to the checkpoint before the newest')


# a run's model, for the commands that use one: its best weights, else its last
MODEL_FILES = ('best.npz', 'final.npz')


class RunDirError(MrRnnError):
    """A run directory that cannot be used as asked; the message says why and what to do."""


class RunDir:
    def __init__(self, path):
        self.path = path
        self.checkpoints = os.path.join(path, 'checkpoints')
        self.metrics_path = os.path.join(path, 'metrics.jsonl')
        self.config_path = os.path.join(path, 'config.json')

    def model_files(self):
        """The files that may hold the run's model, in the order to try them."""
        return [os.path.join(self.path, name) for name in MODEL_FILES]

    def checkpoint_path(self, iteration):
        if type(iteration) is not int or iteration < 0:    # never a path from a file's say-so
            raise RunDirError(f'{iteration!r} is not an iteration number')
        return os.path.join(self.checkpoints, f'iter-{iteration:06d}.npz')

    def create(self, description):
        if glob.glob(os.path.join(self.checkpoints, 'iter-*.npz')):
            raise RunDirError(f'{self.path} already holds a run: add --resume to continue it, '
                              'or choose another --out')
        os.makedirs(self.checkpoints, exist_ok=True)
        write_atomic(self.config_path, (json.dumps(description, indent=2) + '\n').encode('utf-8'))
        write_atomic(self.metrics_path, b'')

    def description(self):
        try:
            with open(self.config_path) as f:
                description = json.load(f)
        except FileNotFoundError:
            raise RunDirError(f'{self.path} holds no run to resume (no config.json): '
                              'leave out --resume to start one') from None
        except ValueError as e:
            raise RunDirError(f'{self.config_path} is damaged ({e})') from None
        # the inputs go to mrjob's command line: paths only, never an option such as
        # --output-dir that would write elsewhere
        for key in ('inputs', 'val'):
            paths = description.get(key) if isinstance(description, dict) else None
            if not isinstance(paths, list) or not all(
                    isinstance(p, str) and p and not p.startswith('-') for p in paths):
                raise RunDirError(f'{self.config_path} is damaged: "{key}" must be a list '
                                  f'of paths, got {paths!r}')
        return description

    def newest_valid_model(self, warn):
        """The newest checkpoint that loads; corrupt ones are named and skipped."""
        # writes cut short by a crash (never under a final name): the driver's own files
        stale = [os.path.join(self.checkpoints, '.iter-*.tmp')] + [
            os.path.join(self.path, f'.{name}.*.tmp')
            for name in ('final.npz', 'best.npz', 'config.json', 'metrics.jsonl', 'loss.png')]
        for path in [p for pattern in stale for p in glob.glob(pattern)]:
            os.unlink(path)
        paths = sorted(glob.glob(os.path.join(self.checkpoints, 'iter-*.npz')), reverse=True)
        skipped = False
        for path in paths:
            try:
                model = Model.load(path)
            except CheckpointError as e:
                warn(f'skipping {e}')
                skipped = True
                continue
            if skipped:
                warn(f'falling back to {path}, the newest checkpoint that loads')
            return model
        raise RunDirError(f'{self.path} has no valid checkpoint to resume from: '
                          'start a new run without --resume')

    def save(self, model):
        model.save(self.checkpoint_path(model.iteration))

    def metrics(self):
        if not os.path.exists(self.metrics_path):
            return []
        rows = []
        with open(self.metrics_path) as f:
            for line in f:
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    break      # a line cut short by a crash: drop it and what follows
        return rows

    def keep_metrics_before(self, iteration):
        rows = [r for r in self.metrics() if r['iteration'] < iteration]
        write_atomic(self.metrics_path,
                     ''.join(json.dumps(r) + '\n' for r in rows).encode('utf-8'))
        return rows

    def append_metrics(self, row):
        with open(self.metrics_path, 'a') as f:
            f.write(json.dumps(row) + '\n')
            f.flush()
            os.fsync(f.fileno())

    def iterations(self):
        """The iterations that have a checkpoint, in order."""
        return sorted(int(name[len('iter-'):-len('.npz')]) for name in os.listdir(self.checkpoints)
                      if re.fullmatch(r'iter-\d{6,}\.npz', name))

    def prune(self, keep, protect=()):
        """Delete all checkpoints but the newest ``keep``, iter-000000 and the
        iterations in ``protect`` (best.npz's); 0 keeps every one. Called only
        once the newest is safely written: a kill at any moment leaves it."""
        if not keep:
            return []
        found = sorted((int(name[len('iter-'):-len('.npz')]), name)
                       for name in os.listdir(self.checkpoints)
                       if re.fullmatch(r'iter-\d{6,}\.npz', name))
        kept = {0, *protect, *(iteration for iteration, _ in found[-keep:])}
        removed = []
        for iteration, name in found:
            if iteration not in kept:
                os.unlink(os.path.join(self.checkpoints, name))
                removed.append(iteration)
        return removed

    def publish(self, name, iteration):
        """Copy iter-k to final.npz / best.npz atomically."""
        with open(self.checkpoint_path(iteration), 'rb') as source:
            write_atomic(os.path.join(self.path, name),
                         lambda f: shutil.copyfileobj(source, f))


def checkpoint_of(path):
    """(checkpoint file, note or None): ``path`` as given when it is a file, or
    a run folder's model (``RunDir.model_files``), with a note saying which."""
    if os.path.isdir(path):
        for candidate in RunDir(path).model_files():
            if os.path.isfile(candidate):
                what = os.path.basename(candidate)[:-len('.npz')]
                return candidate, f'using {candidate} (the run\'s {what} checkpoint)'
        raise RunDirError(f'{path} is a folder without {" or ".join(MODEL_FILES)}: give a '
                          'checkpoint file, or a run folder (train --out) once a round has '
                          'finished')
    if not os.path.exists(path):
        raise RunDirError(f'{path} is neither a checkpoint nor a run folder: check the path')
    return path, None
