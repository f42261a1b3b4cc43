"""Wide residual networks WRN-depth-width (Zagoruyko & Komodakis 2016), for 32x32 images.

A WRN is a pre-activation CIFAR ResNet (`CifarResNet` with `preact=True`): a 16-channel 3x3 stem,
three stages of (depth - 4) / 6 blocks with 16k, 32k, 64k channels, dropout between the two
convs of each block, a 1x1 projection (no BN) where the shape changes, a final BN-ReLU, global
average pooling. No conv biases, as in the authors' code. At 10 classes: WRN-28-10 36,479,194
parameters (the paper's 36.5M), WRN-16-8 10,961,370 (11.0M). LEAP trains WRN-28-10 with dropout
0.3 (CIFAR-100) and WRN-16-8 with dropout 0.4 (SVHN), the paper's own settings.
"""

from __future__ import annotations

from trainfix.models.resnet_cifar import CifarResNet


def wide_resnet(
    num_classes: int, in_channels: int, image_size: int, *, depth: int, width: int, dropout: float
) -> CifarResNet:
    """WRN-`depth`-`width` with `dropout` probability inside each block.

    Args:
        num_classes: number of logits.
        in_channels: image channels (1 or 3).
        image_size: image height = width in pixels.
        depth: 6n + 4 (16, 22, 28, 40, ...).
        width: widening factor k (channels 16k, 32k, 64k).
        dropout: dropout probability between the convs of a block, in [0, 1).
    """
    if depth < 10 or (depth - 4) % 6:
        raise ValueError(f"depth={depth}: accepted: 6n + 4 with n >= 1 (10, 16, 22, 28, 40, ...)")
    if width < 1:
        raise ValueError(f"width={width}: accepted: an integer widening factor >= 1")
    n = (depth - 4) // 6
    return CifarResNet(
        num_classes,
        in_channels,
        image_size,
        blocks=(n, n, n),
        widths=(16 * width, 32 * width, 64 * width),
        stem_width=16,
        preact=True,
        dropout=dropout,
    )


def wrn28_10(num_classes: int, in_channels: int, image_size: int, dropout: float = 0.3) -> CifarResNet:
    """WRN-28-10, dropout 0.3 by default (CIFAR)."""
    return wide_resnet(num_classes, in_channels, image_size, depth=28, width=10, dropout=dropout)


def wrn16_8(num_classes: int, in_channels: int, image_size: int, dropout: float = 0.4) -> CifarResNet:
    """WRN-16-8, dropout 0.4 by default (SVHN)."""
    return wide_resnet(num_classes, in_channels, image_size, depth=16, width=8, dropout=dropout)
