"""The strategy core LEAP, SPLD and Random share: stored losses, the per-epoch selection, the plan.

Every epoch trains once on the samples selected at the end of the previous epoch (all samples in
epoch 0, the code's first epoch), in a seeded random order (`order="shuffle"`; the code keeps the
selected indices ascending, `order="ascending"` under `variant=authors_code`), in batches of the
configured size, the last one possibly smaller. The per-sample losses `reduce_loss` receives are
stored by global index on the device: a sample's stored loss is the one it had the last time it was
trained (Algorithm 2, step 14). Under DDP each rank stores its slices; at the epoch end the stored
losses are summed over ranks (each sample is trained by one rank per epoch), so every rank selects
the same samples and plans the same batches.

`losses="current"` (an option): at every epoch end, before the selection, the student measures every
training sample's cross-entropy with its current weights (evaluation mode, no augmentation, one
forward pass over the training set, `loss_pass_time_s`), as self-paced learning's alternating
optimization does (fix the weights, re-measure every loss, then select). Left-out samples are then
re-measured too; with the default `"trained"` a left-out sample keeps the loss it had when last
trained. Every DDP rank runs the whole pass (same weights, same losses on every rank).

`max_updates`: the run stops after this many mini-batch updates (the code's stop: 23,400 for
MNIST/Fashion-MNIST, 78,000 for CIFAR); the last epoch is cut to reach it exactly.

Because the epochs' lengths change (`epoch_length_varies`), the trainer rebuilds the train loader
each epoch (`reload_dataloaders_every_n_epochs=1`, set by `trainfix.train`): `num_batches()` is the
length of the epoch about to run.
"""

from __future__ import annotations

import logging
import time
from abc import abstractmethod
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from trainfix.core.seeding import derived_seed
from trainfix.data.plan_sampler import fixed_batches
from trainfix.strategies.base import Strategy
from trainfix.strategies.leap.clusters import Clusters
from trainfix.strategies.leap.selection import Pace, select_by_pace, select_first_k

if TYPE_CHECKING:
    import pytorch_lightning as pl

log = logging.getLogger(__name__)

SELECTIONS = ("paper", "code")
ORDERS = ("shuffle", "ascending")
LOSS_READINGS = ("trained", "current")
VARIANTS = ("paper", "authors_code")


