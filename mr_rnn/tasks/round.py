"""A training round's output, read: checkpoint k's losses and checkpoint k+1
(docs/design.md §2). The same for every engine that runs the round's map,
combine and reduce: the driver's mrjob jobs, or a caller of the plain
functions of gradient_step.py and average_step.py."""
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from mr_rnn.codec.checkpoint import OPTIM_PREFIX
from mr_rnn.codec.wire import Packet
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
            # the blocks are arrays of their own already (read_blocks): no second copy
            params[name] = np.asarray(block.arrays['param'], model.params[name].dtype)
            state[name] = {k[len(OPTIM_PREFIX):]: v for k, v in block.arrays.items()
                           if k.startswith(OPTIM_PREFIX)}
        return Model(model.config, model.schema, params, state, model.iteration + 1,
                     model.optim_step + self.steps, model.lr_scale)


def read_totals(outputs, with_val):
    """(LossTotals of __stats__, LossTotals of __val__ or None) of a job's output."""
    return (LossTotals.of(outputs.get(STATS_KEY)),
            LossTotals.of(outputs.get(VAL_KEY)) if with_val else None)


def round_result(outputs, with_val):
    """``outputs``: the (key, Packet) pairs of one training round, as they are
    read (or a dict of them), each block put together as it comes (read_blocks)."""
    pairs = outputs.items() if hasattr(outputs, 'items') else outputs
    totals, blocks = {}, {}
    for key, packet in pairs:
        if key in (STATS_KEY, VAL_KEY):
            totals[key] = packet
        else:
            blocks.setdefault(key, _Block()).add(packet)
    blocks = {k: b.packet() for k, b in blocks.items() if b.complete()}
    train, val = read_totals(totals, with_val)
    steps = totals[STATS_KEY].scalars.get('max_steps', 1) if STATS_KEY in totals else 1
    grad_norm = None
    if blocks and all('grad_sq' in b.scalars for b in blocks.values()):
        grad_norm = math.sqrt(sum(b.scalars['grad_sq'] for b in blocks.values()))
    return RoundResult(train, val, blocks, steps, grad_norm)


class _Block:
    """One block's update put together from its packets: the whole block in
    one, or slabs of its rows (scalars ``start`` and ``rows``,
    tasks/gradient_step.updated_block), each copied into the block's arrays as
    it is read, so that the decoded packets are never all held at once. A
    block missing some of its rows is not complete (next_model names it)."""

    def __init__(self):
        self.scalars, self.arrays = {}, {}
        self.rows, self.filled = None, 0

    def add(self, packet):
        scalars = dict(packet.scalars)
        start, rows = scalars.pop('start', 0), scalars.pop('rows', None)
        self.scalars.update(scalars)
        height = 0
        for name, part in packet.arrays.items():
            height = len(part)
            if rows is None:                # the whole block
                self.arrays[name] = np.array(part)
                continue
            whole = self.arrays.get(name)
            if whole is None:
                whole = self.arrays[name] = np.empty((rows,) + part.shape[1:], part.dtype)
            whole[start:start + height] = part
        self.rows = height if rows is None else rows
        self.filled = height if rows is None else self.filled + height

    def complete(self):
        return self.rows is not None and self.filled == self.rows

    def packet(self):
        return Packet(self.scalars, self.arrays)
