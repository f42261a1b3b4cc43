"""Batched image augmentation on the training device, driven by an explicit `torch.Generator`.

Units: images are [N, C, H, W] tensors; `to_float` takes uint8 pixel values 0-255 and returns
float32 in [0, 1] (or normalized per channel); `random_crop` and `random_flip` work on any dtype
and keep it. Padding and offsets are in pixels. Every random draw comes from the generator passed
in, which must live on the images' device, so a seeded generator gives the same batch on every run
(and after a checkpoint restore of its state). No Python loop over images: one batch = a few kernels.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def to_float(
    x: torch.Tensor,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """uint8 pixels [N, C, H, W] -> `dtype` in [0, 1], then (x - mean) / std per channel if given.

    `mean`/`std` are per-channel statistics of the [0, 1]-scaled pixels (`DatasetSpec.mean/std`);
    None for both keeps plain x / 255 (the DeepEutaxy setting).
    """
    if x.dtype != torch.uint8:
        raise ValueError(f"to_float expects uint8 pixels 0-255, got dtype {x.dtype}")
    if (mean is None) != (std is None):
        raise ValueError(f"give both mean and std or neither, got mean={mean!r}, std={std!r}")
    out = x.to(dtype).div_(255)
    if mean is None:
        return out
    channels = x.shape[1]
    if len(mean) != channels or len(std) != channels:
        raise ValueError(f"mean={tuple(mean)} and std={tuple(std)} need one value per channel ({channels})")
    mean_t = torch.as_tensor(mean, dtype=dtype, device=x.device).view(1, channels, 1, 1)
    std_t = torch.as_tensor(std, dtype=dtype, device=x.device).view(1, channels, 1, 1)
    return out.sub_(mean_t).div_(std_t)


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad every image by `padding` pixels on each side, then crop back to H x W at a random offset.

    Offsets are drawn as `torch.randint(0, 2 * padding + 1, (2, N))` from `generator`: row 0 is the
    top offset, row 1 the left offset, both in pixels of the padded image (`padding` = no shift).
    """
    _check_batch(x, generator, "random_crop")
    if not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be an integer >= 0 (pixels), got {padding!r}")
    if padding == 0:
        return x
    n, c, h, w = x.shape
    offsets = torch.randint(0, 2 * padding + 1, (2, n), generator=generator, device=x.device)
    padded = F.pad(x, (padding, padding, padding, padding))
    rows = (offsets[0].view(n, 1) + torch.arange(h, device=x.device)).view(n, 1, h, 1)
    cols = (offsets[1].view(n, 1) + torch.arange(w, device=x.device)).view(n, 1, 1, w)
    batch = torch.arange(n, device=x.device).view(n, 1, 1, 1)
    channel = torch.arange(c, device=x.device).view(1, c, 1, 1)
    return padded[batch, channel, rows, cols]


def random_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Flip each image left-right with probability 0.5.

    The decision per image is `torch.rand(N, generator=generator) < 0.5`.
    """
    _check_batch(x, generator, "random_flip")
    flip = torch.rand(x.shape[0], generator=generator, device=x.device) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)


def _check_batch(x: torch.Tensor, generator: torch.Generator, what: str) -> None:
    if x.dim() != 4:
        raise ValueError(f"{what} expects a batch [N, C, H, W], got shape {tuple(x.shape)}")
    device = generator.device
    if device.type != x.device.type or (
        device.index is not None and x.device.index is not None and device.index != x.device.index
    ):
        raise ValueError(
            f"{what}: the generator is on {device} but the images are on {x.device}; "
            "use a generator on the images' device"
        )
