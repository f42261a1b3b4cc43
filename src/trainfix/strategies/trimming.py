"""Mini-batch trimming: the step loss is the mean of the hardest fraction p of each global batch.

Paper: H. Fassold, "Some like it tough: Improving model generalization via progressively increasing
the training difficulty" (seeds/minibatch-trimming.txt), §2; authors' code hfassold/mbtrim,
`mbtrim.py`. Table 1 (test error %, without / with trimming): CIFAR-10 ResNet-34 17.43 / 17.01,
DenseNet-121 10.10 / 10.19; SVHN and CIFAR-100 in `papers/published/trimming_table_1.yaml`.

    r = max(round(p * M), 1)        M = the actual global batch size (the last batch is smaller)
    step loss = (1 / r) * sum of the r largest per-sample losses of the global batch
    p = p_start + (p_end - p_start) * t,   t = epoch / (max_epochs - 1)  (0-based epochs)

Hyper-parameters: p_start = 1.0 (first epoch: every sample counts), p_end = 0.2 (last epoch: the
hardest 20 %), linear in the epoch (paper §2 and the code); `per: step` makes t the step's position
in the whole run instead. With 150 epochs and M = 128: r = 128 at epoch 0, 26 at epoch 149.

As a `Reduction`: kept samples get weight M / r, dropped ones 0, so sum_i w_i * loss_i / M is the
mean of the kept losses, the gradient of a dropped sample is exactly zero, and BatchNorm still sees
the whole batch (the forward pass is unchanged). Evaluation uses the plain mean (the classifier's
validation step never calls the strategy).

DDP: every rank gathers the detached per-sample losses of the whole global batch (its contiguous
slices, in order), ranks them the same way, and keeps its own slice of the mask. Ties are broken
by the position in the global batch (a stable sort), so given the same losses 1 and N processes keep
the same samples. The losses are the same only if BatchNorm normalizes with the global batch: in
training mode each rank's BatchNorm otherwise uses its own slice's statistics, which changes every
loss and the kept set from the first step. Trimming declares `needs_global_losses`, so under DDP
(world size > 1) the trainer synchronizes BatchNorm (`trainer.sync_batchnorm`, null = on here;
trainfix.training.sync_batchnorm). Then N ranks compute one process's losses up to floating-point
summation order; as with any two runs that sum in another order (thread counts, devices), a pair of
losses at the r-th boundary closer than that rounding can swap, and the runs then drift apart
(measured in tests/integration/test_ddp_batchnorm_sync.py: float64 networks keep identical sets).

`variant=authors_code` follows `mbtrim.py` where it differs from the paper's words:
- rounding: Python's `round` (half to even: 12.5 -> 12) of the code's linear map
  (e - 0) * (b*M - a*M) / (E - 1 - 0) + a*M; the paper variant rounds half up (12.5 -> 13);
- `schedule: constant`: the code computes r = 0.5 * (a * b) * M (a product, though its comment says
  "average"), the paper variant uses the average (a + b) / 2.
With one epoch the code divides by zero; both variants then use p_start.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist

from trainfix.strategies.base import Reduction, Strategy
from trainfix.strategies.baseline import ORDERS, Baseline
from trainfix.strategies.shuffle import Shuffle

if TYPE_CHECKING:
    import pytorch_lightning as pl

PLANS = ("shuffle", "baseline")
SCHEDULES = ("linear", "constant")
PER = ("epoch", "step")
VARIANTS = ("paper", "authors_code")


def kept_count(p: float, batch_size: int, variant: str = "paper") -> int:
    """r = max(round(p * M), 1), at most M: half up for the paper, Python's round for the code."""
    exact = p * batch_size
    r = round(exact) if variant == "authors_code" else math.floor(exact + 0.5)
    return min(max(int(r), 1), batch_size)


