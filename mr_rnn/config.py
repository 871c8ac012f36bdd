"""Every knob of a training run, in one frozen dataclass tree.

The tree is serialised to JSON into the run directory and into every
checkpoint, and reaches the map and reduce tasks inside the checkpoint file:
nothing is repeated as pass-through flags. Unknown keys are rejected loudly.

Each knob is written once, here (the optimizer's in kernels/optim.py, as
``setting``): its default, and, for a ``mr-rnn train`` flag, its help in the
field's metadata (``option``). cli.py builds the flags from ``options()`` and the tree from the
flags given with ``from_options``; a check names the flag (``flag_of``).
Adding a training option is one ``option(...)`` field here (an optimizer
option: one ``setting(...)`` field in kernels/optim.py).
Task side: Python 3.8+ (docs/design.md §7).
"""
import dataclasses
from collections import namedtuple
from dataclasses import dataclass, field

from mr_rnn.errors import MrRnnError
from mr_rnn.kernels.local_training import AUTO_MIN_STEPS
from mr_rnn.kernels.optim import OUTER_OPTIMIZERS, BadSetting, OptimizerConfig

CELLS = ('rnn', 'lstm', 'gru')
TASKS = ('lm', 'classify', 'regress')
FORMATS = ('text', 'jsonl', 'csv')
DTYPES = ('float32', 'float64')
MODES = ('gradient', 'average')
DIVERGENCE = ('stop', 'halve-lr')
INITS = ('pytorch', 'xavier', 'orthogonal')
INNER_STATE = ('average', 'reset')
# the help's sections, in this order (docs/design.md §3.6)
GROUPS = ('model', 'data', 'optimisation', 'average mode', 'validation', 'stopping')

# rounds without improvement before stopping, when --patience is not given
# (driver/train.effective_patience). Measured on GunPoint (50 series, GRU and
# LSTM 32, Adam 0.01, full batch, 200 rounds): the rounds between one new best
# and the next were 8, 9, 24 and 48 (GRU, which reached 0.007 in the end) and
# 15, 29 and 71 (LSTM, 0.37 in the end, after plateaus at its initial 0.69); 30
# lets five of the seven gaps through. A sampled or locally trained loss
# (--sample-fraction, --mode average) adds its own noise, and gets more.
PATIENCE_FULL_BATCH, PATIENCE_NOISY = 30, 40


class ConfigError(MrRnnError, ValueError):
    """A configuration that cannot work; the message names the fix."""


def flag(help, group=None, choices=None, metavar=None, resumable=False, name=None):
    """The metadata that makes a field a ``mr-rnn train`` flag: ``--name`` (the
    field's name with dashes, unless ``name``), the help without the default
    (cli.py adds it from the field), its help section, whether ``--resume``
    may change it."""
    meta = {'help': help, 'group': group, 'choices': choices, 'metavar': metavar,
            'resumable': resumable, 'name': name}
    return {k: v for k, v in meta.items() if v is not None}


def option(default, help, **kwargs):
    """A field that is a flag: its default, and ``flag``'s metadata."""
    return field(default=default, metadata=flag(help, **kwargs))


@dataclass(frozen=True)
class Limits:
    """Safety limits, generous: a record past one is a bad record, a flag past one an error."""
    record_bytes: int = 16 << 20    # one line of text or jsonl, one csv row (16 MiB)
    steps: int = 100_000            # time steps of one sequence: jsonl "x", --seq-len, --window
    vocab: int = 1 << 17            # token ids and class ids below this (131072); --max-vocab


LIMITS = Limits()


@dataclass(frozen=True)
class ModelConfig:
    cell: str = option('lstm', 'the recurrent cell', choices=CELLS)
    hidden: int = option(128, 'hidden units per layer', metavar='N')
    layers: int = option(1, 'stacked recurrent layers', metavar='N')
    task: str = option(None, 'default: inferred from the data', choices=TASKS)
    dtype: str = option('float32', 'of the weights and the maths', choices=DTYPES)

    def __post_init__(self):
        _choice(self, 'cell', CELLS)
        _choice(self, 'dtype', DTYPES)
        if self.task is not None:
            _choice(self, 'task', TASKS)
        _at_least(self, 'hidden', 1)
        _at_least(self, 'layers', 1)


