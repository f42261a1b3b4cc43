"""Baseline (BL) as DeepEutaxy defines it: fixed batches in a fixed order, every epoch.

Source: DeepEutaxy (seeds/deepeutaxy.txt, §IV "baseline"): BL trains the batches in a fixed order
"after a random initialization", the same order every epoch. `order: seeded_shuffle` (default) is
that: one seeded permutation (differing by seed, the same permutation DE's Algorithm 1 line 1
uses), then the same batches in the same order every epoch. The authors' `BL.py` slices the
training set into consecutive batches of 1,000 *in the dataset's order*: `order: dataset`, which
`variant=authors_code` forces.
"""

from __future__ import annotations

import torch

from trainfix.core.seeding import derived_seed
from trainfix.data.plan_sampler import fixed_batches
from trainfix.strategies.base import Strategy

ORDERS = ("dataset", "seeded_shuffle")
VARIANTS = ("paper", "authors_code")


class Baseline(Strategy):
    """Fixed batches, fixed order."""

    name = "baseline"

    def __init__(self, order: str = "seeded_shuffle", variant: str = "paper") -> None:
        if order not in ORDERS:
            raise ValueError(f"strategy.order={order!r} is not accepted; use one of {list(ORDERS)}")
        if variant not in VARIANTS:
            raise ValueError(f"variant={variant!r} is not accepted; use one of {list(VARIANTS)}")
        # The authors' code slices every strategy's batches from the dataset in its official order.
        self.order = "dataset" if variant == "authors_code" else order
        self.variant = variant

    def bind(self, num_samples: int, batch_size: int, seed: int) -> None:
        super().bind(num_samples, batch_size, seed)
        permutation = None
        if self.order == "seeded_shuffle":
            generator = torch.Generator().manual_seed(derived_seed(seed, "plan/fixed"))
            permutation = torch.randperm(num_samples, generator=generator)
        self.batches = fixed_batches(num_samples, batch_size, permutation)

    def plan_epoch(self, epoch: int) -> list[torch.Tensor]:
        return self.batches
