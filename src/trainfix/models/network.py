"""`Network`: the base of every model here: the core arguments and the input-shape check.

Every network takes the same three core arguments, returns logits (no softmax: the loss is
computed outside, per sample) and knows the one input shape it was built for.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod

import torch
from torch import nn


class Network(nn.Module, metaclass=ABCMeta):
    """A classifier of square images; subclasses implement `logits`.

    Args:
        num_classes: number of output logits (>= 1).
        in_channels: channels of the input images (1 grayscale, 3 RGB).
        image_size: height = width of the input images, in pixels.

    Attributes:
        expected_input: (C, H, W) of one input image; `forward` refuses any other shape.
        input_noise: applied to the input before `logits` (identity unless `build_model(...,
            input_noise_std=s)` set Keras' GaussianNoise(s): noise in training mode only).
    """

    def __init__(self, num_classes: int, in_channels: int, image_size: int) -> None:
        super().__init__()
        for arg, value in (("num_classes", num_classes), ("in_channels", in_channels), ("image_size", image_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{type(self).__name__}: {arg}={value!r}; accepted: an integer >= 1")
        self.num_classes = num_classes
        self.expected_input: tuple[int, int, int] = (in_channels, image_size, image_size)
        # No parameters or buffers: the state_dict keys are the same with or without noise.
        self.input_noise: nn.Module = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [N, num_classes] of images x [N, C, H, W] with (C, H, W) == `expected_input`."""
        if tuple(x.shape[1:]) != self.expected_input:
            raise ValueError(
                f"{type(self).__name__} was built for inputs [N, {', '.join(map(str, self.expected_input))}], "
                f"got {list(x.shape)}"
            )
        return self.logits(self.input_noise(x))

    @abstractmethod
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The network proper, without the shape check."""


class FeaturesClassifier(Network):
    """A `Network` that is a `features` module (ending in a flatten) followed by a `classifier` module,
    both set by the subclass's `__init__`; arguments as `Network`."""

    features: nn.Module
    classifier: nn.Module

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
