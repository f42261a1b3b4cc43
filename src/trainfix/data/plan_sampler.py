"""Serving a batch plan to Lightning, identically on 1 or N devices.

A *batch plan* is the ordered list of global index batches for one epoch (LongTensors of sample
indices into the training set). The plan is the same for every world size; each rank takes its
contiguous slice of every global batch (`tensor_split`, so sizes differ by at most one). The
loss of a step is normalized by the *global* batch size, so gradients averaged by DDP equal the
single-device gradient of the global batch.

Lightning must not replace this sampler: the trainer runs with `use_distributed_sampler=False`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch.utils.data import Dataset, Sampler


@dataclass(frozen=True)
class PlannedBatch:
    """One rank's part of one global batch: the local indices and the global batch size."""

    indices: torch.Tensor  # int64 [n_local], global sample indices
    global_size: int
    step_in_epoch: int


def rank_slice(batch: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """The part of a global batch that `rank` trains on (contiguous, sizes differ by <= 1)."""
    return torch.tensor_split(batch, world_size)[rank]


class PlanBatchSampler(Sampler[PlannedBatch]):
    """Yields this rank's slice of each batch of the plan for the current epoch.

    `plan_for_epoch(current_epoch())` is called lazily, when iteration starts, so a strategy can
    build the plan from the model's state at the start of the epoch. The epoch is read from the
    trainer (`current_epoch`), not pushed through `set_epoch`: Lightning only calls `set_epoch` on
    samplers it recognizes, and the plan must follow the trainer's epoch after a resume too.
    """

    def __init__(
        self,
        plan_for_epoch: Callable[[int], list[torch.Tensor]],
        num_batches: Callable[[], int],
        current_epoch: Callable[[], int],
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world size {world_size}")
        self.plan_for_epoch = plan_for_epoch
        self.num_batches = num_batches
        self.current_epoch = current_epoch
        self.rank = rank
        self.world_size = world_size

    def __iter__(self) -> Iterator[PlannedBatch]:
        plan = self.plan_for_epoch(self.current_epoch())
        for step, batch in enumerate(plan):
            yield PlannedBatch(rank_slice(batch, self.rank, self.world_size), len(batch), step)

    def __len__(self) -> int:
        return self.num_batches()


class IndexDataset(Dataset):
    """A dataset of indices: the images stay on the device and are gathered after transfer."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> int:
        return index

    def __getitems__(self, batch: PlannedBatch) -> dict:
        return {"indices": batch.indices, "global_size": batch.global_size, "step": batch.step_in_epoch}


def identity_collate(batch: dict) -> dict:
    """`__getitems__` already returns the whole batch."""
    return batch


def fixed_batches(num_samples: int, batch_size: int, order: torch.Tensor | None = None) -> list[torch.Tensor]:
    """Split `order` (default 0..N-1) into consecutive batches of `batch_size` (last may be smaller)."""
    if order is None:
        order = torch.arange(num_samples)
    return list(torch.split(order, batch_size))
