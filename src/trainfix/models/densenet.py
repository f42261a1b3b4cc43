"""DenseNet-121 for 32x32 images (Huang et al. 2017, DenseNet-BC), the common CIFAR variant
(kuangliu/pytorch-cifar): a 3x3 stem conv with 2 x growth channels and no max-pooling instead of
ImageNet's 7x7/2 conv + pool; blocks of 6, 12, 24, 16 bottleneck layers, growth rate 32,
compression 0.5 in the transitions. No conv biases, PyTorch default initialization.
6,956,298 parameters at 10 classes. Mini-batch trimming's paper does not say which DenseNet-121
stem it used.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trainfix.models.network import Network


class DenseLayer(nn.Module):
    """BN-ReLU-1x1 conv (4 x growth) - BN-ReLU-3x3 conv (growth); output concatenated to the input."""

    def __init__(self, in_channels: int, growth: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(in_channels), nn.ReLU(), nn.Conv2d(in_channels, 4 * growth, 1, bias=False),
            nn.BatchNorm2d(4 * growth), nn.ReLU(), nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.body(x), x], dim=1)


def _transition(in_channels: int, out_channels: int) -> nn.Sequential:
    """BN-ReLU-1x1 conv, then 2x2 average pooling: compresses channels and halves the size."""
    return nn.Sequential(
        nn.BatchNorm2d(in_channels), nn.ReLU(), nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.AvgPool2d(2)
    )


class DenseNet(Network):
    """DenseNet-BC for small images.

    Args:
        num_classes: number of logits.
        in_channels: image channels (1 or 3).
        image_size: image height = width in pixels.
        blocks: dense layers per block ((6, 12, 24, 16) for DenseNet-121).
        growth: channels each dense layer adds.
        compression: fraction of channels a transition keeps, in (0, 1].
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        image_size: int,
        blocks: tuple[int, ...] = (6, 12, 24, 16),
        growth: int = 32,
        compression: float = 0.5,
    ) -> None:
        super().__init__(num_classes, in_channels, image_size)
        if not 0.0 < compression <= 1.0:
            raise ValueError(f"compression={compression}: accepted: a fraction in (0, 1]")
        channels = 2 * growth
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels, 3, padding=1, bias=False)]
        for index, count in enumerate(blocks):
            for _ in range(count):
                layers.append(DenseLayer(channels, growth))
                channels += growth
            if index < len(blocks) - 1:
                kept = int(channels * compression)
                layers.append(_transition(channels, kept))
                channels = kept
        layers += [nn.BatchNorm2d(channels), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, num_classes)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))


def densenet121(num_classes: int, in_channels: int, image_size: int) -> DenseNet:
    """DenseNet-121, CIFAR stem: 6,956,298 parameters at 10 classes."""
    return DenseNet(num_classes, in_channels, image_size, blocks=(6, 12, 24, 16), growth=32)
