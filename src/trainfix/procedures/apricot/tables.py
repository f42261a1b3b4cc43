"""Apricot's Tables II-V as measured (seeds/apricot.txt §IV-B), next to the paper's numbers: each table's
cells as {row label: {(column, paper|ours): text}} (Table V as a frame), from the records that
`records` reads. The results layer lays them out and declares their titles and captions
(`trainfix.papers.apricot`, `published/apricot_tables.yaml`).

- Table II: parameters (counted from the built network; BatchNorm's moving statistics counted as Keras
  does), the input model's train accuracy (its best checkpoint, eval mode over the whole training set,
  from reduced.json) and best test accuracy (max of metrics.csv's test_acc = the kept checkpoint).
- Table III: seconds of training (sum of metrics.csv's epoch_time_s + eval_time_s: Keras' fit with a
  validation pass per epoch, as the paper kept the best-test checkpoint) of the input model and the rDLMs.
- Table IV: rDLM train accuracy (on their own window) and test accuracy, mean and std over all rDLMs of
  the row; the share of all test images the input model fails and at least one rDLM gets right.
- Table V: per sign convention, per strategy: mean train/test accuracy of the adapted models over model
  seeds, and the maximum gain (test accuracy of the adapted minus the input model, percentage points).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from trainfix.core.records import FINISHED
from trainfix.procedures.apricot.records import MODEL_NAMES, ApricotRuns, duration, pct, table_rows

Cells = dict[str, dict[tuple[str, str], str]]


def param_count(row: str, inputs: pd.DataFrame | None = None) -> str:
    """Weights of the row's network (parameters plus float buffers, as Keras counts): the input run's own
    model and image shape when there is one, else the paper's network at CIFAR-10's 3x32x32 (paper rows)."""
    from trainfix.data.catalogue import DATASETS
    from trainfix.models import build_model

    config = (
        inputs.loc[inputs["row"] == row, "config"].iloc[0]
        if inputs is not None and (inputs["row"] == row).any()
        else None
    )
    spec = DATASETS.get((config.get("data") or {}).get("dataset")) if config else None
    if config and spec is not None and spec.channels and spec.image_size and spec.num_classes:
        name, shape = (config.get("model") or {}).get("name"), (spec.num_classes, spec.channels, spec.image_size[0])
    else:
        name, shape = MODEL_NAMES.get(row), (10, 3, 32)
    if name is None:
        return "-"
    net = build_model(name, num_classes=shape[0], in_channels=shape[1], image_size=shape[2])
    count = sum(p.numel() for p in net.parameters()) + sum(b.numel() for b in net.buffers() if b.is_floating_point())
    return f"{count:,}"


def table_ii(data: ApricotRuns, paper: dict[str, Any]) -> Cells:
    """Table II's cells: parameters, the input models' train and test accuracy (paper `rows` beside)."""
    inputs = data.runs[(data.runs["role"] == "input") & (data.runs["status"] == FINISHED)]
    out = {}
    for row in table_rows(data):
        mine = inputs[inputs["row"] == row]
        train = [f["input_train_acc"] for (r, _), f in data.reduced_facts.items() if r == row]
        p = paper.get(row, {})
        out[p.get("model", row)] = {
            ("Parameters", "paper"): p.get("params", "-"),
            ("Parameters", "ours"): param_count(row, inputs),
            ("Avg. train acc. %", "paper"): f"{p['train_acc']:.2f}" if p else "-",
            ("Avg. train acc. %", "ours"): pct(float(np.mean(train))) if train else "-",
            ("Avg. test acc. %", "paper"): f"{p['test_acc']:.2f}" if p else "-",
            ("Avg. test acc. %", "ours"): pct(float(mine["best_test_acc"].mean())) if len(mine) else "-",
            ("Runs", "ours"): str(len(mine)),
        }
    return out


def table_iii(data: ApricotRuns, paper: dict[str, Any]) -> Cells:
    """Table III's cells: training times of the input model and the rDLMs."""
    out = {}
    for row in table_rows(data):
        mine = data.runs[(data.runs["row"] == row) & (data.runs["status"] == FINISHED)]
        t_o = mine.loc[mine["role"] == "input", "seconds"].mean()
        reduced = mine[mine["role"] == "reduced"]
        seeds = max(1, reduced["seed"].nunique())
        t_total = reduced["seconds"].sum() / seeds if len(reduced) else np.nan
        t_r = reduced["seconds"].mean() if len(reduced) else np.nan
        p = paper.get(row, {})
        out[p.get("model", row)] = {
            ("t_o (DLM)", "paper"): p.get("t_o", "-"),
            ("t_o (DLM)", "ours"): duration(t_o),
            ("t_total (rDLMs)", "paper"): p.get("t_total", "-"),
            ("t_total (rDLMs)", "ours"): duration(t_total),
            ("rDLMs", "paper"): str(p.get("n", "-")),
            ("rDLMs", "ours"): f"{len(reduced) / seeds:g}",
            ("t_r (avg.)", "paper"): p.get("t_r", "-"),
            ("t_r (avg.)", "ours"): duration(t_r),
            ("(t_o - t_r)/t_o %", "paper"): f"{p['reduction']:.1f}" if p else "-",
            ("(t_o - t_r)/t_o %", "ours"): f"{100 * (t_o - t_r) / t_o:.1f}"
            if np.isfinite(t_o) and np.isfinite(t_r)
            else "-",
        }
    return out