def authors_code_kept_count(t_num: int, t_den: int, a: float, b: float, batch_size: int, schedule: str) -> int:
    """`mbtrim.get_adapted_loss_for_trimmed_minibatch`'s r, in its own arithmetic (float, then round).

    `t_num / t_den` is the position in the schedule (epoch / (max_epochs - 1) in the code).
    """
    if schedule == "constant":
        r = (0.5 * (a * b)) * batch_size
    elif t_den == 0:
        r = a * batch_size
    else:
        r = (t_num - 0) * (b * batch_size - a * batch_size) / (t_den - 0) + a * batch_size
    return min(max(round(r), 1), batch_size)


def top_r(losses: torch.Tensor, r: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(indices, values) of the r largest entries of `losses`, largest first; ties go to the lower position."""
    values, order = torch.sort(losses, descending=True, stable=True)
    return order[:r], values


def gather_global(losses: torch.Tensor, global_size: int) -> tuple[torch.Tensor, int]:
    """The per-sample losses of the whole global batch (rank slices concatenated in rank order) and
    where this rank's slice starts. Without an initialized process group: `losses` itself and 0."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return losses, 0
    world, rank = dist.get_world_size(), dist.get_rank()
    # The plan sampler's split (torch.tensor_split): the first (M % world) ranks hold one more.
    base, extra = divmod(global_size, world)
    sizes = [base + (i < extra) for i in range(world)]
    if len(losses) != sizes[rank]:
        raise RuntimeError(
            f"rank {rank} holds {len(losses)} samples of a global batch of {global_size}; "
            f"the plan gives it {sizes[rank]}"
        )
    width = max(sizes)
    padded = torch.full((width,), float("nan"), dtype=losses.dtype, device=losses.device)
    padded[: len(losses)] = losses
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)  # equal shapes: what gloo and NCCL both accept
    return torch.cat([part[:size] for part, size in zip(parts, sizes, strict=True)]), sum(sizes[:rank])


