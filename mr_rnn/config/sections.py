"""The sections of the configuration tree below ``TrainConfig``: ``model``,
``data`` and ``optimizer``. Task side: Python 3.8+ (docs/design.md §7).
"""
from dataclasses import dataclass

from mr_rnn.config.fields import at_least, at_most, check, choice, flag_of, option
from mr_rnn.config.limits import LIMITS
from mr_rnn.kernels.optim import SCHEDULES, STATE_NAMES

CELLS = ('rnn', 'lstm', 'gru')
TASKS = ('lm', 'classify', 'regress')
FORMATS = ('text', 'jsonl', 'csv')
DTYPES = ('float32', 'float64')


@dataclass(frozen=True)
class ModelConfig:
    cell: str = option('lstm', 'the recurrent cell', choices=CELLS)
    hidden: int = option(128, 'hidden units per layer', metavar='N')
    layers: int = option(1, 'stacked recurrent layers', metavar='N')
    task: str = option(None, 'default: inferred from the data', choices=TASKS)
    dtype: str = option('float32', 'of the weights and the maths', choices=DTYPES)

    def __post_init__(self):
        choice(self, 'cell', CELLS)
        choice(self, 'dtype', DTYPES)
        if self.task is not None:
            choice(self, 'task', TASKS)
        at_least(self, 'hidden', 1)
        at_least(self, 'layers', 1)


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
            choice(self, 'format', FORMATS)
        at_least(self, 'seq_len', 1)
        at_least(self, 'max_vocab', 2)
        at_least(self, 'window', 1)
        at_least(self, 'horizon', 1)
        at_most(self, 'seq_len', self.seq_len, LIMITS.steps)
        at_most(self, 'window', self.window + self.horizon, LIMITS.steps,
                f'{flag_of(self, "window")} + {flag_of(self, "horizon")}')
        at_most(self, 'max_vocab', self.max_vocab, LIMITS.vocab)
        object.__setattr__(self, 'columns', tuple(self.columns))
        object.__setattr__(self, 'target', tuple(self.target))


# the learning rate when --lr is not given, per optimizer
DEFAULT_LR = {'sgd': 0.1, 'momentum': 0.05, 'nesterov': 0.05, 'adagrad': 0.05,
              'rmsprop': 1e-3, 'adam': 2e-3, 'adamw': 2e-3}


@dataclass(frozen=True)
class OptimizerConfig:
    """The inner optimizer and its schedule: the settings kernels/optim.py's
    update and schedule functions read. The fields without ``option`` are
    torch.optim's constants, not flags."""
    name: str = option('adam', 'the inner optimizer', choices=tuple(STATE_NAMES),
                       name='optimizer')
    lr: float = option(None, 'learning rate; default: ' + ', '.join(
        f'{k} {v:g}' for k, v in DEFAULT_LR.items()), metavar='X', resumable=True)
    momentum: float = option(0.9, 'momentum and nesterov: μ', metavar='X')
    beta1: float = 0.9
    beta2: float = 0.999
    alpha: float = 0.99         # rmsprop
    eps: float = 1e-8           # adam, adamw, rmsprop; adagrad uses eps_adagrad
    eps_adagrad: float = 1e-10
    weight_decay: float = option(0.0, 'L2 (adamw: decoupled)', metavar='X')
    schedule: str = option('constant', "learning-rate schedule over the run's rounds",
                           choices=SCHEDULES)
    warmup: int = option(0, 'rounds of linear lr warm-up', metavar='N')
    step_size: int = option(10, 'step schedule: rounds per decay', metavar='N')
    gamma: float = option(0.5, 'step/exponential decay factor', metavar='X')
    min_lr: float = option(0.0, 'cosine schedule floor', metavar='X')
    clip_norm: float = option(0.0, 'clip the gradient to this global L2 norm (0: off)',
                              metavar='X')

    def __post_init__(self):
        choice(self, 'name', STATE_NAMES)
        choice(self, 'schedule', SCHEDULES)
        if self.lr is None:
            object.__setattr__(self, 'lr', DEFAULT_LR[self.name])
        check(self, 'lr', self.lr > 0, 'positive')
        check(self, 'clip_norm', self.clip_norm >= 0, 'at least 0')
        check(self, 'warmup', self.warmup >= 0, 'at least 0')
        check(self, 'step_size', self.step_size >= 1, 'at least 1')
