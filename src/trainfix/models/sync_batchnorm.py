"""BatchNorm whose training-mode statistics are those of the whole global batch, on every device.

`torch.nn.SyncBatchNorm` computes the mean and variance over every rank's slice of the batch, so N
processes normalize exactly as one process does on the whole batch; but its kernels exist only for
GPUs (on a CPU tensor it raises "SyncBatchNorm expected input tensor to be on GPU", and DDP refuses a
CPU module holding one: "SyncBatchNorm layers only work with GPU modules"). `SyncBatchNorm` here runs
torch's SyncBatchNorm forward on GPU tensors and, on CPU tensors (gloo ranks: `trainer=ddp_cpu`, the
tests), the same arithmetic written with differentiable all-reduces:

    mean = sum over ranks of sum(x) / n,   var = sum over ranks of sum((x - mean)^2) / n   (biased)
    y = (x - mean) / sqrt(var + eps) * gamma + beta
    running_mean <- (1 - m) running_mean + m mean,  running_var <- (1 - m) running_var + m var n / (n - 1)

with n the global count per channel, the sums in float64 (two passes, as torch's CPU batch norm), and
the backward pass all-reducing the gradients of the sums (`_SumOverRanks`),
as torch's CUDA layer all-reduces its `sum_dy` terms. Outside training mode, or in one process, it is
a plain BatchNorm.

`local_batch_norm()` makes every such layer normalize with its own rank's batch for a while: for a
forward pass that each rank runs on data of its own, whole (DeepEutaxy's train-mode scoring, one
batch per rank), where synchronizing would mix different batches and, with unequal counts, hang.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.distributed as dist
from torch import nn

_LOCAL = threading.local()


@contextmanager
def local_batch_norm() -> Iterator[None]:
    """Within the block, `SyncBatchNorm` layers use this rank's batch statistics (no collective)."""
    previous = getattr(_LOCAL, "active", False)
    _LOCAL.active = True
    try:
        yield
    finally:
        _LOCAL.active = previous


class _SumOverRanks(torch.autograd.Function):
    """all_reduce(SUM) with its gradient: d(sum over ranks)/d(own part) sends every rank's gradient back
    summed (torch.distributed.nn.functional.all_reduce does the same; it is deprecated)."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor, group: dist.ProcessGroup) -> torch.Tensor:  # type: ignore[override]
        ctx.group = group
        total = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(total, op=dist.ReduceOp.SUM, group=group)
        return total

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        total = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(total, op=dist.ReduceOp.SUM, group=ctx.group)
        return total, None


class SyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm over all ranks' samples in training mode: torch's `SyncBatchNorm.forward` on GPU
    tensors, gloo all-reduces on CPU tensors (see the module docstring). Not a subclass of
    `torch.nn.SyncBatchNorm`, which DDP refuses in a CPU module."""

    original_class: type[nn.modules.batchnorm._BatchNorm] = nn.BatchNorm2d
    _check_non_zero_input_channels = nn.SyncBatchNorm._check_non_zero_input_channels

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        process_group: dist.ProcessGroup | None = None,
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        self.process_group = process_group

    def _check_input_dim(self, input: torch.Tensor) -> None:  # noqa: A002
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, input: torch.Tensor) -> torch.Tensor:  # noqa: A002 (torch's name)
        if getattr(_LOCAL, "active", False) or not self.training or self._world_size() < 2:
            return super().forward(input)  # plain BatchNorm: this process's batch (or running statistics)
        if input.device.type == "cpu":
            return self._cpu_forward(input)
        return nn.SyncBatchNorm.forward(self, input)  # torch's kernels and collectives

    def _world_size(self) -> int:
        if not (dist.is_available() and dist.is_initialized()):
            return 1
        return dist.get_world_size(self.process_group or dist.group.WORLD)

    def _cpu_forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(x)
        group = self.process_group or dist.group.WORLD
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        xd = x.double()
        count = torch.tensor([x.numel() / max(x.shape[1], 1)], dtype=torch.float64)
        first = _SumOverRanks.apply(torch.cat([xd.sum(dims), count]), group)
        n = first[-1]
        mean = first[:-1] / n
        centered = xd - mean.view(shape)
        var = _SumOverRanks.apply((centered * centered).sum(dims), group) / n
        y = (centered * torch.rsqrt(var + self.eps).view(shape)).to(x.dtype)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                assert self.num_batches_tracked is not None
                self.num_batches_tracked.add_(1)
                factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                unbiased = var.detach() * (n / (n - 1).clamp(min=1))
                self.running_mean.mul_(1 - factor).add_(mean.detach().to(self.running_mean.dtype), alpha=factor)
                self.running_var.mul_(1 - factor).add_(unbiased.to(self.running_var.dtype), alpha=factor)
        return y


def _take_tensors(new: nn.Module, module: nn.Module) -> nn.Module:
    """`new` (a BatchNorm layer) holding `module`'s parameter and buffer tensors themselves, in its mode."""
    if module.affine:
        with torch.no_grad():
            new.weight = module.weight
            new.bias = module.bias
    new.running_mean = module.running_mean
    new.running_var = module.running_var
    new.num_batches_tracked = module.num_batches_tracked
    new.training = module.training
    return new


def convert_sync_batchnorm(module: nn.Module, process_group: dist.ProcessGroup | None = None) -> tuple[nn.Module, int]:
    """Every BatchNorm layer of `module` replaced by `SyncBatchNorm` (same parameter and buffer
    tensors, as `torch.nn.SyncBatchNorm.convert_sync_batchnorm`); returns (module, layers converted)."""
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, nn.SyncBatchNorm | SyncBatchNorm):
        new = SyncBatchNorm(
            module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats, process_group
        )
        new.original_class = type(module)
        return _take_tensors(new, module), 1
    converted = 0
    for name, child in module.named_children():
        new_child, n = convert_sync_batchnorm(child, process_group)
        if new_child is not child:
            module.add_module(name, new_child)
        converted += n
    return module, converted


def revert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Undo `convert_sync_batchnorm`: each `SyncBatchNorm` back to the class it replaced, same tensors."""
    if isinstance(module, SyncBatchNorm):
        old = module.original_class(
            module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats
        )
        return _take_tensors(old, module)
    for name, child in module.named_children():
        new_child = revert_sync_batchnorm(child)
        if new_child is not child:
            module.add_module(name, new_child)
    return module
