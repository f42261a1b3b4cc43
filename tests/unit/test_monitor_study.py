"""The oscillating-loss study's per-run numbers on crafted accuracy series."""

from __future__ import annotations

import json

from trainfix.monitor.replay import history_from_series
from trainfix.monitor.study import judge_run
from trainfix.papers.published import load_paper

# 12 calm epochs, then an oscillation of 0.05 every epoch, 30 epochs in all.
OSCILLATING = [0.80 + 0.01 * i for i in range(12)] + [0.91 if i % 2 else 0.86 for i in range(18)]
CALM = [0.80 + 0.005 * i for i in range(30)]


def _run(val, train=None):
    return history_from_series([0.5] * len(val), train or val, [0.4] * len(val), val)


def _write_run(folder, seed, epochs, test_period=7, level=0.8, **groups):
    """A finished run of the 20-layer MLP: run.json with its config (plus `groups`, e.g. optimizer={"lr": 0.01}),
    metrics.csv whose accuracies cycle from `level` with periods 7 (train) and `test_period` (test)."""
    folder.mkdir()
    config = {
        "seed": seed,
        "model": {"name": "mlp", "params": {"hidden_layers": 20}},
        "trainer": {"max_epochs": epochs},
    }
    (folder / "run.json").write_text(json.dumps({"status": "finished", "seed": seed, "config": config | groups}))
    lines = ["epoch,train_acc,test_acc,train_loss,epoch_time_s,eval_time_s"]
    lines += [f"{i},{level + 0.01 * (i % 7)},{level + 0.01 * (i % test_period)},0.5,1.0,0.1" for i in range(epochs)]
    (folder / "metrics.csv").write_text("\n".join(lines) + "\n")


def test_judge_run_on_a_crafted_run():
    out = judge_run(_run(OSCILLATING, [0.30 + 0.02 * i for i in range(30)]), 30)
    # Whole series: maxima at indices 11, 13, ..., 27 and minima at 12, 14, ..., 28: 9 pairs of 0.05, all
    # counted (9 >= 0.2 x 30), so flagged with the thesis' pair index 9 - 1 = 8.
    assert out["flagged"] and out["pairs"] == 9 and out["pair_index"] == 8
    # Online: after 19 epochs 3 pairs < 3.8; after 20, 4 pairs >= 4.0; after 21, 4 < 4.2; after 22, 5 >= 4.4.
    assert out["validation_first_firing"] == 20
    # constant 3 checks 1, 4, ..., 19, 22: caught at 22 after 8 checks, with or without the warm-up gate
    # (n >= 0.3 x 30 - 3 = 6).
    for gate in ("at_once", "gated"):
        key = f"validation_constant3_{gate}"
        assert (out[f"{key}_detect"], out[f"{key}_delay"], out[f"{key}_checks"]) == (22, 2, 8)
    # dynamic on 30 planned epochs checks 7..12, then by AutoTrainer's rule 21 (4 < 4.2): never caught, 7 checks;
    # with the late checks counted from 2/5 (segment-aligned) 22: caught.
    assert (out["validation_dynamic_at_once_detect"], out["validation_dynamic_at_once_checks"]) == (None, 7)
    assert (out["validation_dynamic_segment_at_once_detect"], out["validation_dynamic_segment_at_once_delay"]) == (
        22,
        2,
    )
    # constant 5 checks 1, 6, 11, 16, 21, 26: caught at 26.
    assert (out["validation_constant5_at_once_detect"], out["validation_constant5_at_once_delay"]) == (26, 6)
    # AutoTrainer's verdict at its mid check (first check with 0-based epoch >= 15): 16 for constant 3 (not flagged
    # there or before), 22 for the segment-aligned dynamic schedule (flagged).
    assert out["validation_constant3_verdict"] is None and out["validation_dynamic_segment_verdict"] == 22
    # the training accuracy rises 0.02 per epoch: AutoTrainer's own reading sees nothing
    assert out["training_first_firing"] is None and out["training_constant3_at_once_detect"] is None


def test_paper_file_matches_the_thesis_percentages():
    for case in load_paper("monitor_thesis")["cases"]:
        assert round(100 * len(case["pair_index"]) / case["runs"]) == case["flagged_pct"], case["case"]


