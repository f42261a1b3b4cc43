"""Deep fully connected network on flattened images, the AutoTrainer motivation models.

AutoTrainer's `Motivation/OscillatingLoss/minist_relu_layer=20.h5` (the dynamic-checking thesis'
"20-layer" model) is 784 -> 20 x [Dense 128, ReLU] -> Dense 10, glorot_uniform kernels and zero
biases: 415,498 parameters. `Motivation/DyingReLU/minist_relu_layer=34.h5` is the same with 34
hidden layers: 646,666 parameters. (Read from the model configs stored in those .h5 files.)
"""

from __future__ import annotations

import torch
from torch import nn

from trainfix.models.keras_layers import keras_init_
from trainfix.models.network import Network

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "selu": nn.SELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": nn.LeakyReLU,
}


class MLP(Network):
    """Flatten -> `hidden_layers` x [Linear `width`, activation] -> Linear num_classes.

    Args:
        num_classes: number of logits.
        in_channels: image channels (1 or 3).
        image_size: image height = width in pixels; the input layer has C * H * W features.
        hidden_layers: number of hidden layers (20 in AutoTrainer's oscillating-loss model).
        width: units per hidden layer (128 in AutoTrainer's models).
        activation: one of `ACTIVATIONS` ("relu" in AutoTrainer's models).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        image_size: int,
        hidden_layers: int = 20,
        width: int = 128,
        activation: str = "relu",
    ) -> None:
        super().__init__(num_classes, in_channels, image_size)
        if activation not in ACTIVATIONS:
            raise ValueError(f"MLP: activation={activation!r}; accepted: {sorted(ACTIVATIONS)}")
        if hidden_layers < 0 or width < 1:
            raise ValueError(
                f"MLP: hidden_layers={hidden_layers}, width={width}; accepted: hidden_layers >= 0, width >= 1"
            )
        layers: list[nn.Module] = [nn.Flatten()]
        features = in_channels * image_size * image_size
        for _ in range(hidden_layers):
            layers += [nn.Linear(features, width), ACTIVATIONS[activation]()]
            features = width
        layers.append(nn.Linear(features, num_classes))
        self.layers = nn.Sequential(*layers)
        keras_init_(self)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)
