"""A training round's output, read: checkpoint k's losses and checkpoint k+1
(docs/design.md §2). The same for every engine that runs the round's map,
combine and reduce: the driver's mrjob jobs, or a caller of the plain
functions of gradient_step.py and average_step.py."""
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from mr_rnn.codec.checkpoint import OPTIM_PREFIX
from mr_rnn.model import Model
from mr_rnn.tasks.totals import STATS_KEY, VAL_KEY, LossTotals


class MissingBlocks(ValueError):
    """A round's output without an update for every parameter block."""


@dataclass
class RoundResult:
    train: LossTotals               # checkpoint k on the round's training records
    val: Optional[LossTotals]       # checkpoint k on the validation records, when measured
    blocks: dict                    # param name -> the reducers' Packet of its update
    steps: int                      # optimizer steps taken (the most a task took)
    grad_norm: Optional[float]      # of the mean gradient at checkpoint k (gradient mode)

    def next_model(self, model):
        """Checkpoint k+1 from checkpoint k (``model``): every block's new
        weights and optimizer state."""
        if set(self.blocks) != set(model.params):
            missing = sorted(set(model.params) - set(self.blocks))
            raise MissingBlocks(f'the training job returned no update for {", ".join(missing)}')
        params, state = {}, {}
        for name, block in self.blocks.items():
            params[name] = np.array(block.arrays['param'], model.params[name].dtype)
            state[name] = {k[len(OPTIM_PREFIX):]: np.array(v) for k, v in block.arrays.items()
                           if k.startswith(OPTIM_PREFIX)}
        return Model(model.config, model.schema, params, state, model.iteration + 1,
                     model.optim_step + self.steps, model.lr_scale)


def read_totals(outputs, with_val):
    """(LossTotals of __stats__, LossTotals of __val__ or None) of a job's output."""
    return (LossTotals.of(outputs.get(STATS_KEY)),
            LossTotals.of(outputs.get(VAL_KEY)) if with_val else None)


def round_result(outputs, with_val):
    """``outputs`` {key: Packet} of one training round."""
    blocks = {k: v for k, v in outputs.items() if k not in (STATS_KEY, VAL_KEY)}
    train, val = read_totals(outputs, with_val)
    steps = outputs[STATS_KEY].scalars.get('max_steps', 1) if STATS_KEY in outputs else 1
    grad_norm = None
    if blocks and all('grad_sq' in b.scalars for b in blocks.values()):
        grad_norm = math.sqrt(sum(b.scalars['grad_sq'] for b in blocks.values()))
    return RoundResult(train, val, blocks, steps, grad_norm)