def test_schedule_table_counts_checks_until_detection_and_eq_4_1():
    import pandas as pd

    from trainfix.monitor.study import schedule_table

    rows = [
        {"hidden_layers": 20, "budget": 30, "epoch_s": 2.0, "check_s": float("nan"), **judge_run(_run(s), 30)}
        for s in (OSCILLATING, CALM)
    ]
    table = schedule_table(pd.DataFrame(rows), timing={"check_s": 0.05})
    table = table[table["reading"].str.startswith("validation") & table["warm-up gate"].eq("no")].set_index("schedule")
    segment = table.loc[table.index.str.contains("segment")].iloc[0]
    # segment-aligned dynamic on 30 epochs: checks 7..12 and 22 (7); the oscillating run stops at 22, the calm one
    # runs all 30 epochs and all 7 checks: 14 checks over 52 epochs; Eq. 4.1: q x t2 / t1 = 14/52 x 0.05 / 2.0.
    assert (segment["checks made (until detection)"], segment["epochs trained (until detection)"]) == (14, 52)
    assert segment["detected"] == "1/2" and segment["delay mean (epochs)"] == 2.0
    assert segment["overhead q*t2/t1 (Eq. 4.1)"] == f"{100 * 14 / 52 * 0.05 / 2.0:.3f}%"
    run_aligned = table.loc[table.index.str.startswith("dynamic") & table.index.str.contains("run-aligned")].iloc[0]
    assert (run_aligned["checks made (until detection)"], run_aligned["epochs trained (until detection)"]) == (14, 60)
    assert run_aligned["detected"] == "0/2" and run_aligned["fired but never caught"] == 1
    constant = table.loc["constant every 3"]
    assert (constant["checks made (until detection)"], constant["epochs trained (until detection)"]) == (
        8 + 10,
        22 + 30,
    )
    assert constant["first oscillation check"] == 1


def test_a_case_pools_runs_of_one_configuration(tmp_path):
    """Runs of one (hidden layers, budget) case may differ in the seed and, replayed, in the planned epochs;
    any other difference (here the learning rate) is refused, naming the key."""
    import pytest

    from trainfix.papers.monitor import study_runs
    from trainfix.results.collect import collect_runs

    def write(name, seed, epochs, lr=0.001):
        _write_run(tmp_path / name, seed, epochs, optimizer={"lr": lr})

    write("s0", 0, 30)
    write("s1", 1, 30)
    write("s2_long", 2, 40)  # replayed as a 30-epoch run of seed 2
    study = study_runs(collect_runs(tmp_path), budgets=[30], replay=True)
    assert sorted(study["seed"]) == [0, 1, 2] and study["replayed"].sum() == 1
    write("s3", 3, 30, lr=0.01)
    with pytest.raises(
        ValueError, match=r"20 hidden layers, 30 epochs: .*optimizer\.lr: 0\.001 \(.*\) vs 0\.01 \(.*\)"
    ):
        study_runs(collect_runs(tmp_path), budgets=[30], replay=True)


def test_a_seed_counts_once_per_budget(tmp_path):
    """A seed's own run wins over a longer run replayed to its budget; two own runs of one seed and budget, or two
    longer runs replayed to a budget the seed has no own run of, are refused naming both folders (the study used to
    keep the first read, silently)."""
    import pytest

    from trainfix.papers.monitor import study_runs
    from trainfix.results.collect import collect_runs

    def write(name, seed, epochs):
        _write_run(tmp_path / name, seed, epochs, test_period=5)

    write("a_seed0", 0, 30)
    write("b_seed0_long", 0, 40)
    study = study_runs(collect_runs(tmp_path), budgets=[30], replay=True)
    assert list(study["run_id"]) == ["a_seed0"] and not study["replayed"].any()
    write("c_seed1_long", 1, 40)
    write("d_seed1_longer", 1, 50)
    with pytest.raises(ValueError, match=r"2 folders .* budget 30, seed 1: \['c_seed1_long', 'd_seed1_longer'\]"):
        study_runs(collect_runs(tmp_path), budgets=[30], replay=True)
    assert sorted(study_runs(collect_runs(tmp_path), budgets=[40], replay=True)["run_id"]) == [
        "b_seed0_long",
        "c_seed1_long",
    ]
    write("e_seed0_again", 0, 30)
    with pytest.raises(
        ValueError, match=r"2 folders .* hidden_layers 20, budget 30, seed 0: \['a_seed0', 'e_seed0_again'\]"
    ):
        study_runs(collect_runs(tmp_path), budgets=[30])


