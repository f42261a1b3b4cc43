"""Apricot's records as its tables read them: the trained input models and rDLMs (runs with
`config.apricot_role`) and the adaptation passes that `procedure` writes under `<runs>/adapt/<pass>/`
(result.json, reduced.json: Table IV's facts, config.json: the pass's identity), plus the text forms the
tables print. `runs` below is a collection of run records with `.runs`, `.configs` and `.metrics(run_id)`
(the results layer's `RunCollection`, which reads the run folders once)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROWS = ("cnn1", "cnn2", "cnn3", "resnet20", "resnet32")
MODEL_NAMES = {
    "cnn1": "apricot_cnn1",
    "cnn2": "apricot_cnn2",
    "cnn3": "apricot_cnn3",
    "resnet20": "preact_resnet20",
    "resnet32": "preact_resnet32",
}


@dataclass
class ApricotRuns:
    """What one multirun folder holds: trained runs (one row each), adaptation passes, and the run collection."""

    root: Path
    runs: pd.DataFrame
    adapt: pd.DataFrame
    reduced_facts: dict[tuple[str, int], dict[str, Any]]
    collection: Any = None


RUN_COLUMNS = [
    "run",
    "row",
    "role",
    "seed",
    "status",
    "epochs",
    "max_epochs",
    "best_test_acc",
    "seconds",
    "dataset",
    "official",
    "num_train",
    "window",
    "model",
    "config",
]


def trained_runs(collection: Any) -> pd.DataFrame:
    """One row per input or reduced run (config.apricot_role): best test accuracy, seconds of training
    (epoch_time_s + eval_time_s summed over epochs), data facts and config."""
    rows = []
    for run in collection.runs.itertuples(index=False):
        config = collection.configs.get(run.run_id) or {}
        if config.get("apricot_role") is None:
            continue
        metrics = collection.metrics(run.run_id)
        seconds = float(metrics["epoch_time_s"].sum() + metrics["eval_time_s"].sum()) if len(metrics) else np.nan
        rows.append(
            {
                "run": run.run_id,
                "row": config.get("experiment_row"),
                "role": config["apricot_role"],
                "seed": run.seed,
                "status": run.status,
                "epochs": run.n_epochs,
                "max_epochs": (config.get("trainer") or {}).get("max_epochs"),
                "best_test_acc": float(metrics["test_acc"].max()) if len(metrics) else np.nan,
                "seconds": seconds,
                "dataset": run.data_label,
                "official": run.data_official,
                "num_train": run.num_train,
                "window": run.train_window,
                "model": run.model,
                "config": config,
            }
        )
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def read_passes(root: Path) -> tuple[pd.DataFrame, dict[tuple[str, int], dict[str, Any]]]:
    """The adaptation passes under `root/adapt/` (one row per result.json, with its folder name and
    config.json's identity; `control` False where a pass recorded before the control existed), and each
    (row, model seed)'s reduced.json (the first pass's)."""
    results, facts = [], {}
    for result_file in sorted((root / "adapt").glob("*/result.json")) if (root / "adapt").is_dir() else []:
        result = json.loads(result_file.read_text())
        settings_file = result_file.parent / "config.json"
        identity = json.loads(settings_file.read_text()).get("identity", {}) if settings_file.exists() else {}
        results.append({**result, "folder": result_file.parent.name, "identity": identity})
        reduced_file = result_file.parent / "reduced.json"
        if reduced_file.exists():
            facts.setdefault((result["row"], int(result["model_seed"])), json.loads(reduced_file.read_text()))
    adapt = pd.DataFrame(results)
    if len(adapt):  # control passes (adjust=false) say so; a pass recorded before the control existed adjusted
        adapt["control"] = adapt["control"].fillna(False).astype(bool) if "control" in adapt else False
    return adapt, facts


def pct(value: float) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{100 * value:.2f}"


def duration(seconds: float) -> str:
    if seconds is None or not np.isfinite(seconds):
        return "-"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return (f"{h}h" if h else "") + (f"{m}min" if h or m else "") + f"{s}s"


def table_rows(data: ApricotRuns) -> list[str]:
    found = set(data.runs["row"].dropna()) | (set(data.adapt["row"]) if len(data.adapt) else set())
    return [r for r in ROWS if r in found] + sorted(found - set(ROWS))
