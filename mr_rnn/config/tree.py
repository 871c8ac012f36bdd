"""The root of the configuration tree, ``TrainConfig``: its sections, the
options of a run as a whole, and the tree as flags (``options``,
``from_options``) and as JSON (``to_dict``, ``from_dict``).
Task side: Python 3.8+ (docs/design.md §7).
"""
import dataclasses
from collections import namedtuple
from dataclasses import dataclass, field

from mr_rnn.config.fields import ConfigError, check_fields, flag_of, option
from mr_rnn.config.limits import LIMITS
from mr_rnn.config.sections import DataConfig, ModelConfig, OptimizerConfig
from mr_rnn.kernels.local_training import AUTO_MIN_STEPS
from mr_rnn.kernels.optim import OUTER_OPTIMIZERS

MODES = ('gradient', 'average')
DIVERGENCE = ('stop', 'halve-lr')
INITS = ('pytorch', 'xavier', 'orthogonal')
INNER_STATE = ('average', 'reset')
ROW_AVERAGE = ('all', 'touched')
# the help's sections, in this order (docs/design.md §3.6)
GROUPS = ('model', 'data', 'optimisation', 'average mode', 'validation', 'stopping')

# the plateau rule's patience of a configuration that stored none (driver/
# stopping.legacy_patience, docs/design.md §9): written when the rule was on by
# default, and kept on --resume. A full-batch loss can sit on a plateau for
# dozens of rounds before it finds the next best, and a sampled or locally
# trained loss (--sample-fraction, --mode average) adds its own noise, so it
# got more
PATIENCE_FULL_BATCH, PATIENCE_NOISY = 30, 40
# the convergence test (driver/stopping.converged): the training loss moved by
# at most CONVERGED_RTOL of itself over CONVERGED_ROUNDS rounds. Plateaus that
# later dropped moved by far more in every such window (bench/STOPPING.md),
# so a plateau cannot trigger it; weights that no longer change do
CONVERGED_ROUNDS, CONVERGED_RTOL = 20, 1e-9


@dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    seed: int = option(0, 'of the initial weights and every sample', group='optimisation',
                       metavar='N')
    batch_size: int = option(32, 'sequences per optimizer step in average mode; in gradient mode '
                             'only how a task groups its sum (the gradient is the same)',
                             group='optimisation', metavar='N', at_least=1)
    max_iter: int = option(50, 'MapReduce rounds. Fewer only at --target-loss, on divergence, by '
                           '--patience (off by default) or, in full-batch '
                           'gradient mode, when the training loss has converged (no longer '
                           'moves); average mode has no convergence test, and without '
                           'validation data judges --target-loss and --patience on the tasks\' '
                           'inner loss', group='stopping', metavar='N', resumable=True,
                           at_least=0)
    tol: float = option(1e-4, 'relative improvement of the best loss that counts as progress',
                        group='stopping', metavar='X', resumable=True)
    # 0 (off) by default, with or without validation data: the runs of bench/STOPPING.md
    # lost accuracy to it and gained none (docs/design.md §9). None is only read from
    # a checkpoint written when the rule was on by default (stopping.legacy_patience)
    patience: int = option(0, 'the plateau rule: stop after N rounds without progress of the '
                           'best (validation, else training) loss, counted from the best; 0: '
                           'never', group='stopping', metavar='N', resumable=True, at_least=0,
                           nullable=True)
    max_bad_fraction: float = option(0.01, 'stop when more of the records are bad',
                                     group='data', metavar='X', at_least=0, at_most=1)
    sample_fraction: float = option(1.0, 'share of the records each iteration uses, chosen per '
                                    'record', group='optimisation', metavar='F', above=0,
                                    at_most=1)
    mode: str = option('gradient', 'gradient: one exact gradient step per round; average: local '
                       'SGD in every map task, then the weights averaged (fewer rounds, result '
                       'depends on the split)', group='average mode', choices=MODES)
    # average mode: the inner work of a map task per round (kernels/local_training.py's
    # LocalTraining); with neither set, one pass over its shard but at least AUTO_MIN_STEPS
    local_steps: int = option(0, 'average mode: exactly N optimizer steps per map task per '
                              f'round, cycling over its shard (0: one pass, at least '
                              f'{AUTO_MIN_STEPS} steps)',
                              group='average mode', metavar='N', at_least=0)
    local_epochs: float = option(0.0, 'average mode: F passes over each map task\'s shard per '
                                 'round (0.5, 2)', group='average mode', metavar='F',
                                 at_least=0, limit=LIMITS.epochs)
    local_memory_mb: int = option(256, 'average mode: batches a map task keeps to cycle over; '
                                  'past this, a fresh random sample of them each round',
                                  group='average mode', metavar='MB', at_least=1)
    outer_optimizer: str = option('nesterov', 'average mode: the step the reducers take on the '
                                  'mean of the tasks\' weights (sgd with --outer-lr 1: plain '
                                  'averaging; kernels/optim.py)', group='average mode',
                                  choices=OUTER_OPTIMIZERS)
    # why these defaults: docs/design.md §5
    outer_lr: float = option(1.0, 'average mode: outer lr', group='average mode', metavar='X',
                             above=0, at_most=10)
    outer_momentum: float = option(0.5, 'average mode: outer momentum', group='average mode',
                                   metavar='X', at_least=0, below=1)
    inner_state: str = option('reset', 'average mode: the inner optimizer state across rounds: '
                              'reset to zero every round, or the tasks\' states averaged',
                              group='average mode', choices=INNER_STATE)
    row_average: str = option('all', 'average mode: a row looked up by token id is averaged '
                              'over all tasks, or over the tasks that touched it',
                              group='average mode', choices=ROW_AVERAGE)
    val_fraction: float = option(0.0, 'hold out this share of the records for validation '
                                 '(per-record hash)', group='validation', metavar='F',
                                 at_least=0, below=1)
    target_loss: float = option(None, 'stop once the (validation, else training) loss is this '
                                'low', group='stopping', metavar='X', resumable=True)
    on_divergence: str = option('stop', 'a NaN, infinite or exploding loss: stop, or retry with '
                                'half the lr', group='stopping', choices=DIVERGENCE)
    divergence_factor: float = option(10.0, 'a finite loss above this many times the best so far '
                                      '(and above the first round\'s) for --divergence-rounds '
                                      'rounds in a row has diverged', group='stopping', metavar='X',
                                      above=1)
    divergence_rounds: int = option(3, 'see --divergence-factor', group='stopping', metavar='N',
                                    at_least=1)
    init: str = option('pytorch', 'initial weights', group='model', choices=INITS)
    forget_bias: float = option(None, 'LSTM: initial forget-gate bias (bias_ih; bias_hh is '
                                'zeroed)', group='model', metavar='X')

    def __post_init__(self):
        check_fields(self)
        if self.local_steps and self.local_epochs:
            raise ConfigError(f'{flag_of(self, "local_steps")} and {flag_of(self, "local_epochs")} '
                              'both set the inner work: give one')

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        return _build(cls, d, 'config')


# fields added after checkpoints had been written without them, and what such a
# checkpoint meant: its defaults then, not today's (Model.load)
OLD_MEANING = {'data': {'window_state': 'reset'}, 'model': {'pool': 'last'}}


def with_old_meaning(d):
    """A stored configuration (a checkpoint's) with the fields it predates
    filled in as they were when it was written."""
    d = dict(d)
    for section, fields in OLD_MEANING.items():
        if isinstance(d.get(section, {}), dict):
            d[section] = {**fields, **d.get(section, {})}
    return d


SECTIONS = {'model': ModelConfig, 'data': DataConfig, 'optimizer': OptimizerConfig}

# one flag: ``dest`` is its place in the tree ('max_iter', 'model.cell',
# 'optimizer.lr'), ``type`` the field's, ``meta`` what ``option`` put in the
# field's metadata, with the help group filled in
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
    except (TypeError, ValueError) as e:
        raise ConfigError(str(e)) from None

