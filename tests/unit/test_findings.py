"""docs/findings.md's table is what `python -m trainfix.evidence findings` computes from the committed evidence."""

from __future__ import annotations

from pathlib import Path

from trainfix.evidence import findings

PAGE = Path(__file__).resolve().parents[2] / "docs" / "findings.md"


def test_findings_page_matches_the_command() -> None:
    page = PAGE.read_text()
    block = page.split(findings.BEGIN, 1)[1].split(findings.END, 1)[0]
    assert (
        block == "\n" + findings.table()
    ), "docs/findings.md is stale: run python -m trainfix.evidence findings --write docs/findings.md"


def test_every_claim_has_a_verdict_and_a_command() -> None:
    for claim in findings.claims():
        ours, verdict = claim.measure()
        assert ours and verdict.split(" ")[0] in ("reproduced", "not", "inconclusive"), (claim.claim, verdict)
        # a make target of main, or one of an earlier commit named (evidence whose setup main no longer runs)
        assert claim.command.startswith(("make ", "git checkout ")) and "make " in claim.command, claim.command
