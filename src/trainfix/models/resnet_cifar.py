"""CIFAR ResNets (3x3 stem, no max-pooling): one general class, `CifarResNet`, and named variants.

- `resnet20`, `resnet32`: He et al. 2016a v1 as the Keras CIFAR-10 example `resnet_v1` builds it,
  the DeepEutaxy models (DemoAuguste/DeepEutaxy models/resnet.py): depth 6n+2, widths 16/32/64,
  conv biases, "same" padding, he_normal kernels, Keras BatchNorm defaults, a 1x1 projection
  shortcut (conv with bias, no BN) where the shape changes. Keras reports 274,442 / 470,218
  parameters, of which 1,376 / 2,272 are BatchNorm moving statistics (non-trainable).
- `preact_resnet20`, `preact_resnet32`: the pre-activation (v2) variant Apricot uses, from its
  reference [6] BIGBALLON/cifar-10-cnn 4_Residual_Network/ResNet_keras.py: BN-ReLU before each
  conv, the projection taken from the pre-activated input, a final BN-ReLU; BatchNorm momentum
  0.9 / epsilon 1e-5 (PyTorch's defaults). Same counts as v1: 274,442 / 470,218.
- `resnet18`, `resnet34`: the common PyTorch CIFAR variant (kuangliu/pytorch-cifar): widths
  64..512, no conv biases, projection = 1x1 conv + BN, PyTorch default initialization.
- `preact_resnet18`: LEAP's student network (vithursant/SPL-ADVisE models/preact_resnet.py, from
  kuangliu), which has no BN-ReLU before the pooling.

All variants end with global average pooling; at 32x32 it equals the Keras example's
AveragePooling2D(8) + Flatten and kuangliu's avg_pool2d(4).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from trainfix.models.keras_layers import SameConv2d, keras_batch_norm, keras_init_
from trainfix.models.network import Network

Norm = Callable[[int], nn.Module]


def _conv(in_channels: int, out_channels: int, kernel_size: int, stride: int, keras: bool) -> nn.Conv2d:
    """Keras layers keep their default bias and "same" padding; the PyTorch variants drop the bias
    (a following BN makes it redundant) and pad symmetrically."""
    if keras:
        return SameConv2d(in_channels, out_channels, kernel_size, stride)
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2, bias=False)


class BasicBlock(nn.Module):
    """v1 block: conv-BN-ReLU-(dropout)-conv-BN, plus the shortcut, then ReLU."""

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, keras: bool, norm: Norm, dropout: float
    ) -> None:
        super().__init__()
        self.conv1 = _conv(in_channels, out_channels, 3, stride, keras)
        self.bn1 = norm(out_channels)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.conv2 = _conv(out_channels, out_channels, 3, 1, keras)
        self.bn2 = norm(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            projection = _conv(in_channels, out_channels, 1, stride, keras)
            # The Keras example's projection has no BN (batch_normalization=False); kuangliu's has one.
            self.shortcut = projection if keras else nn.Sequential(projection, norm(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dropout(F.relu(self.bn1(self.conv1(x))))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class PreActBlock(nn.Module):
    """v2 block: BN-ReLU-conv-BN-ReLU-(dropout)-conv, plus the shortcut; a projection shortcut
    (1x1 conv, no BN) reads the pre-activated input."""

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, keras: bool, norm: Norm, dropout: float
    ) -> None:
        super().__init__()
        self.bn1 = norm(in_channels)
        self.conv1 = _conv(in_channels, out_channels, 3, stride, keras)
        self.bn2 = norm(out_channels)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.conv2 = _conv(out_channels, out_channels, 3, 1, keras)
        self.projection = None
        if stride != 1 or in_channels != out_channels:
            self.projection = _conv(in_channels, out_channels, 1, stride, keras)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        shortcut = x if self.projection is None else self.projection(pre)
        y = self.conv1(pre)
        y = self.conv2(self.dropout(F.relu(self.bn2(y))))
        return y + shortcut


class CifarResNet(Network):
    """ResNet for small images: 3x3 stem conv, stages of residual blocks (the first stage at
    stride 1, each later one halving the size), global average pooling, a linear classifier.

    Args:
        num_classes: number of logits.
        in_channels: image channels (1 or 3).
        image_size: image height = width in pixels.
        blocks: residual blocks per stage, e.g. (3, 3, 3) for ResNet-20.
        widths: output channels per stage, e.g. (16, 32, 64).
        stem_width: channels of the stem conv (default: widths[0]).
        preact: pre-activation (v2) blocks instead of v1 blocks.
        keras: Keras layers (conv biases, "same" padding, he_normal kernels, projection without
            BN) instead of PyTorch ones (no conv biases, projection with BN in v1 blocks, PyTorch
            default initialization).
        final_norm: with `preact`, a BN-ReLU before the pooling (He et al. 2016b).
        dropout: dropout probability between the two convs of each block (0 = none).
        norm: BatchNorm constructor, given the channel count.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        image_size: int,
        *,
        blocks: Sequence[int],
        widths: Sequence[int],
        stem_width: int | None = None,
        preact: bool = False,
        keras: bool = False,
        final_norm: bool = True,
        dropout: float = 0.0,
        norm: Norm = nn.BatchNorm2d,
    ) -> None:
        super().__init__(num_classes, in_channels, image_size)
        if len(blocks) != len(widths) or not blocks or min(blocks) < 1:
            raise ValueError(
                f"blocks={list(blocks)}, widths={list(widths)}: accepted: equal non-empty lengths, blocks >= 1"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout={dropout}: accepted: a probability in [0, 1)")
        stem_width = widths[0] if stem_width is None else stem_width
        stem: list[nn.Module] = [_conv(in_channels, stem_width, 3, 1, keras)]
        if not preact:
            stem += [norm(stem_width), nn.ReLU()]
        self.stem = nn.Sequential(*stem)

        block = PreActBlock if preact else BasicBlock
        stages, channels = [], stem_width
        for index, (count, width) in enumerate(zip(blocks, widths, strict=True)):
            layers = []
            for i in range(count):
                stride = 2 if index > 0 and i == 0 else 1
                layers.append(block(channels, width, stride, keras, norm, dropout))
                channels = width
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(norm(channels), nn.ReLU()) if preact and final_norm else nn.Identity()
        self.fc = nn.Linear(channels, num_classes)
        if keras:
            keras_init_(self, "he_normal")

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.stages(self.stem(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def keras_cifar_resnet(
    num_classes: int, in_channels: int, image_size: int, *, depth: int, preact: bool = False
) -> CifarResNet:
    """ResNet-`depth` (depth = 6n + 2) as built in Keras: v1 = the Keras CIFAR-10 example
    `resnet_v1` (DeepEutaxy), `preact` = BIGBALLON's pre-activation ResNet (Apricot)."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth={depth}: accepted: 6n + 2 with n >= 1 (20, 32, 44, 56, 110, ...)")
    n = (depth - 2) // 6
    # BIGBALLON sets BatchNormalization(momentum=0.9, epsilon=1e-5), PyTorch's defaults.
    norm = nn.BatchNorm2d if preact else keras_batch_norm
    return CifarResNet(
        num_classes, in_channels, image_size, blocks=(n, n, n), widths=(16, 32, 64), preact=preact, keras=True,
        norm=norm,
    )  # fmt: skip


def resnet20(num_classes: int, in_channels: int, image_size: int) -> CifarResNet:
    """Keras `resnet_v1` depth 20 (DeepEutaxy): 273,066 trainable parameters at 10 classes."""
    return keras_cifar_resnet(num_classes, in_channels, image_size, depth=20)


def resnet32(num_classes: int, in_channels: int, image_size: int) -> CifarResNet:
    """Keras `resnet_v1` depth 32 (DeepEutaxy): 467,946 trainable parameters at 10 classes."""
    return keras_cifar_resnet(num_classes, in_channels, image_size, depth=32)


def preact_resnet20(num_classes: int, in_channels: int, image_size: int) -> CifarResNet:
    """BIGBALLON pre-activation ResNet-20 (Apricot): 273,066 trainable parameters at 10 classes."""
    return keras_cifar_resnet(num_classes, in_channels, image_size, depth=20, preact=True)


def preact_resnet32(num_classes: int, in_channels: int, image_size: int) -> CifarResNet:
    """BIGBALLON pre-activation ResNet-32 (Apricot): 467,946 trainable parameters at 10 classes."""
    return keras_cifar_resnet(num_classes, in_channels, image_size, depth=32, preact=True)


def resnet18(num_classes: int, in_channels: int, image_size: int) -> CifarResNet:
    """CIFAR ResNet-18 (BasicBlock, 2-2-2-2): 11,173,962 parameters at 10 classes."""
    return CifarResNet(num_classes, in_channels, image_size, blocks=(2, 2, 2, 2), widths=(64, 128, 256, 512))


def resnet34(num_classes: int, in_channels: int, image_size: int) -> CifarResNet:
    """CIFAR ResNet-34 (BasicBlock, 3-4-6-3): 21,282,122 parameters at 10 classes."""
    return CifarResNet(num_classes, in_channels, image_size, blocks=(3, 4, 6, 3), widths=(64, 128, 256, 512))


def preact_resnet18(num_classes: int, in_channels: int, image_size: int) -> CifarResNet:
    """LEAP's pre-activation ResNet-18 (kuangliu, no final BN-ReLU): 11,171,146 parameters at 10 classes."""
    return CifarResNet(
        num_classes, in_channels, image_size, blocks=(2, 2, 2, 2), widths=(64, 128, 256, 512), preact=True,
        final_norm=False,
    )  # fmt: skip
