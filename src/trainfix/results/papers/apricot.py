"""Apricot's Tables II-V and Figures 2-3 (seeds/apricot.txt §IV-B) from one multirun folder.

The folder holds the input runs (`config.apricot_role: input`), the reduced runs (`reduced`) and
`adapt/<...>/` folders written by `python -m trainfix.apricot` (result.json, reduced.json, config.json).
Paper numbers come from `paper/apricot_table_{ii,iii,iv,v}.yaml`, never from code. Every table says
which data it ran on (the lossy JPEG CIFAR-10 copy, a quick subset) and how the rDLM windows were taken.

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

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trainfix.results.cells import layout
from trainfix.results.collect import RunCollection, collect_runs
from trainfix.results.configs import require_same_configs
from trainfix.results.paper import load_paper
from trainfix.results.report import publish

ROWS = ("cnn1", "cnn2", "cnn3", "resnet20", "resnet32")
MODEL_NAMES = {"cnn1": "apricot_cnn1", "cnn2": "apricot_cnn2", "cnn3": "apricot_cnn3", "resnet20": "preact_resnet20", "resnet32": "preact_resnet32"}


@dataclass
class ApricotRuns:
    """What one multirun folder holds: trained runs (one row each), adaptation passes, and the run collection."""

    root: Path
    runs: pd.DataFrame
    adapt: pd.DataFrame
    reduced_facts: dict[tuple[str, int], dict[str, Any]]
    collection: RunCollection | None = None


RUN_COLUMNS = ["run", "row", "role", "seed", "status", "epochs", "max_epochs", "best_test_acc", "seconds", "dataset", "official",
               "num_train", "window", "model", "config"]


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
        rows.append({
            "run": run.run_id, "row": config.get("experiment_row"), "role": config["apricot_role"], "seed": run.seed,
            "status": run.status, "epochs": run.n_epochs, "max_epochs": (config.get("trainer") or {}).get("max_epochs"),
            "best_test_acc": float(metrics["test_acc"].max()) if len(metrics) else np.nan, "seconds": seconds,
            "dataset": run.data_label, "official": run.data_official, "num_train": run.num_train, "window": run.train_window,
            "model": run.model, "config": config,
        })
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def collect(root: Path) -> ApricotRuns:
    """Read the run folders (input and reduced: `collect_runs`) and the adapt/ folders below `root`."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"--runs {root}: no such folder; expected the multirun folder of experiment=apricot/... runs")
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
        raise FileNotFoundError(f"--runs {root}: no Apricot runs (run.json with config.apricot_role) and no adapt/*/result.json")
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
    for (row, role), group in (finished.groupby(["row", "role"], sort=True) if len(finished) else []):
        require_same_configs(dict(zip(group["run"], group["config"])), f"Apricot tables, {row} {role} runs", data.root, WINDOW_KEYS)
    if len(data.adapt) and "identity" in data.adapt:
        for (row, direction, strategy), group in data.adapt.groupby(["row", "direction", "strategy"], sort=True):
            require_same_configs(dict(zip(group["folder"], group["identity"])), f"Apricot Table V, {row} {direction} S{strategy} passes",
                                 data.root / "adapt", PASS_KEYS)


def _pct(value: float) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{100 * value:.2f}"


def _duration(seconds: float) -> str:
    if seconds is None or not np.isfinite(seconds):
        return "-"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return (f"{h}h" if h else "") + (f"{m}min" if h or m else "") + f"{s}s"


def _rows(data: ApricotRuns) -> list[str]:
    found = set(data.runs["row"].dropna()) | (set(data.adapt["row"]) if len(data.adapt) else set())
    return [r for r in ROWS if r in found] + sorted(found - set(ROWS))


def _data_caption(data: ApricotRuns) -> list[str]:
    lines = []
    labels = sorted(set(data.runs["dataset"].dropna()))
    if labels:
        official = data.runs["official"].dropna()
        lines.append(f"Data: {', '.join(labels)}" + ("" if official.all() else " (NOT the official CIFAR-10 files: not the paper's setting)") + ".")
    windows = [w for w in data.runs["window"] if isinstance(w, dict)]
    if windows:
        orders = sorted({w["order"] for w in windows})
        sizes = sorted({w["size"] for w in windows})
        note = {"official": "in the dataset's published order (as the paper)",
                "permutation": "over a fixed seeded permutation of the training set (the files are not in the published order)"}
        lines.append(f"rDLM training windows: {', '.join(map(str, sizes))} images " + "; ".join(note[o] for o in orders) + ".")
    short = data.runs[(data.runs["status"] == "finished") & (data.runs["max_epochs"].notna())]
    if len(short) and len(data.runs["num_train"].dropna()) and data.runs["num_train"].max() < 10_000:
        lines.append("Quick profile (a small real subset, few epochs): the numbers test the code path and prove nothing.")
    return lines


