"""Write result tables (Markdown, CSV, LaTeX) and figures (PNG), each file atomically.

A table is a DataFrame whose `attrs` hold `title`, `caption` (a list of lines: provenance and how
the cells are computed) and `stem` (the file name without suffix). Columns may be a two-level
MultiIndex (column, source): Markdown and CSV flatten it to "column (source)", LaTeX keeps it as
multicolumn headers. Every file starts with the title and caption: Markdown as text above the table,
CSV as `# ` comment lines (read back with `pd.read_csv(path, comment="#")`), LaTeX as `% ` comments
and the table's \\caption. Files are written to a temporary file in the same folder, then renamed
(`os.replace`), so a reader never sees a half-written file and an interrupted run never loses the
previous one.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from trainfix.core.records import atomic_write_bytes, atomic_write_text

LATEX_SPECIALS = dict(
    zip(
        "\\&%$#_{}~^",
        [r"\textbackslash{}", *(f"\\{c}" for c in "&%$#_{}"), r"\textasciitilde{}", r"\textasciicircum{}"],
    )
)


def flat(table: pd.DataFrame) -> pd.DataFrame:
    """`table` with (column, source) headers flattened to "column (source)"."""
    if isinstance(table.columns, pd.MultiIndex):
        table = table.copy()
        table.columns = [f"{column} ({source})" for column, source in table.columns]
    return table


def table_markdown(table: pd.DataFrame) -> str:
    """Title, caption lines as a list, then the table (pandas `to_markdown`)."""
    title = table.attrs.get("title", "")
    caption = "\n".join(f"- {line}" for line in table.attrs.get("caption", []))
    body = flat(table).to_markdown(disable_numparse=True)  # keep "2.50" as written, not 2.5
    return "\n\n".join(part for part in (f"## {title}" if title else "", caption, body) if part) + "\n"


def table_csv(table: pd.DataFrame) -> str:
    """`# ` comment lines (title, caption), then the CSV of the flattened table."""
    header = [table.attrs.get("title", "")] + list(table.attrs.get("caption", []))
    comments = "".join(f"# {line}\n" for line in header if line)
    return comments + flat(table).to_csv()


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIALS.get(ch, ch) for ch in text)


def table_latex(table: pd.DataFrame) -> str:
    """`% ` comment lines, then a LaTeX table (booktabs rules, multicolumn headers, escaped cells)."""
    title = table.attrs.get("title", "")
    caption_lines = list(table.attrs.get("caption", []))
    comments = "".join(f"% {line}\n" for line in [title, *caption_lines] if line)
    caption = latex_escape(" ".join([title, *caption_lines]).strip())
    stem = table.attrs.get("stem", "table")
    table = table.copy()
    table.columns.names = [None] * table.columns.nlevels
    caption = (caption, latex_escape(title)) if title else caption
    label = f"tab:{stem.replace('_', '-')}"
    return comments + table.to_latex(
        escape=True, multicolumn=True, multicolumn_format="c", caption=caption, label=label
    )


def write_table(
    table: pd.DataFrame, out_dir: Path, stem: str | None = None, values: pd.DataFrame | None = None
) -> list[Path]:
    """Write `<stem>.md`, `<stem>.csv`, `<stem>.tex` (and `<stem>_values.csv`, the long numeric frame,
    when `values` is given) into `out_dir`; returns the paths written."""
    stem = stem or table.attrs.get("stem") or "table"
    out_dir = Path(out_dir)
    texts = {".md": table_markdown(table), ".csv": table_csv(table), ".tex": table_latex(table)}
    if values is not None:
        texts["_values.csv"] = table_csv(values.set_index(["row", "column"]))
    for suffix, text in texts.items():
        atomic_write_text(out_dir / f"{stem}{suffix}", text)
    return [out_dir / f"{stem}{suffix}" for suffix in texts]


def write_frame(frame: pd.DataFrame, path: Path) -> Path:
    """Write `frame` as a plain CSV (no index column, no caption: one row per record, for pandas and
    notebooks) at `path`, atomically; returns the path."""
    atomic_write_text(Path(path), frame.to_csv(index=False))
    return Path(path)


def write_figure(figure: Figure, path: Path, description: str = "", dpi: int = 110) -> Path:
    """Save `figure` as PNG at `path` (atomically), with `description` in the PNG's metadata."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, metadata={"Description": description, "Software": "trainfix.results"})
    atomic_write_bytes(Path(path), buffer.getvalue())
    return Path(path)
