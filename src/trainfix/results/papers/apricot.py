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
from pathlib import Path

import numpy as np
import pandas as pd

from trainfix.results.cells import layout
from trainfix.results.paper import load_paper
from trainfix.results.papers.apricot_runs import (
    MODEL_NAMES,
    ApricotRuns,
    collect,
    duration,
    pct,
    table_rows,
)
from trainfix.results.report import publish


def _data_caption(data: ApricotRuns) -> list[str]:
    lines = []
    labels = sorted(set(data.runs["dataset"].dropna()))
    if labels:
        official = data.runs["official"].dropna()
        lines.append(
            f"Data: {', '.join(labels)}"
            + ("" if official.all() else " (NOT the official CIFAR-10 files: not the paper's setting)")
            + "."
        )
    windows = [w for w in data.runs["window"] if isinstance(w, dict)]
    if windows:
        orders = sorted({w["order"] for w in windows})
        sizes = sorted({w["size"] for w in windows})
        note = {
            "official": "in the dataset's published order (as the paper)",
            "permutation": (
                "over a fixed seeded permutation of the training set (the files are not in the published order)"
            ),
        }
        lines.append(
            f"rDLM training windows: {', '.join(map(str, sizes))} images " + "; ".join(note[o] for o in orders) + "."
        )
    short = data.runs[(data.runs["status"] == "finished") & (data.runs["max_epochs"].notna())]
    if len(short) and len(data.runs["num_train"].dropna()) and data.runs["num_train"].max() < 10_000:
        lines.append(
            "Quick profile (a small real subset, few epochs): the numbers test the code path and prove nothing."
        )
    return lines


def _param_count(row: str, inputs: pd.DataFrame | None = None) -> str:
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


def _layout(out: dict[str, dict[tuple[str, str], str]], index_name: str) -> pd.DataFrame:
    """{row label: {(column, paper|ours): text}} in the paper | ours layout."""
    return layout(
        ((label, column, {source: text}) for label, row in out.items() for (column, source), text in row.items()),
        index_name,
    )


def table_ii(data: ApricotRuns) -> pd.DataFrame:
    paper = load_paper("apricot_table_ii")["rows"]
    inputs = data.runs[(data.runs["role"] == "input") & (data.runs["status"] == "finished")]
    out = {}
    for row in table_rows(data):
        mine = inputs[inputs["row"] == row]
        train = [f["input_train_acc"] for (r, _), f in data.reduced_facts.items() if r == row]
        p = paper.get(row, {})
        out[p.get("model", row)] = {
            ("Parameters", "paper"): p.get("params", "-"),
            ("Parameters", "ours"): _param_count(row, inputs),
            ("Avg. train acc. %", "paper"): f"{p['train_acc']:.2f}" if p else "-",
            ("Avg. train acc. %", "ours"): pct(float(np.mean(train))) if train else "-",
            ("Avg. test acc. %", "paper"): f"{p['test_acc']:.2f}" if p else "-",
            ("Avg. test acc. %", "ours"): pct(float(mine["best_test_acc"].mean())) if len(mine) else "-",
            ("Runs", "ours"): str(len(mine)),
        }
    table = _layout(out, "Model")
    table.attrs.update(
        stem="table_ii",
        title="Table II: input models (DLMs)",
        caption=_data_caption(data)
        + [
            "Train accuracy: the kept (best-test) checkpoint in eval mode over the whole training set; test accuracy: "
            "that checkpoint's.",
        ],
    )
    return table


def table_iii(data: ApricotRuns) -> pd.DataFrame:
    paper = load_paper("apricot_table_iii")["rows"]
    out = {}
    for row in table_rows(data):
        mine = data.runs[(data.runs["row"] == row) & (data.runs["status"] == "finished")]
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
    table = _layout(out, "Model")
    table.attrs.update(
        stem="table_iii",
        title="Table III: training time of the input model and the rDLMs",
        caption=_data_caption(data)
        + [
            "Ours: measured, sum of metrics.csv's epoch_time_s + eval_time_s per run (per model seed for t_total); "
            "the paper's: Keras on one GeForce 2080-Ti. Different hardware: compare the ratios, not the times.",
        ],
    )
    return table


