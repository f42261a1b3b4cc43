"""Models by name: the explicit `MODELS` table and `build_model`, the checked way to build one.

Each `ModelSpec` says which inputs its network accepts; `build_model` refuses any other input,
an unknown name or an unknown option with a `ValueError` that names what is accepted. The name
`custom` (not in `MODELS`) builds your own network from an importable factory (`target`, see
`trainfix.models.custom`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from trainfix.models import (
    apricot_cnn,
    deepeutaxy_cnn,
    densenet,
    leap_lenet,
    magnet_lenet,
    mlp,
    mobilenetv2,
    resnet_cifar,
    vgg,
    wide_resnet,
)
from trainfix.models.custom import CUSTOM, build_custom
from trainfix.models.keras_layers import KERAS_INITIALIZERS, GaussianNoise, keras_init_
from trainfix.models.network import Network

CORE_ARGUMENTS = ("num_classes", "in_channels", "image_size")
# `build_model(init=...)`: "default" keeps the model's own initialization; the others are Keras' kernel
# initializers (AutoTrainer's "initial" repair draws one of them), applied to every conv/linear kernel
# but the last layer's, biases zero.
INITS = ("default", *KERAS_INITIALIZERS)


@dataclass(frozen=True)
class ModelSpec:
    """A network constructor and the inputs it accepts.

    Attributes:
        build: constructor taking (num_classes, in_channels, image_size, **options).
        source: the paper or code the network follows.
        designed_for: (C, H, W) of the images its source trains it on.
        min_size: smallest accepted image side in pixels; why is in `size_note`.
        size_note: what limits the size, for error messages and docs.
        channels: accepted image channel counts.
    """

    build: Callable[..., Network]
    source: str
    designed_for: tuple[int, int, int]
    min_size: int
    size_note: str
    channels: tuple[int, ...] = (1, 3)

    def accepted(self) -> str:
        """The accepted inputs, in words."""
        channels = " or ".join(map(str, self.channels))
        shape = "x".join(map(str, self.designed_for))
        return f"{channels} channels, square images of side >= {self.min_size} ({self.size_note}; designed for {shape})"

    def options(self) -> list[str]:
        """Constructor arguments beyond the core ones, e.g. ['hidden_layers', 'width', 'activation']."""
        return [p for p in inspect.signature(self.build).parameters if p not in CORE_ARGUMENTS]


MNIST = (1, 28, 28)
CIFAR = (3, 32, 32)
VALID_CONVS = "the 28x28 MNIST size its 5x5 valid convs were built for"
TWO_HALVINGS = "two stride-2 stages"
THREE_HALVINGS = "three stride-2 stages"
KERAS_V1 = "He et al. 2016a v1, Keras example resnet_v1 (DeepEutaxy)"
BIGBALLON = "pre-activation ResNet, BIGBALLON cifar-10-cnn (Apricot)"

MODELS: dict[str, ModelSpec] = {
    "cnn1": ModelSpec(deepeutaxy_cnn.CNN1, "DeepEutaxy CNN1 (Keras model1)", MNIST, 28, VALID_CONVS),
    "lenet5": ModelSpec(deepeutaxy_cnn.LeNet5, "DeepEutaxy LeNet-5 (Keras lenet5)", MNIST, 28, VALID_CONVS),
    "magnet_lenet": ModelSpec(
        magnet_lenet.MagnetLeNet, "LEAP's LeNet embedding CNN (SPL-ADVisE)", MNIST, 4, "two 2x2 max pools"
    ),
    "leap_lenet": ModelSpec(
        leap_lenet.LeapLeNet,
        "LEAP's paper-era MNIST student (SPL-ADVisE lenet.py, 6b8d9d8..bccac11)",
        MNIST,
        4,
        "two 2x2 max pools",
    ),
    "resnet20": ModelSpec(resnet_cifar.resnet20, KERAS_V1, CIFAR, 4, TWO_HALVINGS),
    "resnet32": ModelSpec(resnet_cifar.resnet32, KERAS_V1, CIFAR, 4, TWO_HALVINGS),
    "preact_resnet20": ModelSpec(resnet_cifar.preact_resnet20, BIGBALLON, CIFAR, 4, TWO_HALVINGS),
    "preact_resnet32": ModelSpec(resnet_cifar.preact_resnet32, BIGBALLON, CIFAR, 4, TWO_HALVINGS),
    "resnet18": ModelSpec(resnet_cifar.resnet18, "CIFAR ResNet-18, kuangliu", CIFAR, 8, THREE_HALVINGS),
    "resnet34": ModelSpec(resnet_cifar.resnet34, "CIFAR ResNet-34, kuangliu (trimming)", CIFAR, 8, THREE_HALVINGS),
    "preact_resnet18": ModelSpec(
        resnet_cifar.preact_resnet18, "pre-activation ResNet-18, kuangliu (LEAP)", CIFAR, 8, THREE_HALVINGS
    ),
    "mobilenetv2": ModelSpec(
        mobilenetv2.MobileNetV2, "MobileNetV2, xiaochus Keras (DeepEutaxy)", CIFAR, 32, "five stride-2 layers"
    ),
    "wrn28_10": ModelSpec(wide_resnet.wrn28_10, "Zagoruyko & Komodakis (LEAP)", CIFAR, 4, TWO_HALVINGS),
    "wrn16_8": ModelSpec(wide_resnet.wrn16_8, "Zagoruyko & Komodakis (LEAP)", CIFAR, 4, TWO_HALVINGS),
    "apricot_cnn1": ModelSpec(apricot_cnn.ApricotCNN1, "Apricot Table I CNN1", CIFAR, 4, "two 2x2 max pools"),
    "apricot_cnn2": ModelSpec(apricot_cnn.ApricotCNN2, "Apricot Table I CNN2", CIFAR, 8, "three 2x2 max pools"),
    "apricot_cnn3": ModelSpec(apricot_cnn.ApricotCNN3, "Apricot Table I CNN3", CIFAR, 4, "two 2x2 max pools"),
    "densenet121": ModelSpec(
        densenet.densenet121, "DenseNet-121, CIFAR stem, kuangliu (trimming)", CIFAR, 8, "three 2x2 average pools"
    ),
    "vgg16": ModelSpec(vgg.vgg16, "VGG-16 BN, LEAP vgg_cifar.py", CIFAR, 32, "five 2x2 max pools"),
    "mlp": ModelSpec(mlp.MLP, "AutoTrainer minist_relu_layer=20.h5", MNIST, 1, "any size: the image is flattened"),
}


def model_names() -> list[str]:
    """The registered model names, sorted (`custom`, your own network, is not one of them)."""
    return sorted(MODELS)


def accepted_model_names() -> list[str]:
    """Every name `build_model` accepts: the registered ones and `custom`."""
    return [*model_names(), CUSTOM]


# duplicates pairs this signature with selection.Pace's by shape alone: two unrelated argument lists, nothing shared.
def build_model(
    name: str,
    num_classes: int,
    in_channels: int,
    image_size: int,
    *,
    init: str = "default",
    input_noise_std: float = 0.0,
    target: str | None = None,
    **kwargs: object,
) -> nn.Module:
    """Build model `name` for `in_channels` x `image_size` x `image_size` images and `num_classes`
    classes; `kwargs` are the model's own options (see `MODELS[name].options()`).

    `name="custom"`: your own network, built by the importable factory `target` ("package.module.name")
    with `kwargs` (`trainfix.models.custom.build_custom`: it checks that the network maps the images to
    `num_classes` logits); `init` applies to it, `input_noise_std` does not.

    Options of every model (config keys `model.init`, `model.input_noise_std`):
        init: "default" (the model's own initialization) or a Keras kernel initializer (`INITS`):
            every conv/linear kernel drawn again with it, biases zero, except the last layer (the
            head keeps the model's own), as AutoTrainer's `modify_initializer`.
        input_noise_std: Keras' GaussianNoise(stddev) on the input, training mode only; 0 = off.

    A registered model's network has `expected_input` == (in_channels, image_size, image_size) and its
    forward raises `ValueError` on any other input shape.
    """
    if name != CUSTOM and name not in MODELS:
        raise ValueError(f"unknown model {name!r}; accepted: {', '.join(accepted_model_names())}")
    if target is not None and name != CUSTOM:
        raise ValueError(f"model.target={target!r} is only used by model=custom, not by model {name!r}")
    if init not in INITS:
        raise ValueError(f"model.init={init!r}; accepted: {', '.join(INITS)}")
    if not (
        isinstance(input_noise_std, int | float) and not isinstance(input_noise_std, bool) and input_noise_std >= 0
    ):
        raise ValueError(f"model.input_noise_std={input_noise_std!r}; accepted: a number >= 0 (0 = off)")
    if name == CUSTOM:
        if input_noise_std > 0:
            raise ValueError(
                "model.input_noise_std > 0 is not available for model=custom: add the noise in your network"
            )
        net = build_custom(target, num_classes, in_channels, image_size, kwargs)
        if init != "default":
            keras_init_(net, init, skip_last=True)
        return net
    spec = MODELS[name]
    if in_channels not in spec.channels or (isinstance(image_size, int) and image_size < spec.min_size):
        raise ValueError(
            f"model {name!r} cannot take inputs of shape {(in_channels, image_size, image_size)} (C, H, W); "
            f"accepted: {spec.accepted()}"
        )
    unknown = sorted(set(kwargs) - set(spec.options()))
    if unknown:
        accepted = spec.options() or "none"
        raise ValueError(f"model {name!r} has no option {', '.join(unknown)}; accepted options: {accepted}")
    net = spec.build(num_classes=num_classes, in_channels=in_channels, image_size=image_size, **kwargs)
    if init != "default":
        keras_init_(net, init, skip_last=True)
    if input_noise_std > 0:
        net.input_noise = GaussianNoise(input_noise_std)
    return net
