"""The papers' data files, read here and nowhere else: the published numbers (`<paper>_<table>.yaml`, each
header naming its source) and each paper's titles and caption prose (`<paper>_tables.yaml`, see `declare`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

PAPER_DIR = Path(__file__).resolve().parent


def load_paper(name: str) -> dict[str, Any]:
    """The published numbers of table `name` (e.g. "deepeutaxy_table_iv", "leap_table_1") as a dict."""
    path = PAPER_DIR / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PAPER_DIR.glob("*.yaml")))
        raise FileNotFoundError(f"the published numbers of {name} are expected in {path}; found: {known}")
    return yaml.safe_load(path.read_text())


def declare(table: Any, declaration: dict[str, Any], **fields: str) -> Any:
    """`table` (a DataFrame) with its declared stem, title, one-line `short` and caption lines (a
    `<paper>_tables.yaml` entry) in `attrs`; `fields` fill the `{name}` places of the title, short and caption."""
    table.attrs.update(
        stem=declaration["stem"],
        title=declaration["title"].format(**fields) if fields else declaration["title"],
        short=declaration.get("short", "").format(**fields) if fields else declaration.get("short", ""),
        caption=[line.format(**fields) if fields else line for line in declaration.get("caption", [])],
    )
    return table


def declarations(name: str) -> dict[str, dict[str, Any]]:
    """The tables `<name>.yaml` declares (e.g. "monitor_tables"), by stem."""
    return {table["stem"]: table for table in load_paper(name)["tables"]}
