"""grad_norm_full (Eq. 12 on the data loss over the whole training set) against a direct PyTorch computation.
(In tiny real runs: tests/integration/test_full_gradient_runs.py.)"""

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from trainfix.training.callbacks.full_gradient import full_data_gradient, gradient_norm


class FakeData:
    """The datamodule's gather contract over real tensors (images already float)."""

    def __init__(self, x, y):
        self.x, self.y = x, y
        self.splits = {"train": SimpleNamespace(labels=y)}

    def gather(self, split, indices):
        return self.x[indices], self.y[indices]


class Wrapped(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x)


def direct_gradient(net, x, y):
    """One forward of the whole set in eval mode, mean cross-entropy, .backward()."""
    net.eval()
    net.zero_grad()
    F.cross_entropy(net(x), y).backward()
    return [p.grad.double().clone() for p in net.parameters()]


def test_full_gradient_equals_direct_computation_chunked_and_sharded(data_dir):
    from trainfix.data.loading import load_split

    split = load_split("mnist", str(data_dir), train=True)
    x = split.images[:700].float().div(255).flatten(1)
    y = split.labels[:700].long()
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(784, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 10))
    module = Wrapped(net)
    with torch.no_grad():  # BatchNorm running statistics that are not the identity
        module.train()
        for _ in range(3):
            net(x)
    module.train()
    buffers = {k: v.clone() for k, v in net.named_buffers()}
    data = FakeData(x, y)

    ours = full_data_gradient(module, data, chunk_size=128)  # 700 = 5 x 128 + 60: uneven chunks
    expected = direct_gradient(net, x, y)
    for a, b in zip(ours, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    assert gradient_norm(ours) == pytest.approx(
        float(torch.linalg.vector_norm(torch.cat([g.flatten() for g in expected]))), rel=1e-6
    )
    assert module.training  # mode restored
    for k, v in net.named_buffers():
        assert torch.equal(v, buffers[k])  # eval mode: no BatchNorm statistic moved

    # DDP: two ranks take alternate chunks; summing their sums and counts gives the same mean.
    parts = [full_data_gradient(module, data, 128, rank=r, world=2, reduce_sum=None) for r in (0, 1)]
    counts = [len(range(r * 128, 700, 256)) for r in (0, 1)]
    assert counts == [3, 3]
    n0 = sum(min(128, 700 - s) for s in range(0, 700, 256))
    combined = [(a * n0 + b * (700 - n0)) / 700 for a, b in zip(*parts, strict=True)]
    for a, b in zip(combined, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_reading_full_without_the_measurement_is_refused(tmp_path):
    from trainfix.training.callbacks.convergence import Convergence

    with pytest.raises(ValueError, match=r"convergence.reading=full needs convergence.full_gradient=true"):
        Convergence(tmp_path, reading="full")
