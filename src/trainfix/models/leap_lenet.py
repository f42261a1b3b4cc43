"""LEAP's MNIST student as the authors' code built it when the paper was written.

Source: vithursant/SPL-ADVisE, `models/lenet.py` class `LeNet` (blob 5332bae), unchanged in every
commit from 6b8d9d8 (2017-10-24) through bccac11 (2018-01-04, the last with `spld_iclr.py`) and on
the vithu-dev branch (8603701..692a10f, `trainer.py --model lenet`). The conv-6-16 LeNet that file
holds today arrived with the clean-up fc0793c (2018-11-27), after the paper. Checked line by line
(docs/leap.md, "The paper-era MNIST student"):

    3 x [conv 3x3 stride 1 padding 1 -> ReLU -> max-pool 2x2 stride 2 -> dropout 0.3]
        channels 32, 64, 128; the third pool has padding 1 (7x7 -> 4x4 on MNIST)
    flatten (128 x 4 x 4 = 2,048) -> linear 625 -> linear num_classes

The authors' `forward` calls `fc1` then `fc2` directly: their `layer4` (fc1, ReLU, dropout) is
built but never called, so there is no activation or dropout between the two linear layers.
Initialization: `xavier_uniform` (gain 1) on both linear weights; conv weights and all biases keep
PyTorch's default, uniform(+-1/sqrt(fan_in)), which PyTorch 0.2/0.3 drew as this version does.
On 1x28x28 inputs with 10 classes: 320 + 18,496 + 73,856 + 1,280,625 + 6,260 = 1,379,557 parameters.
"""

from __future__ import annotations

import torch
from torch import nn

from trainfix.models.network import Network

CHANNELS = (32, 64, 128)
HIDDEN = 625
DROPOUT = 0.3  # the code's `Dropout(p=1 - 0.7)`: a TensorFlow keep_prob of 0.7


def _block(in_channels: int, out_channels: int, pool_padding: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=2, stride=2, padding=pool_padding),
        nn.Dropout(DROPOUT),
    )


def flatten_side(image_size: int) -> int:
    """Side, in pixels, after the three blocks: two floor halvings, then a padded one (28 -> 4)."""
    return (image_size // 4) // 2 + 1


class LeapLeNet(Network):
    """Three 3x3 conv blocks (32, 64, 128 channels, each ReLU, max-pool, dropout 0.3), then a
    linear 625 and a linear `num_classes`, with nothing between them (the authors' forward).

    Args:
        num_classes: number of logits.
        in_channels: image channels (1 or 3).
        image_size: image height = width in pixels (>= 4: two 2x2 poolings leave at least 1 pixel).
    """

    def __init__(self, num_classes: int, in_channels: int, image_size: int) -> None:
        super().__init__(num_classes, in_channels, image_size)
        if image_size < 4:
            raise ValueError(f"LeapLeNet: image_size={image_size} vanishes after two 2x2 poolings; accepted: >= 4")
        c1, c2, c3 = CHANNELS
        self.features = nn.Sequential(
            _block(in_channels, c1, 0), _block(c1, c2, 0), _block(c2, c3, 1), nn.Flatten(),
        )  # fmt: skip
        side = flatten_side(image_size)
        self.fc1 = nn.Linear(c3 * side * side, HIDDEN)
        self.fc2 = nn.Linear(HIDDEN, num_classes)
        nn.init.xavier_uniform_(self.fc1.weight)
        nn.init.xavier_uniform_(self.fc2.weight)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.fc1(self.features(x)))