def test_detection_table_gives_the_exact_interval_of_the_flagged_share():
    """11 of 20 runs flagged: the Clopper-Pearson bounds from the beta quantiles (computed here directly), the thesis'
    rate beside it, the pair-index range of the flagged runs only."""
    import pandas as pd
    import pytest
    from scipy.stats import beta

    from trainfix.monitor.study import detection_table, flagged_interval

    flagged = [True] * 11 + [False] * 9
    study = pd.DataFrame(
        {
            "hidden_layers": 20,
            "budget": 50,
            "replayed": False,
            "flagged": flagged,
            "pair_index": [11 + i % 7 if f else None for i, f in enumerate(flagged)],
            "flagged_autotrainer": False,
            "validation_first_firing": 5,
            "training_first_firing": None,
            "learned": [True] * 18 + [False] * 2,
        }
    )
    low, high = beta.ppf(0.025, 11, 20 - 11 + 1), beta.ppf(0.975, 11 + 1, 20 - 11)
    assert flagged_interval(11, 20) == pytest.approx((low, high), abs=1e-9)
    paper = {"cases": [{"epochs": 50, "hidden_layers": 20, "flagged_pct": 60, "device": "GPU", "runs": 100,
                        "pair_index": [10, 18]}]}  # fmt: skip
    row = detection_table(study, paper).iloc[0]
    assert row["flagged (ours)"] == "11/20 = 55%" and row["flagged (thesis)"] == "60% (GPU, 100 runs)"
    assert row["flagged 95% CI (ours, Clopper-Pearson)"] == f"{100 * low:.0f}-{100 * high:.0f}%" == "32-77%"
    assert row["pair index range (ours)"] == "11-17" and row["runs never above 2x chance"] == 2


def test_schedule_pairs_are_paired_by_run_against_constant_3():
    """Constant every 5 minus constant every 3 on four crafted runs: the detection epoch over the two runs both
    detect (1 and 3 epochs later: mean +2, t(0.975, 1 df) x sqrt(2) / sqrt(2) = 12.706 either side), the epochs
    trained over all four (an undetected run trains its 30), against scipy's paired t interval."""
    import numpy as np
    import pandas as pd
    from scipy import stats

    from trainfix.monitor.study import GATES, READINGS, SCHEDULES, schedule_pairs_table

    detect = {"constant3": [10, 13, None, 7], "constant5": [11, 16, 21, None], "dynamic_segment": [9, 12, None, 6]}
    columns: dict[str, list] = {"hidden_layers": [20] * 4, "budget": [30] * 4}
    for reading in READINGS:
        for name in SCHEDULES:
            for gate in GATES:
                found = detect.get(name, detect["constant3"])
                columns[f"{reading}_{name}_{gate}_detect"] = found
                columns[f"{reading}_{name}_{gate}_epochs"] = [30 if d is None else d for d in found]
    table = schedule_pairs_table(pd.DataFrame(columns))
    assert len(table) == len(READINGS) * len(GATES) * (len(SCHEDULES) - 1)
    row = table[table["schedule"].str.contains("every 5") & table["warm-up gate"].eq("no")].iloc[0]
    assert row["runs both detect"] == 2 and row["detection epoch, difference (95% CI)"] == "+2.00 [-10.71, +14.71]"
    assert row["detects"] == "no difference shown"
    trained = np.array([11, 16, 21, 30]) - np.array([10, 13, 30, 7])
    ci = stats.ttest_rel([11, 16, 21, 30], [10, 13, 30, 7]).confidence_interval(0.95)
    assert row["epochs trained until detection, difference (95% CI)"] == (
        f"{trained.mean():+.2f} [{ci.low:+.2f}, {ci.high:+.2f}]"
    )
    same = table[~table["schedule"].str.contains("every 5|segment")].iloc[0]  # the run-aligned dynamic: as constant 3
    assert same["detection epoch, difference (95% CI)"] == "+0.00 [+0.00, +0.00]" and same["detects"] == (
        "no difference shown"
    )
    earlier = table[table["schedule"].str.contains("segment")].iloc[0]  # one epoch before constant 3, every run
    assert earlier["detection epoch, difference (95% CI)"] == "-1.00 [-1.00, -1.00]" and earlier["detects"] == "sooner"


