"""The LeNet-style embedding network of LEAP's MNIST and Fashion-MNIST experiments.

Source: the authors' code (vithursant/SPL-ADVisE, models/magnet_lenet.py `MagnetLeNet`, blob 003bb1f
at every commit from 6b8d9d8 through fc0793c): conv 5x5 (32, padding 2) -> ReLU -> max-pool 2 ->
conv 5x5 (64, padding 2) -> ReLU -> max-pool 2 -> linear to the embedding (2-D in every LEAP
experiment: `num_classes` is the embedding size, so the registry builds it like any classifier).
PyTorch default initialization. 832 + 51,264 + 6,274 = 58,370 parameters for a 2-D embedding of
1x28x28 images (28 -> 14 -> 7).
"""

from __future__ import annotations

import torch
from torch import nn

from trainfix.models.network import Network


class MagnetLeNet(Network):
    """Two 'same' 5x5 convolutions (padding 2) with max pooling, then one linear layer to `num_classes` outputs.

    Args:
        num_classes: output size (the embedding dimension, 2 in LEAP).
        in_channels: image channels (1 or 3).
        image_size: image height = width in pixels (>= 4: two 2x2 poolings).
    """

    def __init__(self, num_classes: int, in_channels: int, image_size: int) -> None:
        super().__init__(num_classes, in_channels, image_size)
        side = image_size // 4
        if side < 1:
            raise ValueError(f"MagnetLeNet: image_size={image_size} vanishes after two 2x2 poolings; accepted: >= 4")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
        )  # fmt: skip
        self.embed = nn.Linear(64 * side * side, num_classes)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.features(x))
