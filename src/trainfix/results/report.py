"""One self-contained HTML report of a sweep: summary table, learning curves, each run's status.

    python -m trainfix.results report --runs multirun/<task_name> --out report.html

The file needs nothing else: figures are PNG embedded as base64 `data:` URIs (matplotlib, Agg
canvas), tables are pandas `Styler.to_html`, the style sheet is inline; no script, no network.
Sections:
- Summary: `trainfix.results.summary.summarize` (one row per configuration).
- Tables: optional extra tables (a paper's reproduced tables) given by the caller.
- Learning curves: one figure per configuration, accuracy and loss against the 1-based epoch; a
  thin line per run (dashed when the run did not finish), a thick line for the mean over its
  finished runs, the chance level 1/num_classes (from the run's data facts) on the accuracy
  panel. All accuracy panels share the y-scale 0..1 and all loss panels one y-scale, so
  configurations compare at a glance.
- Runs: every run folder with its configuration, seed, status, epochs recorded, last metric, and the
  error (failed, data missing) or problem reading it.
"""

from __future__ import annotations

import base64
import html
import io
import textwrap
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from trainfix.core.records import atomic_write_text
from trainfix.results.collect import OK_STATUS, RunCollection
from trainfix.results.render import flat, table_markdown, write_figure, write_frame, write_table
from trainfix.results.summary import configuration_frame, display_table, run_numbers, summarize