class ClusterPaced(Strategy):
    """Select, per epoch, easy samples spread over clusters; subclasses say where clusters come from.

    Args:
        selection: "paper" (Algorithm 2, step 18) or "code" (the first K of each cluster).
        lambda0, gamma0, beta1, beta2, pace_update, k0, grow_k: see `selection.Pace`.
        order: "shuffle" (reshuffle the selected samples every epoch) or "ascending" (the code).
        max_updates: stop after this many mini-batch updates (None: trainer.max_epochs decides).
        clusters_per_class: K.
        losses: "trained" (the loss a sample had when last trained) or "current" (every sample
            re-measured by the current student at each epoch end).
        variant: "paper" or "authors_code" (forces selection="code", order="ascending").
    """

    name = "cluster_paced"
    needs_global_losses = True  # selects by stored training losses: BatchNorm synchronized under DDP
    epoch_length_varies = True

    def __init__(
        self,
        selection: str = "paper",
        lambda0: float = 0.1,
        gamma0: float = 0.5,
        beta1: float = 1.1,
        beta2: float = 1.1,
        pace_update: str = "epoch",
        k0: int = 500,
        grow_k: float = 0.1,
        order: str = "shuffle",
        max_updates: int | None = None,
        clusters_per_class: int = 8,
        variant: str = "paper",
        losses: str = "trained",
    ) -> None:
        checks = (
            ("selection", selection, SELECTIONS),
            ("order", order, ORDERS),
            ("losses", losses, LOSS_READINGS),
            ("variant", variant, VARIANTS),
        )
        for key, value, accepted in checks:
            if value not in accepted:
                key = key if key == "variant" else f"strategy.{key}"
                raise ValueError(f"{key}={value!r} is not accepted; use one of {list(accepted)}")
        if max_updates is not None and (not isinstance(max_updates, int) or max_updates < 1):
            raise ValueError(f"strategy.max_updates={max_updates!r}: must be an integer >= 1 or null")
        if not isinstance(clusters_per_class, int) or clusters_per_class < 1:
            raise ValueError(f"strategy.clusters_per_class={clusters_per_class!r}: must be an integer >= 1")
        code = variant == "authors_code"
        self.selection = "code" if code else selection
        self.order = "ascending" if code else order
        self.variant = variant
        self.pace = Pace(lambda0, gamma0, beta1, beta2, pace_update, k0, grow_k)
        self.max_updates = max_updates
        self.clusters_per_class = clusters_per_class
        self.loss_reading = losses

    # ------------------------------------------------------------------ planning
    def bind(self, num_samples: int, batch_size: int, seed: int) -> None:
        super().bind(num_samples, batch_size, seed)
        self.stored = torch.full((num_samples,), float("nan"))  # per-sample CE the last time trained
        self.trained = torch.zeros(num_samples, dtype=torch.bool)  # this epoch, this rank
        self.selected = torch.arange(num_samples)  # epoch 0: all samples
        self.epoch = 0  # the epoch the next plan is for
        self.updates = 0  # mini-batch updates done before `epoch`
        self.clusters: Clusters | None = None
        self._plan: tuple[int, list[torch.Tensor]] | None = None

    def plan_epoch(self, epoch: int) -> list[torch.Tensor]:
        if self._plan is None or self._plan[0] != epoch:
            self._plan = (epoch, self._make_plan(epoch))
        return self._plan[1]

    def _make_plan(self, epoch: int) -> list[torch.Tensor]:
        chosen = self.selected
        if epoch == 0 or self.order == "shuffle":
            generator = torch.Generator().manual_seed(derived_seed(self.seed, f"{self.name}/plan/epoch{epoch}"))
            chosen = chosen[torch.randperm(len(chosen), generator=generator)]
        batches = fixed_batches(len(chosen), self.batch_size, chosen)
        if self.max_updates is not None:
            batches = batches[: max(self.max_updates - self.updates, 0)]
        return batches

    def num_batches(self) -> int:
        return len(self.plan_epoch(self.epoch))

    # ------------------------------------------------------------------ training
    def reduce_loss(self, losses: torch.Tensor, indices: torch.Tensor, global_size: int):
        if self.stored.device != losses.device:
            self.stored, self.trained = self.stored.to(losses.device), self.trained.to(losses.device)
        self.stored[indices] = losses.float()
        self.trained[indices] = True
        return super().reduce_loss(losses, indices, global_size)

    def on_train_epoch_end(self, epoch: int, trainer: pl.Trainer, module: pl.LightningModule) -> dict[str, float]:
        if self.loss_reading == "trained":
            self._gather_losses(trainer)
        else:  # every loss is re-measured below: no need to gather the ranks' trained ones
            self.trained.zero_()
        batches = len(self.plan_epoch(epoch))
        self.updates += batches
        metrics = self.end_of_epoch(epoch, trainer, module)  # e.g. the embedding's refresh
        if self.loss_reading == "current":
            start = time.perf_counter()
            self.stored = current_losses(trainer, module).to(self.stored.device)
            metrics = {**metrics, "loss_pass_time_s": time.perf_counter() - start}
        clusters = self.current_clusters()
        lam, gamma = self.pace.for_selection(batches)
        k = self.pace.k
        mask = self.select(clusters, lam, gamma)
        if not bool(mask.any()):
            log.warning(
                "%s selected no sample after epoch %d (lambda=%g, gamma=%g): the next epoch trains on all",
                self.name,
                epoch,
                lam,
                gamma,
            )
            mask = torch.ones_like(mask)
        self.selected = torch.nonzero(mask.cpu()).squeeze(1)
        self.pace.advance(batches)
        self.epoch = epoch + 1
        if self.max_updates is not None and self.updates >= self.max_updates:
            trainer.should_stop = True
        return {
            **metrics,
            "pace_lambda": lam,
            "pace_gamma": gamma,
            "pace_k": float(k),
            "selected_frac_next": len(self.selected) / self.num_samples,
            "epoch_updates": float(batches),
            "clusters": float(clusters.count),
        }

    def select(self, clusters: Clusters, lam: float, gamma: float) -> torch.Tensor:
        """Mask [N] of the samples for the next epoch: the paper's rule at (lam, gamma), or the code's first K."""
        assignment = clusters.assignment.to(self.stored.device)
        if self.selection == "code":
            return select_first_k(assignment, self.pace.k)
        return select_by_pace(self.stored, assignment, lam, gamma)

    def _gather_losses(self, trainer: pl.Trainer) -> None:
        if trainer.world_size > 1:
            # Each sample was trained by at most one rank this epoch: sum the ranks' slices.
            mask = self.trained.float()
            values = trainer.strategy.reduce(torch.where(self.trained, self.stored, 0.0), reduce_op="sum")
            mask = trainer.strategy.reduce(mask, reduce_op="sum")
            self.stored = torch.where(mask > 0, values / mask.clamp(min=1), self.stored)
        self.trained.zero_()

    # ----------------------------------------------------------------- subclass
    @abstractmethod
    def current_clusters(self) -> Clusters:
        """The clusters the next selection uses."""

    def end_of_epoch(self, epoch: int, trainer: pl.Trainer, module: pl.LightningModule) -> dict[str, float]:
        """Subclass work before the selection (e.g. the embedding's refresh); returns metrics."""
        return {}

    # --------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "stored": self.stored.cpu(),
            "selected": self.selected.cpu(),
            "epoch": self.epoch,
            "updates": self.updates,
            "pace": self.pace.state_dict(),
            "clusters": None if self.clusters is None else self.clusters.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stored = state["stored"].clone().to(self.stored.device)
        self.trained = torch.zeros_like(self.stored, dtype=torch.bool)
        self.selected = state["selected"].clone()
        self.epoch = int(state["epoch"])
        self.updates = int(state["updates"])
        self.pace.load_state_dict(state["pace"])
        self.clusters = None if state["clusters"] is None else Clusters.from_state(state["clusters"])
        self._plan = None


@torch.no_grad()
def student_outputs(trainer: pl.Trainer, module: pl.LightningModule, chunk: int = 1000) -> torch.Tensor:
    """The student's logits [N, classes] over the training set (evaluation mode, no augmentation, CPU float32)."""
    datamodule = trainer.datamodule
    n = len(datamodule.splits["train"].labels)
    was_training = module.training
    module.eval()
    try:
        parts = [
            module(datamodule.gather("train", torch.arange(s, min(s + chunk, n)))[0]).float().cpu()
            for s in range(0, n, chunk)
        ]
    finally:
        module.train(was_training)
    return torch.cat(parts)


def current_losses(trainer: pl.Trainer, module: pl.LightningModule) -> torch.Tensor:
    """Every training sample's cross-entropy under the student's current weights [N] (CPU float32)."""
    labels = trainer.datamodule.splits["train"].labels.cpu()
    return F.cross_entropy(student_outputs(trainer, module), labels, reduction="none")
