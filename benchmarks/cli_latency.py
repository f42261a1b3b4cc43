"""How long the command line takes to answer: --help, TAB completion, a config error (issue 28.4: under 1.5 s).

    python benchmarks/cli_latency.py [--repeat 5]

Each command runs as a fresh process, `--repeat` times, interleaved; prints the median and minimum wall time
of each, with `import pytorch_lightning` alone as the reference (what every command cost before the imports
became lazy: trainfix.cli). Wall times on a shared machine vary with its load: compare within one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
LINE = "trainfix-train strategy="
COMMANDS = {
    "train --help": ([PY, "-m", "trainfix.train", "--help"], {}),
    "train TAB completion (strategy=)": (
        [PY, "-m", "trainfix.train", "-sc", "query=bash"],
        {"COMP_LINE": LINE, "COMP_POINT": str(len(LINE))},
    ),
    "train config error (trainer.max_epoch=1)": ([PY, "-m", "trainfix.train", "trainer.max_epoch=1"], {}),
    "train unknown option (strategy=deepeutaxi)": ([PY, "-m", "trainfix.train", "strategy=deepeutaxi"], {}),
    "eval --help": ([PY, "-m", "trainfix.eval", "--help"], {}),
    "trainfix --help": ([PY, "-m", "trainfix", "--help"], {}),
    "reference: import pytorch_lightning": ([PY, "-c", "import pytorch_lightning"], {}),
}
EXPECTED_STATUS = {"train config error (trainer.max_epoch=1)": 2, "train unknown option (strategy=deepeutaxi)": 2}


def time_once(command: list[str], extra_env: dict[str, str]) -> tuple[float, int]:
    env = {**os.environ, "WANDB_MODE": "offline", **extra_env}
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    return time.perf_counter() - start, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeat):
        for name, (command, env) in COMMANDS.items():
            seconds, status = time_once(command, env)
            if status != EXPECTED_STATUS.get(name, 0):
                raise SystemExit(f"{name}: exit status {status}, expected {EXPECTED_STATUS.get(name, 0)}")
            times[name].append(seconds)
    width = max(map(len, COMMANDS))
    print(f"{'command':<{width}}  median s  min s   (n={args.repeat}, {os.cpu_count()} CPUs)")
    for name, values in times.items():
        print(f"{name:<{width}}  {statistics.median(values):8.2f}  {min(values):5.2f}")


if __name__ == "__main__":
    main()
