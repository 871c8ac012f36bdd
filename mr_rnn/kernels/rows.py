"""Some rows of a block, the rest zero: the gradient of weights looked up by
id (the input weights of token ids, docs/design.md §3.7), which a batch
touches in a few rows of a vocabulary-sized block.

A block's id axis is the axis its ids index: 0 for a (V, D) table, 1 for
``rnn.weight_ih_l0`` (G·H, V) of one-hot token input, whose columns are
looked up. ``values[k]`` is the slice of id ``ids[k]`` along that axis.
"""
from dataclasses import dataclass

import numpy as np


@dataclass
class Rows:
    ids: np.ndarray         # (n,) int64, sorted, distinct
    values: np.ndarray      # (n, ...) the slices of those ids

    @classmethod
    def of(cls, ids, values):
        """Rows from ids in any order, with repeats added up in the order given."""
        ids = np.asarray(ids, np.int64)
        unique, where = np.unique(ids, return_inverse=True)
        summed = np.zeros((len(unique),) + np.shape(values)[1:], np.float64)
        np.add.at(summed, where, values)
        return cls(unique, summed)

    def plus(self, other):
        """The sum, in float64: a row only one side has is taken as it is, so
        each row's sum is bit for bit the one of the dense blocks."""
        ids = np.union1d(self.ids, other.ids)
        values = np.empty((len(ids),) + self.values.shape[1:], np.float64)
        mine, theirs = np.searchsorted(ids, self.ids), np.searchsorted(ids, other.ids)
        only_theirs = np.ones(len(ids), bool)
        only_theirs[mine] = False
        values[mine] = self.values
        values[only_theirs] = 0.0
        values[theirs] += other.values
        return Rows(ids, values)

    def dense(self, shape, axis=0):
        """As a block of ``shape``, zero where no row was given."""
        out = np.zeros(shape, self.values.dtype)
        np.moveaxis(out, axis, 0)[self.ids] = self.values
        return out

    def slab(self, start, stop, axis=0):
        """These rows restricted to the slab ``start:stop`` of the block's axis 0
        (the block's rows, whichever axis the ids index), as Rows of that slab."""
        if axis == 0:
            lo, hi = np.searchsorted(self.ids, (start, stop))
            return Rows(self.ids[lo:hi] - start, self.values[lo:hi])
        # values[k] is the block without its id axis, whose first axis is the block's axis 0
        return Rows(self.ids, self.values[:, start:stop])

    def squared_norm(self):
        flat = self.values.reshape(-1)
        return float(np.dot(flat, flat))
