"""CPU training with glibc's default allocator settings vs `extras.keep_freed_memory=true` (trainfix's
default, trainfix/core/allocator.py), through the real training path: `python -m trainfix.train` runs of
one configuration in fresh processes, the two settings alternating (off, on, off, on, ...) so a change
in the machine's load hits both alike. Prints per side the epoch seconds from the runs' metrics.csv
(training + the evaluation after it), the processes' user and system CPU seconds and minor page faults,
and the ratios.

    python benchmarks/bench_allocator.py        # LeNet-5, Table IV protocol, 20,000 MNIST images, 1 epoch, 2 rounds
    python benchmarks/bench_allocator.py --rounds 3 -- data.train_subset=null trainer.max_epochs=2

Any MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ / MALLOC_TOP_PAD_ in the environment is removed for
both sides (the "off" side is glibc's defaults). One thread per process unless OMP_NUM_THREADS is set.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from trainfix.core.allocator import SETTINGS

DEFAULT_RUN = [
    "experiment=deepeutaxy/table_iv/lenet5",
    "strategy=baseline",
    "trainer=cpu",
    "trainer.max_epochs=1",
    "data.train_subset=20000",
    "trainer.enable_progress_bar=false",
]


def one_run(keep: bool, overrides: list[str], folder: Path) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("WANDB_MODE", "offline")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "trainfix.train",
            *overrides,
            f"extras.keep_freed_memory={str(keep).lower()}",
            f"paths.runs_dir={folder}",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"the training run failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    metrics = pd.read_csv(next(folder.glob("*/*/metrics.csv")))
    return {
        "epoch s": float((metrics["epoch_time_s"] + metrics.get("eval_time_s", 0.0)).sum()),
        "user s": after.ru_utime - before.ru_utime,
        "system s": after.ru_stime - before.ru_stime,
        "minor faults": float(after.ru_minflt - before.ru_minflt),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="runs per side, alternating")
    parser.add_argument("overrides", nargs="*", help="extra `python -m trainfix.train` overrides (after --)")
    args = parser.parse_args()
    overrides = DEFAULT_RUN + args.overrides
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.rounds):
            for keep in (False, True) if k % 2 == 0 else (True, False):
                row = one_run(keep, overrides, Path(tmp) / f"{'keep' if keep else 'default'}_{k}")
                rows.append({"side": "keep_freed_memory" if keep else "glibc defaults", "round": k, **row})
                print(
                    f"round {k}, {rows[-1]['side']}: " + ", ".join(f"{c} {v:,.1f}" for c, v in row.items()), flush=True
                )
    table = pd.DataFrame(rows).groupby("side")[["epoch s", "user s", "system s", "minor faults"]].mean()
    print(f"\n{' '.join(overrides)}; mean of {args.rounds} run(s) per side:\n")
    shown = table.round(2)
    shown["minor faults"] = shown["minor faults"].map(lambda v: f"{v:,.0f}")
    print(shown.to_markdown())
    default, kept = table.loc["glibc defaults"], table.loc["keep_freed_memory"]
    print(
        f"\nepoch time ratio (defaults / keep): {default['epoch s'] / kept['epoch s']:.2f}x; "
        f"system CPU {default['system s']:.1f} s -> {kept['system s']:.1f} s; "
        f"minor faults {default['minor faults'] / max(kept['minor faults'], 1):.0f}x fewer"
    )


if __name__ == "__main__":
    main()