class Trimming(Strategy):
    """Mini-batch trimming over the shuffle or the baseline plan.

    Args:
        plan: "shuffle" (a fresh seeded permutation every epoch, the usual loop the paper trims) or
            "baseline" (fixed batches in a fixed order, DeepEutaxy's BL).
        order: the baseline plan's order, "seeded_shuffle" or "dataset" (ignored by plan=shuffle).
        p_start: fraction of each batch kept at the first epoch (paper 1.0), in (0, 1].
        p_end: fraction kept at the last epoch (paper 0.2), in (0, 1].
        schedule: "linear" (paper) or "constant" (the code's other scheme; see the module docstring).
        per: "epoch" (p changes once per epoch, paper and code) or "step" (every optimizer step).
        variant: "paper" or "authors_code" (rounding and the constant scheme of mbtrim.py).
    """

    name = "trimming"
    needs_global_losses = True  # top-r of the global batch's losses: BatchNorm synchronized under DDP

    def __init__(
        self,
        plan: str = "shuffle",
        order: str = "seeded_shuffle",
        p_start: float = 1.0,
        p_end: float = 0.2,
        schedule: str = "linear",
        per: str = "epoch",
        variant: str = "paper",
    ) -> None:
        for key, value, accepted in (
            ("plan", plan, PLANS),
            ("order", order, ORDERS),
            ("schedule", schedule, SCHEDULES),
            ("per", per, PER),
            ("variant", variant, VARIANTS),
        ):
            if value not in accepted:
                raise ValueError(f"strategy.{key}={value!r} is not accepted; use one of {list(accepted)}")
        for key, value in (("p_start", p_start), ("p_end", p_end)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
                raise ValueError(
                    f"strategy.{key}={value!r}: must be a fraction of the batch in (0, 1], e.g. strategy.{key}=0.2"
                )
        self.plan = plan
        self.planner: Strategy = Shuffle() if plan == "shuffle" else Baseline(order=order)
        self.p_start, self.p_end = float(p_start), float(p_end)
        self.schedule, self.per, self.variant = schedule, per, variant
        self.max_epochs: int | None = None
        self.epoch = 0
        self.step_in_epoch = 0
        self.epoch_first: tuple[float, int] | None = None  # (p, r of a full batch) at the epoch's first step
        self._sums = torch.zeros(2, dtype=torch.float64)  # loss sums of the kept and of all samples (on the device)
        self._kept_n = 0
        self._seen_n = 0

    # ------------------------------------------------------------------ plan
    def bind(self, num_samples: int, batch_size: int, seed: int) -> None:
        super().bind(num_samples, batch_size, seed)
        self.planner.bind(num_samples, batch_size, seed)

    def plan_epoch(self, epoch: int) -> list[torch.Tensor]:
        return self.planner.plan_epoch(epoch)

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        max_epochs = trainer.max_epochs
        if max_epochs is None or max_epochs < 1:
            raise ValueError(
                "strategy=trimming needs a finite trainer.max_epochs (its p goes from p_start to p_end over them); "
                f"got {max_epochs!r}"
            )
        self.max_epochs = int(max_epochs)
        self.epoch = int(trainer.current_epoch)  # after a resume: the restored epoch
        self.step_in_epoch = 0

    # -------------------------------------------------------------- schedule
    def position(self) -> tuple[int, int]:
        """(numerator, denominator) of t in [0, 1]: where the current step is in the schedule."""
        if self.max_epochs is None:
            raise RuntimeError("Trimming.position() before on_train_start: max_epochs is unknown")
        if self.per == "epoch":
            return self.epoch, self.max_epochs - 1
        steps = self.num_batches()
        return self.epoch * steps + self.step_in_epoch, self.max_epochs * steps - 1

    def fraction(self) -> float:
        """p for the current step (the paper's reading; authors_code's r uses its own arithmetic)."""
        num, den = self.position()
        if self.schedule == "constant":
            return (
                0.5 * (self.p_start * self.p_end)
                if self.variant == "authors_code"
                else 0.5 * (self.p_start + self.p_end)
            )
        if den <= 0:
            return self.p_start
        return self.p_start + (self.p_end - self.p_start) * num / den

    def kept(self, batch_size: int) -> int:
        """r for a global batch of `batch_size` samples at the current step."""
        if self.variant == "authors_code":
            num, den = self.position()
            return authors_code_kept_count(num, den, self.p_start, self.p_end, batch_size, self.schedule)
        return kept_count(self.fraction(), batch_size)

    # ------------------------------------------------------------- reduction
    def reduce_loss(self, losses: torch.Tensor, indices: torch.Tensor, global_size: int) -> Reduction:
        if self.epoch_first is None:
            self.epoch_first = (self.fraction(), self.kept(self.batch_size))
        r = self.kept(global_size)
        global_losses, offset = gather_global(losses, global_size)
        keep, ranked = top_r(global_losses, r)
        weights = torch.zeros_like(global_losses).index_fill_(0, keep, global_size / r)
        if self._sums.device != losses.device:
            self._sums = self._sums.to(losses.device)
        self._sums += torch.stack((ranked[:r].sum(), ranked.sum()))  # no host sync: read at the epoch's end
        self._kept_n += r
        self._seen_n += global_size
        self.step_in_epoch += 1
        return Reduction(weights=weights[offset : offset + len(losses)])

    def on_train_epoch_end(self, epoch: int, trainer: pl.Trainer, module: pl.LightningModule) -> dict[str, float]:
        """p and r (a full batch, the epoch's first step), the kept fraction and the mean loss of the
        kept and the dropped samples over the epoch (every rank ranks the global batch: no reduce)."""
        kept_sum, total_sum = self._sums.tolist()
        kept_n, dropped_n = self._kept_n, self._seen_n - self._kept_n
        dropped_sum = total_sum - kept_sum
        p, r = self.epoch_first if self.epoch_first is not None else (math.nan, math.nan)
        metrics = {
            "trim_p": p,
            "trim_r": r,
            "trim_kept_frac": kept_n / (kept_n + dropped_n) if kept_n + dropped_n else math.nan,
            "trim_kept_loss": kept_sum / kept_n if kept_n else math.nan,
            "trim_dropped_loss": dropped_sum / dropped_n if dropped_n else math.nan,
        }
        self._sums.zero_()
        self._kept_n = self._seen_n = 0
        self.epoch = epoch + 1
        self.step_in_epoch = 0
        self.epoch_first = None
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "planner": self.planner.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.planner.load_state_dict(state.get("planner", {}))