def table_iv(data: ApricotRuns) -> pd.DataFrame:
    paper = load_paper("apricot_table_iv")["rows"]
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
    table = _layout(out, "rDLM")
    never = sorted({f["train_images_never_used"] for f in data.reduced_facts.values()})
    table.attrs.update(
        stem="table_iv",
        title="Table IV: summary of the reduced models",
        caption=_data_caption(data)
        + [
            "Train accuracy of an rDLM: on its own window, eval mode; std: "
            "sample std over all rDLMs of the row (fractions, as the paper).",
            "Rescued: test images the input model fails and at least one rDLM classifies correctly, "
            "share of all test images.",
            f"Training images in no window: {', '.join(map(str, never)) or '-'} (the paper's stride leaves 2,000 "
            "of 50,000 unused).",
        ],
    )
    return table


def table_v(data: ApricotRuns) -> pd.DataFrame:
    paper = load_paper("apricot_table_v")["rows"]
    out = {}
    adapt = data.adapt[~data.adapt["control"]] if len(data.adapt) else data.adapt
    controls = data.adapt[data.adapt["control"]] if len(data.adapt) else data.adapt
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
    settings = []
    if len(adapt):
        settings.append(
            "Ours per sign convention (toward = the text's reading, the default; printed = Eqs. 2-4 as printed); "
            f"r {sorted(set(adapt['r']))}, retrain epochs {sorted(set(adapt['retrain_epochs']))}, "
            f"selection on {sorted(set(adapt['eval_on']))}; Batches: adaptation batches done of "
            f"{sorted(set(adapt['batches_in_pass']))} in a pass (the paper: all 2,500, 20 retraining epochs each)."
        )
        settings.append(
            "Gain: test accuracy of the adapted model minus the input model's, percentage points; Avg. gain: "
            "the best strategy's mean gain."
        )
    if len(controls):
        settings.append(
            "Control (adjust=false): the same batches, selection, roll-back and retraining with no weight adjusted; "
            "its gain is what retraining and keeping the best selection accuracy give by themselves (test accuracy "
            + ", ".join(f"{row} {pct(g['test_acc'].mean())} %" for row, g in controls.groupby("row"))
            + "). "
            "A strategy's gain minus the control's is the adjustment's own."
        )
    table.attrs.update(
        stem="table_v", title="Table V: results of the adaptation process", caption=_data_caption(data) + settings
    )
    return table


# ------------------------------------------------------------------------------ figures
def figure_2(data: ApricotRuns):
    """Histograms of rDLM train (green) and test (blue) accuracy per row (the paper's Fig. 2)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in table_rows(data) if any(k[0] == r for k in data.reduced_facts)]
    fig, axes = plt.subplots(max(1, len(rows)), 2, figsize=(8, 2.6 * max(1, len(rows))), squeeze=False)
    for i, row in enumerate(rows):
        models = [m for (r, _), f in sorted(data.reduced_facts.items()) if r == row for m in f["reduced"]]
        for j, (key, color, label) in enumerate(
            (("train_acc_window", "tab:green", "train"), ("test_acc", "tab:blue", "test"))
        ):
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
    keys = (
        sorted(
            {(r, d) for r, d in zip(adapt["row"], adapt["direction"], strict=True)},
            key=lambda k: (table_rows(data).index(k[0]), k[1]),
        )
        if len(adapt)
        else []
    )
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
        caption = (
            "Figure 3: train and test accuracy of the input model and of the models adapted by strategies 1-3, "
            "per sign convention. "
        ) + " ".join(_data_caption(data))
        figures.append(("figure_3.png", caption, figure_3(data), caption))
    tables = [(table(data), None) for table in (table_ii, table_iii, table_iv, table_v)]
    return publish(data.collection, out, f"Apricot reproduction: {runs}", tables=tables, figures=figures)


# ------------------------------------------------------------------------------ command line
HELP = "Apricot Tables II-V, Figures 2-3 and report.html (paper, ours)"


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument(
        "--runs",
        type=Path,
        required=True,
        help="multirun folder of experiment=apricot/... runs and their adapt/ passes",
    )
    ap.add_argument("--out", type=Path, required=True, help="folder for the md/csv/tex/png/html files")


def build(args: argparse.Namespace) -> list[Path]:
    return build_tables(args.runs, args.out)
