"""AutoTrainer's repair loop (repair.py, strategy 'balance'): after the monitor stops a run on a problem,
retry with that problem's solutions, in AutoTrainer's order and with its values, each retry an ordinary
resumable run that continues from the weights at detection, until one finishes with no problem or the
list is exhausted.

    python -m trainfix.monitor.repair --run runs/<task>/<run>      # after a run with monitor.on_detection=stop|repair

Each try is `python -m trainfix.train <the run's overrides> <the solution's overrides> init_from=<detection
weights> monitor.on_detection=stop` in `<run>/repairs/<problem>/<nn>_<solution>/` (re-invoking skips finished
tries and resumes killed ones); the run's overrides that a solution replaces are dropped (a new optimizer
comes with its defaults, as in AutoTrainer). Outcomes, as AutoTrainer's <issue>.csv: solved (no problem),
other problem (the original one gone, another found), failed (the original one again); a try whose setting
the run already has is skipped with the reason, with the rest of that solution (AutoTrainer's `_break`).
`repairs.json` (atomic) holds the table.

Solution lists (AutoTrainer's `_k` = up to k tries, j = 0..k-1): oscillating_loss: adam_1, lr_3 (SGD
0.01 x 0.1^j, others 0.001 x 0.1^j), ReduceLR_1 (scheduler=reduce_on_plateau), batch_4 (32 x 2^j),
momentum_3 (SGD lr 0.01, momentum U(0.01, 0.9)), GN_1 (model.input_noise_std=0.1), initial_3 (model.init=
one of INITIALIZERS) | vanishing_gradient: selu_1, relu_1, bn_1 (model.params.batch_norm=true, MLP only) |
exploding_gradient: selu_1, relu_1, gradient_2, tanh_1, bn_1 | dying_relu: selu_1, bn_1, initial_3, leaky_3 |
not_converge: optimizer_3, lr_3 (x 10^j), initial_3. The "initial" tries train a fresh network
(monitor.repair.initial_from=scratch; `detection` keeps the detection weights, which is what AutoTrainer's
code ends up doing: its modify_initializer reloads the saved weights). docs/monitor.md lists the deviations.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainfix.core.records import FINISHED, atomic_write_text, read_run
from trainfix.monitor.callback import DETECTION_CHECKPOINT, read_monitor

log = logging.getLogger(__name__)
REPAIRS_FILE = "repairs.json"

SOLUTIONS: dict[str, list[tuple[str, int]]] = {
    "oscillating_loss": [
        ("adam", 1),
        ("lr", 3),
        ("ReduceLR", 1),
        ("batch", 4),
        ("momentum", 3),
        ("GN", 1),
        ("initial", 3),
    ],
    "vanishing_gradient": [("selu", 1), ("relu", 1), ("bn", 1)],
    "exploding_gradient": [("selu", 1), ("relu", 1), ("gradient", 2), ("tanh", 1), ("bn", 1)],
    "dying_relu": [("selu", 1), ("bn", 1), ("initial", 3), ("leaky", 3)],
    "not_converge": [("optimizer", 3), ("lr", 3), ("initial", 3)],
}
# op_optimizer: another of Keras' SGD/Adam/Nadam/Adamax/RMSprop with its defaults (Keras' SGD: lr 0.01).
OPTIMIZERS: dict[str, list[str]] = {
    "sgd": ["optimizer=sgd", "optimizer.lr=0.01"],
    "adam": ["optimizer=adam_keras"],
    "nadam": ["optimizer=nadam_keras"],
    "adamax": ["optimizer=adamax_keras"],
    "rmsprop": ["optimizer=rmsprop"],
}
LEAKY = ("leaky_relu", "elu")  # AutoTrainer: LeakyReLU, ELU, ThresholdedReLU
# op_initial: np.random.choice of these for the kernels (and, separately, for the biases).
INITIALIZERS = ("he_uniform", "lecun_uniform", "glorot_normal", "glorot_uniform", "he_normal", "lecun_normal")
GN_STDDEV = 0.1  # op_GN: GaussianNoise(0.1) before the first layer
INITIAL_FROM = ("scratch", "detection")


@dataclass
class Attempt:
    problem: str
    solution: str
    overrides: list[str]
    skipped: str | None = None
    from_detection: bool = True  # False: a fresh network (init_from dropped), the "initial" re-initialization


def _optimizer_name(config: dict[str, Any]) -> str:
    return str(config.get("optimizer", {}).get("_target_", "")).rsplit(".", 1)[-1].lower()


def attempts_for(
    problem: str, config: dict[str, Any], seed: int = 0, max_tries: int | None = 10, initial_from: str = "scratch"
) -> list[Attempt]:
    """The tries for `problem` given the stopped run's resolved `config`, AutoTrainer's order and values.

    As AutoTrainer's `issue_repair`: the k-th try of a solution `name_n` uses j = k - 1 (0-based, so
    lr_3 on SGD is 0.01, 0.001, 1e-4 and batch_4 is 32, 64, 128, 256); a try whose setting the run
    already has is skipped together with the solution's remaining tries (its `_break`); `max_tries`
    is AutoTrainer's max_try, a limit on the solutions of the list (each with all its tries), None = all.
    initial_from: "scratch" (the "initial" tries train a freshly initialized network) or "detection"
    (from the weights at detection, what AutoTrainer's code ends up doing: docs/monitor.md).
    """
    if problem not in SOLUTIONS:
        raise ValueError(f"repair: problem {problem!r} has no solution list; accepted: {', '.join(SOLUTIONS)}")
    if initial_from not in INITIAL_FROM:
        raise ValueError(f"monitor.repair.initial_from={initial_from!r}; accepted: {', '.join(INITIAL_FROM)}")
    rng = random.Random(
        seed
    )  # AutoTrainer draws momentum, clip values, optimizers, initializers at random: seeded here
    optimizer = _optimizer_name(config)
    lr_now = float(config.get("optimizer", {}).get("lr", float("nan")))
    batch = int(config.get("data", {}).get("batch_size", 0))
    model = config.get("model", {})
    params = model.get("params") or {}
    is_mlp = model.get("name") == "mlp"
    scheduler = str((config.get("scheduler", {}).get("scheduler") or {}).get("_target_", "")).rsplit(".", 1)[-1]
    solutions = SOLUTIONS[problem][:max_tries] if max_tries else SOLUTIONS[problem]
    out: list[Attempt] = []
    for name, tries in solutions:
        for j in range(tries):
            label = f"{name}_{j + 1}"
            attempt = _attempt(
                problem,
                name,
                label,
                j,
                rng,
                optimizer=optimizer,
                lr_now=lr_now,
                batch=batch,
                params=params,
                is_mlp=is_mlp,
                scheduler=scheduler,
                noise=float(model.get("input_noise_std") or 0.0),
                initial_from=initial_from,
            )
            if attempt is None:
                break
            out.append(attempt)
            if attempt.skipped:
                break  # AutoTrainer's `_break`: the rest of this solution's tries are not made either
    return out


def _attempt(
    problem: str,
    name: str,
    label: str,
    j: int,
    rng: random.Random,
    *,
    optimizer: str,
    lr_now: float,
    batch: int,
    params: dict[str, Any],
    is_mlp: bool,
    scheduler: str,
    noise: float,
    initial_from: str,
) -> Attempt | None:
    """Try j (0-based) of solution `name`; None when the solution has no such try."""
    if name == "adam":  # op_adam: Keras' Adam with its defaults
        return Attempt(problem, label, ["optimizer=adam_keras"], "already Adam" if optimizer == "adam" else None)
    if name == "lr":  # op_lr: absolute rates, skipped when equal to the run's
        base = 0.01 if optimizer == "sgd" else 0.001
        lr = base * (10.0**j if problem == "not_converge" else 0.1**j)
        return Attempt(
            problem,
            label,
            [f"optimizer.lr={lr:.6g}"],
            f"the run's lr is already {lr:.6g}" if math.isclose(lr, lr_now) else None,
        )
    if name == "ReduceLR":  # op_ReduceLR: Keras ReduceLROnPlateau(val_loss, 0.2, patience 5, min_lr 0.001)
        return Attempt(
            problem,
            label,
            ["scheduler=reduce_on_plateau"],
            "already ReduceLROnPlateau" if scheduler == "ReduceLROnPlateau" else None,
        )
    if name == "batch":  # op_batch: 32 * 2^j, skipped when equal to the run's
        size = 32 * 2**j
        return Attempt(
            problem,
            label,
            [f"data.batch_size={size}"],
            f"the run's batch size is already {size}" if size == batch else None,
        )
    if name == "momentum":  # op_momentum: Keras SGD(momentum=round(U(0.01, 0.9), 2)), its default lr 0.01
        return Attempt(
            problem,
            label,
            ["optimizer=sgd", "optimizer.lr=0.01", f"optimizer.momentum={round(rng.uniform(0.01, 0.9), 2)}"],
        )
    if name == "gradient":  # op_gradient: clipvalue round(U(9, 10), 2)
        return Attempt(
            problem,
            label,
            [f"+trainer.gradient_clip_val={round(rng.uniform(9, 10), 2)}", "+trainer.gradient_clip_algorithm=value"],
        )
    if name == "GN":  # op_GN: GaussianNoise(0.1) before the first layer, skipped when the model has one
        return Attempt(
            problem,
            label,
            [f"model.input_noise_std={GN_STDDEV}"],
            "the model already has input noise" if noise > 0 else None,
        )
    if name == "initial":  # op_initial: another kernel initializer, drawn from INITIALIZERS
        return Attempt(
            problem, label, [f"model.init={rng.choice(INITIALIZERS)}"], from_detection=initial_from == "detection"
        )
    if name == "bn":  # op_bn: BatchNormalization after each hidden Dense
        if not is_mlp:
            return Attempt(problem, label, [], "BatchNorm insertion: model=mlp only (model.params.batch_norm)")
        return Attempt(
            problem,
            label,
            ["++model.params.batch_norm=true"],
            "the model already has BatchNorm" if params.get("batch_norm") else None,
        )
    if name in ("selu", "relu", "tanh", "leaky"):
        if name == "leaky" and j >= len(LEAKY):
            return None
        activation = LEAKY[j] if name == "leaky" else name
        return Attempt(
            problem,
            label,
            [f"++model.params.activation={activation}"],
            None if is_mlp else "activation swap: model=mlp only",
        )
    if name == "optimizer":  # op_optimizer: another optimizer, Keras defaults
        return Attempt(problem, label, OPTIMIZERS[rng.choice([o for o in OPTIMIZERS if o != optimizer])])
    raise AssertionError(f"solution {name!r} has no implementation")


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def replaced(base: list[str], overrides: list[str]) -> list[str]:
    """`base` without the overrides that `overrides` replace: the same key, or a key under a group they
    choose (`optimizer=adam_keras` drops `optimizer=sgd` and `optimizer.lr=0.5`: AutoTrainer's new
    optimizer comes with its defaults)."""
    keys = [_key(o) for o in overrides]
    return [o for o in base if not any(_key(o) == k or _key(o).startswith(k + ".") for k in keys)]


def subprocess_launcher(overrides: list[str], run_dir: Path) -> None:
    """One try as an ordinary run: `python -m trainfix.train ... hydra.run.dir=<run_dir>`."""
    command = [sys.executable, "-m", "trainfix.train", *overrides, f"hydra.run.dir={run_dir}"]
    log.info("repair try: %s", " ".join(command))
    subprocess.run(command, check=False)


def repair(
    run_dir: Path,
    overrides: list[str],
    launcher: Callable[[list[str], Path], None] = subprocess_launcher,
    max_tries: int | None = None,
) -> list[dict[str, Any]]:
    """Retry the stopped run in `run_dir` (started with `overrides`) per its first detected problem; the table."""
    run_dir = Path(run_dir)
    monitor = read_monitor(run_dir)
    if not monitor or not monitor.get("stopped_at"):
        raise ValueError(
            f"repair --run {run_dir}: no monitor stop recorded there (monitor.json with stopped_at); "
            "run it with monitor=autotrainer monitor.on_detection=stop first"
        )
    stop = next(c for c in monitor["checks"] if c["epoch"] == monitor["stopped_at"])
    problem = stop["problems"][0]
    record = read_run(run_dir) or {}
    config = record.get("config", {})
    weights = (run_dir / "checkpoints" / DETECTION_CHECKPOINT).resolve()
    settings = config.get("monitor", {}).get("repair", {}) or {}
    limit = max_tries if max_tries is not None else settings.get("max_tries", 10)
    base = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") not in ("init_from", "monitor.on_detection")]
    table: list[dict[str, Any]] = []
    tries = attempts_for(problem, config, int(record.get("seed") or 0), limit, settings.get("initial_from", "scratch"))
    for number, attempt in enumerate(tries, start=1):
        row: dict[str, Any] = {
            "problem": problem,
            "try": number,
            "solution": attempt.solution,
            "overrides": attempt.overrides,
            "from": "detection weights" if attempt.from_detection else "fresh network",
        }
        if attempt.skipped:
            table.append({**row, "outcome": "skipped", "reason": attempt.skipped})
            _write(run_dir, problem, monitor["stopped_at"], table)
            continue
        try_dir = run_dir / "repairs" / problem / f"{number:02d}_{attempt.solution}"
        start = [f"init_from={weights}"] if attempt.from_detection else []
        launcher([*replaced(base, attempt.overrides), *attempt.overrides, *start, "monitor.on_detection=stop"], try_dir)
        result = read_monitor(try_dir) or {}
        found = sorted(result.get("detections", {}))
        status = (read_run(try_dir) or {}).get("status")
        if status != FINISHED:
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
    if (Path(run_dir) / REPAIRS_FILE).exists() and json.loads((Path(run_dir) / REPAIRS_FILE).read_text()).get(
        "solved_by"
    ):
        return []  # repaired by an earlier invocation
    return repair(Path(run_dir), overrides)


def _write(run_dir: Path, problem: str, epoch: int, table: list[dict[str, Any]]) -> None:
    solved = next((row["solution"] for row in table if row["outcome"] == "solved"), None)
    atomic_write_text(
        run_dir / REPAIRS_FILE,
        json.dumps({"problem": problem, "detected_at_epoch": epoch, "solved_by": solved, "attempts": table}, indent=1),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainfix.monitor.repair", description=__doc__.split("\n\n")[0])
    # argparse calls: shaped like every command's (duplicates pairs them with papers/deepeutaxy.py's)
    parser.add_argument("--run", type=Path, required=True, help="the stopped run's folder")
    parser.add_argument(
        "--max-tries",
        type=int,
        help="at most this many solutions of the list, each with all its tries "
        "(AutoTrainer's max_try; default: the run's monitor.repair.max_tries)",
    )
    args = parser.parse_args(argv)
    overrides_file = args.run / ".hydra" / "overrides.yaml"
    import yaml

    overrides = (
        yaml.safe_load(overrides_file.read_text())
        if overrides_file.exists()
        else (read_monitor(args.run) or {}).get("overrides", [])
    )
    try:
        table = repair(args.run, list(overrides or []), max_tries=args.max_tries)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for row in table:
        print(
            f"{row['try']:>2} {row['solution']:12} {row['outcome']:14} "
            f"{' '.join(row['overrides'])} {row.get('reason', '')}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
