"""Every relative link in README.md and docs/*.md points to a file or folder that exists in the checkout."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# [text](target) and [text](target "title"); images too. Not inside inline code.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
CODE_SPAN = re.compile(r"`[^`]*`")
EXTERNAL = ("http://", "https://", "mailto:", "ftp://")


def relative_links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of each relative link in a Markdown file, outside code blocks and code spans."""
    links, fenced = [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if fenced:
            continue
        for target in LINK.findall(CODE_SPAN.sub("", line)):
            if target.startswith(EXTERNAL) or target.startswith("#"):
                continue
            links.append((number, target))
    return links


def test_the_link_finder_reads_markdown_links() -> None:
    sample = REPO / "README.md"
    assert relative_links(sample), "README.md has relative links; the finder found none"


@pytest.mark.parametrize("doc", DOCS, ids=[str(p.relative_to(REPO)) for p in DOCS])
def test_relative_links_point_to_existing_files(doc: Path) -> None:
    broken = []
    for number, target in relative_links(doc):
        path = target.split("#", 1)[0]
        if not path:
            continue
        if not (doc.parent / path).exists():
            broken.append(f"{doc.relative_to(REPO)}:{number}: {target}")
    assert not broken, "links to missing files:\n" + "\n".join(broken)