def _param_count(row: str, inputs: pd.DataFrame | None = None) -> str:
    """Weights of the row's network (parameters plus float buffers, as Keras counts): the input run's own
    model and image shape when there is one, else the paper's network at CIFAR-10's 3x32x32 (paper rows)."""
    from trainfix.data.catalogue import DATASETS
    from trainfix.models import build_model

    config = inputs.loc[inputs["row"] == row, "config"].iloc[0] if inputs is not None and (inputs["row"] == row).any() else None
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


def _layout(out: dict[str, dict[tuple[str, str], str]], index_name: str) -> pd.DataFrame:
    """{row label: {(column, paper|ours): text}} in the paper | ours layout."""
    return layout(((label, column, {source: text}) for label, row in out.items() for (column, source), text in row.items()), index_name)


def table_ii(data: ApricotRuns) -> pd.DataFrame:
    paper = load_paper("apricot_table_ii")["rows"]
    inputs = data.runs[(data.runs["role"] == "input") & (data.runs["status"] == "finished")]
    out = {}
    for row in _rows(data):
        mine = inputs[inputs["row"] == row]
        train = [f["input_train_acc"] for (r, _), f in data.reduced_facts.items() if r == row]
        p = paper.get(row, {})
        out[p.get("model", row)] = {
            ("Parameters", "paper"): p.get("params", "-"), ("Parameters", "ours"): _param_count(row, inputs),
            ("Avg. train acc. %", "paper"): f"{p['train_acc']:.2f}" if p else "-",
            ("Avg. train acc. %", "ours"): _pct(float(np.mean(train))) if train else "-",
            ("Avg. test acc. %", "paper"): f"{p['test_acc']:.2f}" if p else "-",
            ("Avg. test acc. %", "ours"): _pct(float(mine["best_test_acc"].mean())) if len(mine) else "-",
            ("Runs", "ours"): str(len(mine)),
        }
    table = _layout(out, "Model")
    table.attrs.update(stem="table_ii", title="Table II: input models (DLMs)", caption=_data_caption(data) + [
        "Train accuracy: the kept (best-test) checkpoint in eval mode over the whole training set; test accuracy: that checkpoint's.",
    ])
    return table


def table_iii(data: ApricotRuns) -> pd.DataFrame:
    paper = load_paper("apricot_table_iii")["rows"]
    out = {}
    for row in _rows(data):
        mine = data.runs[(data.runs["row"] == row) & (data.runs["status"] == "finished")]
        t_o = mine.loc[mine["role"] == "input", "seconds"].mean()
        reduced = mine[mine["role"] == "reduced"]
        seeds = max(1, reduced["seed"].nunique())
        t_total = reduced["seconds"].sum() / seeds if len(reduced) else np.nan
        t_r = reduced["seconds"].mean() if len(reduced) else np.nan
        p = paper.get(row, {})
        out[p.get("model", row)] = {
            ("t_o (DLM)", "paper"): p.get("t_o", "-"), ("t_o (DLM)", "ours"): _duration(t_o),
            ("t_total (rDLMs)", "paper"): p.get("t_total", "-"), ("t_total (rDLMs)", "ours"): _duration(t_total),
            ("rDLMs", "paper"): str(p.get("n", "-")), ("rDLMs", "ours"): f"{len(reduced) / seeds:g}",
            ("t_r (avg.)", "paper"): p.get("t_r", "-"), ("t_r (avg.)", "ours"): _duration(t_r),
            ("(t_o - t_r)/t_o %", "paper"): f"{p['reduction']:.1f}" if p else "-",
            ("(t_o - t_r)/t_o %", "ours"): f"{100 * (t_o - t_r) / t_o:.1f}" if np.isfinite(t_o) and np.isfinite(t_r) else "-",
        }
    table = _layout(out, "Model")
    table.attrs.update(stem="table_iii", title="Table III: training time of the input model and the rDLMs", caption=_data_caption(data) + [
        "Ours: measured, sum of metrics.csv's epoch_time_s + eval_time_s per run (per model seed for t_total); "
        "the paper's: Keras on one GeForce 2080-Ti. Different hardware: compare the ratios, not the times.",
    ])
    return table


