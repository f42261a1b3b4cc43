"""Epoch time of every registered strategy against the plain shuffle loop, measured in one run.

    make bench-strategies                               # CPU: LeNet-5, 10,000 Fashion-MNIST images, batch 128
    python benchmarks/bench_strategies.py --samples 60000 --epochs 4 --rounds 2

Each strategy trains the same network on the same data with the same batch size through trainfix's
real training path (`trainfix.train.train`, evaluation off). The first epoch of a run is a warm-up;
a strategy's figure is its fastest later epoch over all rounds, and the strategies alternate within
each round (shuffle, baseline, ..., trimming, shuffle, ...), so that a noisy shared machine hits them
alike. Throughput ratio = shuffle's epoch time / the strategy's (1.0 = as fast; target for trimming
>= 0.97: a trimmed step adds a sort of the batch's losses and nothing else). On a shared CPU whole
epochs vary by ~10 %, so the script also times each strategy's `reduce_loss` alone on a batch of
random losses and prints the throughput a step would keep if that were all the strategy added
(shuffle's step time / (that + the reduction)); strategies that also plan or score batches
(DeepEutaxy) cost more than their reduction. SPL runs with
lambda0 = 1e6 so that every step updates, as the others' do; DeepEutaxy's epoch includes its
re-prioritizations (every `strategy.iter_count` epochs; set to 1 here, the worst case).
"""

from __future__ import annotations

import argparse
import os

import torch

from timing import epoch_metrics  # benchmarks/timing.py
from trainfix.strategies import STRATEGIES

# Settings that make a strategy's timed epochs comparable with the plain loop's (see the docstring).
EXTRA = {
    "spl": ["strategy.lambda0=1.0e6"],
    "spl_deepeutaxy": ["strategy.lambda0=1.0e6", "strategy.iter_count=1"],
    "deepeutaxy": ["strategy.iter_count=1"],
}
REFERENCE = "shuffle"


def reduce_loss_seconds(name: str, samples: int, batch_size: int, calls: int = 2000) -> float:
    """Seconds one `reduce_loss` call takes on a batch of random losses (what a strategy adds to a step,
    measured alone: robust to the noise of a shared machine, unlike whole epochs)."""
    import time
    from types import SimpleNamespace

    strategy = STRATEGIES[name]()
    strategy.bind(samples, batch_size, seed=0)
    strategy.on_train_start(SimpleNamespace(max_epochs=30, current_epoch=15, world_size=1), None)
    losses, indices = torch.rand(batch_size), torch.arange(batch_size)
    for _ in range(50):
        strategy.reduce_loss(losses, indices, batch_size)
    start = time.perf_counter()
    for _ in range(calls):
        strategy.reduce_loss(losses, indices, batch_size)
    return (time.perf_counter() - start) / calls


def main() -> None:
    gpu = torch.cuda.is_available()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (the first is a warm-up)")
    parser.add_argument("--rounds", type=int, default=2, help="runs per strategy, alternating with the others")
    parser.add_argument("--samples", type=int, default=60000 if gpu else 10000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--model", default="lenet5")
    parser.add_argument("--data", default="fashion_mnist")
    parser.add_argument("--strategies", default=",".join(STRATEGIES), help=f"comma-separated, from {list(STRATEGIES)}")
    parser.add_argument("--data-dir", default=os.environ.get("TRAINFIX_DATA_DIR", "data"))
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be >= 2 (the first epoch is a warm-up)")
    names = [REFERENCE] + [s for s in args.strategies.split(",") if s and s != REFERENCE]
    unknown = sorted(set(names) - set(STRATEGIES))
    if unknown:
        parser.error(f"--strategies: unknown {unknown}; accepted: {list(STRATEGIES)}")

    common = [
        f"paths.data_dir={args.data_dir}",
        f"data={args.data}",
        f"model={args.model}",
        "optimizer=adam",
        "optimizer.lr=0.001",
        f"data.batch_size={args.batch_size}",
        f"data.train_subset={args.samples}",
        "data.test_subset=1000",
        f"trainer.max_epochs={args.epochs}",
        "trainer.enable_progress_bar=false",
        "trainer.deterministic=false",
        f"trainer.accelerator={'gpu' if gpu else 'cpu'}",
        "data.accept_nonofficial=true",
    ]
    device = torch.cuda.get_device_name() if gpu else f"CPU, {torch.get_num_threads()} threads"
    print(
        f"device: {device}; {args.model} on {args.samples} {args.data} images, batch {args.batch_size}; "
        f"fastest of {args.epochs - 1} epochs after 1 warm-up, {args.rounds} rounds",
        flush=True,
    )
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        for name in names:
            frame = epoch_metrics(common + [f"strategy={name}", *EXTRA.get(name, [])])
            best[name] = min(best.get(name, float("inf")), float(frame["epoch_time_s"][1:].min()))
    steps = -(-args.samples // args.batch_size)
    step_s = best[REFERENCE] / steps
    print(
        f"{'strategy':16} {'epoch s':>9} {'throughput vs ' + REFERENCE:>22} {'reduce_loss us':>15} "
        f"{'bound from it':>14}"
    )
    for name in names:
        reduce_s = reduce_loss_seconds(name, args.samples, args.batch_size)
        # The throughput a step would keep if the strategy added only its reduce_loss to shuffle's step.
        print(
            f"{name:16} {best[name]:>9.3f} {best[REFERENCE] / best[name]:>21.3f}x {reduce_s * 1e6:>15.1f} "
            f"{step_s / (step_s + reduce_s):>13.4f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
