"""DeepEutaxy (DE): train fixed batches in ascending weight/gradient cosine similarity.

Paper: "DeepEutaxy: Diversity in Weight Search Direction for Fixing Deep Learning Model Training
Through Batch Prioritization" (seeds/deepeutaxy.txt), Algorithm 1 and Eqs. 5-6. Reproduces
Tables IV-VI (DE columns): e.g. LeNet-5 on MNIST converges in 64.6 epochs vs BL's 104.6.

    Sim(Theta, G_b) = sum_l CosSim(vec theta_l, vec g_l)                        (Eqs. 5, 6)

where g_l is the gradient of batch b's mean loss at the current weights. The training set is split
once into fixed batches (Algorithm 1, line 1), one initialization epoch runs over that sequence
(lines 2-4), then every `iter_count` epochs (line 6) every batch is scored and the following epochs
train the batches by ascending similarity = descending diversity (line 8), ties broken randomly.

Scoring leaves training untouched: it uses `torch.autograd.grad` (no `.grad` written, no optimizer
call), evaluation mode by default (no BatchNorm statistics updated, no dropout RNG drawn); with
`score_mode="train"` BatchNorm buffers and the RNG states are saved and restored around it.
Under DDP each rank scores a share of the batches (batch i on rank i mod N) and the scores are
summed over ranks, so every rank gets the same scores and the same order.

`variant="authors_code"` reproduces the authors' public Keras code (see
references/deepeutaxy.md and docs/deepeutaxy.md): cosine *distance* summed over all trainable
tensors, sorted ascending; no initialization epoch (the first ranking on the untrained model);
the reordering loop's side effect: the training order never changes, but at the i-th refresh
slot i of the batch sequence is overwritten with a copy of the last batch in sorted order; and the
scoring loss as the code computes it (`keras_eager_cross_entropy`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from trainfix.core.records import atomic_write_text
from trainfix.core.seeding import derived_seed, global_rng_state, restore_global_rng_state
from trainfix.models.sync_batchnorm import local_batch_norm
from trainfix.strategies.baseline import Baseline

if TYPE_CHECKING:
    import pytorch_lightning as pl

PARAM_SETS = ("weights", "all")
SCORE_MODES = ("eval", "train")
REFRESH_FILE = "de_refreshes.jsonl"


KERAS_EPSILON = 1e-7


def keras_eager_cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The batch loss the authors' `utils/grad.py` differentiates: tf.keras' `CategoricalCrossentropy()`
    on the model's softmax output, called eagerly. There TF 2.2 does not take the softmax's logits (that
    shortcut is for graph mode); it clips the probabilities to [1e-7, 1 - 1e-7] before the log, so a
    sample whose true-class probability lies outside that range adds nothing to the gradient (the
    clip's gradient is 0 there), unlike `F.cross_entropy`. Mean over the batch."""
    p_true = torch.softmax(logits.float(), dim=1).gather(1, y[:, None]).squeeze(1)
    return -torch.log(p_true.clamp(KERAS_EPSILON, 1.0 - KERAS_EPSILON)).mean()


def scored_parameters(net: torch.nn.Module, which: str) -> list[torch.nn.Parameter]:
    """The tensors theta_l: weight matrices/kernels only (ndim >= 2) or all trainable tensors."""
    params = [p for p in net.parameters() if p.requires_grad]
    return [p for p in params if p.ndim >= 2] if which == "weights" else params


def similarity(params: list[torch.Tensor], grads: list[torch.Tensor], distance: bool = False) -> torch.Tensor:
    """sum_l cos(vec theta_l, vec g_l) (Eq. 5); with `distance`, sum_l (1 - cos), the authors' code.

    A term whose cosine is undefined (a zero vector: a tensor initialized to zero, such as a bias,
    or a parameter the batch's loss does not reach) or not finite is skipped: it adds nothing to
    either sum. For the distance that is what the code does: scipy's `distance.cosine` is NaN for a
    zero vector and the code skips NaN terms (rather than counting 1 - 0 = 1).
    """
    total = torch.zeros((), dtype=torch.float64, device=params[0].device)
    for theta, grad in zip(params, grads, strict=True):
        a, g = theta.detach().reshape(-1).double(), grad.reshape(-1).double()
        cos = (a @ g) / (torch.linalg.vector_norm(a) * torch.linalg.vector_norm(g))  # 0/0 = NaN for a zero vector
        if not torch.isfinite(cos):
            continue
        total += (1.0 - cos) if distance else cos
    return total


