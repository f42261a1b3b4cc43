"""The model registry: every network runs forward and backward, has the parameter count its
source states, initializes as its source does, and refuses bad names, options and shapes."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from trainfix.models import MODELS, build_model, model_names
from trainfix.models.keras_layers import TRUNCATED_NORMAL_STD, SameConv2d
from trainfix.models.summary import keras_parameter_count, trainable_parameters

# (trainable parameters, total as Keras' model.summary() counts it: + BatchNorm moving mean/var),
# at 10 classes and the input each model is designed for.
PARAMETER_COUNTS = {
    "cnn1": (872_714, 872_714),  # DeepEutaxy Table II 0.87M; Keras model1
    "lenet5": (44_426, 44_426),  # DeepEutaxy Table II "0.44M" (x10 typo); Keras lenet5
    "resnet20": (273_066, 274_442),  # Keras resnet_v1 summary; DeepEutaxy 0.27M
    "resnet32": (467_946, 470_218),  # Keras resnet_v1 summary; DeepEutaxy 0.47M
    "preact_resnet20": (273_066, 274_442),  # BIGBALLON ResNet_keras; Apricot Table II 274K
    "preact_resnet32": (467_946, 470_218),  # BIGBALLON ResNet_keras; Apricot Table II 470K
    "mobilenetv2": (2_254_858, 2_289_034),  # DeepEutaxy Table II 2.29M = the Keras total
    "wrn28_10": (36_479_194, 36_497_146),  # Zagoruyko & Komodakis 36.5M
    "wrn16_8": (10_961_370, 10_968_570),  # Zagoruyko & Komodakis 11.0M
    "apricot_cnn1": (2_425_930, 2_425_930),  # Apricot Table II 2.43M
    "apricot_cnn2": (271_338, 272_106),  # Apricot Table II 272K = the Keras total
    "apricot_cnn3": (1_000_824, 1_000_824),  # Apricot Table II 1.00M
    "resnet18": (11_173_962, 11_183_562),  # kuangliu/pytorch-cifar ResNet18
    "resnet34": (21_282_122, 21_299_146),  # kuangliu/pytorch-cifar ResNet34
    "preact_resnet18": (11_171_146, 11_177_930),  # kuangliu PreActResNet18 (LEAP)
    "densenet121": (6_956_298, 7_039_818),  # kuangliu DenseNet121
    "vgg16": (15_253_578, 15_262_026),  # LEAP vgg_cifar.py VGG(16)
    "mlp": (415_498, 415_498),  # AutoTrainer minist_relu_layer=20.h5
    "leap_lenet": (
        1_379_557,
        1_379_557,
    ),  # SPL-ADVisE lenet.py at 6b8d9d8..bccac11 ("~1.38M"; hand count in test_leap_student.py)
    "magnet_lenet": (
        83_466,
        83_466,
    ),  # SPL-ADVisE MagnetLeNet: 832 + 51,264 + 31,370 at 10 outputs (58,370 at LEAP's 2-D embedding)
}

# The counts as the papers print them: (model, printed value, unit, decimals, Keras total?).
PAPER_PRINTED = [
    ("cnn1", 0.87, 1e6, 2, True),
    ("resnet20", 0.27, 1e6, 2, True),
    ("resnet32", 0.47, 1e6, 2, True),
    ("mobilenetv2", 2.29, 1e6, 2, True),  # trainable only would print 2.25M
    ("apricot_cnn1", 2.43, 1e6, 2, True),
    ("apricot_cnn2", 272, 1e3, 0, True),  # trainable only would print 271K
    ("apricot_cnn3", 1.00, 1e6, 2, True),
    ("preact_resnet20", 274, 1e3, 0, True),
    ("preact_resnet32", 470, 1e3, 0, True),
    ("wrn28_10", 36.5, 1e6, 1, False),
    ("wrn16_8", 11.0, 1e6, 1, False),
]


def _build(name: str, num_classes: int = 10, **options: object) -> nn.Module:
    channels, size, _ = MODELS[name].designed_for
    return build_model(name, num_classes=num_classes, in_channels=channels, image_size=size, **options)


def test_registry_lists_the_expected_models() -> None:
    assert set(PARAMETER_COUNTS) == set(model_names())


@pytest.mark.parametrize("name", model_names())
def test_forward_backward(name: str) -> None:
    torch.manual_seed(0)
    net = _build(name, num_classes=7).train()
    assert net.expected_input == MODELS[name].designed_for
    x = torch.rand(2, *net.expected_input)
    logits = net(x)
    assert logits.shape == (2, 7)
    F.cross_entropy(logits, torch.tensor([0, 6]), reduction="none").sum().backward()
    for param_name, param in net.named_parameters():
        assert param.grad is not None, f"{name}.{param_name} got no gradient"
        assert torch.isfinite(param.grad).all(), f"{name}.{param_name} has a non-finite gradient"
    assert any(p.grad.abs().sum() > 0 for p in net.parameters())


@pytest.mark.parametrize("name", model_names())
def test_grayscale_28px_input(name: str) -> None:
    size = max(28, MODELS[name].min_size)
    net = build_model(name, num_classes=3, in_channels=1, image_size=size).eval()
    with torch.no_grad():
        assert net(torch.rand(2, 1, size, size)).shape == (2, 3)


@pytest.mark.parametrize("name", sorted(PARAMETER_COUNTS))
def test_parameter_counts(name: str) -> None:
    net = _build(name)
    assert (trainable_parameters(net), keras_parameter_count(net)) == PARAMETER_COUNTS[name]


@pytest.mark.parametrize(("name", "printed", "unit", "decimals", "keras_total"), PAPER_PRINTED)
def test_counts_round_to_the_papers(name: str, printed: float, unit: float, decimals: int, keras_total: bool) -> None:
    trainable, total = PARAMETER_COUNTS[name]
    assert round((total if keras_total else trainable) / unit, decimals) == printed


def test_options_change_the_network() -> None:
    assert trainable_parameters(_build("mlp", hidden_layers=34)) == 646_666  # minist_relu_layer=34.h5
    assert any(isinstance(m, nn.Tanh) for m in _build("mlp", activation="tanh").modules())
    assert trainable_parameters(_build("vgg16", hidden=0)) == 14_728_266  # kuangliu's single Linear head
    dropouts = [m.p for m in _build("wrn16_8", dropout=0.25).modules() if isinstance(m, nn.Dropout)]
    assert len(dropouts) == 6 and set(dropouts) == {0.25}


def test_flatten_size_follows_image_size() -> None:
    cnn1 = build_model("cnn1", num_classes=10, in_channels=3, image_size=32)
    lenet = build_model("lenet5", num_classes=10, in_channels=3, image_size=32)
    assert cnn1.classifier[0].in_features == 64 * 12 * 12
    assert lenet.classifier[0].in_features == 16 * 5 * 5


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'resnet21'; accepted: .*resnet20, resnet32.*wrn28_10"):
        build_model("resnet21", num_classes=10, in_channels=3, image_size=32)


@pytest.mark.parametrize(
    ("name", "channels", "size", "message"),
    [
        ("cnn1", 1, 20, r"'cnn1' cannot take inputs of shape \(1, 20, 20\).*1 or 3 channels.*side >= 28"),
        ("resnet20", 2, 32, r"'resnet20' cannot take inputs of shape \(2, 32, 32\).*1 or 3 channels"),
        ("vgg16", 3, 16, r"'vgg16' cannot take inputs of shape \(3, 16, 16\).*side >= 32 \(five 2x2 max pools"),
    ],
)
def test_incompatible_input_is_refused_at_build(name: str, channels: int, size: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_model(name, num_classes=10, in_channels=channels, image_size=size)


def test_forward_refuses_another_shape() -> None:
    net = build_model("lenet5", num_classes=10, in_channels=1, image_size=28)
    with pytest.raises(ValueError, match=r"LeNet5 was built for inputs \[N, 1, 28, 28\], got \[2, 3, 28, 28\]"):
        net(torch.zeros(2, 3, 28, 28))
    resnet = build_model("resnet20", num_classes=10, in_channels=3, image_size=32)
    with pytest.raises(ValueError, match=r"\[N, 3, 32, 32\], got \[4, 3, 28, 28\]"):
        resnet(torch.zeros(4, 3, 28, 28))


def test_bad_options_are_refused() -> None:
    with pytest.raises(
        ValueError, match=r"'mlp' has no option depth; accepted options: \['hidden_layers', 'width', 'act"
    ):
        _build("mlp", depth=3)
    with pytest.raises(ValueError, match=r"activation='swish'; accepted: \['elu', 'leaky_relu', 'relu'"):
        _build("mlp", activation="swish")
    with pytest.raises(ValueError, match=r"num_classes=0; accepted: an integer >= 1"):
        build_model("cnn1", num_classes=0, in_channels=1, image_size=28)
    with pytest.raises(ValueError, match=r"dropout=1.5"):
        _build("wrn28_10", dropout=1.5)


def test_same_conv_pads_like_keras() -> None:
    torch.manual_seed(0)
    conv = SameConv2d(2, 3, 3, stride=2)
    even, odd = torch.randn(1, 2, 6, 6), torch.randn(1, 2, 7, 7)
    # TensorFlow pads (total = 1) at the bottom/right only for an even input, symmetrically for an odd one.
    assert torch.allclose(conv(even), F.conv2d(F.pad(even, (0, 1, 0, 1)), conv.weight, conv.bias, stride=2))
    assert torch.allclose(conv(odd), F.conv2d(F.pad(odd, (1, 1, 1, 1)), conv.weight, conv.bias, stride=2))
    assert conv(even).shape[-1] == 3 and conv(odd).shape[-1] == 4
    assert SameConv2d(2, 3, 3).padding == (1, 1)


def test_keras_glorot_uniform_init() -> None:
    torch.manual_seed(0)
    net = _build("cnn1")
    for layer in (m for m in net.modules() if isinstance(m, nn.Conv2d | nn.Linear)):
        receptive = math.prod(layer.weight.shape[2:])
        bound = math.sqrt(6 / ((layer.weight.shape[0] + layer.weight.shape[1]) * receptive))
        assert layer.weight.abs().max() <= bound
        assert layer.weight.abs().max() > 0.95 * bound
        assert torch.count_nonzero(layer.bias) == 0


def test_keras_he_normal_init_and_batch_norm() -> None:
    torch.manual_seed(0)
    net = _build("resnet20")
    conv = net.stages[2][1].conv1  # 64 x 64 x 3 x 3: 36,864 draws
    std = math.sqrt(2 / (64 * 9))
    assert conv.weight.std().item() == pytest.approx(std, rel=0.03)
    assert conv.weight.abs().max() <= 2 * std / TRUNCATED_NORMAL_STD
    assert torch.count_nonzero(conv.bias) == 0
    bn = net.stages[2][1].bn1
    assert (bn.eps, bn.momentum) == (1e-3, 0.01)  # Keras BatchNormalization() defaults
    preact_bn = _build("preact_resnet20").stages[2][1].bn1
    assert (preact_bn.eps, preact_bn.momentum) == (1e-5, 0.1)  # BIGBALLON: momentum=0.9, epsilon=1e-5


def test_deepeutaxy_adagrad_is_tf_keras_adagrad_under_authors_code(tmp_path):
    """The authors' code runs tf.keras' Adagrad(lr=0.1, epsilon=1e-6, decay=5e-4), whose accumulators start at
    0.1: accum += g^2; w -= lr / (1 + decay * t) * g / (sqrt(accum) + epsilon), t = steps before this one
    (TF's ResourceApplyAdagradV2 and OptimizerV2._decayed_lr). Under variant=paper (Keras 2.3.1) they start at 0.
    The optimizer built from each variant's config takes two steps on known gradients; compared with that rule."""
    from hydra.utils import instantiate

    from tests.conftest import compose_train

    grads = [torch.tensor([0.5, -0.01, 0.0]), torch.tensor([0.2, 0.03, -1e-4])]
    for variant, start in (("paper", 0.0), ("authors_code", 0.1)):
        cfg = compose_train(
            ["experiment=deepeutaxy/table_iv/lenet5", "profile=full", f"variant={variant}"], tmp_path / variant
        )
        w = torch.nn.Parameter(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
        optimizer = instantiate(cfg.optimizer)([w])
        expected, accum = [1.0, 2.0, 3.0], [start] * 3
        for t, g in enumerate(grads):
            w.grad = g.to(torch.float64).clone()
            optimizer.step()
            lr = 0.1 / (1 + 5e-4 * t)
            for i, gi in enumerate(g.tolist()):
                accum[i] += gi * gi
                expected[i] -= lr * gi / (math.sqrt(accum[i]) + 1e-6)
        assert w.detach().tolist() == pytest.approx(expected, rel=1e-12, abs=1e-15), variant