def table_iv(data: ApricotRuns) -> pd.DataFrame:
    paper = load_paper("apricot_table_iv")["rows"]
    out = {}
    for row in _rows(data):
        facts = [f for (r, _), f in sorted(data.reduced_facts.items()) if r == row]
        models = [m for f in facts for m in f["reduced"]]
        train = np.array([m["train_acc_window"] for m in models])
        test = np.array([m["test_acc"] for m in models])
        rescued = [f["rescued_share_of_test"] for f in facts]
        p = paper.get(row, {})
        out[p.get("model", row)] = {
            ("Avg. train acc. %", "paper"): f"{p['train_acc']:.2f}" if p else "-", ("Avg. train acc. %", "ours"): _pct(train.mean()) if len(train) else "-",
            ("Train std", "paper"): f"{p['train_std']:.5f}" if p else "-", ("Train std", "ours"): f"{train.std(ddof=1):.5f}" if len(train) > 1 else "-",
            ("Avg. test acc. %", "paper"): f"{p['test_acc']:.2f}" if p else "-", ("Avg. test acc. %", "ours"): _pct(test.mean()) if len(test) else "-",
            ("Test std", "paper"): f"{p['test_std']:.5f}" if p else "-", ("Test std", "ours"): f"{test.std(ddof=1):.5f}" if len(test) > 1 else "-",
            ("Rescued %", "paper"): f"{p['rescued']:.2f}" if p else "-", ("Rescued %", "ours"): _pct(float(np.mean(rescued))) if rescued else "-",
            ("rDLMs", "ours"): str(len(models)),
        }
    table = _layout(out, "rDLM")
    never = sorted({f["train_images_never_used"] for f in data.reduced_facts.values()})
    table.attrs.update(stem="table_iv", title="Table IV: summary of the reduced models", caption=_data_caption(data) + [
        "Train accuracy of an rDLM: on its own window, eval mode; std: sample std over all rDLMs of the row (fractions, as the paper).",
        "Rescued: test images the input model fails and at least one rDLM classifies correctly, share of all test images.",
        f"Training images in no window: {', '.join(map(str, never)) or '-'} (the paper's stride leaves 2,000 of 50,000 unused).",
    ])
    return table


def table_v(data: ApricotRuns) -> pd.DataFrame:
    paper = load_paper("apricot_table_v")["rows"]
    out = {}
    adapt = data.adapt[~data.adapt["control"]] if len(data.adapt) else data.adapt
    controls = data.adapt[data.adapt["control"]] if len(data.adapt) else data.adapt
    directions = sorted(set(adapt["direction"])) if len(adapt) else []
    for row in _rows(data):
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
                entry[f"S{k} train %"] = _pct(g["train_acc"].mean()) if len(g) else "-"
                entry[f"S{k} test %"] = _pct(g["test_acc"].mean()) if len(g) else "-"
                entry[f"S{k} max gain"] = _pct(g["gain"].max()) if len(g) else "-"
                if len(g):
                    gains[k] = g["gain"]
            entry["Avg. gain"] = _pct(max(v.mean() for v in gains.values())) if gains else "-"
            entry["Max. gain"] = _pct(max(v.max() for v in gains.values())) if gains else "-"
            batches = sorted(set(mine["batches_done"])) if len(mine) else []
            entry["Batches"] = ",".join(map(str, batches)) or "-"
            out[f"{name} (ours, {direction})"] = entry
        control = controls[controls["row"] == row] if len(controls) else controls
        if len(control):
            out[f"{name} (ours, control: no adjustment)"] = {
                "Avg. gain": _pct(control["gain"].mean()), "Max. gain": _pct(control["gain"].max()),
                "Batches": ",".join(map(str, sorted(set(control["batches_done"])))),
            }
    table = pd.DataFrame.from_dict(out, orient="index").fillna("-")
    table.index.name = "Model (source)"
    settings = []
    if len(adapt):
        settings.append("Ours per sign convention (toward = the text's reading, the default; printed = Eqs. 2-4 as printed); "
                        f"r {sorted(set(adapt['r']))}, retrain epochs {sorted(set(adapt['retrain_epochs']))}, "
                        f"selection on {sorted(set(adapt['eval_on']))}; Batches: adaptation batches done of "
                        f"{sorted(set(adapt['batches_in_pass']))} in a pass (the paper: all 2,500, 20 retraining epochs each).")
        settings.append("Gain: test accuracy of the adapted model minus the input model's, percentage points; Avg. gain: the best strategy's mean gain.")
    if len(controls):
        settings.append("Control (adjust=false): the same batches, selection, roll-back and retraining with no weight adjusted; its gain is "
                        "what retraining and keeping the best selection accuracy give by themselves (test accuracy "
                        + ", ".join(f"{row} {_pct(g['test_acc'].mean())} %" for row, g in controls.groupby("row")) + "). "
                        "A strategy's gain minus the control's is the adjustment's own.")
    table.attrs.update(stem="table_v", title="Table V: results of the adaptation process", caption=_data_caption(data) + settings)
    return table


