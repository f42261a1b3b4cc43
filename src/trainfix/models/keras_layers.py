"""Keras layer behaviours that PyTorch lacks, for the models the papers' authors built in Keras.

- `SameConv2d`: Keras/TensorFlow `padding="same"`. With stride 2 on an even input, Keras pads one
  pixel at the bottom/right only, so outputs sample other input positions than PyTorch's
  symmetric `padding=1`.
- `keras_batch_norm`: Keras' `BatchNormalization()` defaults (epsilon 1e-3, moving average
  momentum 0.99, i.e. PyTorch momentum 0.01).
- `keras_init_`: Keras' default initializers (glorot_uniform kernels, zero biases) or
  `he_normal` kernels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# Standard deviation of a unit normal truncated to [-2, 2] (scipy.stats.truncnorm.std(-2, 2)). Keras,
# since its 2018 fix (keras-team/keras#8048), divides by it so that he_normal draws have std
# sqrt(2 / fan_in); DeepEutaxy's code needs Keras >= 2.3 (SGD(learning_rate=...)), which has the fix.
TRUNCATED_NORMAL_STD = 0.87962566103423978


class SameConv2d(nn.Conv2d):
    """`nn.Conv2d` with Keras `padding="same"`: output size ceil(input / stride), any odd padding
    pixel at the bottom/right. Stride 1 with an odd kernel is plain symmetric padding."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1, bias: bool = True
    ) -> None:
        symmetric = stride == 1 and kernel_size % 2 == 1
        padding = kernel_size // 2 if symmetric else 0
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, groups=groups, bias=bias)
        self.pad_in_forward = not symmetric

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad_in_forward:
            pads = []
            for dim in (-1, -2):  # F.pad takes the last dimension first
                size, k, s = x.shape[dim], self.kernel_size[dim], self.stride[dim]
                total = max((math.ceil(size / s) - 1) * s + k - size, 0)
                pads += [total // 2, total - total // 2]
            if any(pads):  # a 1x1 stride-2 conv on an even input needs none
                x = F.pad(x, pads)
        return super().forward(x)


def keras_batch_norm(channels: int) -> nn.BatchNorm2d:
    """`keras.layers.BatchNormalization()` with its defaults (epsilon 1e-3, momentum 0.99)."""
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


def _fan_in(weight: torch.Tensor) -> int:
    # Conv weight [out, in/groups, kh, kw], Linear weight [out, in]: fan_in = in/groups * kh * kw.
    return math.prod(weight.shape[1:])


@torch.no_grad()
def keras_init_(net: nn.Module, kernel: str = "glorot_uniform") -> None:
    """Initialize every conv/linear layer of `net` as Keras does: `kernel` for the weights
    ("glorot_uniform" or "he_normal"), zeros for the biases. BatchNorm keeps gamma 1, beta 0.

    glorot_uniform is U(-a, a), a = sqrt(6 / (fan_in + fan_out)), which is `xavier_uniform_`
    (for depthwise convs Keras and PyTorch split the fans differently but their sum is equal).
    he_normal is a normal truncated at 2 std, scaled so the draw has std sqrt(2 / fan_in).
    """
    if kernel not in ("glorot_uniform", "he_normal"):
        raise ValueError(f"kernel={kernel!r}; accepted: 'glorot_uniform', 'he_normal'")
    for module in net.modules():
        if not isinstance(module, nn.Conv2d | nn.Linear):
            continue
        if kernel == "glorot_uniform":
            nn.init.xavier_uniform_(module.weight)
        else:
            std = math.sqrt(2.0 / _fan_in(module.weight)) / TRUNCATED_NORMAL_STD
            nn.init.trunc_normal_(module.weight, mean=0.0, std=std, a=-2 * std, b=2 * std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
