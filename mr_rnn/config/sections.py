"""The sections of the configuration tree below ``TrainConfig``: ``model``
and ``data``. Task side: Python 3.8+ (docs/design.md §7).
"""
from dataclasses import dataclass

from mr_rnn.config.fields import at_least, at_most, choice, flag_of, option
from mr_rnn.config.limits import LIMITS

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