def table_iv(data: ApricotRuns, paper: dict[str, Any]) -> Cells:
    """Table IV's cells: the rDLMs' train/test accuracy (mean, std) and the rescued share."""
    out = {}
    for row in table_rows(data):
        facts = [f for (r, _), f in sorted(data.reduced_facts.items()) if r == row]
        models = [m for f in facts for m in f["reduced"]]
        train = np.array([m["train_acc_window"] for m in models])
        test = np.array([m["test_acc"] for m in models])
        rescued = [f["rescued_share_of_test"] for f in facts]
        p = paper.get(row, {})
        out[p.get("model", row)] = {
            ("Avg. train acc. %", "paper"): f"{p['train_acc']:.2f}" if p else "-",
            ("Avg. train acc. %", "ours"): pct(train.mean()) if len(train) else "-",
            ("Train std", "paper"): f"{p['train_std']:.5f}" if p else "-",
            ("Train std", "ours"): f"{train.std(ddof=1):.5f}" if len(train) > 1 else "-",
            ("Avg. test acc. %", "paper"): f"{p['test_acc']:.2f}" if p else "-",
            ("Avg. test acc. %", "ours"): pct(test.mean()) if len(test) else "-",
            ("Test std", "paper"): f"{p['test_std']:.5f}" if p else "-",
            ("Test std", "ours"): f"{test.std(ddof=1):.5f}" if len(test) > 1 else "-",
            ("Rescued %", "paper"): f"{p['rescued']:.2f}" if p else "-",
            ("Rescued %", "ours"): pct(float(np.mean(rescued))) if rescued else "-",
            ("rDLMs", "ours"): str(len(models)),
        }
    return out


def passes(data: ApricotRuns) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the adaptation passes, the control passes: adjust=false)."""
    if not len(data.adapt):
        return data.adapt, data.adapt
    return data.adapt[~data.adapt["control"]], data.adapt[data.adapt["control"]]


PASS_COLUMNS = (
    "row", "model_seed", "control", "strategy", "direction", "r", "retrain_epochs", "eval_on", "batches_done",
    "complete", "input_test_acc", "test_acc", "gain", "kept_batches", "folder",
)  # fmt: skip


def pass_values(data: ApricotRuns) -> pd.DataFrame:
    """One row per adaptation pass (its result.json; gain and accuracies as fractions), control passes included,
    sorted by row, model seed, control, strategy and direction: what a paired comparison over model seeds reads."""
    if not len(data.adapt):
        return pd.DataFrame(columns=list(PASS_COLUMNS))
    frame = data.adapt.reindex(columns=list(PASS_COLUMNS))
    return frame.sort_values(["row", "model_seed", "control", "strategy", "direction"]).reset_index(drop=True)


def windows_never_used(data: ApricotRuns) -> list[int]:
    """Training images in no rDLM window, per reduced.json (one value per distinct count)."""
    return sorted({f["train_images_never_used"] for f in data.reduced_facts.values()})


def table_v(data: ApricotRuns, paper: dict[str, Any]) -> pd.DataFrame:
    """Table V: per row the paper's line, ours per sign convention, and the control (no adjustment)."""
    out = {}
    adapt, controls = passes(data)
    directions = sorted(set(adapt["direction"])) if len(adapt) else []
    for row in table_rows(data):
        p = paper.get(row, {})
        name = p.get("model", row)
        entry: dict[str, str] = {}
        for k in (1, 2, 3):
            s = p.get(f"S{k}", {})
            entry[f"S{k} train %"] = f"{s['train_acc']:.2f}" if s else "-"
            entry[f"S{k} test %"] = f"{s['test_acc']:.2f}" if s else "-"
            entry[f"S{k} max gain"] = f"{s['max_gain']:.2f}" if s else "-"
        entry["Avg. gain"] = f"{p['avg_gain']:.2f}" if p else "-"
        entry["Max. gain"] = f"{p['max_gain']:.2f}" if p else "-"
        out[f"{name} (paper)"] = entry
        for direction in directions:
            mine = adapt[(adapt["row"] == row) & (adapt["direction"] == direction)]
            entry = {}
            gains = {}
            for k in (1, 2, 3):
                g = mine[mine["strategy"] == k]
                entry[f"S{k} train %"] = pct(g["train_acc"].mean()) if len(g) else "-"
                entry[f"S{k} test %"] = pct(g["test_acc"].mean()) if len(g) else "-"
                entry[f"S{k} max gain"] = pct(g["gain"].max()) if len(g) else "-"
                if len(g):
                    gains[k] = g["gain"]
            entry["Avg. gain"] = pct(max(v.mean() for v in gains.values())) if gains else "-"
            entry["Max. gain"] = pct(max(v.max() for v in gains.values())) if gains else "-"
            batches = sorted(set(mine["batches_done"])) if len(mine) else []
            entry["Batches"] = ",".join(map(str, batches)) or "-"
            out[f"{name} (ours, {direction})"] = entry
        control = controls[controls["row"] == row] if len(controls) else controls
        if len(control):
            out[f"{name} (ours, control: no adjustment)"] = {
                "Avg. gain": pct(control["gain"].mean()),
                "Max. gain": pct(control["gain"].max()),
                "Batches": ",".join(map(str, sorted(set(control["batches_done"])))),
            }
    table = pd.DataFrame.from_dict(out, orient="index").fillna("-")
    table.index.name = "Model (source)"
    return table