def test_a_network_that_never_leaves_chance_level_has_not_learned(tmp_path):
    """Best validation accuracy 0.17 or 0.20 (<= 2 x chance for 10 classes) vs 0.86: learned is read from the
    series."""
    import pytest

    from trainfix.papers.monitor import study_runs
    from trainfix.results.collect import collect_runs

    _write_run(tmp_path / "dead", 0, 30, level=0.11)
    _write_run(tmp_path / "alive", 1, 30)
    _write_run(tmp_path / "edge", 2, 30, level=0.14)  # best 0.20 = exactly 2 x chance: not above it
    study = study_runs(collect_runs(tmp_path)).set_index("run_id")
    assert study.loc["edge", "max_val_acc"] == pytest.approx(0.2) and not study.loc["edge", "learned"]
    assert study.loc["dead", "max_val_acc"] == pytest.approx(0.17) and not study.loc["dead", "learned"]
    assert study.loc["alive", "max_val_acc"] == pytest.approx(0.86) and study.loc["alive", "learned"]


def test_depth_table_compares_the_flagged_shares_with_newcombes_interval():
    """20 layers: 11/20 flagged; 34 layers: 3 of 6 flagged, the 3 others dead. Every run: 11/20 - 3/6 = +5 points;
    the runs that learned: 11/20 - 3/3 = -45 points; each interval is proportion_difference's, the thesis' +25
    (GPU) beside them. A case without runs is named."""
    import pandas as pd
    import pytest

    from trainfix.core.statistics import proportion_difference
    from trainfix.monitor.contrasts import depth_difference, depth_table

    study = pd.DataFrame(
        {
            "hidden_layers": [20] * 20 + [34] * 6,
            "budget": 50,
            "flagged": [True] * 11 + [False] * 9 + [True] * 3 + [False] * 3,
            "learned": [True] * 23 + [False] * 3,
        }
    )
    paper = {"cases": [{"epochs": 50, "hidden_layers": 20, "flagged_pct": 60, "device": "GPU"},
                       {"epochs": 50, "hidden_layers": 34, "flagged_pct": 35, "device": "GPU"},
                       {"epochs": 50, "hidden_layers": 20, "flagged_pct": 64, "device": "CPU"}]}  # fmt: skip
    table = depth_table(study, paper).set_index("runs counted")
    every, learned = table.loc["every run (as the thesis counts)"], table.loc["runs that learned"]
    assert (every["flagged, 20 layers"], every["flagged, 34 layers"]) == ("11/20", "3/6")
    assert (learned["flagged, 20 layers"], learned["flagged, 34 layers"]) == ("11/20", "3/3")
    for row, counts in ((every, (11, 20, 3, 6)), (learned, (11, 20, 3, 3))):
        d = proportion_difference(*counts)
        assert row["difference, points (95% CI, Newcombe)"] == (
            f"{100 * d.diff:+.0f} [{100 * d.low:+.0f}, {100 * d.high:+.0f}]"
        )
        assert row["thesis difference, points"] == "+25 (GPU)"
    assert every["difference, points (95% CI, Newcombe)"].startswith("+5 [")
    assert depth_difference(study, 50, 20, 34)["difference"] == proportion_difference(11, 20, 3, 6)
    with pytest.raises(ValueError, match="no runs of 34 hidden layers, 50 epochs"):
        depth_difference(study[study["hidden_layers"] == 20], 50, 20, 34)
    broken = study.assign(learned=[True] * 25 + [None])  # a row without the column: refused, not skipped
    with pytest.raises(ValueError, match="study column 'learned'"):
        depth_table(broken, paper)
    with pytest.raises(ValueError, match="no runs that learned of 34 hidden layers"):
        depth_difference(study[~study["learned"] | (study["hidden_layers"] == 20)], 50, 20, 34, learned_only=True)


