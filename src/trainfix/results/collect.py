"""Read trainfix run folders (`run.json`, `metrics.csv`) into pandas: one row per run, one per run-epoch.

metrics.csv: `epoch` 0-based, accuracies fractions, losses mean per sample, grad norms the L2 norm over
all parameters (`_last` at the epoch's last step, `_mean` over its steps), times in seconds. Derived per
run: `row` (experiment_row, else the model name), `strategy` (class name of strategy._target_), `status`
(finished, failed, diverged, running, `data missing` = failed with a DatasetMissingError, `unreadable`),
`train_acc_column` / `train_loss_column` (train_eval_* when recorded, else train_*); per run-epoch:
`epoch_number` = epoch + 1 and `train_acc_used` / `train_loss_used`. Paper modules add their own columns.
Reading never fails on one bad run: an unreadable run.json gives status `unreadable`, a missing or
truncated metrics.csv a run with no epochs, and the `problem` column says what was wrong. Only a folder
that does not exist or holds no run folders raises (`RunsInputError`)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from trainfix.core.records import METRIC_COLUMNS, METRICS_FILE, RUN_FILE, read_metrics, read_run
from trainfix.runs.folder import PREVIOUS_DIR

OK_STATUS = "finished"  # the status a run must have for its numbers to count in a table
DATA_MISSING = "data missing"
UNREADABLE = "unreadable"
STATUSES = (OK_STATUS, "failed", "diverged", "running", DATA_MISSING, UNREADABLE)  # the order tables show
ID_COLUMNS = ["run_id", "row", "strategy", "seed", "status"]


class RunsInputError(ValueError):
    """The folder given as runs does not exist or holds no run folders."""


class RunsFailedError(RuntimeError):
    """Some cells' runs failed for another reason than missing data, and `--strict` asked to fail then."""


@dataclass(frozen=True)
class RunCollection:
    """The runs under `root`: `runs` (one row per run folder), `epochs` (one row per run-epoch, by run_id
    and epoch: ID_COLUMNS, the metrics.csv columns, epoch_number, train_acc_used, train_loss_used) and
    `configs` (run_id -> the resolved config of run.json, {} when unreadable)."""

    root: Path
    runs: pd.DataFrame
    epochs: pd.DataFrame
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
    """Every folder under `root` (itself included) holding a run.json or a metrics.csv; raises RunsInputError
    when `root` does not exist, is a file or holds none."""
    root = Path(root)
    expected = (
        "expected a multirun folder with one sub-folder per run, each holding run.json and metrics.csv "
        "(as written by `python -m trainfix.train -m ...`, e.g. multirun/<task_name>)"
    )
    if not root.exists():
        raise RunsInputError(f"runs folder {root} does not exist; {expected}")
    if not root.is_dir():
        raise RunsInputError(f"runs folder {root} is a file, not a folder; {expected}")
    if unreadable := unreadable_links(root):
        raise RunsInputError(
            f"runs folder {root}: {len(unreadable)} linked run folder(s) cannot be read, so tables would miss their "
            f"runs: {'; '.join(unreadable[:5])}{' ...' if len(unreadable) > 5 else ''}"
        )
    # rglob does not descend into linked folders, hence the glob of the children; a rerun's replaced
    # records (<run>/previous/<n>/) are history, not runs of their own
    found = {p.parent for name in (RUN_FILE, METRICS_FILE) for p in (*root.rglob(name), *root.glob(f"*/{name}"))}
    folders = sorted(folder for folder in found if PREVIOUS_DIR not in folder.relative_to(root).parts)
    if not folders:
        names = sorted(p.name for p in root.iterdir())
        listing = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        raise RunsInputError(
            f"runs folder {root} holds no run folders (no {RUN_FILE} or {METRICS_FILE} below it; "
            f"found: {listing or 'nothing'}); {expected}"
        )
    return folders


