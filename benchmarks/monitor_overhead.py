"""The training monitor's overhead, as ratios measured in one run (one process, runs alternating).

    make bench-monitor                                   # CPU: MLP (thesis model) on MNIST, ResNet-20 on CIFAR-10 (JPEG copy)
    python benchmarks/monitor_overhead.py --quick --models mlp --out timing.json

Per model, the same short training with: the monitor off; constant checking (every 3 epochs,
AutoTrainer); dynamic checking (the thesis); dynamic checking plus per-step gradient statistics.
Reported per configuration: median seconds per epoch (training + evaluation + check), the measured
seconds per check (`monitor_check_s`: the check gradient and dead-ReLU share, plus ol_judge and the
other detectors from monitor.json), and two overhead figures:
- attributed: the seconds spent in checks / the seconds of the epochs (exact, immune to machine noise);
- observed: median epoch time / the monitor-off median - 1 (includes per-step statistics; on a shared
  CPU its noise is a few %).
Target: <= 3% for dynamic checking with per-epoch statistics. `--out` writes the MLP's seconds per check
(JSON, `check_s`) for `python -m trainfix.results monitor --timing` (Eq. 4.1).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

import pandas as pd
import torch

from timing import trained_run  # benchmarks/timing.py

CONFIGS = {
    "off": ["monitor=none"],
    "constant3": ["monitor=autotrainer", "monitor.schedule.kind=constant", "monitor.schedule.every=3"],
    "dynamic": ["monitor=autotrainer", "monitor.schedule.kind=dynamic"],
    "dynamic+step": ["monitor=autotrainer", "monitor.schedule.kind=dynamic", "monitor.step_stats.enabled=true"],
}


def run(overrides: list[str]) -> tuple[pd.DataFrame, list[float]]:
    """The run's metrics.csv (evaluation on: epoch_s counts training + evaluation + check) and its checks' seconds."""
    with trained_run(overrides, evaluate=True) as run_dir:
        metrics = pd.read_csv(run_dir / "metrics.csv")
        monitor = run_dir / "monitor.json"
        checks = [c["seconds"] for c in json.loads(monitor.read_text())["checks"]] if monitor.exists() else []
        return metrics, checks


def main() -> None:
    gpu = torch.cuda.is_available()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mlp,resnet20", help="comma-separated: mlp, resnet20")
    parser.add_argument("--epochs", type=int, default=10, help="epochs per run (dynamic checks 3 of 10: epochs 3, 4, 10)")
    parser.add_argument("--quick", action="store_true", help="small subsets (minutes on a CPU)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per configuration, alternating")
    parser.add_argument("--data-dir", default=os.environ.get("TRAINFIX_DATA_DIR", "data"))
    parser.add_argument("--cifar", default="cifar10_jpeg", help="cifar10 (official files) or cifar10_jpeg (the lossy copy)")
    parser.add_argument("--out", type=Path, help="write the MLP's epoch_s / check_s here (JSON) for trainfix.results monitor --timing")
    args = parser.parse_args()

    setups = {
        "mlp": ["experiment=monitor/ol_mnist", f"data.train_subset={2000 if args.quick else 10000}", "data.test_subset=1000"],
        "resnet20": ["model=resnet20", f"data={args.cifar}", "optimizer=sgd", "data.batch_size=128", "data.accept_nonofficial=true",
                     f"data.train_subset={1000 if args.quick else 5000}", "data.test_subset=500"],
    }
    device = torch.cuda.get_device_name() if gpu else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {device}; {args.epochs} epochs per run, first epoch dropped as warm-up; median epoch time")
    print(f"{'model':9} {'config':13} {'epoch s':>8} {'check s':>9} {'checks':>6} {'attributed':>10} {'observed':>9}")
    timing: dict[str, float] = {}
    for name in args.models.split(","):
        if name not in setups:
            raise SystemExit(f"--models {name!r}; accepted: {', '.join(setups)}")
        common = [f"paths.data_dir={args.data_dir}", f"trainer.max_epochs={args.epochs}", "trainer.enable_progress_bar=false",
                  "deterministic=false", f"trainer.accelerator={'gpu' if gpu else 'cpu'}", *setups[name]]
        results: dict[str, list[tuple[pd.DataFrame, list[float]]]] = {c: [] for c in CONFIGS}
        for _ in range(args.repeats):
            for config, overrides in CONFIGS.items():
                results[config].append(run(common + overrides))
        base = None
        for config, items in results.items():
            epochs = pd.concat([m.iloc[1:] for m, _ in items])
            epoch_s = statistics.median((epochs["epoch_time_s"] + epochs["eval_time_s"]).tolist())
            all_epochs = sum(float((m["epoch_time_s"] + m["eval_time_s"]).sum()) for m, _ in items)
            checks = [s for _, c in items for s in c]
            check_s = statistics.median(checks) if checks else 0.0
            base = epoch_s if base is None else base
            attributed = sum(checks) / (all_epochs - sum(checks)) if checks else 0.0
            print(f"{name:9} {config:13} {epoch_s:8.3f} {check_s:9.5f} {len(checks):6d} {100 * attributed:9.2f}% {100 * (epoch_s / base - 1):8.2f}%")
            if name == "mlp" and config == "dynamic":
                timing = {"check_s": check_s, "epoch_s_subset": epoch_s, "device": device, "model": "mlp (thesis model)",
                          "note": "check_s does not depend on the data size (one gradient on 32 samples + detectors)"}
    if args.out and timing:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(timing, indent=1))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
