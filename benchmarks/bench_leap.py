"""LEAP's embedding cost to the student, as ratios measured in one run.

    make bench-leap                                   # CPU: MNIST, LeNet-5 student, LeNet Magnet embedding
    python benchmarks/bench_leap.py --steps 200 --ratio 1.0
    python benchmarks/bench_leap.py --data fashion_mnist --student preact_resnet18 --crop-padding 4 --flip \
        --steps 5 --blocks 1 --no-refresh                # the Fashion-MNIST row's student (its cost per epoch)

Times, on the same device and process, in alternating blocks (shared machines are noisy; the
figure per kind is the median block):
- student: one update of the experiment's student (LeNet-5, batch 64, SGD Nesterov; the plain
  training computation: gather (with the row's augmentation), forward, per-sample cross-entropy,
  backward, step);
- concurrent (same thread): the same update followed by `--ratio` Magnet-loss steps of the embedding
  CNN (neighbourhood batch of 8 x 8, Eq. 1, Adam), as `Leap(mode="concurrent")` interleaves them;
- background (own thread): the block's updates while `Leap`'s `EmbeddingWorker` trains the same
  number of embedding steps (`--ratio` x updates) on a thread of its own; the block ends when both
  are done (the student's wait at the epoch end is counted), as `Leap(mode="background")` runs;
- refresh: one re-embedding of the training set and k-means++ per class (once per pass of the
  embedding over the data).
Prints the student's throughput alone and in each mode, and their ratios to the student alone.
`mode=pretrained` (the authors' code) costs the student nothing while it trains: its embedding
trains before the student (its time is that of `--ratio`-free embedding steps, printed per step).
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
    parser.add_argument("--data", default="mnist", help="mnist | fashion_mnist (the embedding is magnet_lenet)")
    parser.add_argument("--student", default="lenet5", help="registry model (the Fashion-MNIST row: preact_resnet18)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument(
        "--crop-padding", type=int, default=0, help="random crop with this zero padding (Fashion-MNIST row: 4)"
    )
    parser.add_argument("--flip", action="store_true", help="random horizontal flip (Fashion-MNIST row)")
    parser.add_argument("--no-refresh", dest="refresh", action="store_false", help="skip timing the refresh")
    parser.add_argument("--data-dir", default=os.environ.get("TRAINFIX_DATA_DIR", "data"))
    args = parser.parse_args()

    from trainfix.data.datamodule import ImageDataModule
    from trainfix.models import build_model
    from trainfix.strategies.leap.embedding import MagnetEmbedding
    from trainfix.strategies.leap.leap import EmbeddingWorker

    torch.manual_seed(0)
    augment = {"crop_padding": args.crop_padding, "flip": args.flip}
    dm = ImageDataModule(
        args.data, args.data_dir, batch_size=args.batch, normalize=True, augment=augment, train_subset=args.samples
    )
    dm.load()
    dm.setup("fit")
    n = len(dm.splits["train"].labels)
    student = build_model(args.student, num_classes=10, in_channels=1, image_size=28)
    optimizer = torch.optim.SGD(student.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    embedding = MagnetEmbedding("magnet_lenet", embedding_epochs=1000)
    embedding.setup(dm, torch.device("cpu"), n, seed=0)
    embedding.refresh()
    generator = torch.Generator().manual_seed(1)

    def student_step() -> None:
        idx = torch.randint(n, (args.batch,), generator=generator)
        x, y = dm.gather("train", idx, augment=True)
        loss = F.cross_entropy(student(x), y, reduction="none").mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def block(mode: str) -> float:
        credit = 0.0
        start = time.perf_counter()
        worker = EmbeddingWorker(embedding, int(args.ratio * args.steps)) if mode == "background" else None
        for _ in range(args.steps):
            student_step()
            if mode == "concurrent":
                credit += args.ratio
                while credit >= 1:
                    embedding.step()
                    credit -= 1
        if worker is not None:
            worker.join()
        return time.perf_counter() - start

    def embedding_alone() -> float:
        start = time.perf_counter()
        for _ in range(args.steps):
            embedding.step()
        return time.perf_counter() - start

    modes = ("alone", "concurrent", "background")
    for mode in modes:  # warm-up
        block(mode)
    times: dict[str, list[float]] = {mode: [] for mode in modes}
    for _ in range(args.blocks):
        for mode in modes:
            times[mode].append(block(mode))
    per_step = statistics.median(embedding_alone() for _ in range(args.blocks)) / args.steps
    start = time.perf_counter()
    if args.refresh:
        embedding.refresh()
    refresh = time.perf_counter() - start
    per_update = {mode: statistics.median(times[mode]) / args.steps for mode in modes}
    a = per_update["alone"]
    print(
        f"device cpu, torch threads {torch.get_num_threads()} per thread, {os.cpu_count()} CPUs, "
        f"{args.data} {n} training samples, student {args.student} batch {args.batch} augment {augment}, "
        f"{args.steps} updates x {args.blocks} blocks, {args.ratio:g} embedding steps per update"
    )
    print(
        f"student alone (= mode pretrained while the student trains): {1 / a:8.1f} updates/s ({a * 1e3:.2f} ms/update)"
    )
    for mode, label in (("concurrent", "same thread"), ("background", "own thread")):
        t = per_update[mode]
        print(
            f"mode {mode:<10} ({label}):   {1 / t:8.1f} updates/s ({t * 1e3:.2f} ms/update), "
            f"throughput ratio {a / t:.3f}"
        )
    print(f"embedding step alone: {per_step * 1e3:.2f} ms")
    updates_per_epoch = -(-n // args.batch)
    print(
        f"student alone: {updates_per_epoch * a:.1f} s per epoch of {updates_per_epoch} updates, "
        f"{23400 * a / 3600:.2f} h per 23,400 updates"
    )
    if args.refresh:
        print(
            f"refresh (embed {n} samples + k-means++ per class): {refresh:.2f} s, "
            f"once per {embedding.period} embedding steps"
        )


if __name__ == "__main__":
    main()
