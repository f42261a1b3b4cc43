"""DeepEutaxy and SPL overheads, as ratios measured in one run.

    make bench-deepeutaxy                  # CPU: LeNet-5 on 10,000 MNIST images, ResNet-20 on the CIFAR-10 subset
    python benchmarks/bench_deepeutaxy.py --epochs 4 --mnist-samples 60000

- DE refresh / epoch: the seconds one DeepEutaxy re-prioritization takes (a forward and backward
  pass per batch, no optimizer step) over the seconds of one training epoch of the same run.
  Target <= 1.2.
- SPL epoch / BL epoch: a self-paced epoch (mask, masked mean, one host sync per step) over a
  baseline epoch, same network, data and batches; SPL runs with lambda0 = 1e6 so that every step
  updates, as BL's do. Target <= 1.05.
Both use trainfix's real training path (`trainfix.train.train`); the first epoch of a run is a
warm-up and the figure is the fastest of the rest (shared machines are noisy); BL and SPL alternate
(BL, SPL, BL, SPL) so that each gets as many timed epochs.
"""

from __future__ import annotations

import argparse
import os

import torch

from timing import epoch_metrics  # benchmarks/timing.py


def main() -> None:
    gpu = torch.cuda.is_available()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run (the first is a warm-up)")
    parser.add_argument("--mnist-samples", type=int, default=60000 if gpu else 10000)
    parser.add_argument("--cifar-samples", type=int, default=50000 if gpu else 5000)
    parser.add_argument("--cifar", default="cifar10")
    parser.add_argument("--data-dir", default=os.environ.get("TRAINFIX_DATA_DIR", "data"))
    args = parser.parse_args()
    if args.epochs < 3:
        # The first epoch is a warm-up and DE's first refresh rides on it: two epochs leave no timed refresh.
        parser.error(f"--epochs {args.epochs}: need at least 3 (1 warm-up, then timed epochs with a DE refresh each)")

    print(
        f"device: {torch.cuda.get_device_name() if gpu else f'CPU, {torch.get_num_threads()} threads'}; batch 1000; "
        f"fastest of {args.epochs - 1} epochs after 1 warm-up"
    )
    print(
        f"{'model':10} {'samples':>8} {'epoch s':>8} {'DE refresh s':>13} {'refresh/epoch':>14} {'BL epoch s':>11} "
        f"{'SPL epoch s':>12} {'SPL/BL':>7}"
    )
    for model, data, optimizer, samples in (
        ("lenet5", "mnist", "adagrad", args.mnist_samples),
        ("resnet20", args.cifar, "adadelta", args.cifar_samples),
    ):
        common = [
            f"paths.data_dir={args.data_dir}",
            f"data={data}",
            f"model={model}",
            f"optimizer={optimizer}",
            "data.batch_size=1000",
            f"data.train_subset={samples}",
            "data.test_subset=1000",
            f"trainer.max_epochs={args.epochs}",
            "trainer.enable_progress_bar=false",
            "trainer.deterministic=false",
            f"trainer.accelerator={'gpu' if gpu else 'cpu'}",
        ]
        if data == "cifar10":
            common.append("data.accept_nonofficial=true")
        de = epoch_metrics(common + ["strategy=deepeutaxy", "strategy.iter_count=1"])
        # BL, SPL, BL, SPL: each gets as many timed epochs, spread over the run.
        runs = {"bl": [], "spl": []}
        for _ in range(2):
            runs["bl"].append(epoch_metrics(common + ["strategy=baseline"]))
            runs["spl"].append(epoch_metrics(common + ["strategy=spl", "strategy.lambda0=1.0e6"]))
        epoch = de["epoch_time_s"][1:].min()
        refresh = de.loc[de["de_refreshed"] == 1, "de_refresh_time_s"][1:].min()
        bl_epoch, spl_epoch = (min(frame["epoch_time_s"][1:].min() for frame in runs[name]) for name in ("bl", "spl"))
        print(
            f"{model:10} {samples:>8} {epoch:>8.3f} {refresh:>13.3f} {refresh / epoch:>14.3f} {bl_epoch:>11.3f} "
            f"{spl_epoch:>12.3f} {spl_epoch / bl_epoch:>7.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