ACCURACY = (("train_acc_used", "train", "tab:orange"), ("test_acc", "test", "tab:blue"))
LOSS = (("train_loss_used", "train", "tab:orange"), ("test_loss", "test", "tab:blue"))
STATUS_COLORS = {
    "finished": "#d8f0d8",
    "failed": "#f6d0d0",
    "diverged": "#f6e0c0",
    "running": "#dde8f8",
    "data missing": "#eeeeee",
    "unreadable": "#eeeeee",
}
STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; \
max-width: 36em; overflow-wrap: break-word; }
.scroll { overflow-x: auto; }
th { background: #f3f3f3; }
.caption { font-size: 0.85em; color: #555; margin: 0.2em 0; }
figure { margin: 1em 0; } figcaption { font-size: 0.85em; color: #444; }
img { max-width: 100%; }
"""


def figure_data_uri(figure: Figure, dpi: int = 80) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def loss_limits(runs: RunCollection) -> tuple[float, float]:
    """One y-range for every loss panel: 0 .. the largest finite loss of the finished runs (+5%);
    a diverged run's inf/NaN or huge losses do not squash the others (their lines leave the panel)."""
    finished = runs.epochs[runs.epochs["status"] == OK_STATUS]
    values = pd.concat([finished[c] for c, _, _ in LOSS if c in finished.columns], ignore_index=True)
    values = values[np.isfinite(values.astype(float))]
    top = float(values.max()) if len(values) else 1.0
    return 0.0, top * 1.05 if top > 0 else 1.0


def curves_figure(runs: RunCollection, run_ids: list[str], title: str, loss_range: tuple[float, float]) -> Figure:
    """Accuracy and loss panels for the runs of one configuration."""
    figure = Figure(figsize=(10, 3.4), layout="constrained")
    acc_ax, loss_ax = figure.subplots(1, 2)
    info = runs.runs.set_index("run_id")
    epochs = runs.epochs[runs.epochs["run_id"].isin(run_ids)]
    finished_ids = [r for r in run_ids if info.at[r, "status"] == OK_STATUS]
    for ax, series, ylabel in ((acc_ax, ACCURACY, "accuracy (fraction)"), (loss_ax, LOSS, "loss (mean per sample)")):
        for column, name, color in series:
            for run_id in run_ids:
                run = epochs[epochs["run_id"] == run_id]
                if run.empty or not run[column].notna().any():
                    continue
                style = "-" if info.at[run_id, "status"] == OK_STATUS else "--"
                ax.plot(run["epoch_number"], run[column], style, color=color, alpha=0.35, linewidth=0.9)
            done = epochs[epochs["run_id"].isin(finished_ids)]
            if len(done) and done[column].notna().any():
                mean = done.groupby("epoch_number")[column].mean()
                ax.plot(
                    mean.index,
                    mean.to_numpy(),
                    "-",
                    color=color,
                    linewidth=2.2,
                    label=f"{name} (mean of {len(finished_ids)} finished)",
                )
        ax.set_xlabel("epoch (1-based)")
        ax.set_ylabel(ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    acc_ax.set_ylim(0.0, 1.0)
    loss_ax.set_ylim(*loss_range)
    classes = {int(n) for n in info.loc[run_ids, "num_classes"].dropna()}
    if len(classes) == 1:
        chance = 1.0 / classes.pop()
        acc_ax.axhline(
            chance, color="grey", linestyle=":", linewidth=1.2, label=f"chance 1/{round(1 / chance)} = {chance:.3f}"
        )
    acc_ax.set_title("accuracy (thin: each run, dashed: not finished)", fontsize=9)
    loss_ax.set_title("loss", fontsize=9)
    for ax in (acc_ax, loss_ax):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="best")
    figure.suptitle(textwrap.fill(title, 170), fontsize=8)  # long sweep labels wrap instead of leaving the figure
    return figure


def status_table(runs: RunCollection, metric: str = "test_acc") -> pd.DataFrame:
    """Every run folder: run, configuration, seed, status, epochs, last metric value, error / problem."""
    configurations, _ = configuration_frame(runs)
    label = dict(zip(configurations["run_id"], configurations["configuration"]))
    last = run_numbers(runs, metric, "last") if metric in runs.epochs.columns else pd.Series(dtype=float)
    frame = runs.runs.assign(
        configuration=runs.runs["run_id"].map(label),
        last=runs.runs["run_id"].map(last),
        detail=[_detail(error, problem) for error, problem in zip(runs.runs["error"], runs.runs["problem"])],
    )
    table = frame[["run_id", "configuration", "seed", "status", "n_epochs", "last", "detail"]]
    return table.rename(columns={"n_epochs": "epochs", "last": f"last {metric}", "detail": "error / problem"})


def _detail(error: object, problem: object) -> str:
    parts = [str(p) for p in (error, problem) if isinstance(p, str) and p]
    return "; ".join(parts)


def _styled(table: pd.DataFrame, caption: str = "", index: bool = False) -> str:
    """Escaped HTML of `table` (pandas Styler), numbers to 4 decimals, status cells coloured."""
    styler = table.style.format(precision=4, na_rep="", escape="html")
    if not index:
        styler = styler.hide(axis="index")
    if "status" in table.columns:
        styler = styler.map(lambda s: f"background-color: {STATUS_COLORS.get(s, '#ffffff')}", subset=["status"])
    if caption:
        styler = styler.set_caption(html.escape(caption))
    return f"<div class='scroll'>{styler.to_html()}</div>"  # wide paper tables scroll instead of squeezing


def _caption_lines(lines: Iterable[str]) -> str:
    return "".join(f'<p class="caption">{html.escape(line)}</p>' for line in lines)


def render_report(
    runs: RunCollection,
    *,
    metric: str = "test_acc",
    at: str = "last",
    title: str | None = None,
    tables: Iterable[pd.DataFrame] = (),
    figures: Iterable[tuple[str, Figure]] = (),
) -> str:
    """The report as one HTML document (see the module docstring). `tables`: extra tables with
    `attrs` title/caption (e.g. a paper's reproduced tables); `figures`: extra (caption, figure)."""
    summary = summarize(runs, metric, at)
    configurations, _ = configuration_frame(runs)
    title = title or f"trainfix report: {runs.root}"
    counts = runs.runs["status"].value_counts()
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        _caption_lines(
            [
                f"Runs folder: {runs.root}. Run folders: {len(runs.runs)} ("
                + ", ".join(f"{n} {s}" for s, n in counts.items())
                + ").",
                f"Written {datetime.now(timezone.utc).isoformat(timespec='seconds')} by python -m trainfix.results.",
            ]
        ),
        "<h2 id='summary'>Summary</h2>",
        _caption_lines(summary.attrs["caption"]),
        _styled(display_table(summary)),
    ]
    extra = list(tables)
    if extra:
        parts.append("<h2 id='tables'>Tables</h2>")
        for table in extra:
            parts.append(f"<h3>{html.escape(table.attrs.get('title', ''))}</h3>")
            parts.append(_caption_lines(table.attrs.get("caption", [])))
            parts.append(_styled(table, index=True))
    parts.append("<h2 id='curves'>Learning curves</h2>")
    parts.append(
        _caption_lines(
            [
                "Per configuration: accuracy (train = the run's train-accuracy column, see the Runs section; test) "
                "and loss against the 1-based epoch. Thin lines: each run (dashed: the run did not finish); thick: "
                "mean over its finished runs; dotted grey: chance level 1/num_classes. "
                "Accuracy panels share the y-scale 0..1, loss panels one y-scale.",
            ]
        )
    )
    loss_range = loss_limits(runs)
    for label, group in configurations.groupby("configuration", sort=False):
        ids = [r for r in group["run_id"] if not runs.metrics(r).empty]
        if not ids:
            parts.append(
                f"<p>{html.escape(label)}: no run recorded an epoch ({', '.join(sorted(set(group['status'])))}).</p>"
            )
            continue
        figure = curves_figure(runs, ids, label, loss_range)
        parts.append(
            f"<figure><img alt='{html.escape(label, quote=True)}' src='{figure_data_uri(figure)}'>"
            f"<figcaption>{html.escape(label)}: runs with epochs: {len(ids)}</figcaption></figure>"
        )
    for caption, figure in figures:
        parts.append(
            f"<figure><img alt='{html.escape(caption, quote=True)}' src='{figure_data_uri(figure)}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    train_columns = runs.runs["train_acc_column"].dropna().value_counts()
    parts.append("<h2 id='runs'>Runs</h2>")
    parts.append(
        _caption_lines(
            [
                "Train accuracy column: "
                + (", ".join(f"{c} in {n} runs" for c, n in train_columns.items()) or "none recorded")
                + ".",
            ]
        )
    )
    parts.append(_styled(status_table(runs, metric)))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_report(runs: RunCollection, path: Path, **options: object) -> Path:
    """Render the report (options as `render_report`) and write it to `path` atomically."""
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"--out {path}: the report is one HTML file; give a path ending in .html")
    atomic_write_text(path, render_report(runs, **options))
    return path


def publish(
    runs: RunCollection,
    out: Path,
    title: str,
    *,
    tables: Iterable[tuple[pd.DataFrame, pd.DataFrame | None]] = (),
    frames: Iterable[tuple[str, pd.DataFrame]] = (),
    figures: Iterable[tuple[str, str, Figure, str]] = (),
) -> list[Path]:
    """What a paper command writes into `out`, in this order: each table (printed as Markdown, written as
    md/csv/tex, and `<stem>_values.csv` when its long values frame is given), each plain frame
    (`<name>`, CSV), each figure (`(file name, caption in the report, figure, PNG description)`), and
    report.html titled `title` with the tables and figures. Returns the paths written."""
    out = Path(out)
    written: list[Path] = []
    shown = []
    for table, values in tables:
        print(table_markdown(table))
        written += write_table(table, out, values=values)
        shown.append(flat(table))
    written += [write_frame(frame, out / name) for name, frame in frames]
    figures = list(figures)
    written += [write_figure(figure, out / name, description=description) for name, _, figure, description in figures]
    written.append(
        write_report(runs, out / "report.html", title=title, tables=shown, figures=[(c, f) for _, c, f, _ in figures])
    )
    return written
