"""Self-paced learning (SPL) over fixed batches, as DeepEutaxy compares it.

Paper: DeepEutaxy (seeds/deepeutaxy.txt) §II-C, Eqs. 3-4 and Tables IV-VI (SPL columns), e.g.
CNN1 on MNIST reaches BL's best training accuracy 4.34x faster.

    L_SPL = sum_i v_i L(x_i, y_i, theta) - lambda sum_i v_i,   v_i in {0, 1}        (Eq. 3)
    lambda^(i) = alpha * lambda^(i-1)   after each epoch                          (Eq. 4)

The second term of Eq. 3 does not depend on theta, so the step loss is the batch mean of
v_i * L_i over the fixed-shape batch (a mask, static shapes). A batch in which no sample is
selected makes no update at all (no optimizer step, BatchNorm buffers restored); under
`variant=authors_code` it is an ordinary optimizer step on a zero loss, as the code's
`train_on_batch` does. Which samples count:

- `easy_first` (default): cross-entropy below lambda, the standard SPL the paper says it follows
  ("samples with losses smaller than a given threshold will be involved").
- `text`: cross-entropy above lambda, as the paper's sentence under Eq. 3 reads.
- `authors_code` (with `variant=authors_code`): the authors' `SPL.py`: the per-sample "loss" is
  -p_true, the threshold starts at -lambda0 and is multiplied by alpha each epoch, a sample counts
  when -p_true > threshold (hard samples first), and the step loss is mean(-p_true * v).
Hyper-parameters: lambda0 = 0.1 and alpha = 1.3: the paper's §IV ("we set lambda to 0.1 and alpha
to 1.3", following the implementation it cites as [38]), the same values as the authors' code.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch

from trainfix.strategies.base import Reduction
from trainfix.strategies.baseline import Baseline

if TYPE_CHECKING:
    import pytorch_lightning as pl

SELECTIONS = ("easy_first", "text", "authors_code")


def minus_p_true(cross_entropy: torch.Tensor) -> torch.Tensor:
    """-p_true from the per-sample cross-entropy (CE = -log p_true), differentiable."""
    return -torch.exp(-cross_entropy)


class SelfPacedSelection:
    """The SPL part shared by SPL and SPL+DE: the threshold, the mask, and its epoch statistics.

    Args:
        lambda0: initial threshold lambda (units of the per-sample loss: nats of cross-entropy,
            or probability for the authors' -p_true).
        alpha: growth factor of lambda after each epoch (Eq. 4).
        selection: "easy_first", "text" or "authors_code" (see the module docstring).
    """

    def __init__(self, lambda0: float = 0.1, alpha: float = 1.3, selection: str = "easy_first") -> None:
        if selection not in SELECTIONS:
            raise ValueError(f"strategy.selection={selection!r} is not accepted; use one of {list(SELECTIONS)}")
        if not (isinstance(lambda0, int | float) and lambda0 > 0 and math.isfinite(lambda0)):
            raise ValueError(f"strategy.lambda0={lambda0!r}: must be a finite number > 0")
        if not (isinstance(alpha, int | float) and alpha > 0):
            raise ValueError(f"strategy.alpha={alpha!r}: must be a number > 0")
        self.lam = float(lambda0)
        self.alpha = float(alpha)
        self.selection = selection
        self.selected = torch.zeros((), dtype=torch.long)
        self.seen = torch.zeros((), dtype=torch.long)

    def mask(self, losses: torch.Tensor) -> torch.Tensor:
        """v_i as 0/1 floats for per-sample cross-entropies `losses` (no gradient)."""
        if self.selection == "easy_first":
            v = losses < self.lam
        elif self.selection == "text":
            v = losses > self.lam
        else:
            v = minus_p_true(losses) > -self.lam
        return v.to(losses.dtype)

    def reduce(self, losses: torch.Tensor) -> Reduction:
        v = self.mask(losses)
        if self.selected.device != v.device:
            self.selected, self.seen = self.selected.to(v.device), self.seen.to(v.device)
        self.selected += v.sum().long()
        self.seen += v.numel()
        code = self.selection == "authors_code"
        # The authors' code calls train_on_batch whatever the mask: a batch with nothing selected is
        # still an optimizer step (Adagrad's decay counter and Adadelta's accumulators advance, and
        # BatchNorm statistics move). Otherwise such a batch changes nothing.
        return Reduction(weights=v, transform=minus_p_true if code else None, skip_if_all_zero=not code)

    def end_epoch(self, trainer: pl.Trainer) -> dict[str, float]:
        """Epoch statistics (summed over ranks), then lambda *= alpha (Eq. 4)."""
        counts = torch.stack([self.selected, self.seen]).float()
        if trainer.world_size > 1:
            counts = trainer.strategy.reduce(counts, reduce_op="sum")
        metrics = {"spl_lambda": self.lam, "spl_selected_frac": float(counts[0] / counts[1].clamp(min=1))}
        self.lam *= self.alpha
        self.selected.zero_()
        self.seen.zero_()
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return {"lambda": self.lam}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.lam = float(state["lambda"])


class SelfPaced(Baseline):
    """SPL over BL's fixed batches (fixed order, as BL).

    Args:
        order: "seeded_shuffle" (default, BL's batches under the paper) or "dataset" (the authors'
            code; forced by `variant=authors_code`).
        lambda0, alpha, selection: see `SelfPacedSelection`.
        variant: "paper" or "authors_code" (forces selection="authors_code").
    """

    name = "spl"
    needs_global_losses = True  # the mask thresholds training losses: BatchNorm synchronized under DDP

    def __init__(
        self,
        order: str = "seeded_shuffle",
        lambda0: float = 0.1,
        alpha: float = 1.3,
        selection: str = "easy_first",
        variant: str = "paper",
    ) -> None:
        super().__init__(order=order, variant=variant)
        self.spl = SelfPacedSelection(lambda0, alpha, "authors_code" if variant == "authors_code" else selection)

    def reduce_loss(self, losses: torch.Tensor, indices: torch.Tensor, global_size: int) -> Reduction:
        return self.spl.reduce(losses)

    def on_train_epoch_end(self, epoch: int, trainer: pl.Trainer, module: pl.LightningModule) -> dict[str, float]:
        return self.spl.end_epoch(trainer)

    def state_dict(self) -> dict[str, Any]:
        return {"spl": self.spl.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.spl.load_state_dict(state["spl"])
