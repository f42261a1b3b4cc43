"""Shuffle: the usual training loop, a fresh seeded permutation of the training set each epoch.

The permutation of epoch e depends only on (seed, e), so a resumed run needs no saved state.
"""

from __future__ import annotations

import torch

from trainfix.core.seeding import derived_seed
from trainfix.data.plan_sampler import fixed_batches
from trainfix.strategies.base import Strategy


class Shuffle(Strategy):
    """Reshuffle every epoch."""

    name = "shuffle"

    def plan_epoch(self, epoch: int) -> list[torch.Tensor]:
        generator = torch.Generator().manual_seed(derived_seed(self.seed, f"plan/epoch{epoch}"))
        return fixed_batches(self.num_samples, self.batch_size, torch.randperm(self.num_samples, generator=generator))
