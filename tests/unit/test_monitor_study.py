"""The oscillating-loss study's per-run numbers on crafted accuracy series."""

from __future__ import annotations

from trainfix.results.monitor_study import judge_run, load_paper


def test_judge_run_on_a_crafted_run():
    # 12 calm epochs, then an oscillation of 0.05 every epoch, 30 epochs in all.
    val = [0.80 + 0.01 * i for i in range(12)] + [0.91 if i % 2 else 0.86 for i in range(18)]
    out = judge_run(val, val, 30)
    # Whole series: maxima at indices 11, 13, ..., 27 and minima at 12, 14, ..., 28: 9 pairs of 0.05, all
    # counted (9 >= 0.2 x 30), so flagged with the thesis' pair index 9 - 1 = 8.
    assert out["flagged"] and out["pairs"] == 9 and out["pair_index"] == 8
    # Online: after 19 epochs 3 pairs < 3.8; after 20, 4 pairs >= 4.0.
    assert out["first_firing"] == 20
    # constant 3 checks 1, 4, ..., 19, 22: caught at 22 after 8 checks.
    assert (out["constant3_detect"], out["constant3_delay"], out["constant3_checks"]) == (22, 2, 8)
    # dynamic on 30 planned epochs checks 7..12, then 22: 7 checks.
    assert (out["dynamic_detect"], out["dynamic_delay"], out["dynamic_checks"]) == (22, 2, 7)
    # constant 5 checks 1, 6, 11, 16, 21, 26: after 21 epochs 4 pairs < 4.2, so caught at 26.
    assert (out["constant5_detect"], out["constant5_delay"]) == (26, 6)


def test_paper_file_matches_the_thesis_percentages():
    for case in load_paper()["cases"]:
        assert round(100 * len(case["pair_index"]) / case["runs"]) == case["flagged_pct"], case["case"]
