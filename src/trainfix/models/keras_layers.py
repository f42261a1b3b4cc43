"""Keras layer behaviours that PyTorch lacks, for the models the papers' authors built in Keras.

- `SameConv2d`: Keras/TensorFlow `padding="same"`. With stride 2 on an even input, Keras pads one
  pixel at the bottom/right only, so outputs sample other input positions than PyTorch's
  symmetric `padding=1`.
- `keras_batch_norm`: Keras' `BatchNormalization()` defaults (epsilon 1e-3, moving average
  momentum 0.99, i.e. PyTorch momentum 0.01).
- `keras_init_`: Keras' kernel initializers (glorot_uniform, the default, and the other variance-
  scaling ones AutoTrainer's "initial" repair draws from), zero biases.
- `GaussianNoise`: Keras' `GaussianNoise(stddev)`: adds N(0, stddev^2) noise in training only.
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


def _fans(weight: torch.Tensor) -> tuple[int, int]:
    # Conv weight [out, in/groups, kh, kw], Linear weight [out, in]: fan_in = in/groups * kh * kw,
    # fan_out = out * kh * kw, as Keras' kernel [kh, kw, in, out].
    receptive = math.prod(weight.shape[2:])
    return weight.shape[1] * receptive, weight.shape[0] * receptive


# Keras' variance-scaling initializers (keras/initializers.py, Keras 2.3): (scale, fan mode, distribution).
# "normal" is a normal truncated at 2 std, its std divided by TRUNCATED_NORMAL_STD so that the draw has
# std sqrt(scale / fan); "uniform" is U(-sqrt(3 scale / fan), +sqrt(3 scale / fan)).
KERAS_INITIALIZERS: dict[str, tuple[float, str, str]] = {
    "glorot_uniform": (1.0, "avg", "uniform"),
    "glorot_normal": (1.0, "avg", "normal"),
    "he_uniform": (2.0, "in", "uniform"),
    "he_normal": (2.0, "in", "normal"),
    "lecun_uniform": (1.0, "in", "uniform"),
    "lecun_normal": (1.0, "in", "normal"),
}


def keras_scale(weight: torch.Tensor, kernel: str) -> float:
    """The target standard deviation sqrt(scale / fan) of Keras initializer `kernel` for `weight`."""
    scale, mode, _ = KERAS_INITIALIZERS[kernel]
    fan_in, fan_out = _fans(weight)
    fan = {"in": fan_in, "avg": (fan_in + fan_out) / 2.0}[mode]
    return math.sqrt(scale / max(1.0, fan))


@torch.no_grad()
def keras_init_(net: nn.Module, kernel: str = "glorot_uniform", skip_last: bool = False) -> None:
    """Initialize every conv/linear layer of `net` as Keras does: `kernel` for the weights (one of
    `KERAS_INITIALIZERS`), zeros for the biases. BatchNorm keeps gamma 1, beta 0.

    skip_last: leave the last conv/linear layer (in module order: the classifier head) as it is, as
        AutoTrainer's `modify_initializer` does ("the last layer don't modify").

    glorot_uniform is `xavier_uniform_` (for depthwise convs Keras and PyTorch split the fans
    differently but their sum is equal).
    """
    if kernel not in KERAS_INITIALIZERS:
        raise ValueError(f"kernel initializer {kernel!r}; accepted: {', '.join(KERAS_INITIALIZERS)}")
    layers = [m for m in net.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    if skip_last:
        layers = layers[:-1]
    for module in layers:
        std = keras_scale(module.weight, kernel)
        if (
            kernel == "glorot_uniform"
        ):  # the same bound; kept as xavier_uniform_ so existing runs draw bit-identical weights
            nn.init.xavier_uniform_(module.weight)
        elif KERAS_INITIALIZERS[kernel][2] == "uniform":
            nn.init.uniform_(module.weight, -math.sqrt(3.0) * std, math.sqrt(3.0) * std)
        else:
            drawn = std / TRUNCATED_NORMAL_STD
            nn.init.trunc_normal_(module.weight, mean=0.0, std=drawn, a=-2 * drawn, b=2 * drawn)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class GaussianNoise(nn.Module):
    """Keras' `GaussianNoise(stddev)`: x + N(0, stddev^2) noise, element-wise, in training mode only
    (identity in eval mode). AutoTrainer's "GN" repair inserts it before the first layer (stddev 0.1)."""

    def __init__(self, stddev: float) -> None:
        super().__init__()
        if not stddev >= 0:
            raise ValueError(f"input_noise_std={stddev!r}; accepted: a number >= 0 (0 = off)")
        self.stddev = float(stddev)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.stddev == 0:
            return x
        return x + self.stddev * torch.randn_like(x)

    def extra_repr(self) -> str:
        return f"stddev={self.stddev}"