def test_budget_table_pairs_the_same_seeds_with_newcombes_paired_interval():
    """20 layers, seeds 0-9 judged at 50 and at 150 epochs (seeds 10-11 at 50 only: left out of the pair): flagged at
    50: seeds 0-6; at 150: seeds 0-2 and 8. Both 3, at 150 only 1, at 50 only 4, neither 2: 4/10 - 7/10 = -30
    points with paired_proportion_difference(3, 1, 4, 2); the thesis' GPU cases 38 and 34 minus 60. The 34-layer
    case, 50 epochs only, has no pair."""
    import pandas as pd
    import pytest

    from trainfix.core.statistics import paired_proportion_difference
    from trainfix.monitor.contrasts import budget_difference, budget_table, thesis_budget_difference

    at_50 = pd.DataFrame({"hidden_layers": 20, "budget": 50, "seed": range(12), "flagged": [True] * 7 + [False] * 5})
    at_150 = pd.DataFrame(
        {"hidden_layers": 20, "budget": 150, "seed": range(10), "flagged": [True] * 3 + [False] * 5 + [True, False]}
    )
    deep = pd.DataFrame({"hidden_layers": 34, "budget": 50, "seed": range(3), "flagged": [True, False, True]})
    study = pd.concat([at_150, deep, at_50], ignore_index=True)
    paper = {"cases": [{"epochs": 50, "hidden_layers": 20, "flagged_pct": 60, "device": "GPU"},
                       {"epochs": 150, "hidden_layers": 20, "flagged_pct": 38, "device": "GPU"},
                       {"epochs": 150, "hidden_layers": 20, "flagged_pct": 34, "device": "GPU"},
                       {"epochs": 50, "hidden_layers": 20, "flagged_pct": 64, "device": "CPU"}]}  # fmt: skip
    found = budget_difference(study, 20, 50, 150)
    expected = paired_proportion_difference(3, 1, 4, 2)
    assert found["difference"] == expected and expected.diff == pytest.approx(-0.3)
    assert (found["runs"], found["flagged_longer"], found["flagged_shorter"]) == (10, 4, 7)
    assert (found["longer_only"], found["shorter_only"]) == (1, 4)
    assert thesis_budget_difference(paper, 20, 50, 150) == {"GPU": [-22, -26]}
    table = budget_table(study, paper)
    assert len(table) == 1  # no 34-layer pair
    row = table.iloc[0]
    assert (row["hidden layers"], row["epochs"], row["runs (judged at both)"]) == (20, "150 vs 50", 10)
    assert row["flagged at the longer only / the shorter only"] == "1 / 4"
    assert row["difference, points (95% CI, Newcombe paired)"] == (
        f"{100 * expected.diff:+.0f} [{100 * expected.low:+.0f}, {100 * expected.high:+.0f}]"
    )
    assert row["thesis difference, points"] == "-22, -26 (GPU)"
    with pytest.raises(ValueError, match="no seed of 34 hidden layers judged at both 50 and 150 epochs"):
        budget_difference(study, 34, 50, 150)


def test_study_flags_are_read_strictly():
    """per_run.csv read back: True/False or their text; a gap (a row written before the column existed) is refused
    by name, where astype(bool) would have counted it, and the text "False", as True."""
    import numpy as np
    import pandas as pd
    import pytest

    from trainfix.monitor.study import flags

    assert list(flags(pd.Series([True, "False", np.bool_(False), "True"]), "flagged")) == [True, False, False, True]
    with pytest.raises(ValueError, match=r"study column 'learned': values \['nan'\] are not True/False"):
        flags(pd.Series([True, np.nan]), "learned")
    with pytest.raises(ValueError, match="'yes'"):
        flags(pd.Series(["yes"]), "flagged")


