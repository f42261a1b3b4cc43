"""SPLD (Jiang et al. 2014), as LEAP compares it: the same selection over fixed k-means clusters.

Source: seeds/leap.txt §2.1, §4 ("SPLD uses K-Means to partition its data into K clusters at the
start of training") and the authors' code (references/leap-and-trimming.md): k-means (K = 8 per
class, k-means++) on the *untrained* student's outputs (logits) over the whole training set, once,
at the start; then Algorithm 2's selection and pace with the same lambda, gamma, beta as LEAP
("kept consistent between the SPLD strategy in LEAP and the original SPLD algorithm"). Table 1:
MNIST 99.20 +- 0.05 %.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trainfix.core.seeding import derived_seed
from trainfix.strategies.leap.clusters import Clusters, kmeans_per_class
from trainfix.strategies.leap.paced import ClusterPaced, student_outputs

if TYPE_CHECKING:
    import pytorch_lightning as pl


class Spld(ClusterPaced):
    """Cluster-paced selection over clusters of the untrained student's logits (arguments: `ClusterPaced`)."""

    name = "spld"

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if self.clusters is not None:  # restored from a checkpoint
            return
        logits = student_outputs(trainer, module)
        labels = trainer.datamodule.splits["train"].labels
        clusters = kmeans_per_class(logits, labels, self.clusters_per_class, derived_seed(self.seed, "spld/kmeans"))
        if trainer.world_size > 1:
            clusters = Clusters(
                *(
                    trainer.strategy.broadcast(t, src=0)
                    for t in (clusters.assignment, clusters.centres, clusters.cluster_class)
                )
            )
        self.clusters = clusters

    def current_clusters(self) -> Clusters:
        assert self.clusters is not None, "on_train_start sets the clusters"
        return self.clusters