@dataclass(frozen=True)
class DataConfig:
    format: str = option(None, 'default: from the file extension', choices=FORMATS)
    seq_len: int = option(64, 'text: characters per window', metavar='N')
    max_vocab: int = option(256, 'text: keep the most frequent characters', metavar='N')
    window: int = option(24, 'csv: input steps per window', metavar='N')
    horizon: int = option(1, 'csv: steps ahead to predict', metavar='N')
    columns: tuple = option((), 'csv: input columns (default: every numeric column)',
                            metavar='A,B')
    target: tuple = option((), 'csv: predicted columns (default: the input columns)',
                           metavar='A,B')

    def __post_init__(self):
        if self.format is not None:
            _choice(self, 'format', FORMATS)
        _at_least(self, 'seq_len', 1)
        _at_least(self, 'max_vocab', 2)
        _at_least(self, 'window', 1)
        _at_least(self, 'horizon', 1)
        _at_most(self, 'seq_len', self.seq_len, LIMITS.steps)
        _at_most(self, 'window', self.window + self.horizon, LIMITS.steps,
                 f'{flag_of(self, "window")} + {flag_of(self, "horizon")}')
        _at_most(self, 'max_vocab', self.max_vocab, LIMITS.vocab)
        object.__setattr__(self, 'columns', tuple(self.columns))
        object.__setattr__(self, 'target', tuple(self.target))


@dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    seed: int = option(0, 'of the initial weights and every sample', group='optimisation',
                       metavar='N')
    batch_size: int = option(32, 'sequences per optimizer step in average mode; in gradient mode '
                             'only how a task groups its sum (the gradient is the same)',
                             group='optimisation', metavar='N')
    max_iter: int = option(50, 'MapReduce rounds', group='stopping', metavar='N', resumable=True)
    tol: float = option(1e-4, 'relative improvement of the best loss that counts as progress',
                        group='stopping', metavar='X', resumable=True)
    patience: int = option(None, 'stop after this many rounds without progress, counted from '
                           f'the best (default {PATIENCE_FULL_BATCH} full batch, {PATIENCE_NOISY} '
                           'with --sample-fraction or --mode average)', group='stopping',
                           metavar='N', resumable=True)
    max_bad_fraction: float = option(0.01, 'stop when more of the records are bad',
                                     group='data', metavar='X')
    sample_fraction: float = option(1.0, 'share of the records each iteration uses, chosen per '
                                    'record', group='optimisation', metavar='F')
    mode: str = option('gradient', 'gradient: one exact gradient step per round; average: local '
                       'SGD in every map task, then the weights averaged (fewer rounds, result '
                       'depends on the split)', group='average mode', choices=MODES)
    # average mode: the inner work of a map task per round (kernels/accumulate.py's
    # LocalTraining); with neither set, one pass over its shard but at least AUTO_MIN_STEPS
    local_steps: int = option(0, 'average mode: exactly N optimizer steps per map task per '
                              f'round, cycling over its shard (0: one pass, at least '
                              f'{AUTO_MIN_STEPS} steps)',
                              group='average mode', metavar='N')
    local_epochs: float = option(0.0, 'average mode: F passes over each map task\'s shard per '
                                 'round (0.5, 2)', group='average mode', metavar='F')
    local_memory_mb: int = option(256, 'average mode: batches a map task keeps to cycle over; '
                                  'past this, a fresh random sample of them each round',
                                  group='average mode', metavar='MB')
    outer_optimizer: str = option('nesterov', 'average mode: the step the reducers take on the '
                                  'mean of the tasks\' weights (sgd with --outer-lr 1: plain '
                                  'averaging; kernels/optim.py)', group='average mode',
                                  choices=OUTER_OPTIMIZERS)
    outer_lr: float = option(1.0, 'average mode: outer lr', group='average mode', metavar='X')
    outer_momentum: float = option(0.5, 'average mode: outer momentum', group='average mode',
                                   metavar='X')
    inner_state: str = option('reset', 'average mode: the inner optimizer state across rounds: '
                              'reset to zero every round, or the tasks\' states averaged',
                              group='average mode', choices=INNER_STATE)
    val_fraction: float = option(0.0, 'hold out this share of the records for validation '
                                 '(per-record hash)', group='validation', metavar='F')
    target_loss: float = option(None, 'stop once the (validation, else training) loss is this '
                                'low', group='stopping', metavar='X', resumable=True)
    on_divergence: str = option('stop', 'a NaN, infinite or exploding loss: stop, or retry with '
                                'half the lr', group='stopping', choices=DIVERGENCE)
    divergence_factor: float = option(10.0, 'a finite loss above this many times the best so far '
                                      '(and above the first round\'s) for --divergence-rounds '
                                      'rounds in a row has diverged', group='stopping', metavar='X')
    divergence_rounds: int = option(3, 'see --divergence-factor', group='stopping', metavar='N')
    init: str = option('pytorch', 'initial weights', group='model', choices=INITS)
    forget_bias: float = option(None, 'LSTM: initial forget-gate bias (bias_ih; bias_hh is '
                                'zeroed)', group='model', metavar='X')

    def __post_init__(self):
        _choice(self, 'mode', MODES)
        _choice(self, 'on_divergence', DIVERGENCE)
        _choice(self, 'init', INITS)
        _at_least(self, 'local_steps', 0)
        _at_least(self, 'local_memory_mb', 1)
        _choice(self, 'outer_optimizer', OUTER_OPTIMIZERS)
        _choice(self, 'inner_state', INNER_STATE)
        _check(self, 'local_epochs', isinstance(self.local_epochs, (int, float))
               and 0 <= self.local_epochs < 1e6, 'a number of at least 0')
        if self.local_steps and self.local_epochs:
            raise ConfigError(f'{flag_of(self, "local_steps")} and {flag_of(self, "local_epochs")} '
                              'both set the inner work: give one')
        _check(self, 'outer_lr', 0 < self.outer_lr <= 10, 'in (0, 10]')
        _check(self, 'outer_momentum', 0 <= self.outer_momentum < 1, 'in [0, 1)')
        _check(self, 'val_fraction', 0 <= self.val_fraction < 1, 'in [0, 1)')
        _check(self, 'divergence_factor', self.divergence_factor > 1, 'above 1')
        _check(self, 'sample_fraction', 0 < self.sample_fraction <= 1, 'in (0, 1]')
        _at_least(self, 'batch_size', 1)
        _at_least(self, 'max_iter', 0)
        if self.patience is not None:
            _at_least(self, 'patience', 1)
        _at_least(self, 'divergence_rounds', 1)
        _check(self, 'max_bad_fraction', 0 <= self.max_bad_fraction <= 1, 'between 0 and 1')

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        return _build(cls, d, 'config')


