"""Contiguous index windows over a training set (Apricot's Algorithm 1 subsets).

Apricot (seeds/apricot.txt §IV-A) trains each reduced model on 10,000 consecutive images of the
training set in its official order: images 0-10,000, 2,000-12,000, ..., 38,000-48,000 (no wrap, so
images 48,000-49,999 are never used). A window is therefore `(start, size)` over an order:

- `official`: the file order, which must be the dataset's published order (`DatasetSpec.official_order`);
- `permutation`: a fixed permutation seeded by `seed` (for copies whose file order is not the published
  one, e.g. the JPEG CIFAR-10 sorted by class, where a file-order window would hold 2-3 classes);
- `auto`: `official` where the files are in the published order, else `permutation` (logged).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from trainfix.core.seeding import derived_seed

log = logging.getLogger(__name__)

ORDERS = ("auto", "official", "permutation")


@dataclass(frozen=True)
class TrainWindow:
    """`size` consecutive training samples from `start` (0-based) in the order `order` (see module doc)."""

    start: int | None = None
    size: int | None = None
    order: str = "auto"

    @property
    def enabled(self) -> bool:
        return self.start is not None


def resolve_order(order: str, official_order: bool, dataset: str) -> str:
    """`official` or `permutation` for a dataset whose file order is (not) the published one."""
    if order not in ORDERS:
        raise ValueError(f"data.train_window.order={order!r} is not accepted; accepted: {list(ORDERS)}")
    if order == "auto":
        return "official" if official_order else "permutation"
    if order == "official" and not official_order:
        raise ValueError(
            f"data.train_window.order='official': the files of data.dataset={dataset!r} are not in the dataset's "
            "published order (an image folder is sorted by class); use order=permutation (or auto)"
        )
    return order


def sample_order(num_samples: int, order: str, seed: int) -> torch.Tensor:
    """The positions of the training set in window order: identity, or a permutation seeded by `seed`."""
    if order == "official":
        return torch.arange(num_samples)
    generator = torch.Generator().manual_seed(derived_seed(seed, "train_window/permutation"))
    return torch.randperm(num_samples, generator=generator)


def window_indices(num_samples: int, start: int, size: int, order: str, seed: int = 0) -> torch.Tensor:
    """Sorted indices of the window `[start, start + size)` of `sample_order(...)`; no wrap-around.

    Raises ValueError naming the key when the window does not fit in `num_samples`.
    """
    if size is None or size <= 0:
        raise ValueError(f"data.train_window.size={size!r}: give a number of samples > 0")
    if start < 0 or start + size > num_samples:
        raise ValueError(
            f"data.train_window.start={start}, size={size}: the window must lie within the {num_samples} training "
            f"samples (no wrap-around); accepted starts: 0..{num_samples - size}"
        )
    return sample_order(num_samples, order, seed)[start : start + size].sort().values


def strided_starts(num_samples: int, size: int, stride: int, count: int) -> list[int]:
    """Starts 0, stride, ..., (count-1)*stride; every window must fit (no wrap), else ValueError."""
    starts = [i * stride for i in range(count)]
    if starts and starts[-1] + size > num_samples:
        raise ValueError(
            f"{count} windows of {size} samples at stride {stride} need {starts[-1] + size} training samples; "
            f"the training set has {num_samples} (no wrap-around)"
        )
    return starts


def uncovered(num_samples: int, starts: list[int], size: int, order: str, seed: int = 0) -> torch.Tensor:
    """Indices (in the training set) that no window covers: Apricot's never-used images."""
    covered = torch.zeros(num_samples, dtype=torch.bool)
    for start in starts:
        covered[window_indices(num_samples, start, size, order, seed)] = True
    return (~covered).nonzero().flatten()
