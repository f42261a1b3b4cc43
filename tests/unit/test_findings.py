"""docs/findings.md's table is what `python -m trainfix.evidence findings` computes from the committed evidence."""

from __future__ import annotations

import re
from pathlib import Path

from trainfix.evidence import findings

PAGE = Path(__file__).resolve().parents[2] / "docs" / "findings.md"


def test_findings_page_matches_the_command() -> None:
    page = PAGE.read_text()
    block = page.split(findings.BEGIN, 1)[1].split(findings.END, 1)[0]
    assert (
        block == "\n" + findings.table()
    ), "docs/findings.md is stale: run python -m trainfix.evidence findings --write docs/findings.md"


def test_readme_view_matches_the_command() -> None:
    """README's table is the same rows (paper, claim, ours, verdict) with the evidence links in place of setup, caveat
    and command: generated, so the two cannot drift; its section links to the full page."""
    readme = (PAGE.parents[1] / "README.md").read_text()
    block = readme.split(findings.README_BEGIN, 1)[1].split(findings.END, 1)[0]
    assert block == "\n" + findings.readme_table(), "README.md's findings are stale: run make findings"
    section_head = readme.split(findings.README_BEGIN, 1)[0].split("## What we found")[1]
    assert "[docs/findings.md](docs/findings.md)" in section_head
    for claim in findings.claims():  # every link names a committed folder
        for folder in re.findall(r"\]\((results/[^)]+)\)", claim.evidence):
            assert (PAGE.parents[1] / folder).is_dir(), (claim.claim, folder)
        assert re.search(r"\]\(results/", claim.evidence), claim.evidence


def test_every_claim_has_a_verdict_and_a_command() -> None:
    for claim in findings.claims():
        ours, verdict = claim.measure()
        assert ours and verdict.split(" ")[0] in ("reproduced", "not", "inconclusive"), (claim.claim, verdict)
        # a make target of main, or one of an earlier commit named (evidence whose setup main no longer runs)
        assert claim.command.startswith(("make ", "git checkout ")) and "make " in claim.command, claim.command


def test_apricot_pairs_s1_with_the_control_by_input_model(tmp_path: Path, monkeypatch) -> None:
    """S1 toward minus the control, per model seed, against scipy's paired t-test; an incomplete pass and another
    strategy are left out."""
    import numpy as np
    import pandas as pd
    from scipy import stats

    s1, control = np.array([0.04, 0.10, -0.02, 0.06]), np.array([-0.06, 0.02, -0.04, 0.00])
    rows = [
        dict(model_seed=seed, control=False, strategy=1, direction="toward", complete=True, gain=g / 100)
        for seed, g in enumerate(s1)
    ]
    rows += [
        dict(model_seed=seed, control=True, strategy=0, direction="control", complete=True, gain=g / 100)
        for seed, g in enumerate(control)
    ]
    rows += [dict(model_seed=4, control=False, strategy=1, direction="toward", complete=False, gain=0.05)]
    rows += [dict(model_seed=0, control=False, strategy=2, direction="toward", complete=True, gain=0.05)]
    (tmp_path / "folder").mkdir()
    pd.DataFrame(rows).to_csv(tmp_path / "folder" / "table_v_passes.csv", index=False)
    monkeypatch.setattr(findings, "REPO", tmp_path)
    ours, verdict = findings.apricot("folder")
    ci = stats.ttest_rel(s1, control).confidence_interval(0.95)
    assert f"+{(s1 - control).mean():.2f} [{ci.low:+.2f}, {ci.high:+.2f}]" in ours
    assert "S1 toward +0.04 ± 0.05 (n=4)" in ours and "control -0.02 ± 0.04 (n=4)" in ours
    assert verdict == "reproduced"  # every seed's S1 gain is above its control's here


def test_a_non_paper_row_is_read_against_zero_alone(tmp_path: Path, monkeypatch) -> None:
    """Trimming's LeNet-5/Fashion-MNIST row is not one of the paper's: an interval that holds zero but not the paper's
    CIFAR-10/ResNet-34 effect (-0.42) is "no difference shown", not a test of that effect; the paper's effects over
    its rows are quoted as context."""
    import pandas as pd

    from trainfix.results.paper import load_paper

    rows = [dict(arm="off", ours_mean=9.85, ours_std=0.24, n=10), dict(arm="on", ours_mean=9.89, ours_std=0.23, n=10)]
    (tmp_path / "folder").mkdir()
    pd.DataFrame(rows).to_csv(tmp_path / "folder" / "table_1_values.csv", index=False)
    monkeypatch.setattr(findings, "REPO", tmp_path)
    ours, verdict = findings.trimming("folder")
    assert verdict == "not reproduced (no difference shown; not a paper row: read against zero alone)"
    table = load_paper("trimming_table_1")["test_error"]
    effects = sorted(table[d][m]["on"] - table[d][m]["off"] for d in table for m in table[d])
    assert len(effects) == 6 and f"over its 6 rows: {effects[0]:+.2f} to {effects[-1]:+.2f})" in ours
    assert "diff +0.04 [" in ours
