"""CI runs exactly README's test command, and README's two commands install what they need themselves."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def readme_commands(text: str) -> list[str]:
    """The commands of the first code block under "## Two commands", comments dropped."""
    section = text.split("## Two commands", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.split("#", 1)[0].strip()]


def make_steps(line: str) -> list[str]:
    return [step.strip() for step in line.split("&&")]


def ci_steps(script: str) -> list[str]:
    lines = [line.split("#", 1)[0].strip() for line in script.splitlines()]
    return [step for line in lines if line.startswith("make ") for step in make_steps(line)]


def test_ci_runs_the_readme_test_command() -> None:
    demo, test = readme_commands((REPO / "README.md").read_text(encoding="utf-8"))
    assert demo == "make demo"
    assert (
        ci_steps((REPO / ".ci" / "run").read_text(encoding="utf-8")) == make_steps(test) == ["make lint", "make test"]
    )


def test_the_readme_commands_install_first() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    for target in ("demo", "lint", "test"):
        match = re.search(rf"^{target}:([^#\n]*)", makefile, re.MULTILINE)
        assert match, f"Makefile has no {target} target"
        assert "venv" in match.group(1).split(), f"make {target} does not depend on venv (the install)"


def test_the_parsers_read_what_they_should() -> None:
    text = "x\n## Two commands\n\n```bash\nmake demo   # a\nmake lint && make test  # b\n```\n"
    assert readme_commands(text) == ["make demo", "make lint && make test"]
    assert ci_steps("#!/bin/bash\n# make nothing\nset -e\nmake lint\nmake test\n") == ["make lint", "make test"]
    assert ci_steps("make test\n") != make_steps("make lint && make test")