def unreadable_links(root: Path) -> list[str]:
    """The entries of `root` that stand for a linked run folder but cannot be read as one: a broken symbolic link,
    or a small file holding only a relative path (a link that git checked out as a file: core.symlinks=false)."""
    found = []
    for path in sorted(Path(root).iterdir()):
        if path.is_symlink() and not path.exists():
            found.append(f"{path.name} -> {os.readlink(path)} (the link's target is missing)")
        elif path.is_file() and not path.is_symlink() and not path.suffix and path.stat().st_size < 1024:
            text = path.read_text(errors="replace").strip()
            if text.startswith("../") and "\n" not in text:
                found.append(
                    f"{path.name} is a file holding the path {text} (a link checked out as a file: "
                    "`git config core.symlinks true`, then check the folder out again)"
                )
    return found


def collect_runs(root: Path) -> RunCollection:
    """Read every run folder under `root`; raises RunsInputError when there is none."""
    root = Path(root)
    run_rows, epoch_frames, configs = [], [], {}
    for folder in find_run_folders(root):
        run, metrics = _read_folder(folder, root)
        configs[run["run_id"]] = run.pop("config")
        run_rows.append(run)
        if len(metrics):
            epoch_frames.append(metrics.assign(**{k: run[k] for k in ID_COLUMNS}))
    runs = pd.DataFrame(run_rows).astype({"seed": "Int64", "n_epochs": int})
    if epoch_frames:
        epochs = pd.concat(epoch_frames, ignore_index=True)
        epochs = epochs[ID_COLUMNS + [c for c in epochs.columns if c not in ID_COLUMNS]]
        epochs = epochs.sort_values(["run_id", "epoch"], kind="stable").reset_index(drop=True)
    else:
        epochs = pd.DataFrame(
            columns=ID_COLUMNS + METRIC_COLUMNS + ["epoch_number", "train_acc_used", "train_loss_used"]
        )
    return RunCollection(root=root, runs=runs, epochs=epochs, configs=configs)


def _read_folder(folder: Path, root: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """The run's row (with its `config`) and its metrics, every problem met listed in `problem`."""
    problems: list[str] = []
    try:
        record = read_run(folder)
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        record = None
        problems.append(f"{RUN_FILE} unreadable: {type(exc).__name__}: {exc}")
    else:
        if record is None:
            problems.append(f"no {RUN_FILE}")
        elif not isinstance(record, dict):
            problems.append(f"{RUN_FILE} is not a JSON object")
            record = None
    metrics = _read_metrics(folder, problems)
    record = record or {}
    config, data, host = (record.get(k) if isinstance(record.get(k), dict) else {} for k in ("config", "data", "host"))
    strategy = config.get("strategy") or {}
    run_status, error, seed = record.get("status"), record.get("error"), record.get("seed", config.get("seed"))
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
            epoch_number=metrics["epoch"] + 1, train_acc_used=metrics[acc_column], train_loss_used=metrics[loss_column]
        )
    run = {
        "run_id": folder.relative_to(root).as_posix() if folder != root else folder.name,
        "path": str(folder),
        "status": status,
        "run_status": run_status,
        "seed": int(seed) if isinstance(seed, (int, float)) and not isinstance(seed, bool) else None,
        "row": experiment_row(config),
        "model": (config.get("model") or {}).get("name"),
        "strategy": str(strategy["_target_"]).rsplit(".", 1)[-1] if strategy.get("_target_") else None,
        "strategy_target": strategy.get("_target_"),
        "variant": strategy.get("variant", config.get("variant")),
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
        "train_window": data.get("train_window"),  # an Apricot rDLM's slice of the training set
        "config": config,
    }
    return run, metrics


def _read_metrics(folder: Path, problems: list[str]) -> pd.DataFrame:
    """metrics.csv with every standard column (NaN where absent), numeric, one row per epoch, by epoch."""
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
    numeric = [c for c in [*METRIC_COLUMNS[1:], "train_eval_acc", "train_eval_loss"] if c in metrics.columns]
    metrics[numeric] = metrics[numeric].apply(pd.to_numeric, errors="coerce")
    return metrics


def _recorded(metrics: pd.DataFrame, column: str) -> bool:
    return column in metrics.columns and bool(metrics[column].notna().any())
