"""Every knob of a training run, in one frozen dataclass tree.

The tree is serialised to JSON into the run directory and into every
checkpoint, and reaches the map and reduce tasks inside the checkpoint file:
nothing is repeated as pass-through flags. Unknown keys are rejected loudly.
"""
import dataclasses
from dataclasses import dataclass, field

from mr_rnn.kernels.optim import OUTER_OPTIMIZERS, OptimizerConfig

CELLS = ('rnn', 'lstm', 'gru')
TASKS = ('lm', 'classify', 'regress')
FORMATS = ('text', 'jsonl', 'csv')
DTYPES = ('float32', 'float64')
MODES = ('gradient', 'average')
DIVERGENCE = ('stop', 'halve-lr')
INITS = ('pytorch', 'xavier', 'orthogonal')
INNER_STATE = ('average', 'reset')


class ConfigError(ValueError):
    """A configuration that cannot work; the message names the fix."""


@dataclass(frozen=True)
class Limits:
    """Safety limits, generous: a record past one is a bad record, a flag past one an error."""
    record_bytes: int = 16 << 20    # one line of text or jsonl, one csv row (16 MiB)
    steps: int = 100_000            # time steps of one sequence: jsonl "x", --seq-len, --window
    vocab: int = 1 << 17            # token ids and class ids below this (131072); --max-vocab


LIMITS = Limits()


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
        _at_most('--seq-len', self.seq_len, LIMITS.steps)
        _at_most('--window', self.window + self.horizon, LIMITS.steps, '--window + --horizon')
        _at_most('--max-vocab', self.max_vocab, LIMITS.vocab)
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
    tol: float = 1e-4           # stop when the best loss has not improved by > tol (relative) ...
    patience: int = None        # ... for this many rounds; None: 10 full batch, 20 sampled/average
    max_bad_fraction: float = 0.01
    sample_fraction: float = 1.0   # records per iteration, chosen by a per-record hash
    mode: str = 'gradient'      # gradient: one exact step per round | average: local SGD
    # average mode: the inner work of a map task per round (kernels/accumulate.py's
    # LocalTraining); with neither set, one pass over its shard but at least 64 steps
    local_steps: int = 0        # exactly this many optimizer steps, cycling over the shard
    local_epochs: float = 0.0   # this many passes over the shard (0.5, 2, ...)
    local_memory_mb: int = 256  # batches a map task keeps to cycle over; past it, a sample
    outer_optimizer: str = 'nesterov'   # average mode: sgd | momentum | nesterov (kernels/optim.py)
    outer_lr: float = 0.7
    outer_momentum: float = 0.9
    inner_state: str = 'reset'  # inner optimizer state across rounds: reset | average
    val_fraction: float = 0.0   # hold out this share of records (per-record hash) for validation
    target_loss: float = None   # stop once the (validation, else training) loss is this low
    on_divergence: str = 'stop'  # stop | halve-lr
    divergence_factor: float = 10.0   # a loss this many times the best so far (and above the
    divergence_rounds: int = 3        # first round's) for this many rounds in a row has diverged
    init: str = 'pytorch'       # pytorch | xavier | orthogonal
    forget_bias: float = None   # LSTM: initial forget-gate bias (bias_ih; bias_hh is zeroed)

    def __post_init__(self):
        _choice('--mode', self.mode, MODES)
        _choice('--on-divergence', self.on_divergence, DIVERGENCE)
        _choice('--init', self.init, INITS)
        _at_least('--local-steps', self.local_steps, 0)
        _at_least('--local-memory-mb', self.local_memory_mb, 1)
        _choice('--outer-optimizer', self.outer_optimizer, OUTER_OPTIMIZERS)
        _choice('--inner-state', self.inner_state, INNER_STATE)
        if not (isinstance(self.local_epochs, (int, float)) and 0 <= self.local_epochs < 1e6):
            raise ConfigError(f'--local-epochs must be a number of at least 0, '
                              f'got {self.local_epochs!r}')
        if self.local_steps and self.local_epochs:
            raise ConfigError('--local-steps and --local-epochs both set the inner work: give one')
        if not 0 < self.outer_lr <= 10:
            raise ConfigError(f'--outer-lr must be in (0, 10], got {self.outer_lr}')
        if not 0 <= self.outer_momentum < 1:
            raise ConfigError(f'--outer-momentum must be in [0, 1), got {self.outer_momentum}')
        if not 0 <= self.val_fraction < 1:
            raise ConfigError('--val-fraction must be in [0, 1)')
        if not self.divergence_factor > 1:
            raise ConfigError('--divergence-factor must be above 1')
        if not 0 < self.sample_fraction <= 1:
            raise ConfigError('--sample-fraction must be in (0, 1]')
        _at_least('--batch-size', self.batch_size, 1)
        _at_least('--max-iter', self.max_iter, 0)
        if self.patience is not None:
            _at_least('--patience', self.patience, 1)
        _at_least('divergence_rounds', self.divergence_rounds, 1)
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


def _at_most(flag, value, high, what=None):
    if value > high:
        raise ConfigError(f'{what or flag} is {value}, more than the safety limit of {high}: '
                          f'choose a smaller {flag}')
