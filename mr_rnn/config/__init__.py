"""Every knob of a training run, in one frozen dataclass tree.

The tree is serialised to JSON into the run directory and into every
checkpoint, and reaches the map and reduce tasks inside the checkpoint file:
nothing is repeated as pass-through flags. Unknown keys are rejected loudly.

Each knob is written once, as a field: its default, and, for a ``mr-rnn
train`` flag, its help in the field's metadata (``option``, fields.py).
cli.py builds the flags from ``options()`` and the tree from the flags given
with ``from_options``; a check names the flag (``flag_of``). Adding a
training option is one ``option(...)`` field in its section.

    fields.py     a field that is a flag (``option``), its name, the checks
    sections.py   the sections ``model``, ``data`` and ``optimizer``
    tree.py       ``TrainConfig``, the root, and the tree as flags and as JSON
    limits.py     the safety limits

Task side: Python 3.8+ (docs/design.md §7).
"""
from mr_rnn.config.fields import ConfigError, flag_of, option
from mr_rnn.config.limits import LIMITS, Limits
from mr_rnn.config.sections import (CELLS, DEFAULT_LR, DTYPES, FORMATS, TASKS, WINDOW_STATES,
                                    DataConfig, ModelConfig, OptimizerConfig)
from mr_rnn.config.tree import (CONVERGED_ROUNDS, CONVERGED_RTOL, GROUPS, PATIENCE_FULL_BATCH,
                                PATIENCE_NOISY, SECTIONS, Option, TrainConfig, from_options,
                                options, with_old_meaning, with_options)

__all__ = ['CELLS', 'CONVERGED_ROUNDS', 'CONVERGED_RTOL', 'DEFAULT_LR', 'DTYPES', 'FORMATS',
           'GROUPS', 'LIMITS', 'PATIENCE_FULL_BATCH', 'PATIENCE_NOISY', 'SECTIONS', 'TASKS',
           'WINDOW_STATES', 'ConfigError', 'DataConfig', 'Limits', 'ModelConfig',
           'OptimizerConfig', 'Option', 'TrainConfig', 'flag_of', 'from_options', 'option',
           'options', 'with_old_meaning', 'with_options']
