"""Read trainfix run folders into two pandas frames: one row per run, one row per run-epoch.

A run folder (written by `python -m trainfix.train`) holds `run.json` (status, seed, resolved config,
data and host facts, the error of a failed run) and `metrics.csv` (one row per epoch). In
metrics.csv, `epoch` is 0-based; accuracies are fractions in [0, 1]; losses are the mean per-sample
loss; `grad_norm_last` / `grad_norm_mean` are the L2 norm of the gradient over all parameters at the
epoch's last step / averaged over its steps; times are seconds.

Reading never fails on one bad run: a folder whose run.json is unreadable becomes a run with status
`unreadable`, a missing or truncated metrics.csv gives a run with no epochs, and every problem is
written in the run's `problem` column. Only user errors raise: a folder that does not exist or holds
no run folders (`RunsInputError`).

Derived per run (column of `RunCollection.runs`): `row` = `config.experiment_row`, else the model
name; `strategy` = the class name of `config.strategy._target_`; `profile` = `config.profile`, else
`config.profile_name`; `status` = `finished`, `failed`, `diverged`, `running`, `data missing` (failed
with a DatasetMissingError) or `unreadable`; `num_classes` and `train_window` (an Apricot rDLM's
slice of the training set) from the run's data facts;
`train_acc_column` = `train_eval_acc` (the whole training set in eval mode after each epoch) when
recorded, else `train_acc` (running mean in training mode), `train_loss_column` likewise. Per
run-epoch (`RunCollection.epochs`): the metrics.csv columns, ID_COLUMNS, `epoch_number` = epoch + 1,
and `train_acc_used` / `train_loss_used` (the columns named above). A paper module adds its own
columns to these frames (e.g. `papers/deepeutaxy_runs.py`: strategy labels, Table VII roles).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from trainfix.core.records import METRIC_COLUMNS, METRICS_FILE, RUN_FILE, read_metrics, read_run
from trainfix.runs.folder import PREVIOUS_DIR

# The status a run must have for its numbers to count in a table.
OK_STATUS = "finished"
DATA_MISSING = "data missing"
UNREADABLE = "unreadable"

RUN_COLUMNS = [
    "run_id",
    "path",
    "status",
    "run_status",
    "seed",
    "row",
    "model",
    "strategy",
    "strategy_target",
    "variant",
    "profile",
    "data_label",
    "data_official",
    "num_train",
    "device",
    "gpu",
    "error",
    "end_time",
    "init_from",
    "n_epochs",
    "train_acc_column",
    "train_loss_column",
    "problem",
    "num_classes",
    "train_window",
]
ID_COLUMNS = ["run_id", "row", "strategy", "seed", "status"]


class RunsInputError(ValueError):
    """The folder given as runs does not exist or holds no run folders."""


@dataclass(frozen=True)
class RunCollection:
    """The runs found under `root`.

    runs: one row per run folder (RUN_COLUMNS).
    epochs: one row per run-epoch: ID_COLUMNS + metrics.csv columns + epoch_number, train_acc_used,
        train_loss_used; sorted by run_id and epoch.
    configs: run_id -> the run's resolved config (run.json `config`).
    """

    root: Path
    runs: pd.DataFrame
    epochs: pd.DataFrame
    # run_id -> the resolved config of run.json ({} when unreadable): what `summary` compares.
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def metrics(self, run_id: str) -> pd.DataFrame:
        """The epochs of one run, sorted by epoch (empty when it recorded none)."""
        return self.epochs[self.epochs["run_id"] == run_id]


def experiment_row(config: dict[str, Any]) -> str | None:
    """The table row of a run: config.experiment_row, else the model name."""
    if config.get("experiment_row"):
        return str(config["experiment_row"])
    model = (config.get("model") or {}).get("name")
    return None if model is None else str(model)


def find_run_folders(root: Path) -> list[Path]:
    """Every folder under `root` (itself included) that holds a run.json or a metrics.csv.

    Raises:
        RunsInputError: `root` does not exist, is not a folder, or holds no run folder.
    """
    root = Path(root)
    expected = (
        "expected a multirun folder with one sub-folder per run, each holding run.json and metrics.csv "
        "(as written by `python -m trainfix.train -m ...`, e.g. multirun/<task_name>)"
    )
    if not root.exists():
        raise RunsInputError(f"runs folder {root} does not exist; {expected}")
    if not root.is_dir():
        raise RunsInputError(f"runs folder {root} is a file, not a folder; {expected}")
    # rglob does not descend into linked folders: a run folder linked in as a child is found by the glob
    # a rerun's replaced records (<run>/previous/<n>/, runs.folder.PREVIOUS_DIR) are history, not runs of their own
    folders = sorted(
        folder
        for folder in {
            p.parent for name in (RUN_FILE, METRICS_FILE) for p in (*root.rglob(name), *root.glob(f"*/{name}"))
        }
        if PREVIOUS_DIR not in folder.relative_to(root).parts
    )
    if not folders:
        found = sorted(p.name for p in root.iterdir())
        listing = (
            ", ".join(found[:10]) + (f" and {len(found) - 10} more" if len(found) > 10 else "") if found else "nothing"
        )
        raise RunsInputError(
            f"runs folder {root} holds no run folders (no {RUN_FILE} or {METRICS_FILE} below it; found: {listing}); "
            f"{expected}"
        )
    return folders


def collect_runs(root: Path) -> RunCollection:
    """Read every run folder under `root` (see the module docstring for the columns).

    Raises:
        RunsInputError: `root` does not exist or holds no run folders.
    """
    root = Path(root)
    run_rows: list[dict[str, Any]] = []
    epoch_frames: list[pd.DataFrame] = []
    configs: dict[str, dict[str, Any]] = {}
    for folder in find_run_folders(root):
        run, metrics = _read_folder(folder, root)
        configs[run["run_id"]] = run.pop("config")
        run_rows.append(run)
        if len(metrics):
            ids = {k: run[k] for k in ID_COLUMNS}
            epoch_frames.append(metrics.assign(**ids))
    runs = pd.DataFrame(run_rows, columns=RUN_COLUMNS).astype({"seed": "Int64", "n_epochs": int})
    if epoch_frames:
        epochs = pd.concat(epoch_frames, ignore_index=True)
        metric_cols = [c for c in epochs.columns if c not in ID_COLUMNS]
        epochs = epochs[ID_COLUMNS + metric_cols].sort_values(["run_id", "epoch"], kind="stable").reset_index(drop=True)
    else:
        epochs = pd.DataFrame(
            columns=ID_COLUMNS + METRIC_COLUMNS + ["epoch_number", "train_acc_used", "train_loss_used"]
        )
    return RunCollection(root=root, runs=runs, epochs=epochs, configs=configs)


# --------------------------------------------------------------------------- one folder
def _read_folder(folder: Path, root: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    problems: list[str] = []
    run_id = folder.relative_to(root).as_posix() if folder != root else folder.name
    try:
        record = read_run(folder)
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        record, problem = None, f"{RUN_FILE} unreadable: {type(exc).__name__}: {exc}"
        problems.append(problem)
    else:
        if record is None:
            problems.append(f"no {RUN_FILE}")
        elif not isinstance(record, dict):
            problems.append(f"{RUN_FILE} is not a JSON object")
            record = None

    metrics = _read_metrics(folder, problems)
    record = record or {}
    config = record.get("config") if isinstance(record.get("config"), dict) else {}
    strategy_cfg = config.get("strategy") or {}
    data = record.get("data") if isinstance(record.get("data"), dict) else {}
    host = record.get("host") if isinstance(record.get("host"), dict) else {}
    run_status = record.get("status")
    error = record.get("error")
    seed = record.get("seed", config.get("seed"))

    if not record:
        status = UNREADABLE
    elif run_status == "failed" and str(error or "").startswith("DatasetMissingError"):
        status = DATA_MISSING
    elif run_status in ("running", "finished", "failed", "diverged"):
        status = run_status
    else:
        status = UNREADABLE
        problems.append(f"unknown status {run_status!r}")

    acc_column = "train_eval_acc" if _recorded(metrics, "train_eval_acc") else "train_acc"
    loss_column = "train_eval_loss" if _recorded(metrics, "train_eval_loss") else "train_loss"
    if len(metrics):
        metrics = metrics.assign(
            epoch_number=metrics["epoch"] + 1,
            train_acc_used=metrics[acc_column],
            train_loss_used=metrics[loss_column],
        )
    run = {
        "run_id": run_id,
        "path": str(folder),
        "status": status,
        "run_status": run_status,
        "seed": int(seed) if isinstance(seed, (int, float)) and not isinstance(seed, bool) else None,
        "row": experiment_row(config),
        "model": (config.get("model") or {}).get("name"),
        "strategy": str(strategy_cfg["_target_"]).rsplit(".", 1)[-1] if strategy_cfg.get("_target_") else None,
        "strategy_target": strategy_cfg.get("_target_"),
        "variant": strategy_cfg.get("variant", config.get("variant")),
        "profile": config.get("profile") or config.get("profile_name"),
        "data_label": data.get("label"),
        "data_official": data.get("official"),
        "num_train": data.get("num_train"),
        "device": host.get("device"),
        "gpu": host.get("gpu"),
        "error": error,
        "end_time": record.get("end_time"),
        "init_from": config.get("init_from"),
        "n_epochs": len(metrics),
        "train_acc_column": acc_column if len(metrics) else None,
        "train_loss_column": loss_column if len(metrics) else None,
        "problem": "; ".join(problems) or None,
        "num_classes": data.get("num_classes"),
        "train_window": data.get("train_window"),
        "config": config,
    }
    return run, metrics


def _read_metrics(folder: Path, problems: list[str]) -> pd.DataFrame:
    """metrics.csv with every standard column present (NaN where absent), sorted by epoch, one row per epoch."""
    try:
        metrics = read_metrics(folder)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        problems.append(f"{METRICS_FILE} unreadable: {type(exc).__name__}: {exc}")
        metrics = pd.DataFrame(columns=METRIC_COLUMNS)
    if not (folder / METRICS_FILE).exists():
        problems.append(f"no {METRICS_FILE}")
    for column in METRIC_COLUMNS:
        if column not in metrics.columns:
            metrics[column] = float("nan")
    metrics["epoch"] = pd.to_numeric(metrics["epoch"], errors="coerce")
    bad = metrics["epoch"].isna()
    if bad.any():
        problems.append(f"{int(bad.sum())} rows of {METRICS_FILE} without an epoch number were dropped")
    metrics = metrics[~bad].astype({"epoch": int})
    metrics = metrics.drop_duplicates("epoch", keep="last").sort_values("epoch").reset_index(drop=True)
    numeric = [
        c for c in [*METRIC_COLUMNS, "train_eval_acc", "train_eval_loss"] if c in metrics.columns and c != "epoch"
    ]
    metrics[numeric] = metrics[numeric].apply(pd.to_numeric, errors="coerce")
    return metrics


def _recorded(metrics: pd.DataFrame, column: str) -> bool:
    return column in metrics.columns and bool(metrics[column].notna().any())


class RunsFailedError(RuntimeError):
    """Some cells' runs failed for another reason than missing data, and the command was asked to fail
    then (`--strict`)."""
