"""Apricot's adaptation cost per batch: vectorized (trainfix.procedures.apricot.adapt) vs a naive per-sample
implementation, as ratios measured in one run. Target >= 10x.

    make bench-apricot                                   # CNN1, 20 rDLMs, 3 batches of 20 real CIFAR-10 images (CPU)
    # a trained model's failure rate (docs/apricot.md):
    make bench-apricot ARGS="--failure-rate 0.01 --batches 6 --pool 5000"
    make bench-apricot ARGS="--predict upfront --input-checkpoint <run>/checkpoints/best.ckpt"
    python benchmarks/bench_apricot.py --model apricot_cnn2 --batches 5 --device cuda

Every side starts from the same weights and processes the same batches (Algorithm 2 lines 4-23,
batches of 20 training samples, strategy 1, r = 0.001, `--predict` sequential as printed or upfront
as the public port); their final weights are compared with the naive side's. Per batch, the sides
are timed in turn (so a change in the machine's load hits them alike). Every side runs the networks
and the images in channels-last memory format (faster convolutions on a CPU, same predictions):

- naive (`apricot_naive.naive_adjust_batch`): per sample, the model predicts it (batch of one) and,
  only when the model fails it, every rDLM predicts it (batch of one); then each group's average is a
  Python sum over models for every weight tensor (the public PyTorch port's update). Asking the model
  first changes no result (a sample the model gets right is skipped either way): the fair baseline;
- literal: Algorithm 2 lines 6-7 as printed: every rDLM predicts every sample, then the model;
- port: the public port's own structure (coinse/arachne apricot/weight_adjust.py): the rDLMs predict
  the batch of 20 at once, then the same per-sample update as naive;
- vectorized, full predictions (`rdlm_predictions=full`): every rDLM predicts all the benchmark's
  samples in batches of 1000 before the pass, its cost divided over the batches (stacking the rDLMs'
  weights into the [n, P] matrix happens once per pass and is amortized over the paper's 2,500
  batches); then `adjust_batch`: composed maps over the [n, P] matrix, chunked predictions;
- vectorized, lazy (`rdlm_predictions=lazy`, the procedure's default): the rDLMs predict only the
  samples the model fails (`LazyReducedCorrect`), inside the timed batch.

Without `--input-checkpoint` the networks are freshly initialized (they fail ~90% of the samples, the
adjustment's worst case); with it the model being adapted is a trained one (a `best.ckpt` of
`experiment=apricot/table_v/cnn1`). `--failure-rate` picks the samples from the first `--pool` images so that
the model fails that share of them. The cost does not depend on the weights, only on which samples
fail: the rDLMs stay untrained (their weights change only how many failing samples find a correct
rDLM). Images: real CIFAR-10 (the subset in the data root).
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from pathlib import Path

import torch

from apricot_naive import naive_adjust_batch  # benchmarks/apricot_naive.py
from trainfix.data.augment import to_float
from trainfix.data.loading import load_split
from trainfix.models import build_model
from trainfix.procedures.apricot.adapt import (
    LazyReducedCorrect,
    ReducedWeights,
    adaptable_tensors,
    adjust_batch,
    get_flat,
    reduced_predictions,
)

SIDES = ("naive", "literal", "port", "full", "lazy")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="apricot_cnn1")
    parser.add_argument("--reduced", type=int, default=20, help="number of rDLMs (the paper's 20)")
    parser.add_argument("--batches", type=int, default=3, help="adaptation batches of --batch-size samples")
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument(
        "--predict",
        choices=["sequential", "upfront"],
        default="sequential",
        help="sequential: Algorithm 2 as printed; upfront: the batch predicted before adjusting (public port)",
    )
    parser.add_argument(
        "--input-checkpoint",
        type=Path,
        default=None,
        help="a trained model to adapt (Lightning best.ckpt of the same --model)",
    )
    parser.add_argument(
        "--failure-rate",
        type=float,
        default=None,
        help="pick the samples so that the model fails this share of them (e.g. 0.01: "
        "CNN1's 99.09%% training accuracy, Table II) from the first --pool images; default: "
        "the first images as they come",
    )
    parser.add_argument("--pool", type=int, default=1000, help="with --failure-rate: the images to pick from")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("TRAINFIX_DATA_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "data")),
    )
    return parser.parse_args()


def channels_last(module: torch.nn.Module) -> torch.nn.Module:
    return copy.deepcopy(module).to(memory_format=torch.channels_last)


def pick_samples(
    args: argparse.Namespace, model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, device: torch.device
) -> torch.Tensor:
    """Indices of the benchmark's samples: the first ones, or (--failure-rate) a shuffled mix that the model
    fails in the given share."""
    count = args.batches * args.batch_size
    if args.failure_rate is None:
        return torch.arange(count)
    pool = torch.arange(min(args.pool, len(labels)))
    with torch.inference_mode():
        wrong = model(to_float(images[pool], None, None).to(device).contiguous(memory_format=torch.channels_last))
        wrong = wrong.argmax(dim=1).cpu() != labels[pool]
    n_fail = round(args.failure_rate * count)
    failed, right = pool[wrong], pool[~wrong]
    if n_fail > len(failed) or count - n_fail > len(right):
        raise SystemExit(
            f"--failure-rate={args.failure_rate} with {count} samples needs {n_fail} failed and {count - n_fail} right "
            f"samples; the model fails {len(failed)} and gets {len(right)} of the first {len(pool)} right: "
            "use fewer --batches or a larger --pool"
        )
    g = torch.Generator().manual_seed(0)
    chosen = torch.cat(
        [
            failed[torch.randperm(len(failed), generator=g)[:n_fail]],
            right[torch.randperm(len(right), generator=g)[: count - n_fail]],
        ]
    )
    return chosen[torch.randperm(count, generator=g)]


def timed(fn, device: torch.device):
    t0 = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return out, time.perf_counter() - t0


def run_sides(
    args, model, reduced_nets, x, y, device
) -> tuple[dict[str, float], dict[str, torch.nn.Module], dict[str, float | int]]:
    """Every side over the same batches, timed in turn per batch: (seconds per side, adapted models, facts)."""
    sequential, count = args.predict == "sequential", len(y)
    nets = {side: channels_last(model) for side in SIDES}
    start = time.perf_counter()  # vectorized, once per pass: the rDLMs' weight matrix and (full) their predictions
    reduced = ReducedWeights.from_nets(reduced_nets, device=device)
    stack_s = time.perf_counter() - start
    start = time.perf_counter()
    correct = reduced_predictions(reduced_nets, lambda i: x[i], count, batch_size=1000) == y.unsqueeze(0)
    predict_s = time.perf_counter() - start
    lazy = LazyReducedCorrect(reduced_nets, lambda i: x[i], y, batch_size=1000)
    tensors = {side: adaptable_tensors(nets[side]) for side in ("full", "lazy")}
    seconds = dict.fromkeys((*SIDES, "port_predict"), 0.0)
    facts = {"failing": 0, "adjusted": 0, "forwards": 0}
    for b in range(args.batches):
        sl = slice(b * args.batch_size, (b + 1) * args.batch_size)
        index = torch.arange(count)[sl]
        outcome, s = timed(
            lambda sl=sl: adjust_batch(
                nets["full"], tensors["full"], reduced, x[sl], y[sl], correct[:, sl], 1, "toward", 0.001, sequential
            ),
            device,
        )
        seconds["full"] += s
        for key in facts:
            facts[key] += getattr(outcome, key)
        _, s = timed(
            lambda sl=sl, index=index: adjust_batch(
                nets["lazy"],
                tensors["lazy"],
                reduced,
                x[sl],
                y[sl],
                lazy.for_batch(index),
                1,
                "toward",
                0.001,
                sequential,
            ),
            device,
        )
        seconds["lazy"] += s
        for side, first in (("naive", True), ("literal", False)):
            _, s = timed(
                lambda side=side, first=first, sl=sl: naive_adjust_batch(
                    nets[side], reduced_nets, x[sl], y[sl], 1, "toward", 0.001, sequential=sequential, model_first=first
                ),
                device,
            )
            seconds[side] += s
        with torch.no_grad():
            port_correct, s = timed(
                lambda sl=sl: torch.stack([m(x[sl]).argmax(dim=1) for m in reduced_nets]) == y[sl].unsqueeze(0), device
            )
        seconds["port_predict"] += s
        _, s = timed(
            lambda sl=sl, port_correct=port_correct: naive_adjust_batch(
                nets["port"],
                reduced_nets,
                x[sl],
                y[sl],
                1,
                "toward",
                0.001,
                reduced_correct=port_correct,
                sequential=sequential,
            ),
            device,
        )
        seconds["port"] += s
    per = {k: v / args.batches for k, v in seconds.items()}
    per["full_adjusting"], per["full_predictions"] = (
        per["full"],
        (predict_s + stack_s * args.batches / 2500) / args.batches,
    )
    per["full"] += per["full_predictions"]
    per["lazy"] += stack_s / 2500
    per["port_update"] = per["port"]
    per["port"] += per["port_predict"]
    facts.update(stack_s=stack_s, lazy_predicted=lazy.predicted)
    return per, nets, facts


def report(args, per, nets, facts, model, count, device) -> None:
    def difference(a: torch.nn.Module, b: torch.nn.Module) -> float:
        return max(
            float((p - q).abs().max())
            for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
            if p.is_floating_point()
        )

    naive, full, lazy = per["naive"], per["full"], per["lazy"]
    print(
        f"model {args.model} ({get_flat(adaptable_tensors(nets['full'])).numel():,} adapted weights), "
        f"{args.reduced} rDLMs, {args.batches} batches of {args.batch_size} real CIFAR-10 "
        f"images{'' if args.failure_rate is None else f' (chosen for a failure rate of {args.failure_rate:.1%})'}, "
        f"predict={args.predict}, "
        f"input model {'trained: ' + str(args.input_checkpoint) if args.input_checkpoint else 'untrained'}; "
        f"device {device}, torch threads {torch.get_num_threads()}, every side channels-last"
    )
    print(
        f"the model failed {facts['failing']} of {count} samples ({facts['failing'] / count:.0%}); "
        f"{facts['adjusted']} adjustments; vectorized: {facts['forwards']} forward passes of the adapted model; lazy: "
        f"rDLMs predicted {facts['lazy_predicted']} of {count} samples"
    )
    print(f"naive per-sample, model first:    {naive:.3f} s per batch")
    print(f"literal Algorithm 2 (rDLMs first): {per['literal']:.3f} s per batch")
    print(
        f"port (rDLMs predict the batch):   {per['port']:.3f} s per batch ({per['port_predict']:.3f} rDLM "
        f"predictions + {per['port_update']:.3f} update)"
    )
    print(
        f"vectorized, full predictions:     {full:.3f} s per batch ({per['full_adjusting']:.3f} "
        f"adjusting + {per['full_predictions']:.3f} rDLM predictions of all samples, amortized; "
        f"stacking the rDLMs' weights, once per pass: {facts['stack_s']:.2f} s)"
    )
    print(f"vectorized, lazy (failing only):  {lazy:.3f} s per batch (rDLM predictions included)")
    print(f"ratio naive (model first) / vectorized: {naive / lazy:.1f}x lazy, {naive / full:.1f}x full (target >= 10x)")
    print(
        f"ratio literal Algorithm 2 / vectorized: {per['literal'] / lazy:.1f}x lazy, "
        f"{per['literal'] / full:.1f}x full; port / vectorized: {per['port'] / lazy:.1f}x lazy, "
        f"{per['port'] / full:.1f}x full; update alone (port update / vectorized adjusting): "
        f"{per['port_update'] / per['full_adjusting']:.1f}x"
    )
    print(
        "largest weight difference from naive: "
        + ", ".join(f"{side} {difference(nets[side], nets['naive']):.2e}" for side in SIDES[1:])
        + f" (the adjustments moved a weight by up to {difference(nets['naive'], model):.2e})"
    )


def main() -> None:
    args = parse_args()
    device = torch.device(args.device)

    def net(seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        return build_model(args.model, num_classes=10, in_channels=3, image_size=32).to(device).eval()

    torch.manual_seed(0)
    split = load_split("cifar10", args.data_dir, train=True, accept_nonofficial=True)
    model = net(0)
    if args.input_checkpoint is not None:
        from trainfix.training.checkpoint import classifier_from_checkpoint

        model = classifier_from_checkpoint(args.input_checkpoint, device).net.eval()
    model = channels_last(model)
    chosen = pick_samples(args, model, split.images, split.labels, device)
    x = to_float(split.images[chosen], None, None).to(device).contiguous(memory_format=torch.channels_last)
    y = split.labels[chosen]
    reduced_nets = [channels_last(net(100 + i)) for i in range(args.reduced)]
    per, nets, facts = run_sides(args, model, reduced_nets, x, y, device)
    report(args, per, nets, facts, model, len(y), device)


if __name__ == "__main__":
    main()
