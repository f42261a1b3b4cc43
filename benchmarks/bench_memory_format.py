"""Training throughput of one model in PyTorch's default (NCHW) vs channels-last memory format, the two
interleaved step by step (so a change in the machine's load hits both alike): forward, per-sample
cross-entropy, backward and an Adam step on real images, batch 256.

    python benchmarks/bench_memory_format.py                                  # CNN1, JPEG CIFAR-10, 6 steps, 1 thread
    python benchmarks/bench_memory_format.py --threads 2 --steps 4

A one-off check of whether a model-level channels-last option would speed up the Apricot evidence
training (docs/apricot.md: 1.15x here, under the 20% that would justify the option).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from trainfix.data.augment import to_float
from trainfix.data.loading import load_split
from trainfix.models import build_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="apricot_cnn1")
    parser.add_argument("--dataset", default="cifar10_jpeg")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per format (after one warm-up step)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("TRAINFIX_DATA_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "data")),
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    split = load_split(args.dataset, args.data_dir, train=True)
    order = torch.randperm(len(split.labels), generator=torch.Generator().manual_seed(0))
    sides = {}
    for channels_last in (False, True):
        torch.manual_seed(0)
        net = build_model(args.model, num_classes=10, in_channels=3, image_size=32).train()
        if channels_last:
            net = net.to(memory_format=torch.channels_last)
        sides[channels_last] = (net, torch.optim.Adam(net.parameters(), lr=1e-3), [])
    for step in range(args.steps + 1):
        index = order[step * args.batch_size : (step + 1) * args.batch_size]
        for channels_last in (True, False) if step % 2 else (False, True):
            net, optimizer, seconds = sides[channels_last]
            start = time.perf_counter()
            x = to_float(split.images[index], None, None)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            loss = F.cross_entropy(net(x), split.labels[index], reduction="none").mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step:  # the first step warms up allocators and kernels
                seconds.append(time.perf_counter() - start)
    per_epoch = len(split.labels) / args.batch_size
    print(
        f"{args.model}, {args.dataset} ({len(split.labels):,} training images), batch {args.batch_size}, "
        f"{args.steps} steps each, torch threads {torch.get_num_threads()}"
    )
    result = {}
    for channels_last, (_, _, seconds) in sides.items():
        result[channels_last] = sum(seconds) / len(seconds)
        print(
            f"{'channels-last' if channels_last else 'NCHW (default)'}: {result[channels_last]:.2f} s per step, "
            f"{args.batch_size / result[channels_last]:.0f} images/s, {result[channels_last] * per_epoch:,.0f} s per "
            "epoch"
        )
    print(f"channels-last speed-up: {result[False] / result[True]:.2f}x")


if __name__ == "__main__":
    main()
