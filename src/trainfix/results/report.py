r"""Every file the results write: tables (md, csv, tex), figures (PNG), the summary and report.html.

A table is a DataFrame whose `attrs` hold `title`, `caption` (lines: provenance, how cells are computed)
and `stem` (file name). Columns may be a (column, source) MultiIndex: Markdown and CSV flatten it to
"column (source)", LaTeX keeps multicolumn headers. Every file starts with title and caption (CSV as `# `
lines: `pd.read_csv(path, comment="#")`; LaTeX as `% ` lines and \caption) and is written atomically.
report.html needs nothing else: PNG `data:` URIs, pandas `Styler.to_html`, an inline style sheet, no
script; captions are one line, the rest is collapsed `<details>` (docs/results.md, "report").
`publish` is what every paper command writes.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from trainfix.core.records import atomic_write_bytes, atomic_write_text
from trainfix.results.collect import OK_STATUS, STATUSES, RunCollection
from trainfix.results.summary import configuration_frame, display_path, run_numbers, summarize

PANELS = dict(
    train_acc_used="train accuracy", test_acc="test accuracy", train_loss_used="train loss", test_loss="test loss"
)
QUANTILE = 0.98  # robust y-limits: loss panels end at this quantile, accuracy panels start at 1 - it
LEGEND_MAX = 12  # more configurations than this: thin lines without bands or legend
BAND_MINMAX_MAX = 5  # bands: min-max over seeds up to this many finished runs, 10th-90th percentile above
STATUS_COLORS = dict(zip(STATUSES, ("#d8f0d8", "#f6d0d0", "#f6e0c0", "#dde8f8", "#eeeeee", "#eeeeee")))
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


LATEX_SPECIALS = {"\\": r"\textbackslash{}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
LATEX_SPECIALS.update({c: "\\" + c for c in "&%$#_{}"})


def _comments(prefix: str, lines: Iterable[str]) -> str:
    return "".join(f"{prefix} {line}\n" for line in lines if line)


def flat(table: pd.DataFrame) -> pd.DataFrame:
    """`table` with (column, source) headers flattened to "column (source)"."""
    if isinstance(table.columns, pd.MultiIndex):
        table = table.copy()
        table.columns = [f"{column} ({source})" for column, source in table.columns]
    return table


def table_markdown(table: pd.DataFrame) -> str:
    """Title, caption lines as a list, then the table."""
    title = table.attrs.get("title", "")
    caption = "\n".join(f"- {line}" for line in table.attrs.get("caption", []))
    body = flat(table).to_markdown(disable_numparse=True)  # keep "2.50" as written, not 2.5
    return "\n\n".join(part for part in (f"## {title}" if title else "", caption, body) if part) + "\n"


def table_csv(table: pd.DataFrame) -> str:
    return _comments("#", [table.attrs.get("title", ""), *table.attrs.get("caption", [])]) + flat(table).to_csv()


def table_latex(table: pd.DataFrame) -> str:
    """`% ` comment lines, then a LaTeX table (booktabs rules, multicolumn headers, escaped cells)."""
    title, lines = table.attrs.get("title", ""), list(table.attrs.get("caption", []))
    caption: str | tuple[str, str] = "".join(LATEX_SPECIALS.get(ch, ch) for ch in " ".join([title, *lines]).strip())
    if title:
        caption = (caption, "".join(LATEX_SPECIALS.get(ch, ch) for ch in title))
    label = f"tab:{table.attrs.get('stem', 'table').replace('_', '-')}"
    table = table.copy()
    table.columns.names = [None] * table.columns.nlevels
    latex = table.to_latex(escape=True, multicolumn=True, multicolumn_format="c", caption=caption, label=label)
    return _comments("%", [title, *lines]) + latex


def _png(figure: Figure, dpi: int, **options: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, **options)
    return buffer.getvalue()


def palette_png(figure: Figure, dpi: int, metadata: dict[str, str]) -> bytes:
    """The committed PNG: the figure's opaque RGBA rendering reduced to its own 256-colour palette (median cut, no
    dithering) and saved optimized, with `metadata` as PNG text. Line and scatter plots keep their look at a third of
    the bytes (docs/results.md, "Committed evidence"); the same figure gives the same bytes."""
    image = Image.open(io.BytesIO(_png(figure, dpi)))
    if image.getextrema()[3][0] < 255:
        raise ValueError("palette_png: the figure has transparent pixels; give it an opaque facecolor")
    info = PngInfo()
    for key, value in metadata.items():
        info.add_text(key, value)
    palette = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    palette.save(buffer, format="png", optimize=True, pnginfo=info, dpi=(dpi, dpi))
    return buffer.getvalue()


def figure_data_uri(figure: Figure, dpi: int = 80) -> str:
    return "data:image/png;base64," + base64.b64encode(_png(figure, dpi)).decode("ascii")


def display_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary without the numeric mean/std columns and the label (what Markdown and HTML show)."""
    return summary.drop(columns=["mean", "std", "configuration"], errors="ignore")


def summary_markdown(summary: pd.DataFrame) -> str:
    """Title, the caption, the table, then the details as a list."""
    title, caption, details = (summary.attrs.get(k, d) for k, d in (("title", ""), ("caption", []), ("details", [])))
    body = display_table(summary).to_markdown(index=False, disable_numparse=True)
    parts = (f"## {title}" if title else "", " ".join(caption), body, "\n".join(f"- {line}" for line in details))
    return "\n\n".join(part for part in parts if part) + "\n"


