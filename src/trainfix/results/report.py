"""One self-contained HTML report of a sweep: summary, learning curves, a paper's tables and figures, each run.

    python -m trainfix.results report --runs multirun/<task_name> --out report.html

The file needs nothing else: figures are PNG embedded as base64 `data:` URIs (matplotlib, Agg canvas),
tables are pandas `Styler.to_html`, the style sheet is inline; no script, no network. Captions are one
line; the rest (how cells are computed, sources, what each configuration holds) sits in collapsed
`<details>`, and caption lines that every table of a paper repeats are shown once. Sections:
- Summary: `trainfix.results.summary.summarize` (one row per configuration).
- Learning curves: one panel per metric (train / test accuracy and loss) against the 1-based epoch,
  the configurations overlaid: line = median over a configuration's finished runs (robust to one
  collapsed seed), band = min-max over them (10th-90th percentile above BAND_MINMAX_MAX runs), dashed
  = runs that did not finish. Each panel's y-range fits its own data (`robust_limits`).
- Tables and Figures: a paper's reproduced tables and figures, given by the caller.
- Runs: every run folder with its configuration, seed, status, epochs, last metric and error or problem.
Titles never hold a machine's absolute path (`summary.display_path`).
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from trainfix.core.records import atomic_write_text
from trainfix.results.collect import OK_STATUS, RunCollection
from trainfix.results.render import flat, table_markdown, write_figure, write_frame, write_table
from trainfix.results.summary import configuration_frame, display_path, display_table, run_numbers, summarize

PANELS = (
    ("train_acc_used", "train accuracy"),
    ("test_acc", "test accuracy"),
    ("train_loss_used", "train loss"),
    ("test_loss", "test loss"),
)
QUANTILE = 0.98  # robust y-limits: loss panels end at this quantile, accuracy panels start at 1 - it
LEGEND_MAX = 12  # more configurations than this: thin lines without bands or legend
BAND_MINMAX_MAX = 5  # bands: min-max over seeds up to this many finished runs, 10th-90th percentile above
STATUS_COLORS = {
    "finished": "#d8f0d8",
    "failed": "#f6d0d0",
    "diverged": "#f6e0c0",
    "running": "#dde8f8",
    "data missing": "#eeeeee",
    "unreadable": "#eeeeee",
}
STYLE = """
body { font-family: sans-serif; margin: 1.5em auto; max-width: 78em; padding: 0 1em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1em; margin-bottom: 0.3em; } .scroll { overflow-x: auto; } img { max-width: 100%; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; } th { background: #f3f3f3; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; \
max-width: 36em; overflow-wrap: break-word; }
.caption, details { font-size: 0.85em; color: #555; margin: 0.2em 0; }
details ul { margin: 0.3em 0; padding-left: 1.4em; } summary { cursor: pointer; }
figure { margin: 1em 0; } figcaption { font-size: 0.85em; color: #444; }
"""


def figure_data_uri(figure: Figure, dpi: int = 80) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def robust_limits(values: pd.Series, accuracy: bool) -> tuple[float, float, int, bool]:
    """(low, high, values outside, log scale). Accuracy: linear, from the (1 - QUANTILE) quantile to the
    maximum. Loss spanning over 30x (all > 0): log scale from the minimum to at most 100x the QUANTILE quantile
    (a spike of a few epochs stays in view, a divergence to 1e30 does not flatten the rest); else linear from
    the minimum to the QUANTILE quantile. 5 % padding; NaN/inf ignored."""
    values = values[np.isfinite(values.astype(float))].astype(float)
    if values.empty:
        return 0.0, 1.0, 0, False
    log = not accuracy and bool((values > 0).all()) and values.max() > 30 * values.min()
    shown = np.log10(values) if log else values
    low, top = shown.quantile(1 - QUANTILE) if accuracy else shown.min(), shown.quantile(QUANTILE)
    high = shown.max() if accuracy else min(shown.max(), top + 2) if log else top
    pad = (high - low) * 0.05 or max(abs(high) * 0.05, 0.01)
    low, high = low - pad, high + pad
    if accuracy:
        low, high = max(low, 0.0), min(high, 1.0 + pad)
    outside = int(((shown < low) | (shown > high)).sum())
    return (10**low, 10**high, outside, True) if log else (float(low), float(high), outside, False)


def curves_figure(runs: RunCollection, configurations: pd.DataFrame) -> Figure | None:
    """The configurations' curves overlaid, one panel per recorded metric (see the module docstring);
    None when no run recorded an epoch."""
    epochs = runs.epochs.merge(configurations[["run_id", "configuration"]], on="run_id")
    panels = [(c, t) for c, t in PANELS if c in epochs.columns and epochs[c].notna().any()]
    if epochs.empty or not panels:
        return None
    labels = list(dict.fromkeys(configurations["configuration"]))
    labels = [x for x in labels if x in set(epochs["configuration"])]
    many = len(labels) > LEGEND_MAX
    colors = [
        colormaps["tab10"](i) if len(labels) <= 10 else colormaps["viridis"](i / len(labels))
        for i in range(len(labels))
    ]
    figure = Figure(figsize=(11, 2.9 * ((len(panels) + 1) // 2) + 0.25 * min(len(labels), LEGEND_MAX)))
    figure.set_layout_engine("constrained")
    axes = figure.subplots((len(panels) + 1) // 2, 2, squeeze=False).ravel()
    classes = {int(n) for n in runs.runs["num_classes"].dropna()}
    for ax, (column, title) in zip(axes, panels):
        accuracy = "acc" in column
        for label, color in zip(labels, colors):
            part = epochs[(epochs["configuration"] == label) & epochs[column].notna()]
            done = part[part["status"] == OK_STATUS]
            for _, run in part[part["status"] != OK_STATUS].groupby("run_id"):
                name = f"{label} (not finished)"
                ax.plot(run["epoch_number"], run[column], "--", color=color, linewidth=0.8, alpha=0.8, label=name)
            if done.empty:
                continue
            n = done["run_id"].nunique()
            spread = (0.0, 1.0) if n <= BAND_MINMAX_MAX else (0.1, 0.9)
            stats = done.groupby("epoch_number")[column].quantile([0.5, *spread]).unstack()
            band = "" if n < 2 or many else ", band min-max" if n <= BAND_MINMAX_MAX else ", band 10-90 %"
            name = "all runs" if len(labels) == 1 else label
            ax.plot(stats.index, stats[0.5], color=color, linewidth=0.9 if many else 1.6, label=f"{name} (n={n}{band})")
            if band:
                ax.fill_between(stats.index, stats[spread[0]], stats[spread[1]], color=color, alpha=0.18, linewidth=0)
        low, high, outside, log = robust_limits(epochs[column], accuracy)
        ax.set_yscale("log" if log else "linear")
        ax.set_ylim(low, high)
        if log:  # plain numbers (0.2, 0.05); minor ticks 2 and 5 labelled when the panel spans under two decades
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            minor = FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else "")
            ax.yaxis.set_minor_formatter(minor if high / low < 100 else NullFormatter())
        if accuracy and len(classes) == 1 and low <= 1 / min(classes) <= high:
            ax.axhline(1 / min(classes), color="grey", linestyle=":", linewidth=1)
        ax.set_title(title + (f" ({outside} run-epoch values outside)" if outside else ""), fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(which="both", labelsize=8)
        ax.grid(alpha=0.3)
    for ax in axes[len(panels) :]:
        ax.set_axis_off()
    legend = {name: h for ax in axes for h, name in zip(*ax.get_legend_handles_labels())}
    if legend and not many:
        figure.legend(
            legend.values(),
            legend.keys(),
            loc="outside lower center",
            ncol=min(len(legend), 3),
            fontsize=8,
            frameon=False,
        )
    elif many:
        figure.suptitle(
            f"{len(labels)} configurations, median lines coloured first (dark) to last (yellow)", fontsize=9
        )
    return figure


def status_table(runs: RunCollection, metric: str = "test_acc") -> pd.DataFrame:
    """Every run folder: run, configuration, seed, status, epochs, last metric value, error / problem."""
    configurations, _ = configuration_frame(runs)
    label = dict(zip(configurations["run_id"], configurations["configuration"]))
    order = {name: i for i, name in enumerate(dict.fromkeys(configurations["configuration"]))}
    last = run_numbers(runs, metric, "last") if metric in runs.epochs.columns else pd.Series(dtype=float)
    frame = runs.runs.assign(
        configuration=runs.runs["run_id"].map(label),
        last=runs.runs["run_id"].map(last),
        detail=[_detail(error, problem) for error, problem in zip(runs.runs["error"], runs.runs["problem"])],
    ).sort_values(["configuration", "seed"], key=lambda c: c.map(order) if c.name == "configuration" else c)
    table = frame[["run_id", "configuration", "seed", "status", "n_epochs", "last", "detail"]]
    return table.rename(columns={"n_epochs": "epochs", "last": f"last {metric}", "detail": "error / problem"})


def _detail(error: object, problem: object) -> str:
    return "; ".join(str(p) for p in (error, problem) if isinstance(p, str) and p)


def _styled(table: pd.DataFrame, index: bool = False) -> str:
    """Escaped HTML of `table` (pandas Styler), numbers to 4 decimals, status cells coloured."""
    styler = table.style.format(precision=4, na_rep="", escape="html")
    if not index:
        styler = styler.hide(axis="index")
    if "status" in table.columns:
        styler = styler.map(lambda s: f"background-color: {STATUS_COLORS.get(s, '#ffffff')}", subset=["status"])
    return f"<div class='scroll'>{styler.to_html()}</div>"  # wide paper tables scroll instead of squeezing


def _caption(lines: Iterable[str]) -> str:
    return "".join(f'<p class="caption">{html.escape(line)}</p>' for line in lines if line)


def _details(lines: Iterable[str], summary: str = "Details") -> str:
    lines = [line for line in lines if line]
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return (
        f"<details><summary>{html.escape(summary)} ({len(lines)})</summary><ul>{items}</ul></details>" if lines else ""
    )


def _figure(src: str, caption: str) -> str:
    """A figure whose caption is its first sentence; the rest of a long caption is collapsed."""
    first, _, rest = caption.partition(". ") if len(caption) > 160 else (caption, "", "")
    return (
        f"<figure><img alt='{html.escape(first, quote=True)}' src='{src}'>"
        f"<figcaption>{html.escape(first.rstrip('.') + '.')}{_details([rest], 'More')}</figcaption></figure>"
    )


def relative_title(title: str) -> str:
    """`title` with every absolute path in it shown relative (`summary.display_path`)."""
    return re.sub(r"(?<![\w/])/[^\s:,;]+", lambda m: display_path(Path(m.group())), title)


def _curves_section(runs: RunCollection, configurations: pd.DataFrame) -> list[str]:
    figure = curves_figure(runs, configurations)
    if figure is None:
        return ["<p>No run recorded an epoch.</p>"]
    train = runs.runs["train_acc_column"].dropna().value_counts()
    notes = [
        f"Line: median over a configuration's finished runs (n); band: min-max over them (10th-90th percentile for "
        f"more than {BAND_MINMAX_MAX}); dashed: a run that did not finish; dotted grey: chance 1/num_classes.",
        f"Y-ranges fit each panel: accuracy from the {100 * (1 - QUANTILE):g}th percentile of its run-epoch values; "
        f"loss on a log scale when it spans over 30x (at most 100x above its {100 * QUANTILE:g}th percentile), else "
        f"linear up to its {100 * QUANTILE:g}th percentile; values outside are counted in the panel title.",
        "Train accuracy/loss: " + (", ".join(f"{c} in {n} runs" for c, n in train.items()) or "none recorded") + ".",
    ]
    return [
        _caption(["Median over each configuration's finished seeds; band: their spread (see the legend)."]),
        f"<figure><img alt='learning curves' src='{figure_data_uri(figure, dpi=90)}'></figure>",
        _details(notes, "How the curves are drawn"),
    ]


def render_report(
    runs: RunCollection,
    *,
    metric: str = "test_acc",
    at: str = "last",
    title: str | None = None,
    note: str | None = None,
    tables: Iterable[pd.DataFrame] = (),
    figures: Iterable[tuple[str, Figure]] = (),
) -> str:
    """The report as one HTML document (see the module docstring). `note`: one line in bold under the title
    (e.g. what a quick profile reduced); `tables`: extra tables with `attrs` title, caption lines and optional
    `short` (one visible line); `figures`: extra (caption, figure)."""
    summary = summarize(runs, metric, at)
    configurations, _ = configuration_frame(runs)
    title = relative_title(title or f"trainfix report: {display_path(runs.root)}")
    counts = ", ".join(f"{n} {s}" for s, n in runs.runs["status"].value_counts().items())
    written = datetime.now(timezone.utc).isoformat(timespec="seconds")
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
        f"<p class='caption'><b>{html.escape(note)}</b></p>" if note else "",
        _caption([f"{len(runs.runs)} run folders ({counts}) in {display_path(runs.root)}; written {written}."]),
        "<h2 id='summary'>Summary</h2>",
        _caption(summary.attrs["caption"]),
        _styled(display_table(summary)),
        _details(summary.attrs["details"]),
        "<h2 id='curves'>Learning curves</h2>",
    ]
    parts += _curves_section(runs, configurations)
    extra = list(tables)
    if extra:
        parts.append("<h2 id='tables'>Tables</h2>")
        captions = [list(t.attrs.get("caption", [])) for t in extra]
        common = [line for line in captions[0] if all(line in c for c in captions[1:])] if len(extra) > 1 else []
        parts.append(_details(common, f"Sources and protocol, common to the {len(extra)} tables"))
        for table, lines in zip(extra, captions):
            parts.append(f"<h3>{html.escape(table.attrs.get('title', ''))}</h3>")
            parts.append(_caption([table.attrs.get("short", "")]))
            parts.append(_styled(table, index=True))
            parts.append(_details([line for line in lines if line not in common], "Notes"))
    figures = list(figures)
    if figures:
        parts.append("<h2 id='figures'>Figures</h2>")
        parts.extend(_figure(figure_data_uri(f), caption) for caption, f in figures)
    parts += ["<h2 id='runs'>Runs</h2>", _styled(status_table(runs, metric)), "</body></html>\n"]
    return "\n".join(p for p in parts if p)


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
    note: str | None = None,
) -> list[Path]:
    """What a paper command writes into `out`, in this order: each table (printed as Markdown, written as
    md/csv/tex, and `<stem>_values.csv` when its long values frame is given), each plain frame
    (`<name>`, CSV), each figure (`(file name, caption in the report, figure, PNG description)`), and
    report.html titled `title` with the tables and figures. `note` (the command's --note, e.g. what a quick
    profile reduced) becomes every table's first caption line and a bold line under the report's title.
    Returns the paths written."""
    out = Path(out)
    written: list[Path] = []
    shown = []
    for table, values in tables:
        for frame in (table, values) if note else ():
            if frame is not None:
                frame.attrs["caption"] = [note, *frame.attrs.get("caption", [])]
        print(table_markdown(table))
        written += write_table(table, out, values=values)
        shown.append(flat(table))
    written += [write_frame(frame, out / name) for name, frame in frames]
    figures = list(figures)
    written += [write_figure(figure, out / name, description=description) for name, _, figure, description in figures]
    if Path(runs.root).parent.resolve() == out.resolve():  # an evidence folder's runs/: name the folder
        title = title.replace(str(runs.root), display_path(out))
    shown_figures = [(c, f) for _, c, f, _ in figures]
    written.append(write_report(runs, out / "report.html", title=title, note=note, tables=shown, figures=shown_figures))
    return written
