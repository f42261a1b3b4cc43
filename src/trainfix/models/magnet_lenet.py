"""The LeNet-style embedding network of LEAP's MNIST and Fashion-MNIST experiments.

Source: the authors' code (vithursant/SPL-ADVisE, magnet_loss `LeNet` used as the embedding CNN;
references/leap-and-trimming.md): conv 5x5 (32) -> ReLU -> max-pool 2 -> conv 5x5 (64) -> ReLU ->
max-pool 2 -> linear to the embedding (2-D in every LEAP experiment: `num_classes` is the embedding
size, so the registry builds it like any classifier). PyTorch default initialization. 832 + 51,264
+ 2,050 = 54,146 parameters for a 2-D embedding of 1x28x28 images.
"""

from __future__ import annotations

import torch
from torch import nn

from trainfix.models.network import Network


class MagnetLeNet(Network):
    """Two valid 5x5 convolutions with max pooling, then one linear layer to `num_classes` outputs.

    Args:
        num_classes: output size (the embedding dimension, 2 in LEAP).
        in_channels: image channels (1 or 3).
        image_size: image height = width in pixels (>= 16: two valid 5x5 convs and two poolings).
    """

    def __init__(self, num_classes: int, in_channels: int, image_size: int) -> None:
        super().__init__(num_classes, in_channels, image_size)
        side = ((image_size - 4) // 2 - 4) // 2
        if side < 1:
            raise ValueError(f"MagnetLeNet: image_size={image_size} vanishes after two 5x5 convs and poolings; accepted: >= 16")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
        )  # fmt: skip
        self.embed = nn.Linear(64 * side * side, num_classes)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.features(x))
