"""SPL+DE: self-paced learning's loss with DeepEutaxy's batch order.

Paper: DeepEutaxy (seeds/deepeutaxy.txt) §IV-C, Table VII: SPL-trained ResNet-20/32 ("Base")
trained 50 more epochs by SPL+DE reach 98.11% / 98.51% train accuracy.

`variant=authors_code` follows the authors' `SPL+DE.py`: every sample selected (threshold -100 on
-p_true), the -p_true loss, cosine-distance ranking, and the reordering loop that writes batch
order[k] into slot k of the training array through views (so an already-overwritten slot is
copied again: duplicates and lost batches).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from trainfix.strategies.base import Reduction
from trainfix.strategies.deepeutaxy import DeepEutaxy
from trainfix.strategies.spl import SelfPacedSelection

if TYPE_CHECKING:
    import pytorch_lightning as pl


class SelfPacedDeepEutaxy(DeepEutaxy):
    """DE's order (`order`, `iter_count`, `params`, `score_mode`) with SPL's loss (`lambda0`, `alpha`, `selection`)."""

    name = "spl_deepeutaxy"

    def __init__(
        self, lambda0: float = 0.1, alpha: float = 1.3, selection: str = "easy_first", **de_options: Any
    ) -> None:
        """`de_options`: `DeepEutaxy`'s own arguments, passed on unchanged."""
        super().__init__(**de_options)
        if self.variant == "authors_code":
            lambda0, selection = 100.0, "authors_code"
        self.spl = SelfPacedSelection(lambda0, alpha, selection)

    def reduce_loss(self, losses: torch.Tensor, indices: torch.Tensor, global_size: int) -> Reduction:
        return self.spl.reduce(losses)

    def on_train_epoch_end(self, epoch: int, trainer: pl.Trainer, module: pl.LightningModule) -> dict[str, float]:
        metrics = self.spl.end_epoch(trainer)
        return {**metrics, **super().on_train_epoch_end(epoch, trainer, module)}

    def apply_authors_overwrite(self, order: list[int]) -> None:
        """`SPL+DE.py` writes batch order[k] into slot k, in turn, through views of the same array."""
        for slot, b in enumerate(order):
            self.batches[slot] = self.batches[b].clone()

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "spl": self.spl.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.spl.load_state_dict(state["spl"])
