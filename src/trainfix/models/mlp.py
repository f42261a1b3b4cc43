"""Deep fully connected network on flattened images, the AutoTrainer motivation models.

AutoTrainer's `Motivation/OscillatingLoss/minist_relu_layer=20.h5` (the dynamic-checking thesis'
"20-layer" model) is 784 -> 20 x [Dense 128, ReLU] -> Dense 10, glorot_uniform kernels and zero
biases: 415,498 parameters. `Motivation/DyingReLU/minist_relu_layer=34.h5` is the same with 34
hidden layers: 646,666 parameters. (Read from the model configs stored in those .h5 files: each hidden
layer is a linear `Dense` followed by a separate `Activation` layer.)

`batch_norm=True` is AutoTrainer's "bn" repair (`repair.py` BN_network) on those models: a Keras
`BatchNormalization()` inserted right after every Dense layer but the output one, so, the activation
being a separate layer, between each hidden Dense and its activation.
"""

from __future__ import annotations

from collections import OrderedDict

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
        batch_norm: BatchNorm1d (Keras defaults: epsilon 1e-3, momentum 0.99) between each hidden
            Linear and its activation. The BatchNorm layers are named `bn<i>`, and the other layers keep
            the indices they have without them, so the weights of a network without BatchNorm load into
            this one by name (the "bn" repair continues from the weights at detection).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        image_size: int,
        hidden_layers: int = 20,
        width: int = 128,
        activation: str = "relu",
        batch_norm: bool = False,
    ) -> None:
        super().__init__(num_classes, in_channels, image_size)
        if activation not in ACTIVATIONS:
            raise ValueError(f"MLP: activation={activation!r}; accepted: {sorted(ACTIVATIONS)}")
        if hidden_layers < 0 or width < 1:
            raise ValueError(
                f"MLP: hidden_layers={hidden_layers}, width={width}; accepted: hidden_layers >= 0, width >= 1"
            )
        if not isinstance(batch_norm, bool):
            raise ValueError(f"MLP: batch_norm={batch_norm!r}; accepted: true, false")
        layers: list[tuple[str, nn.Module]] = [("0", nn.Flatten())]
        features = in_channels * image_size * image_size
        for _ in range(hidden_layers):
            index = len([name for name, _ in layers if name.isdigit()])
            layers.append((str(index), nn.Linear(features, width)))
            if batch_norm:
                layers.append((f"bn{index}", nn.BatchNorm1d(width, eps=1e-3, momentum=0.01)))
            layers.append((str(index + 1), ACTIVATIONS[activation]()))
            features = width
        layers.append((str(len([name for name, _ in layers if name.isdigit()])), nn.Linear(features, num_classes)))
        self.layers = nn.Sequential(OrderedDict(layers))
        keras_init_(self)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)
