"""The training monitor's overhead: each checking schedule's wall time over the monitor-off run's, on
identical work, interleaved and repeated.

    make bench-monitor                                                # = python benchmarks/monitor_overhead.py
    python benchmarks/monitor_overhead.py --rounds 3 --epochs 50 --train-subset 256   # what docs/monitor.md shows
    python benchmarks/monitor_overhead.py --quick --out timing.json   # t2 for `trainfix.results monitor --timing`

Design:
- Identical work: every run is the same training (same seed, data subset, batch, epochs; the MLP has no
  dropout and the check takes no RNG draw, so every configuration computes the same weights), only the
  monitor differs: off; constant every 3 (AutoTrainer's entry points) and every 5 (its LossHistory
  default); dynamic (the thesis; late checks by AutoTrainer's rule). Over the study's 50 epochs these make
  17, 10 and 13 checks (constant 3: after epochs 1, 4, ..., 49; constant 5: 1, 6, ..., 46; dynamic: 11..20,
  21, 31, 41).
- The check gradient is on the training batch size (`monitor.gradient_batch: null`, AutoTrainer's
  `trainX[0:batch_size]`), 32 for the study's experiment.
- Interleaved and repeated: one discarded warm-up run, then rounds that each run every configuration once,
  in an order rotated by one per round, so that a slow period of a shared machine falls on different
  configurations.
- Reported per configuration: the checks made, the median seconds per check (t2: the check gradient plus
  the detectors, from monitor.json), and the observed overhead: the run's `Trainer.fit` wall time (timed
  around the call: every epoch, evaluation, check, record and monitor.json write; not the composition and
  data loading before it) / the same round's monitor-off fit time - 1, as median and min..max over rounds.
  Beside it the overhead Eq. 4.1 predicts from the measured numbers: checks x t2 / the monitor-off fit time.
- Hyper-parameters: the study's experiment (`experiment=monitor/oscillating_loss/mlp_mnist`: 20 x 128 ReLU MLP,
  Adam, batch 32)
  on `--train-subset` MNIST images (the full 60,000 take ~25 s per epoch here, so a 50-epoch round trip of
  every configuration would take hours; the check does not depend on the data size, the epoch does, so the
  overhead on the full data is the Eq. 4.1 column scaled by the epoch-time ratio).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import pandas as pd
import pytorch_lightning as pl
import torch

from timing import trained_run  # benchmarks/timing.py

FIT_SECONDS: list[float] = []
_fit = pl.Trainer.fit


def _timed_fit(self: pl.Trainer, *args, **kwargs):
    """Trainer.fit, timed: the benchmark's one instrument (the run itself is trainfix's ordinary path)."""
    start = time.perf_counter()
    try:
        return _fit(self, *args, **kwargs)
    finally:
        FIT_SECONDS.append(time.perf_counter() - start)


pl.Trainer.fit = _timed_fit

CONFIGS = {
    "off": ["monitor=none"],
    "constant3": ["monitor=autotrainer", "monitor.schedule.kind=constant", "monitor.schedule.every=3"],
    "constant5": ["monitor=autotrainer", "monitor.schedule.kind=constant", "monitor.schedule.every=5"],
    "dynamic": ["monitor=autotrainer", "monitor.schedule.kind=dynamic"],
    "dynamic+step": ["monitor=autotrainer", "monitor.schedule.kind=dynamic", "monitor.step_stats.enabled=true"],
}
DEFAULT_CONFIGS = "off,constant3,constant5,dynamic"


def timed_run(overrides: list[str]) -> tuple[float, pd.DataFrame, list[float]]:
    """Wall seconds of the run's Trainer.fit, its metrics.csv and its checks' seconds."""
    with trained_run(overrides, evaluate=True) as run_dir:
        wall = FIT_SECONDS[-1]
        metrics = pd.read_csv(run_dir / "metrics.csv")
        monitor = run_dir / "monitor.json"
        checks = [c["seconds"] for c in json.loads(monitor.read_text())["checks"]] if monitor.exists() else []
        return wall, metrics, checks


def main() -> None:
    gpu = torch.cuda.is_available()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models", default="mlp", help="comma-separated: mlp (the study's), resnet20 (CIFAR-10, batch 128)"
    )
    parser.add_argument(
        "--configs", default=DEFAULT_CONFIGS, help=f"comma-separated, 'off' first: {', '.join(CONFIGS)}"
    )
    parser.add_argument("--epochs", type=int, default=50, help="epochs per run (the study's 50)")
    parser.add_argument("--rounds", "--repeats", type=int, default=3, help="rounds; each runs every configuration once")
    parser.add_argument("--train-subset", type=int, default=256, help="training images per run")
    parser.add_argument("--test-subset", type=int, default=200, help="evaluation images per run")
    parser.add_argument("--quick", action="store_true", help="10 epochs, 1 round: t2 for --out in about a minute")
    parser.add_argument("--data-dir", default=os.environ.get("TRAINFIX_DATA_DIR", "data"))
    parser.add_argument(
        "--cifar", default="cifar10_jpeg", help="resnet20: cifar10 (official files) or cifar10_jpeg (the lossy copy)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="write the MLP's check_s (median t2 of the dynamic runs) here (JSON), for trainfix.results --timing",
    )
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.rounds = 10, 1
    configs = args.configs.split(",")
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown or configs[0] != "off":
        raise SystemExit(f"--configs {args.configs!r}: accepted: 'off' first, then any of {', '.join(CONFIGS)}")

    setups = {
        "mlp": ["experiment=monitor/oscillating_loss/mlp_mnist"],
        "resnet20": [
            "model=resnet20",
            f"data={args.cifar}",
            "optimizer=sgd",
            "data.batch_size=128",
            "data.accept_nonofficial=true",
        ],
    }
    device = torch.cuda.get_device_name() if gpu else f"CPU, {torch.get_num_threads()} threads"
    load = os.getloadavg()
    print(f"device: {device}; load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    print(
        f"{args.epochs} epochs per run, {args.train_subset} training / {args.test_subset} evaluation images, "
        f"{args.rounds} round(s), configurations interleaved (order rotated each round); check batch = training batch"
    )
    timing: dict[str, object] = {}
    for name in args.models.split(","):
        if name not in setups:
            raise SystemExit(f"--models {name!r}; accepted: {', '.join(setups)}")
        common = [
            f"paths.data_dir={args.data_dir}",
            f"trainer.max_epochs={args.epochs}",
            "trainer.enable_progress_bar=false",
            "trainer.deterministic=false",
            f"trainer.accelerator={'gpu' if gpu else 'cpu'}",
            "seed=0",
            *setups[name],
            f"data.train_subset={args.train_subset}",
            f"data.test_subset={args.test_subset}",
        ]
        walls: dict[str, list[float]] = {c: [] for c in configs}
        checks: dict[str, list[list[float]]] = {c: [] for c in configs}
        epoch_s: dict[str, list[float]] = {c: [] for c in configs}
        accuracy: dict[str, list[float]] = {c: [] for c in configs}
        timed_run([*common, "trainer.max_epochs=2", *CONFIGS[configs[-1]]])  # warm-up, discarded
        for r in range(args.rounds):
            order = configs[r % len(configs) :] + configs[: r % len(configs)]
            for config in order:
                wall, metrics, seconds = timed_run(common + CONFIGS[config])
                walls[config].append(wall)
                checks[config].append(seconds)
                epoch_s[config].append(float((metrics["epoch_time_s"] + metrics["eval_time_s"]).median()))
                accuracy[config].append(float(metrics["test_acc"].iloc[-1]))
                print(
                    f"  round {r + 1} {config:13} fit {wall:8.2f} s  checks {len(seconds):3d}  "
                    f"final test acc {accuracy[config][-1]:.4f}",
                    flush=True,
                )
        print(
            f"\n{'model':8} {'config':13} {'checks':>6} {'t2 s':>8} {'fit s (median)':>15} "
            f"{'observed overhead: median [min..max]':>38} "
            f"{'Eq.4.1 checks*t2/off':>21}"
        )
        for config in configs:
            ratios = [w / off - 1 for w, off in zip(walls[config], walls["off"])]
            t2 = statistics.median([s for run in checks[config] for s in run]) if any(checks[config]) else 0.0
            n_checks = len(checks[config][0])
            predicted = n_checks * t2 / statistics.median(walls["off"])
            spread = f"{100 * statistics.median(ratios):+7.2f}% [{100 * min(ratios):+.2f}..{100 * max(ratios):+.2f}%]"
            print(
                f"{name:8} {config:13} {n_checks:6d} {t2:8.4f} {statistics.median(walls[config]):15.2f} "
                f"{spread:>38} {100 * predicted:20.2f}%"
            )
            if name == "mlp" and config == "dynamic":
                timing = {
                    "check_s": t2,
                    "device": device,
                    "model": "mlp (thesis model)",
                    "epochs": args.epochs,
                    "train_subset": args.train_subset,
                    "note": "check_s: one gradient on the batch size (32) + detectors; "
                    "it does not depend on the data size",
                }
        print(
            f"t1: monitor-off median seconds per epoch (training + evaluation) {statistics.median(epoch_s['off']):.3f}"
        )
        same = all(len(set(accuracy[c])) == 1 for c in configs) and len({a for c in configs for a in accuracy[c]}) == 1
        print(
            f"identical work: final test accuracy {'equal in every run' if same else 'DIFFERS between runs'} "
            f"({sorted({round(a, 4) for c in configs for a in accuracy[c]})})"
        )
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.out and timing:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(timing, indent=1))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
