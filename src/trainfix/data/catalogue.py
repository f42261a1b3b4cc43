"""The dataset catalogue: every dataset trainfix trains on, and what reading one split yields.

`DATASETS` names each dataset and what a run needs to know about it before reading it (shape,
classes, per-channel statistics, which augmentations keep the labels true). A reader
(`trainfix.data.readers` for the official files, `trainfix.data.image_folders` for folders of
images) turns one split into an `ImageTensors` (images uint8 [N, C, H, W], labels int64 [N]), given
the `ReadOptions` of `trainfix.data.loading.load_split`; the DataModule moves it to the training
device, where a batch is a gather by index.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DatasetSpec:
    """What a run needs to know about a dataset before reading it.

    Attributes:
        label: human-readable name, written into run records and tables.
        channels: image channels; None = read from the files (image_folder).
        image_size: (height, width) in pixels; None = read from the files.
        num_classes: None = the number of class folders (image_folder).
        mean, std: per-channel statistics of the training split, pixels scaled to [0, 1] (population
            std over all pixels of a channel); None = compute from the data (`ImageTensors.channel_stats`).
        flip_ok: a horizontal flip keeps the label true (False for digits: a mirrored 2 is no digit).
        crop_ok: a random crop after zero padding (a shift by a few pixels) keeps the label true.
        official_order: the files hold the samples in the dataset's published order (False for image
            folders, whose order is by class and file name), so index windows can follow it.
    """

    label: str
    channels: int | None
    image_size: tuple[int, int] | None
    num_classes: int | None
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    flip_ok: bool
    crop_ok: bool = True
    official_order: bool = True


# Statistics: MNIST, Fashion-MNIST and the JPEG copy recomputed here from the real files with
# `load_split(name, "../shared/data", train=True).channel_stats()`; they agree with the published
# values to the digits shown. CIFAR-10 (full), CIFAR-100 and SVHN: the published train-split values
# (the official full files are not on this machine; the CIFAR-10 subset here gives the same to ~1e-2).
MNIST_SHAPE = {"channels": 1, "image_size": (28, 28), "num_classes": 10}
# Your own data: shape, classes and statistics come from the files.
FROM_FILES = {"channels": None, "image_size": None, "num_classes": None, "mean": None, "std": None}


def _rgb32(
    label: str, classes: int, mean: tuple, std: tuple, flip_ok: bool, official_order: bool = True
) -> DatasetSpec:
    """A 32x32 colour dataset (CIFAR, SVHN)."""
    return DatasetSpec(label, 3, (32, 32), classes, mean, std, flip_ok, official_order=official_order)


DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec("MNIST", **MNIST_SHAPE, mean=(0.1307,), std=(0.3081,), flip_ok=False),
    # a mirrored shoe or shirt is still a shoe or shirt
    "fashion_mnist": DatasetSpec("Fashion-MNIST", **MNIST_SHAPE, mean=(0.2860,), std=(0.3530,), flip_ok=True),
    "cifar10": _rgb32("CIFAR-10", 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), flip_ok=True),
    "cifar100": _rgb32("CIFAR-100", 100, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), flip_ok=True),
    "svhn": _rgb32("SVHN", 10, (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970), flip_ok=False),
    # natural images; a folder of digits or text should not enable flip
    "image_folder": DatasetSpec("image folder", **FROM_FILES, flip_ok=True, official_order=False),
    "tensor_file": DatasetSpec("tensor file", **FROM_FILES, flip_ok=True, official_order=False),
    "cifar10_jpeg": _rgb32(
        "CIFAR-10 (lossy JPEG copy, not the official files)",
        10,
        (0.4913, 0.4821, 0.4465),
        (0.2452, 0.2428, 0.2606),
        flip_ok=True,
        official_order=False,  # class folders: all airplanes, then all automobiles, ...
    ),
}


@dataclass
class ImageTensors:
    """One split of a dataset, on the CPU.

    Attributes:
        images: uint8 [N, C, H, W], pixel values 0-255, contiguous.
        labels: int64 [N], class indices into `classes`.
        classes: class names, index = label.
        name: the DATASETS key.
        source: the files or folder that were read.
        official: True when every file read matched the official checksums.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    name: str
    source: str
    official: bool

    def __post_init__(self) -> None:
        assert self.images.dtype == torch.uint8 and self.images.dim() == 4, (self.images.dtype, self.images.shape)
        assert self.images.device.type == "cpu" and self.images.is_contiguous()
        assert self.labels.dtype == torch.int64 and self.labels.shape == (self.images.shape[0],), self.labels.shape

    def __len__(self) -> int:
        return self.images.shape[0]

    def channel_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel (mean, std) of the pixels scaled to [0, 1]: population std over all pixels."""
        total = torch.zeros(self.images.shape[1], dtype=torch.float64)
        squares = torch.zeros_like(total)
        for chunk in self.images.split(8192):
            pixels = chunk.transpose(0, 1).reshape(chunk.shape[1], -1).double()
            total += pixels.sum(dim=1)
            squares += pixels.square().sum(dim=1)
        count = self.images.numel() / self.images.shape[1]
        mean = total / count
        std = (squares / count - mean.square()).clamp_min(0).sqrt()
        return tuple((mean / 255).tolist()), tuple((std / 255).tolist())


@dataclass(frozen=True)
class ReadOptions:
    """`load_split`'s keyword options, handed to every reader (each uses the ones that concern it)."""

    accept_nonofficial: bool
    folder: str | os.PathLike | None
    cache_dir: str | os.PathLike | None
    download: bool
    resize: tuple[int, int] | None
    extra: bool = False
    file: str | os.PathLike | None = None
