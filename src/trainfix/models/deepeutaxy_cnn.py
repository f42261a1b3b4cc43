"""DeepEutaxy's MNIST networks, CNN1 and LeNet-5, as the authors' Keras code builds them.

Source: DemoAuguste/DeepEutaxy, models/model.py (`model1`, `lenet5`). 5x5 convolutions with
"valid" padding, 2x2 max pooling (floor), Keras default initialization (glorot_uniform kernels,
zero biases). On 1x28x28 inputs with 10 classes: CNN1 872,714 parameters (the paper's 0.87M),
LeNet-5 44,426 (the paper's "0.44M" is a factor-10 typo). Each class takes `Network`'s arguments
(num_classes, in_channels, image_size).
"""

from __future__ import annotations

from torch import nn

from trainfix.models.keras_layers import keras_init_
from trainfix.models.network import FeaturesClassifier


def _valid_conv_pool(size: int, conv_kernel: int, pool: int) -> int:
    """Side length, in pixels, after a 'valid' convolution then a floor max-pooling."""
    return (size - conv_kernel + 1) // pool


class CNN1(FeaturesClassifier):
    """Conv 32 5x5, ReLU -> Conv 64 5x5, ReLU -> MaxPool 2 -> Dropout 0.25 -> Dense 128, ReLU ->
    Dropout 0.5 -> Dense num_classes. The flatten size follows `image_size` (6,400 at 28x28)."""

    def __init__(self, num_classes: int, in_channels: int, image_size: int) -> None:
        super().__init__(num_classes, in_channels, image_size)
        side = (image_size - 8) // 2  # two 5x5 valid convs, then pool 2
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 5),
            nn.ReLU(),
            nn.Conv2d(32, 64, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout(0.25),
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(64 * side * side, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, num_classes)
        )
        keras_init_(self)


class LeNet5(FeaturesClassifier):
    """Conv 6 5x5, ReLU -> MaxPool 2 -> Conv 16 5x5, ReLU -> MaxPool 2 -> Dense 120, ReLU ->
    Dense 84, ReLU -> Dense num_classes. The flatten size follows `image_size` (256 at 28x28)."""

    def __init__(self, num_classes: int, in_channels: int, image_size: int) -> None:
        super().__init__(num_classes, in_channels, image_size)
        side = _valid_conv_pool(_valid_conv_pool(image_size, 5, 2), 5, 2)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(16 * side * side, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, num_classes)
        )
        keras_init_(self)
