"""Apricot's runs for its tables: the trained input models and rDLMs, and the adaptation passes under
`adapt/` (result.json, reduced.json, config.json), read once through the results core's one reader."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trainfix.results.collect import RunCollection, collect_runs
from trainfix.results.configs import require_same_configs

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
    collection: RunCollection | None = None


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


def trained_runs(collection: RunCollection) -> pd.DataFrame:
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


def collect(root: Path) -> ApricotRuns:
    """Read the run folders (input and reduced: `collect_runs`) and the adapt/ folders below `root`."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"--runs {root}: no such folder; expected the multirun folder of experiment=apricot/... runs"
        )
    collection = collect_runs(root)
    runs = trained_runs(collection)
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
    if runs.empty and adapt.empty:
        raise FileNotFoundError(
            f"--runs {root}: no Apricot runs (run.json with config.apricot_role) and no adapt/*/result.json"
        )
    data = ApricotRuns(root, runs, adapt, facts, collection)
    check_one_configuration(data)
    return data


# Keys that differ between the members of one cell by design: the rDLM's window, the pass's model seed
# (which repetition it adapts) and batch order seed, and the runs it read.
WINDOW_KEYS = ("data.train_window.start",)
PASS_KEYS = ("model_seed", "seed", "input_run", "reduced_runs")


def check_one_configuration(data: ApricotRuns) -> None:
    """Each number of Tables II-V is a mean over runs of one configuration: raise ValueError when the
    finished input runs of a row, its finished rDLMs (window start aside) or the adaptation passes of
    one (row, sign convention, strategy) cell differ in a setting besides the seed (naming it)."""
    finished = data.runs[data.runs["status"] == "finished"] if len(data.runs) else data.runs
    for (row, role), group in finished.groupby(["row", "role"], sort=True) if len(finished) else []:
        require_same_configs(
            dict(zip(group["run"], group["config"])), f"Apricot tables, {row} {role} runs", data.root, WINDOW_KEYS
        )
    if len(data.adapt) and "identity" in data.adapt:
        for (row, direction, strategy), group in data.adapt.groupby(["row", "direction", "strategy"], sort=True):
            require_same_configs(
                dict(zip(group["folder"], group["identity"])),
                f"Apricot Table V, {row} {direction} S{strategy} passes",
                data.root / "adapt",
                PASS_KEYS,
            )


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
