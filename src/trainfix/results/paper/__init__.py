"""Published numbers, one YAML file per paper table (`<paper>_<table>.yaml`, each file's header names
its source); read here and nowhere else, never written in code."""

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
