"""Seconds per training epoch: trainfix's Lightning path vs a plain PyTorch loop, measured in one run.

    make bench                       # CPU: subsets sized for minutes; GPU: full datasets
    python benchmarks/bench_epoch.py --epochs 3 --mnist-samples 60000 --cifar-samples 50000

Both paths train the same network (same init), on the same device-resident uint8 data, with the
same batch size (1000), optimizer and per-sample cross-entropy; inputs are scaled /255 on the
device, no augmentation, no evaluation inside the timed epochs. With a GPU both use bf16 autocast
and channels_last. The first epoch of each path is a warm-up and is not counted. Shared machines
are noisy, so the plain loop runs both before and after ours, and each path's figure is the
minimum over its timed epochs (the least-disturbed one); the paths alternate (plain, ours, plain,
ours) so that each gets as many timed epochs. Target: ratio (Lightning / plain) <= 1.10.
"""

from __future__ import annotations

import argparse
import copy
import time

import torch
import torch.nn.functional as F

from timing import epoch_metrics  # benchmarks/timing.py

CASES = [  # (model, data, optimizer override, MNIST-or-CIFAR subset flag)
    ("cnn1", "mnist", "adagrad", "mnist"),
    ("lenet5", "mnist", "adagrad", "mnist"),
    ("resnet20", "cifar10", "adadelta", "cifar"),
]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_epochs(net, optimizer, images, labels, batch_size, epochs, device, bf16, channels_last) -> list[float]:
    """A plain PyTorch loop: gather by index, scale, forward, per-sample CE, mean, backward, step."""
    net.train()
    times = []
    order = torch.arange(len(labels), device=device)
    for _ in range(epochs):
        _sync(device)
        start = time.perf_counter()
        for batch in torch.split(order, batch_size):
            x = images[batch].float().div_(255)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                logits = net(x)
            loss = F.cross_entropy(logits.float(), labels[batch], reduction="none").mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        _sync(device)
        times.append(time.perf_counter() - start)
    return times


def lightning_epochs(overrides: list[str], epochs: int) -> list[float]:
    """Our path: `trainfix.train.train` on the composed config; epoch times from metrics.csv."""
    return epoch_metrics(overrides + [f"trainer.max_epochs={epochs}"])["epoch_time_s"].tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    gpu = torch.cuda.is_available()
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per path (plus one warm-up)")
    parser.add_argument("--mnist-samples", type=int, default=60000 if gpu else 10000)
    parser.add_argument("--cifar-samples", type=int, default=50000 if gpu else 5000)
    parser.add_argument("--cifar", default="cifar10", help="cifar10 (official or the subset) or cifar10_jpeg")
    parser.add_argument("--data-dir", default=None, help="data root (default: $TRAINFIX_DATA_DIR)")
    parser.add_argument("--models", nargs="*", default=[c[0] for c in CASES])
    args = parser.parse_args()

    import os

    from trainfix.core.seeding import seed_everything
    from trainfix.data.datamodule import ImageDataModule
    from trainfix.models import build_model

    data_dir = args.data_dir or os.environ.get("TRAINFIX_DATA_DIR", "data")
    device = torch.device("cuda" if gpu else "cpu")
    bf16 = channels_last = gpu
    total = args.epochs + 1
    print(
        f"device: {torch.cuda.get_device_name() if gpu else f'CPU, {torch.get_num_threads()} threads'}; "
        f"bf16+channels_last: {gpu}; batch 1000; fastest of 2 x {args.epochs} epochs per path (each run: 1 warm-up)"
    )
    print(f"{'model':10} {'data':14} {'samples':>8} {'plain s/ep':>11} {'ours s/ep':>10} {'ratio':>6}")
    for model, data, optimizer_name, kind in CASES:
        if model not in args.models:
            continue
        data_name = args.cifar if kind == "cifar" else data
        samples = args.cifar_samples if kind == "cifar" else args.mnist_samples
        common = [
            f"paths.data_dir={data_dir}",
            f"data={data_name}",
            f"model={model}",
            f"optimizer={optimizer_name}",
            "strategy=baseline",
            "data.batch_size=1000",
            f"data.train_subset={samples}",
            "data.test_subset=1000",
            "trainer.enable_progress_bar=false",
            "seed=0",
            "trainer.deterministic=false",
            "model.l2_conv_kernels=0.0",
            f"trainer.accelerator={'gpu' if gpu else 'cpu'}",
        ]
        if kind == "cifar" and data_name == "cifar10":
            common.append("data.accept_nonofficial=true")
        if gpu:
            common += ["trainer.precision=bf16-mixed", "model.channels_last=true"]

        dm = ImageDataModule(
            data_name, data_dir, batch_size=1000, train_subset=samples, accept_nonofficial=(data_name == "cifar10")
        )
        dm.load()
        images = dm.splits["train"].images.to(device)
        labels = dm.splits["train"].labels.to(device)
        seed_everything(0)
        channels, size, _ = dm.input_shape
        net = build_model(model, num_classes=dm.num_classes, in_channels=channels, image_size=size).to(device)
        if channels_last:
            net = net.to(memory_format=torch.channels_last)
        net_copy = copy.deepcopy(net)
        if optimizer_name == "adagrad":
            optimizer = torch.optim.Adagrad(net_copy.parameters(), lr=0.1, eps=1e-6, lr_decay=5e-4)
        else:
            optimizer = torch.optim.Adadelta(net_copy.parameters(), lr=1.0, rho=0.95, eps=1e-7)
        # plain, ours, plain, ours: each path gets the same number of timed epochs, spread over the run.
        plain = plain_epochs(net_copy, optimizer, images, labels, 1000, total, device, bf16, channels_last)[1:]
        ours = lightning_epochs(common, total)[1:]
        plain += plain_epochs(net_copy, optimizer, images, labels, 1000, args.epochs, device, bf16, channels_last)
        ours += lightning_epochs(common, total)[1:]
        p, o = min(plain), min(ours)
        print(f"{model:10} {data_name:14} {len(labels):>8} {p:>11.3f} {o:>10.3f} {o / p:>6.3f}", flush=True)


if __name__ == "__main__":
    main()