class DeepEutaxy(Baseline):
    """Batch prioritization by weight/gradient diversity.

    Args:
        order: how the fixed batches are first formed: "seeded_shuffle" (Algorithm 1, line 1:
            randomly sorted) or "dataset" (the authors' code).
        iter_count: epochs between re-prioritizations (5 on MNIST, 10 on CIFAR-10 in the paper).
        params: "weights" (weight matrices/kernels, the paper's "weights matrix for the l-th layer")
            or "all" (every trainable tensor, the authors' code).
        score_mode: "eval" (dropout off, BatchNorm running statistics: the authors' code) or "train".
        variant: "paper" or "authors_code" (see the module docstring).
    """

    name = "deepeutaxy"
    needs_global_losses = True  # scores read BatchNorm running statistics: synchronized under DDP

    def __init__(
        self,
        order: str = "seeded_shuffle",
        iter_count: int = 5,
        params: str = "weights",
        score_mode: str = "eval",
        variant: str = "paper",
    ) -> None:
        super().__init__(order=order, variant=variant)
        for key, value, accepted in (("params", params, PARAM_SETS), ("score_mode", score_mode, SCORE_MODES)):
            if value not in accepted:
                raise ValueError(f"strategy.{key}={value!r} is not accepted; use one of {list(accepted)}")
        if not isinstance(iter_count, int) or iter_count < 1:
            raise ValueError(f"strategy.iter_count={iter_count!r}: must be an integer >= 1")
        self.iter_count = iter_count
        self.params = params
        self.score_mode = score_mode

    def bind(self, num_samples: int, batch_size: int, seed: int) -> None:
        super().bind(num_samples, batch_size, seed)
        self.sequence = list(range(len(self.batches)))  # batch ids in training order
        self.refreshes = 0

    def plan_epoch(self, epoch: int) -> list[torch.Tensor]:
        return [self.batches[i] for i in self.sequence]

    # ------------------------------------------------------------------ schedule
    def refresh_due_after(self, epoch: int) -> bool:
        """Whether the order is recomputed after training epoch `epoch` (0-based), for epoch + 1.

        Paper: epoch 0 is the initialization epoch; DE epoch j = our epoch j + 1 re-sorts when
        j % iter_count == 0. Authors' code: before epochs 0, iter_count, 2 * iter_count, ...
        """
        if self.variant == "paper":
            return epoch % self.iter_count == 0
        return (epoch + 1) % self.iter_count == 0

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if self.variant == "authors_code" and trainer.current_epoch == 0 and self.refreshes == 0:
            self.refresh(-1, trainer, module)

    def on_train_epoch_end(self, epoch: int, trainer: pl.Trainer, module: pl.LightningModule) -> dict[str, float]:
        metrics = super().on_train_epoch_end(epoch, trainer, module)
        refreshed = epoch + 1 < trainer.max_epochs and self.refresh_due_after(epoch)
        seconds = self.refresh(epoch, trainer, module) if refreshed else 0.0
        return {**metrics, "de_refreshed": float(refreshed), "de_refresh_time_s": seconds}

    # ------------------------------------------------------------------- scoring
    def score_batches(self, trainer: pl.Trainer, module: pl.LightningModule) -> torch.Tensor:
        """Sim (or the authors' distance) of every batch at the current weights; float64 [num_batches]."""
        datamodule = trainer.datamodule
        params = scored_parameters(module.net, "all" if self.variant == "authors_code" else self.params)
        rank, world = trainer.global_rank, trainer.world_size
        scores = torch.zeros(len(self.batches), dtype=torch.float64, device=module.device)
        was_training = module.training
        saved = self._save_training_state(module) if self.score_mode == "train" else None
        module.train(self.score_mode == "train")
        try:
            for b in range(rank, len(self.batches), world):
                x, y = datamodule.gather("train", self.batches[b])
                with local_batch_norm():  # each rank scores whole batches of its own: never synchronized
                    logits = module(x).float()
                loss = (
                    keras_eager_cross_entropy(logits, y)
                    if self.variant == "authors_code"
                    else F.cross_entropy(logits, y)
                )
                grads = torch.autograd.grad(loss, params, allow_unused=True)
                grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)]
                scores[b] = similarity(params, grads, distance=self.variant == "authors_code")
        finally:
            if saved is not None:
                self._restore_training_state(module, saved)
            module.train(was_training)
        return trainer.strategy.reduce(scores, reduce_op="sum") if world > 1 else scores

    @staticmethod
    def _save_training_state(module: pl.LightningModule) -> dict[str, Any]:
        return {"buffers": {k: v.clone() for k, v in module.net.named_buffers()}, "rng": global_rng_state()}

    @staticmethod
    def _restore_training_state(module: pl.LightningModule, saved: dict[str, Any]) -> None:
        with torch.no_grad():
            for name, buffer in module.net.named_buffers():
                buffer.copy_(saved["buffers"][name])
        restore_global_rng_state(saved["rng"])

    def sort_order(self, scores: torch.Tensor, epoch: int) -> list[int]:
        """Batch ids by ascending score; ties broken by a seeded random permutation (paper)."""
        scores = scores.cpu()
        if self.variant == "authors_code":
            return sorted(range(len(scores)), key=lambda i: float(scores[i]))  # Python's stable sort
        generator = torch.Generator().manual_seed(derived_seed(self.seed, f"de/ties/epoch{epoch}"))
        shuffled = torch.randperm(len(scores), generator=generator)
        return shuffled[torch.sort(scores[shuffled], stable=True).indices].tolist()

    def refresh(self, epoch: int, trainer: pl.Trainer, module: pl.LightningModule) -> float:
        """Score every batch and set the order (paper) or apply the code's overwrite (authors_code).

        Returns the seconds the scoring took (wall clock, device synchronized).
        """
        start = time.perf_counter()
        scores = self.score_batches(trainer, module)
        order = self.sort_order(scores, epoch)  # moves the scores to the host: the device is synchronized
        if self.variant == "paper":
            self.sequence = order
        else:
            self.apply_authors_overwrite(order)
        seconds = time.perf_counter() - start
        if trainer.is_global_zero:
            self._save_refresh(Path(trainer.default_root_dir), epoch, scores, order)
        self.refreshes += 1
        return seconds

    def apply_authors_overwrite(self, order: list[int]) -> None:
        """The code writes every sorted batch, in turn, into slot `i` (i = refresh number) of the
        training array, through views: slot i ends as a copy of the last sorted batch's content."""
        slot = self.refreshes
        if slot >= len(self.batches):
            return  # the code's index would run past the array: nothing more is overwritten
        for b in order:
            self.batches[slot] = self.batches[b].clone()

    def _save_refresh(self, run_dir: Path, epoch: int, scores: torch.Tensor, order: list[int]) -> None:
        path = run_dir / REFRESH_FILE
        # Lines of refreshes at or after this one come from an attempt killed before its checkpoint.
        lines = path.read_text().splitlines() if path.exists() else []
        previous = "".join(line + "\n" for line in lines if json.loads(line)["refresh"] < self.refreshes)
        record = {
            "after_epoch": epoch,
            "refresh": self.refreshes,
            "variant": self.variant,
            "scores": [float(s) for s in scores.cpu()],
            "order": order,
        }
        atomic_write_text(path, previous + json.dumps(record) + "\n")

    # --------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"sequence": list(self.sequence), "refreshes": self.refreshes}
        if self.variant == "authors_code":
            state["batches"] = [b.clone() for b in self.batches]
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sequence = list(state["sequence"])
        self.refreshes = int(state["refreshes"])
        if "batches" in state:
            self.batches = [b.clone() for b in state["batches"]]
