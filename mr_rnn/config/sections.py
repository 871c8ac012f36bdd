"""The sections of the configuration tree below ``TrainConfig``: ``model``,
``data`` and ``optimizer``. Task side: Python 3.8+ (docs/design.md §7).
"""
from dataclasses import dataclass

from mr_rnn.config.fields import at_most, check_fields, flag_of, option
from mr_rnn.config.limits import LIMITS
from mr_rnn.kernels.optim import SCHEDULES, STATE_NAMES

CELLS = ('rnn', 'lstm', 'gru')
TASKS = ('lm', 'classify', 'regress')
FORMATS = ('text', 'jsonl', 'csv')
WINDOW_STATES = ('carry', 'reset')
DTYPES = ('float32', 'float64')


@dataclass(frozen=True)
class ModelConfig:
    cell: str = option('lstm', 'the recurrent cell', choices=CELLS)
    hidden: int = option(128, 'hidden units per layer', metavar='N', at_least=1)
    layers: int = option(1, 'stacked recurrent layers', metavar='N', at_least=1)
    task: str = option(None, 'default: inferred from the data', choices=TASKS)
    dtype: str = option('float32', 'of the weights and the maths', choices=DTYPES)
    embed: int = option(0, 'token input: an embedding table of D columns before the first '
                        'recurrent layer, as torch.nn.Embedding (0: one-hot input)',
                        metavar='D', at_least=0, limit=LIMITS.steps)

    def __post_init__(self):
        check_fields(self)


@dataclass(frozen=True)
class DataConfig:
    format: str = option(None, 'default: from the file extension', choices=FORMATS)
    seq_len: int = option(64, 'text: characters per window', metavar='N', at_least=1,
                          limit=LIMITS.steps)
    # why reset is the default: docs/design.md §3.1
    window_state: str = option('reset', 'text: each window of a line starts from the state where '
                               'the line\'s last window ended, the gradient cut at the boundary '
                               '(carry), or from zeros (reset)', choices=WINDOW_STATES)
    max_vocab: int = option(256, 'text: keep the most frequent characters', metavar='N',
                            at_least=2, limit=LIMITS.vocab)
    max_ids: int = option(LIMITS.vocab, 'jsonl: token and class ids must be below N; a record '
                          'past it is a bad record', metavar='N', at_least=2, limit=LIMITS.ids)
    window: int = option(24, 'csv: input steps per window', metavar='N', at_least=1)
    horizon: int = option(1, 'csv: steps ahead to predict', metavar='N', at_least=1)
    columns: tuple = option((), 'csv: input columns (default: every numeric column)',
                            metavar='A,B')
    target: tuple = option((), 'csv: predicted columns (default: the input columns)',
                           metavar='A,B')

    def __post_init__(self):
        check_fields(self)
        at_most(self, 'window', self.window + self.horizon, LIMITS.steps,
                f'{flag_of(self, "window")} + {flag_of(self, "horizon")}')
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
        f'{k} {v:g}' for k, v in DEFAULT_LR.items()), metavar='X', resumable=True, above=0)
    momentum: float = option(0.9, 'momentum and nesterov: μ', metavar='X')
    beta1: float = 0.9
    beta2: float = 0.999
    alpha: float = 0.99         # rmsprop
    eps: float = 1e-8           # adam, adamw, rmsprop; adagrad uses eps_adagrad
    eps_adagrad: float = 1e-10
    weight_decay: float = option(0.0, 'L2 (adamw: decoupled)', metavar='X')
    schedule: str = option('constant', "learning-rate schedule over the run's rounds",
                           choices=SCHEDULES)
    warmup: int = option(0, 'rounds of linear lr warm-up', metavar='N', at_least=0)
    step_size: int = option(10, 'step schedule: rounds per decay', metavar='N', at_least=1)
    gamma: float = option(0.5, 'step/exponential decay factor', metavar='X')
    min_lr: float = option(0.0, 'cosine schedule floor', metavar='X')
    clip_norm: float = option(0.0, 'clip the gradient to this global L2 norm (0: off)',
                              metavar='X', at_least=0)

    def __post_init__(self):
        check_fields(self)
        if self.lr is None:
            object.__setattr__(self, 'lr', DEFAULT_LR[self.name])
