"""Apricot's retraining after each adaptation batch (seeds/apricot.txt Algorithm 2 lines 29 and 33, L283:
the whole training set, 20 epochs, the model's batch size).

The input run's own LightningModule trains: every step's loss is `Classifier.step_loss`, the loss every
trainfix run minimizes (per-sample cross-entropy reduced by the run's strategy, normalized by the batch
size, plus the run's L2 term on the convolution kernels), with the input run's optimizer at the rate its
schedule ended with (`final_lr`), its batch size and its augmentation. The order and the augmentation are
seeded per adaptation batch (`retrain(seed)`), so a resumed pass retrains exactly as an uninterrupted one.

The optimizer state (`optimizer_state`):
- `fresh` (default): a new optimizer for each batch's retraining (Adam's moments start at zero each time);
- `kept`: one optimizer for the whole pass, its state carried from batch to batch (also across a roll-back,
  which restores weights only), as a Keras model's compiled optimizer is across `fit` calls. Its state is
  part of the pass's state (`state_dict`), so a resumed pass continues it.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from trainfix.core.seeding import derived_seed
from trainfix.training.checkpoint import LoadedRun

log = logging.getLogger(__name__)

OPTIMIZER_STATES = ("fresh", "kept")


def final_lr(cfg: DictConfig) -> float:
    """The learning rate the input run ended with: its optimizer's, after its per-epoch scheduler ran
    `trainer.max_epochs` epochs (a Keras model fitted again keeps the rate its schedule left it at)."""
    probe = torch.nn.Parameter(torch.zeros(1))
    optimizer = instantiate(cfg.optimizer)(params=[probe])
    scheduler_cfg = cfg.scheduler.get("scheduler")
    if scheduler_cfg is not None and cfg.scheduler.get("interval", "step") == "epoch":
        scheduler = instantiate(scheduler_cfg)(optimizer)
        for _ in range(int(cfg.trainer.max_epochs)):
            optimizer.step()
            scheduler.step()
    elif scheduler_cfg is not None:
        log.warning("retraining at the optimizer's initial rate: the input run's scheduler steps per batch")
    return float(optimizer.param_groups[0]["lr"])


class Retrainer:
    """`epochs` of the input run's recipe on its whole training set, through its `Classifier`."""

    def __init__(self, run: LoadedRun, epochs: int, optimizer_state: str = "fresh") -> None:
        if optimizer_state not in OPTIMIZER_STATES:
            raise ValueError(
                f"retrain_optimizer={optimizer_state!r}; accepted: {list(OPTIMIZER_STATES)} "
                "(fresh: a new optimizer per batch's retraining; kept: one carried across the pass, as Keras)"
            )
        self.module, self.datamodule, self.epochs = run.classifier, run.datamodule, epochs
        self.batch_size = int(run.config.data.batch_size)
        self.lr = final_lr(run.config) if epochs > 0 else None
        self.keep = optimizer_state == "kept"
        self.optimizer: torch.optim.Optimizer | None = None

    def _optimizer(self) -> torch.optim.Optimizer:
        if self.optimizer is None or not self.keep:
            self.optimizer = self.module.optimizer_factory(params=self.module.net.parameters(), lr=self.lr)
        return self.optimizer

    def __call__(self, seed: int) -> None:
        """Retrain in place, the order and augmentation seeded by `seed`; the network ends in eval mode."""
        if self.epochs <= 0:
            return
        module, dm = self.module, self.datamodule
        optimizer = self._optimizer()
        count = len(dm.splits["train"].labels)
        order_gen = torch.Generator().manual_seed(derived_seed(seed, "order"))
        if dm.augment_generator is not None:
            dm.augment_generator.manual_seed(derived_seed(seed, "augment"))
        module.train()
        for _ in range(self.epochs):
            perm = torch.randperm(count, generator=order_gen)
            for start in range(0, count, self.batch_size):
                index = perm[start : start + self.batch_size]
                x, y = dm.gather("train", index, augment=True)
                step = module.step_loss(x, y, index.to(x.device), len(index))
                optimizer.zero_grad(set_to_none=True)
                if step.reduction.skip_if_all_zero and not bool(step.reduction.weights.any()):
                    continue  # the strategy selected no sample: no update (as Classifier.optimizer_step)
                step.loss.backward()
                optimizer.step()
        module.eval()

    def state_dict(self) -> dict[str, Any] | None:
        """The kept optimizer's state (None when each batch starts fresh, or before the first retraining)."""
        return self.optimizer.state_dict() if self.keep and self.optimizer is not None else None

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if self.keep and state is not None:
            self._optimizer().load_state_dict(state)
