"""The batch planner the DataModule serves: the part of a training strategy that `data/` calls.

`trainfix.strategies.Strategy` and every registered strategy satisfy this protocol structurally
(they do not import it), so `data/` depends on no layer above it. A test checks each registered
strategy against it (`tests/unit/test_planner.py`).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class BatchPlanner(Protocol):
    """Plans the global index batches of each training epoch."""

    def bind(self, num_samples: int, batch_size: int, seed: int) -> None:
        """Called once the training set is loaded: its size, the global batch size and the run's seed."""

    def num_batches(self) -> int:
        """Number of global batches in the current epoch's plan."""

    def plan_epoch(self, epoch: int) -> list[torch.Tensor]:
        """The ordered global index batches (int64 sample indices) of epoch `epoch` (0-based)."""
