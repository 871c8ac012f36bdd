"""The safety limits: generous, so that only hostile or broken input meets them.
A record past one is a bad record (data/records.py), a flag past one an error.
Task side: Python 3.8+ (docs/design.md §7).
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    record_bytes: int = 16 << 20    # one line of text or jsonl, one csv row (16 MiB)
    steps: int = 100_000            # time steps of one sequence: jsonl "x", --seq-len, --window
    vocab: int = 1 << 20            # ids below this (1,048,576) unless --max-ids; --max-vocab
    ids: int = 1 << 31              # --max-ids: a model of more rows than this is no model
    epochs: int = 1_000_000         # --local-epochs: passes over a map task's shard per round


LIMITS = Limits()
