"""Random: LEAP's baseline.

Source: seeds/leap.txt §4 and Table 1 ("Random", MNIST 99.24 +- 0.06 %); the authors' Random
(`spld_iclr.py --random`, 6b8d9d8..bccac11; `trainer.py --random` -> `optimizers/random_selector.py`
on their vithu-dev branch) is a `DataLoader(shuffle=True)` over the whole training set: every
sample, every epoch, freshly shuffled. That is `count="all"` (default, Table 1's Random): the
selection keeps every sample and the plan is reshuffled each epoch with a generator seeded by
(seed, epoch), also under `variant=authors_code` (the code's Random shuffles; only its LEAP and
SPLD keep the selected indices ascending).
`count="paced"` (an option, not the paper's): each epoch trains on a uniformly drawn subset of the
size Algorithm 2's rule gives on this run's own stored losses over random clusters (each class split
at random into K groups, fixed at the start): the pace decides how many, chance decides which; a
draw is seeded by (seed, epoch). It isolates *which* samples the rule picks from *how many*.
Both train the same number of mini-batch updates as LEAP when `max_updates` is set.
"""

from __future__ import annotations

from typing import Any

import torch

from trainfix.core.seeding import derived_seed
from trainfix.strategies.leap.clusters import Clusters
from trainfix.strategies.leap.paced import ClusterPaced

COUNTS = ("all", "paced")


class RandomSubset(ClusterPaced):
    """Every sample shuffled, or a uniformly drawn paced subset (see the module docstring); other
    arguments as `ClusterPaced`.

    Args:
        count: "all" (every sample each epoch, reshuffled: the authors' Random) or "paced".
    """

    name = "random_subset"

    @property
    def needs_global_losses(self) -> bool:  # "paced" sizes its draw from the stored losses; "all" reads none
        return self.count == "paced"

    def __init__(self, count: str = "all", **paced: Any) -> None:
        super().__init__(**paced)
        if count not in COUNTS:
            raise ValueError(f"strategy.count={count!r} is not accepted; use one of {list(COUNTS)}")
        self.count = count
        if count == "all":
            self.order = "shuffle"  # the authors' Random reshuffles every epoch, whatever the variant

    def bind(self, num_samples: int, batch_size: int, seed: int) -> None:
        super().bind(num_samples, batch_size, seed)
        self.labels: torch.Tensor | None = None

    def on_train_start(self, trainer, module) -> None:
        if self.clusters is not None:
            return
        labels = trainer.datamodule.splits["train"].labels
        self.clusters = random_clusters(labels, self.clusters_per_class, derived_seed(self.seed, "random/clusters"))

    def current_clusters(self) -> Clusters:
        assert self.clusters is not None, "on_train_start sets the clusters"
        return self.clusters

    def select(self, clusters: Clusters, lam: float, gamma: float) -> torch.Tensor:
        n = self.num_samples
        if self.count == "all":
            return torch.ones(n, dtype=torch.bool)
        count = int(super().select(clusters, lam, gamma).sum())
        generator = torch.Generator().manual_seed(derived_seed(self.seed, f"random/draw/epoch{self.epoch}"))
        mask = torch.zeros(n, dtype=torch.bool)
        mask[torch.randperm(n, generator=generator)[:count]] = True
        return mask


def random_clusters(labels: torch.Tensor, k: int, seed: int) -> Clusters:
    """Each class split uniformly at random into min(k, class size) groups of near-equal size."""
    generator = torch.Generator().manual_seed(seed)
    labels = labels.cpu()
    assignment = torch.empty(len(labels), dtype=torch.long)
    owners: list[int] = []
    for c in torch.unique(labels).tolist():
        members = torch.nonzero(labels == c).squeeze(1)
        groups = min(k, len(members))
        shuffled = members[torch.randperm(len(members), generator=generator)]
        assignment[shuffled] = len(owners) + torch.arange(len(members)) % groups
        owners.extend([c] * groups)
    return Clusters(assignment, torch.zeros(len(owners), 2), torch.tensor(owners, dtype=torch.long))
