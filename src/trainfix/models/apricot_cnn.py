"""Apricot's CIFAR-10 CNNs, per Table I of the paper (seeds/apricot.txt): CNN1, CNN2, CNN3.

3x3 convolutions with "same" padding and ReLU ("We set activation functions to ReLU for all
CNNs"), 2x2 max pooling, Keras default initialization (Apricot is built on Keras 2.2.2). The
padding is not printed; "same" is the one that reproduces Table II's counts at 3x32x32:
CNN1 2,425,930 (2.43M), CNN2 272,106 counting BatchNorm's moving statistics as Keras does (272K;
271,338 trainable), CNN3 1,000,824 (1.00M). Table I lists no dropout, so there is none. Each class
takes `Network`'s arguments (num_classes, in_channels, image_size).
"""

from __future__ import annotations

import torch
from torch import nn

from trainfix.models.keras_layers import keras_batch_norm, keras_init_
from trainfix.models.network import FeaturesClassifier, Network


def _conv_relu(in_channels: int, out_channels: int, kernel_size: int = 3) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2), nn.ReLU()]


class ApricotCNN1(FeaturesClassifier):
    """Conv64, Conv64, MaxPool; Conv128, Conv128, MaxPool; Dense256, Dense256, Dense num_classes
    (ReLU after every conv and hidden dense). Flatten size 128 * (image_size // 4)^2."""

    def __init__(self, num_classes: int, in_channels: int, image_size: int) -> None:
        super().__init__(num_classes, in_channels, image_size)
        side = image_size // 4
        self.features = nn.Sequential(
            *_conv_relu(in_channels, 64), *_conv_relu(64, 64), nn.MaxPool2d(2),
            *_conv_relu(64, 128), *_conv_relu(128, 128), nn.MaxPool2d(2),
            nn.Flatten(),
        )  # fmt: skip
        self.classifier = nn.Sequential(
            nn.Linear(128 * side * side, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, num_classes)
        )
        keras_init_(self)


# duplicates pairs this __init__ with ApricotCNN1's by shape: each lists its own network's layers.
class ApricotCNN2(FeaturesClassifier):
    """Conv32, BN, Conv32, BN, MaxPool; Conv64, BN, MaxPool; Conv128, BN, Conv128, BN, MaxPool;
    Flatten, Dense num_classes. ReLU is the conv's own activation, so each BN follows a ReLU
    (Keras `Conv2D(..., activation="relu")` then `BatchNormalization()`, Keras defaults).
    Flatten size 128 * (image_size // 8)^2."""

    def __init__(self, num_classes: int, in_channels: int, image_size: int) -> None:
        super().__init__(num_classes, in_channels, image_size)
        side = image_size // 8
        self.features = nn.Sequential(
            *_conv_relu(in_channels, 32), keras_batch_norm(32),
            *_conv_relu(32, 32), keras_batch_norm(32), nn.MaxPool2d(2),
            *_conv_relu(32, 64), keras_batch_norm(64), nn.MaxPool2d(2),
            *_conv_relu(64, 128), keras_batch_norm(128),
            *_conv_relu(128, 128), keras_batch_norm(128), nn.MaxPool2d(2),
            nn.Flatten(),
        )  # fmt: skip
        self.classifier = nn.Linear(128 * side * side, num_classes)
        keras_init_(self)


class ApricotCNN3(Network):
    """Conv96 x3, MaxPool; Conv192 x3, MaxPool; Conv10 1x1, global average pooling; Dense
    num_classes. The Conv(10) is read as a 1x1 conv with ReLU (All-CNN style): with 3x3 the
    count would be 1,016,184, not Table II's 1.00M."""

    def __init__(self, num_classes: int, in_channels: int, image_size: int) -> None:
        super().__init__(num_classes, in_channels, image_size)
        self.features = nn.Sequential(
            *_conv_relu(in_channels, 96), *_conv_relu(96, 96), *_conv_relu(96, 96), nn.MaxPool2d(2),
            *_conv_relu(96, 192), *_conv_relu(192, 192), *_conv_relu(192, 192), nn.MaxPool2d(2),
            *_conv_relu(192, 10, kernel_size=1),
        )  # fmt: skip
        self.classifier = nn.Linear(10, num_classes)
        keras_init_(self)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean(dim=(2, 3)))