def write_summary(summary: pd.DataFrame, path: Path) -> Path:
    """`.md`: the Markdown shown on stdout; `.csv`: every column (numbers unrounded), caption as `# ` lines."""
    path = Path(path)
    if path.suffix == ".md":
        atomic_write_text(path, summary_markdown(summary))
    elif path.suffix == ".csv":
        header = [summary.attrs.get("title", ""), *summary.attrs.get("caption", []), *summary.attrs.get("details", [])]
        atomic_write_text(path, _comments("#", header) + summary.to_csv(index=False))
    else:
        raise ValueError(f"--out {path}: the summary is written as .md or .csv; got suffix {path.suffix!r}")
    return path


def robust_limits(values: pd.Series, accuracy: bool) -> tuple[float, float, int, bool]:
    """(low, high, values outside, log scale) of a panel. Accuracy: linear from the (1 - QUANTILE) quantile
    to the maximum. Loss spanning over 30x: log from the minimum to at most 100x the QUANTILE quantile (a spike
    stays in view, a divergence to 1e30 does not flatten the rest); else linear from the minimum to the
    QUANTILE quantile. 5 % padding; NaN/inf ignored."""
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
    """The configurations' curves overlaid, one panel per recorded metric: line = median over finished
    runs, band = their min-max (10th-90th percentile above BAND_MINMAX_MAX), dashed = unfinished runs.
    None when no run recorded an epoch."""
    epochs = runs.epochs.merge(configurations[["run_id", "configuration"]], on="run_id")
    panels = [(c, t) for c, t in PANELS.items() if c in epochs.columns and epochs[c].notna().any()]
    if epochs.empty or not panels:
        return None
    labels = [x for x in dict.fromkeys(configurations["configuration"]) if x in set(epochs["configuration"])]
    many = len(labels) > LEGEND_MAX
    palette = colormaps["tab10" if len(labels) <= 10 else "viridis"]
    colors = [palette(i if len(labels) <= 10 else i / len(labels)) for i in range(len(labels))]
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
        options = {"loc": "outside lower center", "ncol": min(len(legend), 3), "fontsize": 8, "frameon": False}
        figure.legend(legend.values(), legend.keys(), **options)
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
        detail=[
            "; ".join(p for p in pair if isinstance(p, str) and p)
            for pair in zip(runs.runs["error"], runs.runs["problem"])
        ],
    ).sort_values(["configuration", "seed"], key=lambda c: c.map(order) if c.name == "configuration" else c)
    table = frame[["run_id", "configuration", "seed", "status", "n_epochs", "last", "detail"]]
    return table.rename(columns={"n_epochs": "epochs", "last": f"last {metric}", "detail": "error / problem"})


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
    """The report as one HTML document. `note`: one bold line under the title; `tables`: a paper's tables
    (`attrs`: title, caption lines, optional one-line `short`); `figures`: (caption, figure)."""
    summary = summarize(runs, metric, at)
    configurations, _ = configuration_frame(runs)
    title = title or f"trainfix report: {display_path(runs.root)}"
    title = re.sub(r"(?<![\w/])/[^\s:,;]+", lambda m: display_path(Path(m.group())), title)  # no absolute path
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
    """What a paper command writes into `out`, in this order: per table (printed as Markdown) `<stem>.md`,
    `.csv`, `.tex`, and `<stem>_values.csv` when its long values frame is given; per frame `<name>` (a plain
    CSV: one row per record, no caption); per figure (file name, caption in the report, figure, PNG
    description) the PNG; report.html titled `title` with the tables and figures. `note` (--note, e.g. what
    a quick profile reduced) is every table's first caption line and a bold line under the report's title.
    Returns the paths written."""
    out, files, shown = Path(out), [], []
    for table, values in tables:
        for frame in (table, values) if note else ():
            if frame is not None:
                frame.attrs["caption"] = [note, *frame.attrs.get("caption", [])]
        stem, markdown = table.attrs.get("stem") or "table", table_markdown(table)
        print(markdown)
        files += [(out / f"{stem}.md", markdown), (out / f"{stem}.csv", table_csv(table))]
        files.append((out / f"{stem}.tex", table_latex(table)))
        if values is not None:
            files.append((out / f"{stem}_values.csv", table_csv(values.set_index(["row", "column"]))))
        shown.append(flat(table))
    files += [(out / name, frame.to_csv(index=False)) for name, frame in frames]
    figures = list(figures)
    for name, _, figure, description in figures:
        files.append(
            (out / name, palette_png(figure, 110, {"Description": description, "Software": "trainfix.results"}))
        )
    for path, content in files:
        (atomic_write_text if isinstance(content, str) else atomic_write_bytes)(path, content)
    if Path(runs.root).parent.resolve() == out.resolve():  # an evidence folder's runs/: name the folder
        title = title.replace(str(runs.root), display_path(out))
    shown_figures = [(caption, figure) for _, caption, figure, _ in figures]
    report = write_report(runs, out / "report.html", title=title, note=note, tables=shown, figures=shown_figures)
    return [path for path, _ in files] + [report]
