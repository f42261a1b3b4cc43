"""LEAP's embedding CNN trained with the Magnet loss (seeds/leap.txt, Algorithm 1).

Every step: a neighbourhood batch (M clusters x D samples, `clusters.neighbourhood_batch`), the
Magnet loss (Eq. 1), one Adam step (lr 1e-4), and the batch's per-sample losses stored by index
(they weight the seed-cluster draw). The representation index is refreshed at step 0 and after
every R steps (Algorithm 1's "if e == R", the code's R = ceil(N / (M * D)), one pass over the
data): the whole training set is embedded (evaluation mode, no gradient) and k-means++ re-run per
class. Training stops after `epochs * R` steps (the code: 15 passes for MNIST/Fashion-MNIST, 30 for
CIFAR); the clusters of the last refresh then stay fixed.

The network is any registry model with `num_classes` = the embedding size (2 in LEAP):
`magnet_lenet` for MNIST/Fashion-MNIST, `vgg16` (BN, classifier 512-512-2, from scratch) for
CIFAR/SVHN. Inputs are the training images as the student's data module prepares them (scaled,
normalized), without augmentation, so the clusters describe the stored samples themselves.

The embedding draws every random number from generators of its own (batches; dropout, whose
`nn.Dropout` layers are swapped for `GeneratorDropout`): its training never touches the global RNG
the student's dropout uses, so the student's stream does not depend on whether, how often or on
which thread the embedding steps (`Leap` mode `background` relies on it).
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from trainfix.core.seeding import derived_seed
from trainfix.models import build_model
from trainfix.strategies.leap.clusters import Clusters, kmeans_per_class, neighbourhood_batch
from trainfix.strategies.leap.magnet import SIGMA_POWERS, magnet_loss


class GeneratorDropout(torch.nn.Module):
    """`nn.Dropout` (inverted: kept units scaled by 1 / (1 - p)) drawing its masks from `generator`."""

    def __init__(self, p: float, generator: torch.Generator) -> None:
        super().__init__()
        self.p, self.generator = float(p), generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.empty_like(x).bernoulli_(1.0 - self.p, generator=self.generator)
        return x * keep / (1.0 - self.p)


def _own_dropout(module: torch.nn.Module, generator: torch.Generator) -> None:
    for name, child in module.named_children():
        if isinstance(child, torch.nn.Dropout):
            setattr(module, name, GeneratorDropout(child.p, generator))
        else:
            _own_dropout(child, generator)


class MagnetEmbedding:
    """The embedding network, its optimizer, clusters and stored Magnet losses.

    Args (named as the `strategy.*` config keys: `Leap` passes those on):
        network: registry name of the embedding CNN ("magnet_lenet", "vgg16", ...).
        embedding_dim: embedding size (2 in LEAP: the space is plotted directly).
        clusters_per_class: K (8).
        clusters_per_batch: M (8).
        samples_per_cluster: D (8).
        embedding_lr: Adam learning rate (1e-4).
        alpha: Magnet margin (1.0, the code's).
        sigma_power: 2 (Eq. 1) or 4 (the code).
        code_epsilons: the code's numerics in the loss.
        embedding_epochs: passes of R steps the embedding trains (15 MNIST/Fashion-MNIST, 30 CIFAR/SVHN).
        refresh_every: R in steps (None: ceil(N / (M * D))).
        kmeans_n_init: k-means restarts (10).
        embed_batch: samples per forward pass when embedding the whole training set.
    """

    # duplicates pairs this signature with ClusterPaced's by shape alone: each lists its own options' defaults.
    def __init__(
        self,
        network: str = "magnet_lenet",
        embedding_dim: int = 2,
        clusters_per_class: int = 8,
        clusters_per_batch: int = 8,
        samples_per_cluster: int = 8,
        embedding_lr: float = 1e-4,
        alpha: float = 1.0,
        sigma_power: int = 2,
        code_epsilons: bool = False,
        embedding_epochs: float = 15,
        refresh_every: int | None = None,
        kmeans_n_init: int = 10,
        embed_batch: int = 1000,
    ) -> None:
        if sigma_power not in SIGMA_POWERS:
            raise ValueError(f"strategy.sigma_power={sigma_power!r} is not accepted; use one of {list(SIGMA_POWERS)}")
        for key, value in (
            ("clusters_per_batch", clusters_per_batch),
            ("samples_per_cluster", samples_per_cluster),
            ("embedding_dim", embedding_dim),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"strategy.{key}={value!r}: must be an integer >= 1")
        if clusters_per_batch < 2:
            raise ValueError(
                f"strategy.clusters_per_batch={clusters_per_batch}: the Magnet loss needs >= 2 (a seed and an impostor)"
            )
        if refresh_every is not None and (not isinstance(refresh_every, int) or refresh_every < 1):
            raise ValueError(f"strategy.refresh_every={refresh_every!r}: must be an integer >= 1 or null")
        if not embedding_epochs >= 0:
            raise ValueError(f"strategy.embedding_epochs={embedding_epochs!r}: must be >= 0")
        self.network, self.dim = network, embedding_dim
        self.k, self.m, self.d = clusters_per_class, clusters_per_batch, samples_per_cluster
        self.lr, self.alpha, self.sigma_power, self.code_epsilons = embedding_lr, alpha, sigma_power, code_epsilons
        self.epochs, self.refresh_every, self.kmeans_n_init, self.embed_batch = (
            embedding_epochs,
            refresh_every,
            kmeans_n_init,
            embed_batch,
        )
        self.net: torch.nn.Module | None = None

    def setup(self, datamodule: Any, device: torch.device, num_samples: int, seed: int) -> None:
        """Build the network (seeded, independent of the global RNG) and optimizer on `device`."""
        self.datamodule = datamodule
        self.seed = seed
        channels, size, _ = datamodule.input_shape
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derived_seed(seed, "leap/embedding/init"))
            self.net = build_model(self.network, num_classes=self.dim, in_channels=channels, image_size=size).to(device)
        self.dropout_generator = torch.Generator(device=device).manual_seed(
            derived_seed(seed, "leap/embedding/dropout")
        )
        _own_dropout(self.net, self.dropout_generator)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=self.lr)
        self.generator = torch.Generator().manual_seed(derived_seed(seed, "leap/embedding/batches"))
        self.labels = datamodule.splits["train"].labels.clone()
        self.losses = torch.full((num_samples,), float("nan"))
        self.period = self.refresh_every or math.ceil(num_samples / (self.m * self.d))
        self.total_steps = int(round(self.epochs * self.period))
        self.steps = 0
        self.refreshes = 0
        self.clusters: Clusters | None = None
        self.embeddings: torch.Tensor | None = None  # [N, dim] at the last refresh (CPU)
        self.loss_sum, self.loss_count = 0.0, 0
        self.seconds = 0.0  # wall time spent training and refreshing (since the last `take_metrics`)

    @property
    def done(self) -> bool:
        return self.steps >= self.total_steps

    @torch.no_grad()
    def embed_all(self) -> torch.Tensor:
        """Embeddings [N, dim] of the whole training set (evaluation mode, CPU float32)."""
        was_training = self.net.training
        self.net.eval()
        try:
            n = len(self.labels)
            parts = [
                self.net(self.datamodule.gather("train", torch.arange(s, min(s + self.embed_batch, n)))[0])
                .float()
                .cpu()
                for s in range(0, n, self.embed_batch)
            ]
        finally:
            self.net.train(was_training)
        return torch.cat(parts)

    def refresh(self) -> None:
        """Algorithm 1, steps 4-11: re-embed the training set, k-means++ per class."""
        start = time.perf_counter()
        self.embeddings = self.embed_all()
        seed = derived_seed(self.seed, f"leap/kmeans/{self.refreshes}")
        self.clusters = kmeans_per_class(self.embeddings, self.labels, self.k, seed, n_init=self.kmeans_n_init)
        self.refreshes += 1
        self.seconds += time.perf_counter() - start

    def step(self) -> None:
        """One Magnet-loss step (refreshing first at step 0)."""
        if self.clusters is None:
            self.refresh()
        start = time.perf_counter()
        indices, block_classes = neighbourhood_batch(self.clusters, self.losses, self.m, self.d, self.generator)
        device = next(self.net.parameters()).device
        x, _ = self.datamodule.gather("train", indices)
        self.net.train()
        with torch.enable_grad():
            losses = magnet_loss(
                self.net(x).float(), block_classes.to(device), self.d, self.alpha, self.sigma_power, self.code_epsilons
            )
            self.optimizer.zero_grad(set_to_none=True)
            losses.mean().backward()
        self.optimizer.step()
        detached = losses.detach().cpu()
        self.losses[indices] = detached  # a sample drawn twice keeps its last loss
        self.loss_sum += float(detached.sum())
        self.loss_count += detached.numel()
        self.steps += 1
        self.seconds += time.perf_counter() - start
        if self.steps % self.period == 0 or self.done:
            self.refresh()

    def train_to_end(self) -> None:
        """The code's protocol (`mode=pretrained`): every step now, then the clusters stay fixed."""
        while not self.done:
            self.step()
        if self.clusters is None:
            self.refresh()

    def take_metrics(self) -> dict[str, float]:
        """Embedding metrics since the last call (mean Magnet loss, seconds, steps, refreshes)."""
        metrics = {
            "magnet_loss": self.loss_sum / self.loss_count if self.loss_count else math.nan,
            "embedding_steps": float(self.steps),
            "embedding_refreshes": float(self.refreshes),
            "embedding_time_s": self.seconds,
        }
        self.loss_sum, self.loss_count, self.seconds = 0.0, 0, 0.0
        return metrics

    # --------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "net": {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "dropout_generator": self.dropout_generator.get_state(),
            "losses": self.losses.clone(),
            "steps": self.steps,
            "refreshes": self.refreshes,
            "clusters": None if self.clusters is None else self.clusters.state_dict(),
            "embeddings": None if self.embeddings is None else self.embeddings.clone(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        if "dropout_generator" in state:  # absent in checkpoints written before the embedding had its own
            self.dropout_generator.set_state(state["dropout_generator"])
        self.losses = state["losses"].clone()
        self.steps, self.refreshes = int(state["steps"]), int(state["refreshes"])
        self.clusters = None if state["clusters"] is None else Clusters.from_state(state["clusters"])
        self.embeddings = None if state["embeddings"] is None else state["embeddings"].clone()
