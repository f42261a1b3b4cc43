"""LEAP's paper-era MNIST student (`leap_lenet`) against the authors' `models/lenet.py` at 6b8d9d8..bccac11:
its parameter count by hand, a forward pass written out with functional ops, dropout and initialization."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from trainfix.models import build_model
from trainfix.models.leap_lenet import flatten_side


def _student(num_classes: int = 10) -> nn.Module:
    return build_model("leap_lenet", num_classes=num_classes, in_channels=1, image_size=28)


def test_parameter_count_by_hand():
    # conv 3x3: in * out * 9 + out; the third pool (padding 1) turns 7x7 into 4x4, so fc1 reads 128 * 4 * 4 = 2,048
    conv1 = 1 * 32 * 9 + 32  # 320
    conv2 = 32 * 64 * 9 + 64  # 18,496
    conv3 = 64 * 128 * 9 + 128  # 73,856
    fc1 = 2048 * 625 + 625  # 1,280,625
    fc2 = 625 * 10 + 10  # 6,260
    assert (conv1, conv2, conv3, fc1, fc2) == (320, 18_496, 73_856, 1_280_625, 6_260)
    net = _student()
    per_layer = [sum(p.numel() for p in m.parameters()) for m in net.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    assert per_layer == [conv1, conv2, conv3, fc1, fc2]
    assert (
        sum(p.numel() for p in net.parameters()) == conv1 + conv2 + conv3 + fc1 + fc2 == 1_379_557
    )  # the "~1.38 M"
    assert flatten_side(28) == 4 and net.fc1.in_features == 2048


def test_forward_is_the_authors_written_out():
    # The authors' forward: layer1-3 (conv 3x3 pad 1, ReLU, max-pool 2x2, dropout), flatten, fc1, fc2; their layer4
    # (fc1 + ReLU + dropout) is never called, so nothing sits between the two linear layers. Dropout is off in eval.
    torch.manual_seed(0)
    net = _student().eval()
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    x = torch.randn(5, 1, 28, 28)
    h = x
    for conv, pool_padding in zip(convs, (0, 0, 1), strict=True):
        h = F.max_pool2d(F.relu(F.conv2d(h, conv.weight, conv.bias, stride=1, padding=1)), 2, 2, padding=pool_padding)
    assert h.shape == (5, 128, 4, 4)
    expected = F.linear(F.linear(h.flatten(1), net.fc1.weight, net.fc1.bias), net.fc2.weight, net.fc2.bias)
    with torch.no_grad():
        torch.testing.assert_close(net(x), expected, rtol=1e-5, atol=1e-5)
    kinds = [type(m).__name__ for m in net.features.modules() if not isinstance(m, nn.Sequential)]
    assert kinds == ["Conv2d", "ReLU", "MaxPool2d", "Dropout"] * 3 + ["Flatten"]
    assert [m.p for m in net.modules() if isinstance(m, nn.Dropout)] == [0.3, 0.3, 0.3]
    assert not any(isinstance(m, nn.ReLU | nn.Dropout) for m in (net.fc1, net.fc2))


def test_dropout_in_training_and_initialization():
    torch.manual_seed(1)
    net = _student()
    x = torch.randn(4, 1, 28, 28)
    net.train()
    assert not torch.equal(net(x), net(x))  # dropout 0.3 after each conv block
    net.eval()
    assert torch.equal(net(x), net(x))
    # xavier_uniform (gain 1) on both linear weights: bound sqrt(6 / (fan_in + fan_out)), variance bound^2 / 3
    for layer in (net.fc1, net.fc2):
        bound = math.sqrt(6 / (layer.in_features + layer.out_features))
        assert layer.weight.abs().max() <= bound and layer.weight.abs().max() > 0.99 * bound
        assert abs(layer.weight.var().item() / (bound**2 / 3) - 1) < (0.02 if layer is net.fc1 else 0.1)
    # convs and biases: PyTorch's default uniform(+-1/sqrt(fan_in)), as PyTorch 0.2/0.3 drew them
    for conv in (m for m in net.modules() if isinstance(m, nn.Conv2d)):
        fan_in = conv.in_channels * 9
        assert conv.weight.abs().max() <= 1 / math.sqrt(fan_in) and conv.bias.abs().max() <= 1 / math.sqrt(fan_in)
    assert net.fc1.bias.abs().max() <= 1 / math.sqrt(2048)
