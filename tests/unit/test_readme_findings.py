"""README's findings table quotes docs/findings.md's generated table: the same claims, in the same order, with the
same numbers and verdicts (test_findings.py keeps docs/findings.md equal to `python -m trainfix.evidence findings`)."""

from __future__ import annotations

from pathlib import Path

from trainfix.evidence import findings

REPO = Path(__file__).resolve().parents[2]


def table_rows(text: str) -> list[list[str]]:
    """The cells of each body row of the first Markdown table in `text`."""
    lines = text.split("\n|", 1)[1].split("\n\n", 1)[0].splitlines()
    rows = [("|" + lines[0]).strip(), *[line.strip() for line in lines[1:]]]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def test_readme_findings_rows_equal_the_findings_page() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## What we found", 1)[1].split("\n## ", 1)[0]
    page = (REPO / "docs" / "findings.md").read_text(encoding="utf-8")
    block = page.split(findings.BEGIN, 1)[1].split(findings.END, 1)[0]
    ours = [row[:4] for row in table_rows(section)]
    generated = [row[:4] for row in table_rows(block)]
    assert len(generated) == len(findings.claims()) >= 5
    assert ours == generated, "README's findings table differs from docs/findings.md (paper, claim, ours, verdict)"
    assert "docs/findings.md" in section
