"""K clusters per class (k-means++, scikit-learn) and the Magnet loss's neighbourhood sampling.

Algorithm 1, steps 8-12 of seeds/leap.txt: for each class, k-means with k-means++ seeding over the
embeddings of that class's samples (the code: K = 8, n_init = 10, max_iter = 100). A cluster id is
global: clusters of class c are numbered after those of classes < c, `cluster_class[id]` is the
class. Neighbourhood sampling (Rippel et al. 2015, as the code's ClusterBatchBuilder): a seed
cluster drawn with probability proportional to its mean stored Magnet loss, its M - 1 nearest
clusters (squared Euclidean distance between centres) among the clusters of *other* classes, and
D samples drawn uniformly with replacement from each of those M clusters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.cluster import KMeans


@dataclass
class Clusters:
    """A partition of the training set into clusters, each of one class.

    assignment: [N] int64 global cluster id of each sample.
    centres: [n_clusters, dim] float32 cluster centres in the space that was clustered.
    cluster_class: [n_clusters] int64 class of each cluster.
    """

    assignment: torch.Tensor
    centres: torch.Tensor
    cluster_class: torch.Tensor

    @property
    def count(self) -> int:
        return int(self.cluster_class.numel())

    def members(self, cluster: int) -> torch.Tensor:
        """Sample indices of `cluster`, ascending (sorted once per partition, then sliced)."""
        if getattr(self, "_by_cluster", None) is None:
            assignment = self.assignment.cpu()
            self._by_cluster = torch.sort(assignment, stable=True).indices
            self._offsets = torch.cumsum(torch.bincount(assignment, minlength=self.count), 0).tolist()
        start = self._offsets[cluster - 1] if cluster else 0
        return self._by_cluster[start : self._offsets[cluster]]

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {
            "assignment": self.assignment.cpu(),
            "centres": self.centres.cpu(),
            "cluster_class": self.cluster_class.cpu(),
        }

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> Clusters:
        return cls(state["assignment"].clone(), state["centres"].clone(), state["cluster_class"].clone())


def kmeans_per_class(
    features: torch.Tensor, labels: torch.Tensor, k: int, seed: int, n_init: int = 10, max_iter: int = 100
) -> Clusters:
    """k-means++ with `k` clusters inside each class (fewer for a class with fewer than k samples).

    `features` [N, dim] (any float dtype, any device), `labels` [N]. Deterministic for a given seed.
    """
    if k < 1:
        raise ValueError(f"strategy.clusters_per_class={k!r}: must be an integer >= 1")
    x = features.detach().double().cpu().numpy()
    y = labels.cpu().numpy()
    assignment = np.full(len(y), -1, dtype=np.int64)
    centres: list[np.ndarray] = []
    owners: list[int] = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        n_clusters = min(k, len(members))
        km = KMeans(
            n_clusters=n_clusters, init="k-means++", n_init=n_init, max_iter=max_iter, random_state=seed % 2**32
        )
        local = km.fit_predict(x[members])
        assignment[members] = len(owners) + local
        centres.extend(km.cluster_centers_[i] for i in range(n_clusters))
        owners.extend([int(c)] * n_clusters)
    return Clusters(
        torch.from_numpy(assignment),
        torch.from_numpy(np.stack(centres)).float(),
        torch.tensor(owners, dtype=torch.long),
    )


def impostor_clusters(clusters: Clusters, seed_cluster: int, count: int) -> torch.Tensor:
    """The `count` clusters of other classes whose centres are nearest to the seed's (ascending distance)."""
    others = torch.nonzero(clusters.cluster_class != clusters.cluster_class[seed_cluster]).squeeze(1)
    if others.numel() < count:
        raise ValueError(
            f"strategy.clusters_per_batch={count + 1}: needs {count} clusters of other classes, "
            f"there are {others.numel()}"
        )
    dist = (clusters.centres[others] - clusters.centres[seed_cluster]).pow(2).sum(dim=1)
    order = torch.sort(dist, stable=True).indices[:count]
    return others[order]


def cluster_mean_losses(clusters: Clusters, sample_losses: torch.Tensor) -> torch.Tensor:
    """Mean stored loss of each cluster over its samples that have one (NaN = never trained: excluded);
    NaN for a cluster none of whose samples has a loss yet."""
    seen = ~torch.isnan(sample_losses)
    assignment = clusters.assignment.to(sample_losses.device)
    total = torch.zeros(clusters.count, dtype=torch.float64, device=sample_losses.device)
    count = torch.zeros_like(total)
    total.index_add_(0, assignment[seen], sample_losses[seen].double())
    count.index_add_(0, assignment[seen], torch.ones_like(sample_losses[seen], dtype=torch.float64))
    return (total / count).cpu()


def neighbourhood_batch(
    clusters: Clusters,
    sample_losses: torch.Tensor,
    clusters_per_batch: int,
    samples_per_cluster: int,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One Magnet-loss batch: (sample indices [M*D] in M blocks of D, class of each block [M]).

    The seed cluster is drawn with probability proportional to its mean stored loss; a cluster
    without any stored loss yet counts with the mean of the others (uniform before any loss, the
    code's start; the code's zero-probability for such clusters would never visit them again).
    """
    means = cluster_mean_losses(clusters, sample_losses)
    known = ~torch.isnan(means)
    weights = torch.where(
        known, means, means[known].mean() if bool(known.any()) else torch.tensor(1.0, dtype=torch.float64)
    )
    if not bool((weights > 0).any()):
        weights = torch.ones_like(weights)
    seed_cluster = int(torch.multinomial(weights.float(), 1, generator=generator))
    chosen = torch.cat(
        [torch.tensor([seed_cluster]), impostor_clusters(clusters, seed_cluster, clusters_per_batch - 1)]
    )
    blocks = []
    for cluster in chosen.tolist():
        members = clusters.members(cluster)
        blocks.append(members[torch.randint(len(members), (samples_per_cluster,), generator=generator)])
    return torch.cat(blocks), clusters.cluster_class[chosen]