SECTIONS = {'model': ModelConfig, 'data': DataConfig, 'optimizer': OptimizerConfig}

# one flag: ``dest`` is its place in the tree ('max_iter', 'model.cell',
# 'optimizer.lr'), ``type`` the field's, ``meta`` what ``flag`` made
Option = namedtuple('Option', 'dest flag type default meta')


def options():
    """Every flag of the configuration tree, section by section, in field order."""
    for prefix, cls in (*((f'{k}.', c) for k, c in SECTIONS.items()), ('', TrainConfig)):
        for f in dataclasses.fields(cls):
            meta = f.metadata
            if meta:
                yield Option(prefix + f.name, flag_of(cls, f.name), f.type, f.default,
                             dict(meta, group=meta.get('group', _GROUP.get(cls))))


def from_options(given):
    """The TrainConfig of the flags given, {dest: value} as ``options`` names
    them; a flag not given (None) keeps its field's default."""
    return _from_dict_with({}, given)


def with_options(config, given):
    """``config`` with the values of the flags given in place of its own."""
    return _from_dict_with(config.to_dict(), given)


def _from_dict_with(d, given):
    d = {k: dict(v) if k in SECTIONS else v for k, v in d.items()}
    for dest, value in given.items():
        if value is not None:
            section, _, name = dest.rpartition('.')
            (d.setdefault(section, {}) if section else d)[name] = value
    return TrainConfig.from_dict(d)


def flag_of(where, name):
    """How a user names field ``name`` of ``where`` (a config class or object):
    its flag when it is one, else the field's own name."""
    cls = where if isinstance(where, type) else type(where)
    meta = next(f for f in dataclasses.fields(cls) if f.name == name).metadata
    if not meta:
        return name
    return '--' + meta.get('name', name).replace('_', '-')


_GROUP = {ModelConfig: 'model', DataConfig: 'data', OptimizerConfig: 'optimisation'}


def _build(cls, d, where):
    if not isinstance(d, dict):
        raise ConfigError(f'{where} must be a JSON object')
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - set(fields))
    if unknown:
        raise ConfigError(f'unknown key(s) in {where}: {", ".join(unknown)}')
    kwargs = {}
    for name, value in d.items():
        sub = SECTIONS.get(name)
        kwargs[name] = _build(sub, value, f'{where}.{name}') if sub and cls is TrainConfig else value
    try:
        return cls(**kwargs)
    except BadSetting as e:
        raise ConfigError(f'{flag_of(cls, e.field)} {e.problem}') from None
    except (TypeError, ValueError) as e:
        raise ConfigError(str(e)) from None


def _choice(config, name, choices):
    value = getattr(config, name)
    if value not in choices:
        raise ConfigError(f'{flag_of(config, name)} {value!r} is not one of: {", ".join(choices)}')


def _at_least(config, name, low):
    value = getattr(config, name)
    if not isinstance(value, int) or value < low:
        raise ConfigError(f'{flag_of(config, name)} must be an integer of at least {low}, '
                          f'got {value!r}')


def _check(config, name, ok, what):
    if not ok:
        raise ConfigError(f'{flag_of(config, name)} must be {what}, got {getattr(config, name)!r}')


def _at_most(config, name, value, high, what=None):
    if value > high:
        raise ConfigError(f'{what or flag_of(config, name)} is {value}, more than the safety '
                          f'limit of {high}: choose a smaller {flag_of(config, name)}')