# ------------------------------------------------------------------------------ figures
def figure_2(data: ApricotRuns):
    """Histograms of rDLM train (green) and test (blue) accuracy per row (the paper's Fig. 2)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in _rows(data) if any(k[0] == r for k in data.reduced_facts)]
    fig, axes = plt.subplots(max(1, len(rows)), 2, figsize=(8, 2.6 * max(1, len(rows))), squeeze=False)
    for i, row in enumerate(rows):
        models = [m for (r, _), f in sorted(data.reduced_facts.items()) if r == row for m in f["reduced"]]
        for j, (key, color, label) in enumerate((("train_acc_window", "tab:green", "train"), ("test_acc", "tab:blue", "test"))):
            ax = axes[i][j]
            ax.hist([100 * m[key] for m in models], bins=10, color=color)
            ax.set_title(f"{row}: rDLM {label} accuracy ({len(models)} rDLMs)", fontsize=9)
            ax.set_xlabel("accuracy %")
            ax.set_ylabel("rDLMs")
    fig.tight_layout()
    return fig


def figure_3(data: ApricotRuns):
    """Box plots of train and test accuracy: input model vs strategies 1-3, per row and sign convention (Fig. 3)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    adapt = data.adapt[~data.adapt["control"]] if len(data.adapt) else data.adapt
    controls = data.adapt[data.adapt["control"]] if len(data.adapt) else data.adapt
    keys = sorted({(r, d) for r, d in zip(adapt["row"], adapt["direction"], strict=True)}, key=lambda k: (_rows(data).index(k[0]), k[1])) if len(adapt) else []
    fig, axes = plt.subplots(max(1, len(keys)), 2, figsize=(8, 2.8 * max(1, len(keys))), squeeze=False)
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:gray"]
    for i, (row, direction) in enumerate(keys):
        mine = adapt[(adapt["row"] == row) & (adapt["direction"] == direction)]
        for j, metric in enumerate(("train_acc", "test_acc")):
            original = mine.drop_duplicates("model_seed")[f"input_{metric}"] * 100
            groups = [original] + [mine.loc[mine["strategy"] == k, metric] * 100 for k in (1, 2, 3)]
            labels = ["original", "S1", "S2", "S3"]
            control = controls[controls["row"] == row] if len(controls) else controls
            if len(control):
                groups.append(control[metric] * 100)
                labels.append("control")
            ax = axes[i][j]
            box = ax.boxplot([list(g) for g in groups], patch_artist=True, tick_labels=labels)
            for patch, color in zip(box["boxes"], colors, strict=False):
                patch.set_facecolor(color)
            ax.set_title(f"{row} ({direction}): {metric.replace('_acc', '')} accuracy %", fontsize=9)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------ all of it
def build_tables(runs: Path, out: Path) -> list[Path]:
    """Tables II-V (md/csv/tex), figure_2.png, figure_3.png and report.html from `runs` into `out`."""
    data = collect(runs)
    figures = []
    if data.reduced_facts:
        caption = "Figure 2: rDLM train (green) and test (blue) accuracy. " + " ".join(_data_caption(data))
        figures.append(("figure_2.png", caption, figure_2(data), caption))
    if len(data.adapt):
        caption = ("Figure 3: train and test accuracy of the input model and of the models adapted by strategies 1-3, per sign "
                   "convention. ") + " ".join(_data_caption(data))
        figures.append(("figure_3.png", caption, figure_3(data), caption))
    tables = [(table(data), None) for table in (table_ii, table_iii, table_iv, table_v)]
    return publish(data.collection, out, f"Apricot reproduction: {runs}", tables=tables, figures=figures)


# ------------------------------------------------------------------------------ command line
HELP = "Apricot Tables II-V, Figures 2-3 and report.html (paper, ours)"


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--runs", type=Path, required=True, help="multirun folder of experiment=apricot/... runs and their adapt/ passes")
    ap.add_argument("--out", type=Path, required=True, help="folder for the md/csv/tex/png/html files")


def build(args: argparse.Namespace) -> list[Path]:
    return build_tables(args.runs, args.out)
