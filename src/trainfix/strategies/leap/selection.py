"""Which samples the student trains on next epoch: Algorithm 2's rule, the authors' code's rule, the pace.

Paper (seeds/leap.txt, Algorithm 2, steps 13-19): inside each cluster the samples are sorted by
their loss, ascending; the sample of rank i (from 1) is selected when

    L_i < lambda + gamma / (sqrt(i) + sqrt(i - 1))                                  (step 18)

so the first sample of a cluster faces lambda + gamma and later ones a threshold falling towards
lambda: easy samples, spread over the clusters (SPLD's closed-form solution). The pace (step 23)
is lambda <- beta1 * lambda, gamma <- beta2 * gamma (the printed "gamma <- beta2 * lambda" is a
typo: it would tie gamma to lambda after one update). Default (`pace_update="epoch"`, as the code):
one selection per epoch with the epoch's lambda, gamma, then one pace step. `pace_update="batch"`
(Algorithm 2 as printed): inside an epoch of B mini-batches, batch b (from 1) trains, selects with
lambda * beta1^(b-1), gamma * beta2^(b-1) (steps 12-22), then steps the pace (step 23). Only the
last selection, after batch B, forms the next epoch's set (step 26), so the epoch end selects with
lambda * beta1^(B-1), gamma * beta2^(B-1) (`Pace.for_selection`) and the next epoch starts from
lambda * beta1^B, gamma * beta2^B (`Pace.advance`).

Authors' code (`selection="code"`): the threshold is computed and ignored; the first K samples of
each cluster in dataset order are selected (no sorting), K = K0 at first and K <- round(K * (1 +
grow)) after every epoch (reference: [K0, g0, growK, growg] = [500, 0.5, 0.1, 0.1]).
"""

from __future__ import annotations

import math

import torch

PACE_UPDATES = ("epoch", "batch")


def pace_thresholds(lam: float, gamma: float, ranks: torch.Tensor) -> torch.Tensor:
    """lambda + gamma / (sqrt(i) + sqrt(i - 1)) for ranks i >= 1 (float64)."""
    i = ranks.double()
    return lam + gamma / (torch.sqrt(i) + torch.sqrt(i - 1))


def ranks_in_cluster(losses: torch.Tensor, assignment: torch.Tensor) -> torch.Tensor:
    """Rank (from 1) of each sample's loss inside its cluster, ascending; ties by sample index.

    A NaN loss (a sample never trained) sorts last in its cluster.
    """
    n = losses.numel()
    key = torch.nan_to_num(losses.double(), nan=math.inf)
    by_loss = torch.sort(key, stable=True).indices
    order = by_loss[torch.sort(assignment[by_loss], stable=True).indices]  # cluster-major, loss-ascending
    sorted_clusters = assignment[order]
    position = torch.arange(n, device=losses.device)
    first = torch.ones(n, dtype=torch.bool, device=losses.device)
    first[1:] = sorted_clusters[1:] != sorted_clusters[:-1]
    start = torch.cummax(torch.where(first, position, torch.zeros_like(position)), dim=0).values
    ranks = torch.empty_like(position)
    ranks[order] = position - start + 1
    return ranks


def select_by_pace(losses: torch.Tensor, assignment: torch.Tensor, lam: float, gamma: float) -> torch.Tensor:
    """Algorithm 2, step 18: boolean mask [N] of the selected samples (a NaN loss is never selected)."""
    ranks = ranks_in_cluster(losses, assignment)
    return losses.double() < pace_thresholds(lam, gamma, ranks)


def select_first_k(assignment: torch.Tensor, k: int) -> torch.Tensor:
    """The authors' code: the first `k` samples of each cluster in dataset order (mask [N])."""
    n = assignment.numel()
    order = torch.sort(assignment, stable=True).indices  # cluster-major, dataset order inside
    sorted_clusters = assignment[order]
    position = torch.arange(n, device=assignment.device)
    first = torch.ones(n, dtype=torch.bool, device=assignment.device)
    first[1:] = sorted_clusters[1:] != sorted_clusters[:-1]
    start = torch.cummax(torch.where(first, position, torch.zeros_like(position)), dim=0).values
    mask = torch.zeros(n, dtype=torch.bool, device=assignment.device)
    mask[order] = (position - start) < k
    return mask


class Pace:
    """lambda, gamma and their growth (paper rule), or K and its growth (code rule).

    Args:
        lambda0: initial easiness threshold lambda, in nats of cross-entropy.
        gamma0: initial diversity term gamma, in nats.
        beta1, beta2: lambda and gamma multipliers per update (> 1 admits more samples).
        update: "epoch" (once per epoch) or "batch" (once per mini-batch, Algorithm 2 as printed).
        k0, grow_k: the code rule's first K (samples per cluster) and its relative growth per epoch.
    """

    # duplicates pairs this signature with models.build_model's by shape alone: unrelated argument lists.
    def __init__(
        self,
        lambda0: float,
        gamma0: float,
        beta1: float,
        beta2: float,
        update: str = "epoch",
        k0: int = 500,
        grow_k: float = 0.1,
    ) -> None:
        for key, value in (("lambda0", lambda0), ("gamma0", gamma0), ("beta1", beta1), ("beta2", beta2)):
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(f"strategy.{key}={value!r}: must be a finite number >= 0")
        if update not in PACE_UPDATES:
            raise ValueError(f"strategy.pace_update={update!r} is not accepted; use one of {list(PACE_UPDATES)}")
        if not isinstance(k0, int) or k0 < 1:
            raise ValueError(f"strategy.k0={k0!r}: must be an integer >= 1")
        self.lam, self.gamma = float(lambda0), float(gamma0)
        self.beta1, self.beta2 = float(beta1), float(beta2)
        self.update = update
        self.k = k0
        self.grow_k = float(grow_k)

    def for_selection(self, batches: int) -> tuple[float, float]:
        """(lambda, gamma) of the selection that ends an epoch of `batches` mini-batches: the epoch's own
        under "epoch"; under "batch" the ones Algorithm 2 reaches at its last batch, beta^(batches - 1) on."""
        times = max(batches - 1, 0) if self.update == "batch" else 0
        return self.lam * self.beta1**times, self.gamma * self.beta2**times

    def advance(self, batches: int) -> None:
        """After an epoch of `batches` mini-batches: step 23 once (or once per batch), and K's growth."""
        times = batches if self.update == "batch" else 1
        self.lam *= self.beta1**times
        self.gamma *= self.beta2**times
        self.k = int(round(self.k * (1 + self.grow_k)))

    def state_dict(self) -> dict[str, float]:
        return {"lambda": self.lam, "gamma": self.gamma, "k": self.k}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.lam, self.gamma, self.k = float(state["lambda"]), float(state["gamma"]), int(state["k"])
