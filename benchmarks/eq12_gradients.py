"""Why Eq. 12's step-gradient readings can be met without training: ResNet-20 at initialization on
one CIFAR-10 batch of 1,000 (inputs / 255, as the DeepEutaxy experiments).

    python benchmarks/eq12_gradients.py [--selected 2] [--seed 0]

Prints the L2 norm of (a) the L2 penalty's gradient alone (1e-4 * sum ||W||^2 over conv kernels),
(b) SPL's step gradient when only the `--selected` easiest samples of the batch (lowest
cross-entropy, as `easy_first` selects) count (masked sum / 1000, penalty excluded), (c) the full
batch's mean cross-entropy gradient. Eq. 12's epsilon is 0.01.
"""

from __future__ import annotations

import argparse
import os

import torch
import torch.nn.functional as F

from trainfix.data.datamodule import ImageDataModule
from trainfix.models import build_model
from trainfix.strategies import Baseline
from trainfix.training.module import conv_kernels


def norm(loss: torch.Tensor, params: list[torch.Tensor]) -> float:
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads if g is not None])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--selected", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    dm = ImageDataModule(
        "cifar10",
        os.environ.get("TRAINFIX_DATA_DIR", "data"),
        batch_size=1000,
        train_subset=1000,
        accept_nonofficial=True,
    )
    dm.attach(Baseline(order="dataset"), seed=args.seed)
    dm.load()
    dm.setup("fit")
    torch.manual_seed(args.seed)
    net = build_model("resnet20", num_classes=10, in_channels=3, image_size=32).train()
    params = [p for p in net.parameters() if p.requires_grad]
    x, y = dm.gather("train", torch.arange(1000))
    penalty = 1e-4 * sum(w.pow(2).sum() for w in conv_kernels(net))
    print(f"L2 penalty gradient alone:             {norm(penalty, params):.4f}")
    losses = F.cross_entropy(net(x), y, reduction="none")
    mask = torch.zeros(1000)
    mask[losses.detach().argsort()[: args.selected]] = 1
    print(f"SPL step, {args.selected}/1000 selected (sum / 1000): {norm((losses * mask).sum() / 1000, params):.4f}")
    losses = F.cross_entropy(net(x), y, reduction="none")
    print(f"whole batch, mean cross-entropy:       {norm(losses.mean(), params):.4f}")


if __name__ == "__main__":
    main()
