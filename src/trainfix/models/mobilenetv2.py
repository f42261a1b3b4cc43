"""MobileNetV2 for CIFAR as DeepEutaxy builds it (DemoAuguste/DeepEutaxy models/mobilenetv2.py,
a copy of xiaochus/MobileNetV2), width multiplier 1.0.

It differs from Sandler et al. 2018 in ways that change the parameter count: every conv
(depthwise included) has a bias (Keras' default), and the first bottleneck (t = 1) still has its
1x1 expansion conv. The stem keeps stride 2, so a 32x32 image is 1x1 after the last stride-2
stage. Head: 1x1 conv to 1280 channels, global average pooling, Dropout 0.3, then the classifier
(a 1x1 conv in Keras, a Linear here: the same function and the same glorot_uniform fans).
Keras "same" padding, Keras BatchNorm defaults, ReLU6, glorot_uniform kernels, zero biases.
"""

from __future__ import annotations

import torch
from torch import nn

from trainfix.models.keras_layers import SameConv2d, keras_batch_norm, keras_init_
from trainfix.models.network import Network

# (output channels c, expansion t, first stride s, repeats n), as in the paper's Table 2.
BOTTLENECKS = (
    (16, 1, 1, 1), (24, 6, 2, 2), (32, 6, 2, 3), (64, 6, 2, 4), (96, 6, 1, 3), (160, 6, 2, 3), (320, 6, 1, 1),
)  # fmt: skip
LAST_CHANNELS = 1280


def _make_divisible(value: float, divisor: int = 8) -> int:
    """Round `value` to a multiple of `divisor`, never below 90% of it (the reference rule)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def _conv_bn(
    in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1, relu6: bool = True
) -> nn.Sequential:
    """Keras Conv2D/DepthwiseConv2D (bias, "same" padding) -> BatchNormalization -> optional ReLU6."""
    conv = SameConv2d(in_channels, out_channels, kernel_size, stride, groups)
    layers: list[nn.Module] = [conv, keras_batch_norm(out_channels)]
    if relu6:
        layers.append(nn.ReLU6())
    return nn.Sequential(*layers)


class Bottleneck(nn.Module):
    """Inverted residual: 1x1 expand (t x input channels) -> 3x3 depthwise (stride) -> 1x1
    linear projection; the input is added when `residual` (the repeats of a stage)."""

    def __init__(self, in_channels: int, out_channels: int, expansion: int, stride: int, residual: bool) -> None:
        super().__init__()
        hidden = in_channels * expansion
        self.body = nn.Sequential(
            _conv_bn(in_channels, hidden, 1),
            _conv_bn(hidden, hidden, 3, stride, groups=hidden),
            _conv_bn(hidden, out_channels, 1, relu6=False),
        )
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class MobileNetV2(Network):
    """CIFAR MobileNetV2 (xiaochus/DeepEutaxy variant).

    Args:
        num_classes: number of logits.
        in_channels: image channels (1 or 3).
        image_size: image height = width in pixels.
        width_mult: width multiplier alpha (1.0 in DeepEutaxy).
        dropout: dropout probability before the classifier (0.3 in DeepEutaxy).
    """

    def __init__(
        self, num_classes: int, in_channels: int, image_size: int, width_mult: float = 1.0, dropout: float = 0.3
    ) -> None:
        super().__init__(num_classes, in_channels, image_size)
        if width_mult <= 0:
            raise ValueError(f"width_mult={width_mult}: accepted: a number > 0 (e.g. 0.35, 0.5, 0.75, 1.0, 1.4)")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout={dropout}: accepted: a probability in [0, 1)")
        channels = _make_divisible(32 * width_mult)
        layers: list[nn.Module] = [_conv_bn(in_channels, channels, 3, stride=2)]
        for c, t, s, n in BOTTLENECKS:
            out_channels = int(c * width_mult)  # the reference truncates here, unrounded
            for i in range(n):
                layers.append(Bottleneck(channels, out_channels, t, s if i == 0 else 1, residual=i > 0))
                channels = out_channels
        last = _make_divisible(LAST_CHANNELS * width_mult) if width_mult > 1.0 else LAST_CHANNELS
        layers.append(_conv_bn(channels, last, 1))
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(last, num_classes)
        keras_init_(self)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x).mean(dim=(2, 3))
        return self.classifier(self.dropout(x))
