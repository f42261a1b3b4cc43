"""LEAP's embedding cost to the student, as ratios measured in one run.

    make bench-leap                                   # CPU: MNIST, LeNet-5 student, LeNet Magnet embedding
    python benchmarks/bench_leap.py --steps 200 --ratio 1.0

Times, on the same device and process, in alternating blocks (shared machines are noisy; the
figure per kind is the median block):
- student: one update of the experiment's student (LeNet-5, batch 64, SGD Nesterov; the plain
  training computation: gather, forward, per-sample cross-entropy, backward, step);
- student + embedding: the same update followed by `--ratio` Magnet-loss steps of the embedding CNN
  (LEAP's concurrent mode: neighbourhood batch of 8 x 8, Eq. 1, Adam), as `Leap` interleaves them;
- refresh: one re-embedding of the training set and k-means++ per class (once per pass of the
  embedding over the data).
Prints the student's throughput without and with the embedding work and their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100, help="updates per timed block")
    parser.add_argument("--blocks", type=int, default=3, help="timed blocks per kind (alternating)")
    parser.add_argument("--ratio", type=float, default=1.0, help="embedding steps per student update")
    parser.add_argument("--samples", type=int, default=60000, help="training samples (refresh cost grows with it)")
    parser.add_argument("--data-dir", default=os.environ.get("TRAINFIX_DATA_DIR", "data"))
    args = parser.parse_args()

    from trainfix.data.datamodule import ImageDataModule
    from trainfix.models import build_model
    from trainfix.strategies.leap.embedding import MagnetEmbedding

    torch.manual_seed(0)
    dm = ImageDataModule("mnist", args.data_dir, batch_size=64, normalize=True, train_subset=args.samples)
    dm.load()
    dm.setup("fit")
    n = len(dm.splits["train"].labels)
    student = build_model("lenet5", num_classes=10, in_channels=1, image_size=28)
    optimizer = torch.optim.SGD(student.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    embedding = MagnetEmbedding("magnet_lenet", epochs=1000)
    embedding.setup(dm, torch.device("cpu"), n, seed=0)
    embedding.refresh()
    generator = torch.Generator().manual_seed(1)

    def student_step() -> None:
        idx = torch.randint(n, (64,), generator=generator)
        x, y = dm.gather("train", idx)
        loss = F.cross_entropy(student(x), y, reduction="none").mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def block(with_embedding: bool) -> float:
        credit = 0.0
        start = time.perf_counter()
        for _ in range(args.steps):
            student_step()
            if with_embedding:
                credit += args.ratio
                while credit >= 1:
                    embedding.step()
                    credit -= 1
        return time.perf_counter() - start

    block(False), block(True)  # warm-up
    alone, shared = [], []
    for _ in range(args.blocks):
        alone.append(block(False))
        shared.append(block(True))
    start = time.perf_counter()
    embedding.refresh()
    refresh = time.perf_counter() - start
    a, s = statistics.median(alone) / args.steps, statistics.median(shared) / args.steps
    print(f"device cpu, torch threads {torch.get_num_threads()}, {n} training samples, {args.steps} updates x {args.blocks} blocks")
    print(f"student alone:              {1 / a:8.1f} updates/s ({a * 1e3:.2f} ms/update)")
    print(f"student + {args.ratio:g} embedding step: {1 / s:8.1f} updates/s ({s * 1e3:.2f} ms/update)")
    print(f"throughput ratio (with / without embedding): {a / s:.3f}")
    print(f"refresh (embed {n} samples + k-means++ per class): {refresh:.2f} s, once per {embedding.period} embedding steps")


if __name__ == "__main__":
    main()
