"""AutoTrainer's repair loop (repair.py, strategy 'balance'): after the monitor stops a run on a problem,
retry with that problem's solutions, in AutoTrainer's order and with its values, each retry an ordinary
resumable run that starts from the weights at detection, until one finishes with no problem or the list
is exhausted.

    python -m trainfix.monitor.repair --run runs/<task>/<run>      # after a run with monitor.on_detection=stop|repair

Each try is `python -m trainfix.train <the run's overrides> <the solution's overrides> init_from=<detection
weights> monitor.on_detection=stop` in `<run>/repairs/<problem>/<nn>_<solution>/` (re-invoking skips finished
tries and resumes killed ones). Outcomes, as AutoTrainer's <issue>.csv: solved (no problem), other problem
(the original one gone, another found), failed (the original one again); a solution that trainfix cannot
express is listed as skipped with the reason. `repairs.json` (atomic) holds the table.

Solution lists (AutoTrainer's `_k` = up to k tries): oscillating_loss: adam_1, lr_3, ReduceLR_1, batch_4,
momentum_3, GN_1, initial_3 | vanishing_gradient: selu_1, relu_1, bn_1 | exploding_gradient: selu_1, relu_1,
gradient_2, tanh_1, bn_1 | dying_relu: selu_1, bn_1, initial_3, leaky_3 | not_converge: optimizer_3, lr_3,
initial_3. Deviation: AutoTrainer retrains from the weights at detection only where it does not re-initialize;
here "initial" (re-initialization) is skipped (trainfix's models use Keras' default initializers only), as are
ReduceLR (no plateau scheduler in trainfix), GN (input Gaussian noise layer) and bn (BatchNorm insertion).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainfix.monitor.callback import DETECTION_CHECKPOINT, read_monitor
from trainfix.runs.records import atomic_write_text, read_run

log = logging.getLogger(__name__)
REPAIRS_FILE = "repairs.json"

SOLUTIONS: dict[str, list[tuple[str, int]]] = {
    "oscillating_loss": [("adam", 1), ("lr", 3), ("ReduceLR", 1), ("batch", 4), ("momentum", 3), ("GN", 1), ("initial", 3)],
    "vanishing_gradient": [("selu", 1), ("relu", 1), ("bn", 1)],
    "exploding_gradient": [("selu", 1), ("relu", 1), ("gradient", 2), ("tanh", 1), ("bn", 1)],
    "dying_relu": [("selu", 1), ("bn", 1), ("initial", 3), ("leaky", 3)],
    "not_converge": [("optimizer", 3), ("lr", 3), ("initial", 3)],
}
NOT_EXPRESSIBLE = {
    "ReduceLR": "no ReduceLROnPlateau scheduler in trainfix",
    "GN": "no input Gaussian-noise layer in trainfix's models",
    "initial": "trainfix's models use Keras' default initializers only",
    "bn": "no BatchNorm insertion into an existing model",
}
OPTIMIZERS = ("sgd", "adam", "adagrad", "adadelta")  # trainfix's conf/optimizer (AutoTrainer: SGD/Adam/Nadam/Adamax/RMSprop)
LEAKY = ("leaky_relu", "elu")                        # AutoTrainer: LeakyReLU, ELU, ThresholdedReLU


@dataclass
class Attempt:
    problem: str
    solution: str
    overrides: list[str]
    skipped: str | None = None


def attempts_for(problem: str, config: dict[str, Any], seed: int = 0, max_tries: int = 10) -> list[Attempt]:
    """The tries for `problem` given the stopped run's resolved `config`, AutoTrainer's order and values."""
    if problem not in SOLUTIONS:
        raise ValueError(f"repair: problem {problem!r} has no solution list; accepted: {', '.join(SOLUTIONS)}")
    rng = random.Random(seed)  # AutoTrainer draws momentum, clip values and optimizers at random: seeded here
    optimizer = str(config.get("optimizer", {}).get("_target_", "")).rsplit(".", 1)[-1].lower()
    batch = int(config.get("data", {}).get("batch_size", 0))
    is_mlp = config.get("model", {}).get("name") == "mlp"
    out: list[Attempt] = []
    for name, tries in SOLUTIONS[problem]:
        for j in range(1, tries + 1):
            label = f"{name}_{j}"
            if name in NOT_EXPRESSIBLE:
                out.append(Attempt(problem, label, [], NOT_EXPRESSIBLE[name]))
                break
            if name == "adam":
                out.append(Attempt(problem, label, ["optimizer=adam"], "already Adam" if optimizer == "adam" else None))
            elif name == "lr":
                base = 0.01 if optimizer == "sgd" else 0.001
                lr = base * (10.0 ** j if problem == "not_converge" else 0.1 ** j)
                out.append(Attempt(problem, label, [f"optimizer.lr={lr:.6g}"]))
            elif name == "batch":
                size = 32 * 2 ** j
                out.append(Attempt(problem, label, [f"data.batch_size={size}"], "same batch size" if size == batch else None))
            elif name == "momentum":
                out.append(Attempt(problem, label, ["optimizer=sgd", f"optimizer.momentum={rng.uniform(0.01, 0.9):.4f}"]))
            elif name == "gradient":
                out.append(Attempt(problem, label, [f"+trainer.gradient_clip_val={rng.uniform(9, 10):.4f}", "+trainer.gradient_clip_algorithm=value"]))
            elif name in ("selu", "relu", "tanh", "leaky"):
                activation = {"selu": "selu", "relu": "relu", "tanh": "tanh"}.get(name) or LEAKY[(j - 1) % len(LEAKY)]
                if name == "leaky" and j > len(LEAKY):
                    break
                out.append(Attempt(problem, label, [f"model.params.activation={activation}"], None if is_mlp else "activation swap: model=mlp only"))
            elif name == "optimizer":
                others = [o for o in OPTIMIZERS if o != optimizer]
                out.append(Attempt(problem, label, [f"optimizer={rng.choice(others)}"]))
    return out[:max_tries] if max_tries else out


def subprocess_launcher(overrides: list[str], run_dir: Path) -> None:
    """One try as an ordinary run: `python -m trainfix.train ... hydra.run.dir=<run_dir>`."""
    command = [sys.executable, "-m", "trainfix.train", *overrides, f"hydra.run.dir={run_dir}"]
    log.info("repair try: %s", " ".join(command))
    subprocess.run(command, check=False)


def repair(run_dir: Path, overrides: list[str], launcher: Callable[[list[str], Path], None] = subprocess_launcher,
           max_tries: int | None = None) -> list[dict[str, Any]]:
    """Retry the stopped run in `run_dir` (started with `overrides`) per its first detected problem; returns the table."""
    run_dir = Path(run_dir)
    monitor = read_monitor(run_dir)
    if not monitor or not monitor.get("stopped_at"):
        raise ValueError(f"repair --run {run_dir}: no monitor stop recorded there (monitor.json with stopped_at); "
                         "run it with monitor=autotrainer monitor.on_detection=stop first")
    stop = next(c for c in monitor["checks"] if c["epoch"] == monitor["stopped_at"])
    problem = stop["problems"][0]
    record = read_run(run_dir) or {}
    config = record.get("config", {})
    weights = (run_dir / "checkpoints" / DETECTION_CHECKPOINT).resolve()
    limit = max_tries if max_tries is not None else int(config.get("monitor", {}).get("repair", {}).get("max_tries", 10))
    base = [o for o in overrides if not o.split("=", 1)[0].lstrip("+~") in ("init_from", "monitor.on_detection")]
    table: list[dict[str, Any]] = []
    for number, attempt in enumerate(attempts_for(problem, config, int(record.get("seed") or 0), limit), start=1):
        row: dict[str, Any] = {"problem": problem, "try": number, "solution": attempt.solution, "overrides": attempt.overrides}
        if attempt.skipped:
            table.append({**row, "outcome": "skipped", "reason": attempt.skipped})
            _write(run_dir, problem, monitor["stopped_at"], table)
            continue
        try_dir = run_dir / "repairs" / problem / f"{number:02d}_{attempt.solution}"
        launcher([*base, *attempt.overrides, f"init_from={weights}", "monitor.on_detection=stop"], try_dir)
        result = read_monitor(try_dir) or {}
        found = sorted(result.get("detections", {}))
        status = (read_run(try_dir) or {}).get("status")
        if status != "finished":
            outcome = f"run {status or 'missing'}"
        elif not found:
            outcome = "solved"
        elif problem in found:
            outcome = "failed"
        else:
            outcome = "other problem"
        table.append({**row, "outcome": outcome, "problems": found, "run": str(try_dir)})
        _write(run_dir, problem, monitor["stopped_at"], table)
        if outcome == "solved":
            break
    return table


def repair_if_asked(cfg: Any, run_dir: Path, overrides: list[str]) -> list[dict[str, Any]]:
    """After a run: with monitor.on_detection=repair and a recorded stop, run the repair loop (train.py calls it)."""
    node = cfg.get("monitor") or {}
    monitor = read_monitor(run_dir) if node.get("on_detection") == "repair" else None
    if not monitor or not monitor.get("stopped_at"):
        return []
    if (Path(run_dir) / REPAIRS_FILE).exists() and json.loads((Path(run_dir) / REPAIRS_FILE).read_text()).get("solved_by"):
        return []  # repaired by an earlier invocation
    return repair(Path(run_dir), overrides)


def _write(run_dir: Path, problem: str, epoch: int, table: list[dict[str, Any]]) -> None:
    solved = next((row["solution"] for row in table if row["outcome"] == "solved"), None)
    atomic_write_text(run_dir / REPAIRS_FILE, json.dumps({"problem": problem, "detected_at_epoch": epoch, "solved_by": solved,
                                                          "attempts": table}, indent=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainfix.monitor.repair", description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="the stopped run's folder")
    parser.add_argument("--max-tries", type=int, help="at most this many tries (default: the run's monitor.repair.max_tries)")
    args = parser.parse_args(argv)
    overrides_file = args.run / ".hydra" / "overrides.yaml"
    import yaml

    overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.exists() else (read_monitor(args.run) or {}).get("overrides", [])
    try:
        table = repair(args.run, list(overrides or []), max_tries=args.max_tries)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for row in table:
        print(f"{row['try']:>2} {row['solution']:12} {row['outcome']:14} {' '.join(row['overrides'])} {row.get('reason', '')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
