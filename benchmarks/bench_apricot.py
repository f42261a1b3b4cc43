"""Apricot's adjustment cost per batch: vectorized (trainfix.apricot.adapt) vs a naive per-sample
implementation, as a ratio measured in one run. Target >= 10x.

    make bench-apricot                                   # CNN1, 20 rDLMs, 3 batches of 20 real CIFAR-10 images (CPU)
    python benchmarks/bench_apricot.py --model apricot_cnn2 --batches 5 --device cuda

Both sides start from the same weights and process the same batches (Algorithm 2 lines 4-23, one
batch of 20 training samples each, strategy 1, r = 0.001), and their final weights are compared:

- naive: per sample, every rDLM predicts the sample (batch of 1), then each group's average is a
  Python sum over models for every weight tensor (the public PyTorch port's structure); also timed
  with the rDLMs' correctness given (the weight update alone);
- vectorized: rDLM predictions come from one batched pass per adaptation pass (here: over the
  benchmark's samples, its cost divided over the batches and included; stacking the rDLMs' weights
  happens once per pass and is amortized over the paper's 2,500 batches), the rDLMs' weights are one
  [n, P] matrix, group sums are running sums, each update is one fused flat-vector expression.

The networks are freshly initialized (the cost does not depend on training; random weights fail
~90% of samples, which is the adjustment's worst case). The images are real CIFAR-10 (the subset in
the data root).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from trainfix.apricot.adapt import ReducedWeights, adaptable_tensors, adjust_batch, get_flat, naive_adjust_batch, reduced_predictions
from trainfix.data.augment import to_float
from trainfix.data.datasets import load_split
from trainfix.models import build_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="apricot_cnn1")
    parser.add_argument("--reduced", type=int, default=20, help="number of rDLMs (the paper's 20)")
    parser.add_argument("--batches", type=int, default=3, help="adaptation batches of --batch-size samples")
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-dir", default=os.environ.get("TRAINFIX_DATA_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "data")))
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)

    split = load_split("cifar10", args.data_dir, train=True, accept_nonofficial=True)
    count = args.batches * args.batch_size
    x = to_float(split.images[:count], None, None).to(device)
    y = split.labels[:count]

    def net(seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        return build_model(args.model, num_classes=10, in_channels=3, image_size=32).to(device).eval()

    reduced_nets = [net(100 + i) for i in range(args.reduced)]
    fast, slow, slow_given = net(0), net(0), net(0)
    params = get_flat(adaptable_tensors(fast)).numel()

    # vectorized: one batched prediction pass, then the batches
    start = time.perf_counter()
    reduced = ReducedWeights.from_nets(reduced_nets, device=device)
    stack_s = time.perf_counter() - start  # once per pass: amortized over a pass's 2,500 batches below
    start = time.perf_counter()
    correct = reduced_predictions(reduced_nets, lambda i: x[i], count, batch_size=1000) == y.unsqueeze(0)
    predict_s = time.perf_counter() - start  # proportional to the samples: per batch = this / batches
    setup_s = predict_s + stack_s * args.batches / 2500
    tensors = adaptable_tensors(fast)
    fast_s, adjusted = [], 0
    for b in range(args.batches):
        sl = slice(b * args.batch_size, (b + 1) * args.batch_size)
        t0 = time.perf_counter()
        outcome = adjust_batch(fast, tensors, reduced, x[sl], y[sl], correct[:, sl], 1, "toward", 0.001)
        if device.type == "cuda":
            torch.cuda.synchronize()
        fast_s.append(time.perf_counter() - t0)
        adjusted += outcome.adjusted

    slow_s = []
    for b in range(args.batches):
        sl = slice(b * args.batch_size, (b + 1) * args.batch_size)
        t0 = time.perf_counter()
        naive_adjust_batch(slow, reduced_nets, x[sl], y[sl], 1, "toward", 0.001)
        if device.type == "cuda":
            torch.cuda.synchronize()
        slow_s.append(time.perf_counter() - t0)

    given_s = []  # the naive weight update alone: rDLM correctness given, as the vectorized side gets it
    for b in range(args.batches):
        sl = slice(b * args.batch_size, (b + 1) * args.batch_size)
        t0 = time.perf_counter()
        naive_adjust_batch(slow_given, reduced_nets, x[sl], y[sl], 1, "toward", 0.001, reduced_correct=correct[:, sl])
        if device.type == "cuda":
            torch.cuda.synchronize()
        given_s.append(time.perf_counter() - t0)

    difference = max(float((a - b).abs().max()) for a, b in zip(fast.state_dict().values(), slow.state_dict().values(), strict=True)
                     if a.is_floating_point())
    per_batch_fast = sum(fast_s) / args.batches + setup_s / args.batches
    per_batch_slow = sum(slow_s) / args.batches
    print(f"model {args.model} ({params:,} adapted weights), {args.reduced} rDLMs, {args.batches} batches of {args.batch_size} "
          f"real CIFAR-10 images, {adjusted} adjustments, device {device}, torch threads {torch.get_num_threads()}")
    print(f"naive per-sample:  {per_batch_slow:.3f} s per batch")
    print(f"vectorized:        {per_batch_fast:.3f} s per batch ({sum(fast_s) / args.batches:.3f} adjusting + "
          f"{setup_s / args.batches:.3f} batched rDLM predictions per batch; stacking the rDLMs' weights, once per pass: {stack_s:.2f} s)")
    per_batch_given = sum(given_s) / args.batches
    print(f"naive update only (rDLM predictions given): {per_batch_given:.3f} s per batch; "
          f"vs vectorized adjusting: {per_batch_given / (sum(fast_s) / args.batches):.1f}x")
    print(f"ratio naive / vectorized: {per_batch_slow / per_batch_fast:.1f}x (target >= 10x); "
          f"largest weight difference between the two: {difference:.2e}")


if __name__ == "__main__":
    main()
