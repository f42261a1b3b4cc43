"""Apricot's adaptation cost per batch: vectorized (trainfix.apricot.adapt) vs a naive per-sample
implementation, as ratios measured in one run. Target >= 10x.

    make bench-apricot                                   # CNN1, 20 rDLMs, 3 batches of 20 real CIFAR-10 images (CPU)
    make bench-apricot ARGS="--predict upfront --input-checkpoint <run>/checkpoints/best.ckpt"
    python benchmarks/bench_apricot.py --model apricot_cnn2 --batches 5 --device cuda

Every side starts from the same weights and processes the same batches (Algorithm 2 lines 4-23,
batches of 20 training samples, strategy 1, r = 0.001, `--predict` sequential as printed or upfront
as the public port); their final weights are compared with the naive side's. Per batch, the sides
are timed in turn (so a change in the machine's load hits them alike):

- naive: per sample, every rDLM predicts the sample (batch of one), the model predicts it (batch of
  one), then each group's average is a Python sum over models for every weight tensor
  (`naive_adjust_batch`: the public PyTorch port's update, per-sample predictions);
- port: the public port's own structure (coinse/arachne apricot/weight_adjust.py): the rDLMs predict
  the batch of 20 at once, then the same per-sample update as naive;
- vectorized, full predictions (what `python -m trainfix.apricot` does): every rDLM predicts all the
  benchmark's samples in batches of 1000 before the pass, its cost divided over the batches
  (stacking the rDLMs' weights into the [n, P] matrix happens once per pass and is amortized over the
  paper's 2,500 batches); then `adjust_batch`: composed maps over the [n, P] matrix, chunked
  predictions;
- vectorized, lazy: the rDLMs predict only the samples the model fails (`LazyReducedCorrect`), inside
  the timed batch.

The vectorized sides run the networks in channels-last memory format (about 1.9x faster convolutions
on this CPU, same predictions); the naive and port sides keep PyTorch's default, as the port does.
Without `--input-checkpoint` the networks are freshly initialized (they fail ~90% of the samples, the
adjustment's worst case); with it the model being adapted is a trained one (a `best.ckpt` of
`experiment=apricot/cnn1`), so the failure rate is a trained model's. The rDLMs stay untrained: their
weights change no cost, only how many failing samples find a correct rDLM. Images: real CIFAR-10
(the subset in the data root).
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from pathlib import Path

import torch

from trainfix.apricot.adapt import (
    LazyReducedCorrect,
    ReducedWeights,
    adaptable_tensors,
    adjust_batch,
    get_flat,
    naive_adjust_batch,
    reduced_predictions,
)
from trainfix.data.augment import to_float
from trainfix.data.datasets import load_split
from trainfix.models import build_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="apricot_cnn1")
    parser.add_argument("--reduced", type=int, default=20, help="number of rDLMs (the paper's 20)")
    parser.add_argument("--batches", type=int, default=3, help="adaptation batches of --batch-size samples")
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--predict", choices=["sequential", "upfront"], default="sequential",
                        help="sequential: Algorithm 2 as printed; upfront: the batch predicted before adjusting (public port)")
    parser.add_argument("--input-checkpoint", type=Path, default=None, help="a trained model to adapt (Lightning best.ckpt of the same --model)")
    parser.add_argument("--failure-rate", type=float, default=None,
                        help="pick the samples so that the model fails this share of them (e.g. 0.009: CNN1's 99.09%% training accuracy, "
                             "Table II) from the first 1,000 images; default: the first images as they come")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-dir", default=os.environ.get("TRAINFIX_DATA_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "data")))
    args = parser.parse_args()
    device = torch.device(args.device)
    sequential = args.predict == "sequential"
    torch.manual_seed(0)

    split = load_split("cifar10", args.data_dir, train=True, accept_nonofficial=True)
    count = args.batches * args.batch_size

    def net(seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        return build_model(args.model, num_classes=10, in_channels=3, image_size=32).to(device).eval()

    def channels_last(module: torch.nn.Module) -> torch.nn.Module:
        return copy.deepcopy(module).to(memory_format=torch.channels_last)

    model = net(0)
    if args.input_checkpoint is not None:
        from trainfix.runs.loading import classifier_from_checkpoint

        model = classifier_from_checkpoint(args.input_checkpoint, device).net.eval()
    chosen = torch.arange(count)
    if args.failure_rate is not None:
        pool = torch.arange(min(1000, len(split.labels)))
        with torch.inference_mode():
            wrong = channels_last(model)(to_float(split.images[pool], None, None).to(device).contiguous(memory_format=torch.channels_last))
            wrong = wrong.argmax(dim=1).cpu() != split.labels[pool]
        n_fail = round(args.failure_rate * count)
        failed, right = pool[wrong], pool[~wrong]
        if n_fail > len(failed) or count - n_fail > len(right):
            raise SystemExit(f"--failure-rate={args.failure_rate} with {count} samples needs {n_fail} failed and {count - n_fail} right samples; "
                             f"the model fails {len(failed)} and gets {len(right)} of the first {len(pool)} right: use fewer --batches")
        g = torch.Generator().manual_seed(0)
        chosen = torch.cat([failed[torch.randperm(len(failed), generator=g)[:n_fail]], right[torch.randperm(len(right), generator=g)[:count - n_fail]]])
        chosen = chosen[torch.randperm(count, generator=g)]
    x = to_float(split.images[chosen], None, None).to(device)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    y = split.labels[chosen]

    reduced_nets = [net(100 + i) for i in range(args.reduced)]
    fast_reduced = [channels_last(m) for m in reduced_nets]
    slow, port, fast, lazy_net = copy.deepcopy(model), copy.deepcopy(model), channels_last(model), channels_last(model)
    params = get_flat(adaptable_tensors(fast)).numel()

    # vectorized, once per pass: the rDLMs' weight matrix and (full) their predictions of every sample
    start = time.perf_counter()
    reduced = ReducedWeights.from_nets(fast_reduced, device=device)
    stack_s = time.perf_counter() - start
    start = time.perf_counter()
    correct = reduced_predictions(fast_reduced, lambda i: x_cl[i], count, batch_size=1000) == y.unsqueeze(0)
    predict_s = time.perf_counter() - start
    lazy = LazyReducedCorrect(fast_reduced, lambda i: x_cl[i], y, batch_size=1000)
    fast_tensors, lazy_tensors = adaptable_tensors(fast), adaptable_tensors(lazy_net)

    def timed(fn):
        t0 = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return out, time.perf_counter() - t0

    seconds = {k: 0.0 for k in ("fast", "lazy", "naive", "port_predict", "port_update")}
    failing = adjusted = forwards = 0
    for b in range(args.batches):
        sl = slice(b * args.batch_size, (b + 1) * args.batch_size)
        index = torch.arange(count)[sl]
        outcome, s = timed(lambda: adjust_batch(fast, fast_tensors, reduced, x_cl[sl], y[sl], correct[:, sl], 1, "toward", 0.001, sequential))
        seconds["fast"] += s
        failing, adjusted, forwards = failing + outcome.failing, adjusted + outcome.adjusted, forwards + outcome.forwards
        _, s = timed(lambda: adjust_batch(lazy_net, lazy_tensors, reduced, x_cl[sl], y[sl], lazy.for_batch(index), 1, "toward", 0.001, sequential))
        seconds["lazy"] += s
        _, s = timed(lambda: naive_adjust_batch(slow, reduced_nets, x[sl], y[sl], 1, "toward", 0.001, sequential=sequential))
        seconds["naive"] += s
        with torch.no_grad():
            port_correct, s = timed(lambda: torch.stack([m(x[sl]).argmax(dim=1) for m in reduced_nets]) == y[sl].unsqueeze(0))
        seconds["port_predict"] += s
        _, s = timed(lambda: naive_adjust_batch(port, reduced_nets, x[sl], y[sl], 1, "toward", 0.001, reduced_correct=port_correct,
                                                sequential=sequential))
        seconds["port_update"] += s

    def difference(a: torch.nn.Module) -> float:
        return max(float((p - q).abs().max()) for p, q in zip(a.state_dict().values(), slow.state_dict().values(), strict=True)
                   if p.is_floating_point())

    per = {k: v / args.batches for k, v in seconds.items()}
    amortized = (predict_s + stack_s * args.batches / 2500) / args.batches
    full = per["fast"] + amortized
    port_total = per["port_predict"] + per["port_update"]
    lazy_total = per["lazy"] + stack_s / 2500
    moved = max(float((p - q).abs().max()) for p, q in zip(slow.state_dict().values(), model.state_dict().values(), strict=True)
                if p.is_floating_point())
    print(f"model {args.model} ({params:,} adapted weights), {args.reduced} rDLMs, {args.batches} batches of {args.batch_size} real CIFAR-10 "
          f"images{'' if args.failure_rate is None else f' (chosen for a failure rate of {args.failure_rate:.1%})'}, predict={args.predict}, input model {'trained: ' + str(args.input_checkpoint) if args.input_checkpoint else 'untrained'}; "
          f"device {device}, torch threads {torch.get_num_threads()}")
    print(f"the model failed {failing} of {count} samples ({failing / count:.0%}); {adjusted} adjustments; "
          f"vectorized: {forwards} forward passes of the adapted model; lazy: rDLMs predicted {lazy.predicted} of {count} samples")
    print(f"naive per-sample:                 {per['naive']:.3f} s per batch")
    print(f"port (rDLMs predict the batch):   {port_total:.3f} s per batch ({per['port_predict']:.3f} rDLM predictions + {per['port_update']:.3f} update)")
    print(f"vectorized, full predictions:     {full:.3f} s per batch ({per['fast']:.3f} adjusting + {amortized:.3f} rDLM predictions of all "
          f"samples, amortized; stacking the rDLMs' weights, once per pass: {stack_s:.2f} s)")
    print(f"vectorized, lazy (failing only):  {lazy_total:.3f} s per batch (rDLM predictions included)")
    print(f"ratio naive / vectorized: {per['naive'] / full:.1f}x full, {per['naive'] / lazy_total:.1f}x lazy (target >= 10x); "
          f"port / vectorized: {port_total / full:.1f}x full, {port_total / lazy_total:.1f}x lazy; "
          f"update alone (port update / vectorized adjusting): {per['port_update'] / per['fast']:.1f}x")
    print(f"largest weight difference from naive: full {difference(fast):.2e}, lazy {difference(lazy_net):.2e}, port {difference(port):.2e} "
          f"(the adjustments moved a weight by up to {moved:.2e})")


if __name__ == "__main__":
    main()
