"""Loss threshold: the step loss is the mean over the samples whose loss is at least `threshold`.

Not from a paper: the worked example of docs/adding_a_technique.md (every file a new technique
touches). Samples the network already fits (per-sample cross-entropy below the threshold) get no
gradient; the rest are averaged, so the step size does not shrink as more samples are dropped.

    kept_i = loss_i >= threshold           over the global batch (all ranks)
    step loss = sum_{kept} loss_i / max(#kept, 1)

Hyper-parameters: threshold (nats of cross-entropy; 0 keeps every sample: the plain mean).
A global batch with nothing kept does not step the optimizer (`skip_if_all_zero`).
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from trainfix.strategies.base import Reduction
from trainfix.strategies.shuffle import Shuffle


class LossThreshold(Shuffle):
    """Shuffle's plan; only samples with a loss at or above `threshold` count in the step loss."""

    name = "loss_threshold"
    needs_global_losses = True  # the kept count is over the global batch (BatchNorm synced under DDP)

    def __init__(self, threshold: float = 0.05) -> None:
        if not (isinstance(threshold, int | float) and threshold >= 0):
            raise ValueError(f"strategy.threshold={threshold!r}: a loss in nats >= 0, e.g. strategy.threshold=0.05")
        self.threshold = float(threshold)

    def reduce_loss(self, losses: torch.Tensor, indices: torch.Tensor, global_size: int) -> Reduction:
        keep = (losses.detach() >= self.threshold).to(losses.dtype)
        kept = keep.sum()
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(kept)  # the global count: every rank divides by the same number
        # step loss = sum_i w_i * loss_i / global_size (Reduction's contract), so w = global_size / #kept
        return Reduction(weights=keep * (global_size / kept.clamp(min=1)), skip_if_all_zero=True)
