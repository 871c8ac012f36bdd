"""Every knob of a training run, in one frozen dataclass tree.

The tree is serialised to JSON into the run directory and into every
checkpoint, and reaches the map and reduce tasks inside the checkpoint file:
nothing is repeated as pass-through flags. Unknown keys are rejected loudly.
"""
import dataclasses
from dataclasses import dataclass, field

from mr_rnn.kernels.optim import OptimizerConfig

CELLS = ('rnn', 'lstm', 'gru')
TASKS = ('lm', 'classify', 'regress')
FORMATS = ('text', 'jsonl', 'csv')
DTYPES = ('float32', 'float64')


class ConfigError(ValueError):
    """A configuration that cannot work; the message names the fix."""


@dataclass(frozen=True)
class ModelConfig:
    cell: str = 'lstm'          # rnn | lstm | gru
    hidden: int = 128
    layers: int = 1
    task: str = None            # lm | classify | regress; None: inferred from the data
    dtype: str = 'float32'      # float32 | float64

    def __post_init__(self):
        _choice('--cell', self.cell, CELLS)
        _choice('--dtype', self.dtype, DTYPES)
        if self.task is not None:
            _choice('--task', self.task, TASKS)
        _at_least('--hidden', self.hidden, 1)
        _at_least('--layers', self.layers, 1)


@dataclass(frozen=True)
class DataConfig:
    format: str = None          # text | jsonl | csv; None: from the file extension
    seq_len: int = 64           # text: characters of input per window
    max_vocab: int = 256        # text: keep the most frequent characters
    window: int = 24            # csv: steps of input
    horizon: int = 1            # csv: steps ahead to predict
    columns: tuple = ()         # csv: input columns; () = every numeric column
    target: tuple = ()          # csv: predicted columns; () = the input columns

    def __post_init__(self):
        if self.format is not None:
            _choice('--format', self.format, FORMATS)
        _at_least('--seq-len', self.seq_len, 1)
        _at_least('--max-vocab', self.max_vocab, 2)
        _at_least('--window', self.window, 1)
        _at_least('--horizon', self.horizon, 1)
        object.__setattr__(self, 'columns', tuple(self.columns))
        object.__setattr__(self, 'target', tuple(self.target))


@dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    seed: int = 0
    batch_size: int = 32        # sequences per forward/backward inside a mapper
    max_iter: int = 50          # MapReduce rounds (one gradient step each)
    tol: float = 1e-4           # stop when relative loss improvement < tol ...
    patience: int = 3           # ... for this many iterations in a row
    max_bad_fraction: float = 0.01
    sample_fraction: float = 1.0   # records per iteration, chosen by a per-record hash

    def __post_init__(self):
        if not 0 < self.sample_fraction <= 1:
            raise ConfigError('--sample-fraction must be in (0, 1]')
        _at_least('--batch-size', self.batch_size, 1)
        _at_least('--max-iter', self.max_iter, 0)
        _at_least('--patience', self.patience, 1)
        if not 0 <= self.max_bad_fraction <= 1:
            raise ConfigError('--max-bad-fraction must be between 0 and 1')

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        return _build(cls, d, 'config')


def _build(cls, d, where):
    if not isinstance(d, dict):
        raise ConfigError(f'{where} must be a JSON object')
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - set(fields))
    if unknown:
        raise ConfigError(f'unknown key(s) in {where}: {", ".join(unknown)}')
    kwargs = {}
    for name, value in d.items():
        sub = {'model': ModelConfig, 'data': DataConfig, 'optimizer': OptimizerConfig}.get(name)
        kwargs[name] = _build(sub, value, f'{where}.{name}') if sub and cls is TrainConfig else value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(str(e)) from None


def _choice(flag, value, choices):
    if value not in choices:
        raise ConfigError(f'{flag} {value!r} is not one of: {", ".join(choices)}')


def _at_least(flag, value, low):
    if not isinstance(value, int) or value < low:
        raise ConfigError(f'{flag} must be an integer of at least {low}, got {value!r}')
