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

    from trainfix.papers.published import load_paper

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


def test_monitor_measures_read_the_study_per_run(tmp_path: Path, monkeypatch) -> None:
    """The monitor claims count per_run.csv's rows (no table text parsed): 20 layers 12/24 flagged, 34 layers 4/16 of
    which 8 never learned; the rate against the thesis' 60 % and 64 % (exact interval), the depth difference against
    the thesis' +25 points (Newcombe), over every run and over the runs that learned."""
    import pandas as pd
    import pytest

    from trainfix.core.statistics import proportion_difference
    from trainfix.monitor.study import flagged_interval

    def write(rows: list[dict]) -> None:
        (tmp_path / "folder").mkdir(exist_ok=True)
        pd.DataFrame(rows).to_csv(tmp_path / "folder" / "per_run.csv", index=False)

    rows = [dict(hidden_layers=20, budget=50, flagged=i < 12, learned=True, pair_index=10 + i % 9) for i in range(24)]
    rows += [dict(hidden_layers=34, budget=50, flagged=i < 4, learned=i < 8, pair_index=13) for i in range(16)]
    rows += [dict(hidden_layers=20, budget=100, flagged=False, learned=True, pair_index=None)]  # another case
    rows += [dict(hidden_layers=34, budget=100, flagged=True, learned=True, pair_index=30)]  # one the thesis lacks
    write(rows)
    monkeypatch.setattr(findings, "REPO", tmp_path)
    ours, verdict = findings.monitor("folder", 20, 50)
    low, high = flagged_interval(12, 24)
    assert ours == (
        f"oscillating loss flagged in 12/24 runs, 95 % CI {100 * low:.0f}-{100 * high:.0f} % (thesis 60% (GPU, 100 "
        "runs), 64% (CPU, 100 runs)); pair index 10-18 (thesis 10-18, 10-18)"
    )
    assert verdict == "reproduced (the thesis' rates lie in our interval)"
    ours, verdict = findings.monitor("folder", 20, 100)  # 0/1 flagged: no pair index; the thesis' 69 % is inside
    assert "flagged in 0/1 runs" in ours and "pair index - (thesis" in ours and verdict.startswith("reproduced")
    assert findings.monitor("folder", 20, 50, 100)[1].startswith("inconclusive (our interval holds the thesis' rates")
    assert (
        "its 69% (GPU, 100 runs), 67% (GPU, 100 runs) at 100 epochs too" in findings.monitor("folder", 20, 50, 100)[1]
    )
    ours, verdict = findings.monitor_depth("folder", 20, 34, 50)
    every, learned = proportion_difference(12, 24, 4, 16).scaled(100), proportion_difference(12, 24, 4, 8).scaled(100)
    assert f"12/24 - 4/16 = {every.text(0)} points (thesis +25 (GPU))" in ours
    assert f"over the runs that learned: 12/24 - 4/8 = {learned.text(0)} points" in ours
    assert verdict == every.verdict(+1, paper_effect=25.0)
    assert verdict.startswith("inconclusive")  # +25 [-6, +49]: holds both zero and the thesis' +25
    with pytest.raises(ValueError, match=r"no case of 34 hidden layers, 100 epochs; it ran \[\(20, 50\)"):
        findings.monitor("folder", 34, 100)

    write([dict(hidden_layers=20, budget=50, flagged=i < 23, learned=True, pair_index=12) for i in range(24)])
    assert findings.monitor("folder", 20, 50)[1] == "not reproduced (outside our interval)"  # 23/24: 79-100 %
    assert findings.monitor("folder", 20, 50, 150)[1] == "not reproduced (outside our interval)"  # no rival inside
    write([dict(hidden_layers=20, budget=150, flagged=i < 5, learned=True, pair_index=40) for i in range(6)])
    assert findings.monitor("folder", 20, 150)[1] == (  # 5/6: 36-100 % holds the thesis' 38 %, not its 34 %
        "inconclusive (our interval holds the thesis' 38% (GPU, 50 runs), not its 34% (GPU, 50 runs))"
    )
    dead = [dict(hidden_layers=34, budget=50, flagged=False, learned=False, pair_index=None) for _ in range(5)]
    write([dict(hidden_layers=20, budget=50, flagged=True, learned=True, pair_index=12) for _ in range(5)] + dead)
    ours, verdict = findings.monitor_depth("folder", 20, 34, 50)
    assert "5/5 - 0/5 = +100 [" in ours and "learned: no runs that learned of 34 hidden layers" in ours
    assert verdict == "reproduced"


def test_monitor_budget_pairs_the_seeds_judged_at_both_budgets(tmp_path: Path, monkeypatch) -> None:
    """Seeds 0-11 at 50 epochs (8 flagged: 0-7), seeds 0-9 also at 150 (3 flagged: 0, 1, 8): both 2, at 150 only 1,
    at 50 only 6, neither 1 -> 3/10 - 8/10 = -50 points with the paired interval; the thesis' GPU cases at 150 (38,
    34) minus at 50 (60): -22, -26, mean -24, which the verdict tests."""
    import pandas as pd

    from trainfix.core.statistics import paired_proportion_difference

    rows = [dict(hidden_layers=20, budget=50, seed=i, flagged=i < 8, learned=True) for i in range(12)]
    rows += [dict(hidden_layers=20, budget=150, seed=i, flagged=i in (0, 1, 8), learned=True) for i in range(10)]
    (tmp_path / "folder").mkdir()
    pd.DataFrame(rows).to_csv(tmp_path / "folder" / "per_run.csv", index=False)
    monkeypatch.setattr(findings, "REPO", tmp_path)
    ours, verdict = findings.monitor_budget("folder", 20, 50, 150)
    d = paired_proportion_difference(2, 1, 6, 1).scaled(100)
    assert ours == (
        f"20 layers, flagged at 150 - at 50 epochs, the same 10 seeds: 3 - 8 runs = {d.text(0)} points (1 flagged at "
        "150 only, 6 at 50 only; thesis -22, -26 (GPU), mean -24)"
    )
    assert verdict == d.verdict(-1, paper_effect=-24.0)