def test_first_epoch_table_counts_runs_at_chance_after_epoch_1_and_what_became_of_them():
    """Hand-counted: of 6 50-epoch runs, 2 at chance after epoch 1 (0.1135, and 0.20 = exactly twice chance), one of
    which learns later; 1 above chance (0.21) never learns. Of 4 1-epoch runs, 1 at chance: nothing 'later'."""
    import pandas as pd
    from scipy import stats

    from trainfix.monitor.study import first_epoch_table

    study = pd.DataFrame(
        {
            "hidden_layers": [34] * 10,
            "budget": [50] * 6 + [1] * 4,
            "first_val_acc": [0.1135, 0.20, 0.21, 0.62, 0.71, 0.80, 0.1135, 0.55, 0.61, 0.23],
            "chance": [0.1] * 10,
            "learned": [False, True, False, True, True, True, False, True, True, True],
        }
    )
    table = first_epoch_table(study).set_index("epochs")
    fifty, one = table.loc[50], table.loc[1]
    assert fifty["runs"] == 6 and fifty["at chance after epoch 1"] == "2/6 = 33%"
    ci = stats.binomtest(2, 6).proportion_ci(0.95)
    assert fifty["95% CI (Clopper-Pearson)"] == f"{100 * ci.low:.0f}-{100 * ci.high:.0f}%" == "4-78%"
    assert fifty["epoch-1 accuracy at chance (range)"] == "0.1135-0.2000"
    assert fifty["lowest epoch-1 accuracy above chance"] == "0.2100"
    assert fifty["of those at chance, learned by the budget"] == 1
    assert fifty["above chance after epoch 1, never learned"] == 1
    assert one["at chance after epoch 1"] == "1/4 = 25%" and one["epoch-1 accuracy at chance (range)"] == "0.1135"
    assert one["lowest epoch-1 accuracy above chance"] == "0.2300"
    assert one["of those at chance, learned by the budget"] == "-" == one["above chance after epoch 1, never learned"]


def test_study_reads_the_first_epoch_accuracy_of_each_run(tmp_path):
    """first_val_acc is the series' first value (epoch 1), whatever the budget it is judged at."""
    from trainfix.papers.monitor import study_runs
    from trainfix.results.collect import collect_runs

    _write_run(tmp_path / "a", 0, 30, level=0.11)
    _write_run(tmp_path / "b", 1, 30, test_period=3)
    study = study_runs(collect_runs(tmp_path), budgets=[10, 30], replay=True)
    assert sorted(study["first_val_acc"].round(4)) == [0.11, 0.11, 0.8, 0.8]
    assert set(study["chance"]) == {0.1}


def test_only_writes_the_named_outputs_and_names_what_is_accepted(tmp_path, capsys):
    """1-epoch runs: `--only first_epoch` writes that table, per_run.csv and the report, no schedule table nor the
    histograms; an unknown name is refused with the accepted list."""
    import pytest

    from trainfix.results.__main__ import main

    runs = tmp_path / "runs"
    runs.mkdir()
    for seed, level in enumerate([0.1135, 0.62, 0.1135]):
        _write_run(runs / f"r{seed}", seed, 1, level=level)
    main(["monitor", "--runs", str(runs), "--out", str(tmp_path / "out"), "--only", "first_epoch"])
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["per_run.csv", "report.html", "table_first_epoch.csv", "table_first_epoch.md",
                       "table_first_epoch.tex"]  # fmt: skip
    assert "| 2/3 = 67% " in (tmp_path / "out" / "table_first_epoch.md").read_text()
    with pytest.raises(SystemExit):
        main(["monitor", "--runs", str(runs), "--out", str(tmp_path / "x"), "--only", "first_epoch,histogram"])
    assert "histogram is not an output of the study; accepted: detection, depth, first_epoch" in capsys.readouterr().err
    # a folder built in full is not rebuilt in part: its other tables would stay, from other runs
    main(["monitor", "--runs", str(runs), "--out", str(tmp_path / "full")])
    before = {p.name: p.read_bytes() for p in (tmp_path / "full").iterdir()}
    assert "histograms.png" in before and "table_detection.md" in before
    assert main(["monitor", "--runs", str(runs), "--out", str(tmp_path / "full"), "--only", "first_epoch"]) == 2
    assert "holds histograms.png, table_detection.csv" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in (tmp_path / "full").iterdir()} == before
