"""LEAP Table 1 and its curves from hand-made run folders, checked against hand-computed cells.

mnist    LEAP seeds 0, 1 finished (final test acc 0.95, 0.97); SPLD seed 0 finished (0.96);
         Random seed 0 finished (0.90), seed 1 still running
cifar10  LEAP seed 0 finished on the JPEG copy (0.80)
cifar100 LEAP seed 0 failed: data missing
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

from trainfix.papers.leap import table_1, table_1_values
from trainfix.results.__main__ import main
from trainfix.results.collect import collect_runs
from trainfix.strategies.leap.records import curves, final_values, leap_runs

TARGETS = {
    "LEAP": "trainfix.strategies.leap.leap.Leap",
    "SPLD": "trainfix.strategies.leap.spld.Spld",
    "Random": "trainfix.strategies.leap.random_subset.RandomSubset",
}


def write_run(
    root: Path,
    row: str,
    method: str,
    seed: int,
    accs: list[float] | None,
    status: str = "finished",
    label: str = "MNIST",
    error: str | None = None,
    strategy: dict | None = None,
    name: str = "",
) -> None:
    folder = root / f"{row}_{method}_{seed}{name}"
    folder.mkdir(parents=True)
    config = {
        "seed": seed,
        "experiment_row": row,
        "model": {"name": "lenet5"},
        "strategy": {"_target_": TARGETS[method], **(strategy or {})},
    }
    record = {"status": status, "seed": seed, "config": config, "host": {"device": "cpu"}}
    if error is None:
        record["data"] = {"label": label, "official": True, "num_train": 60000}
    else:
        record["error"] = error
    (folder / "run.json").write_text(json.dumps(record))
    if accs is not None:
        n = len(accs)
        pd.DataFrame(
            {
                "epoch": range(n),
                "global_step": [938, 1600, 1876][:n],
                "train_loss": 0.3,
                "train_acc": 0.9,
                "test_loss": 0.2,
                "test_acc": accs,
                "selected_frac_next": [0.7, 0.8, 0.9][:n],
            }
        ).to_csv(folder / "metrics.csv", index=False)


def test_table_1_cells_statuses_and_files(tmp_path):
    root = tmp_path / "runs"
    write_run(root, "mnist", "LEAP", 0, [0.90, 0.94, 0.95])
    write_run(root, "mnist", "LEAP", 1, [0.91, 0.96, 0.97])
    write_run(root, "mnist", "SPLD", 0, [0.93, 0.96])
    write_run(root, "mnist", "Random", 0, [0.85, 0.90])
    write_run(root, "mnist", "Random", 1, [0.88], status="running")
    write_run(root, "cifar10", "LEAP", 0, [0.80], label="CIFAR-10 (lossy JPEG copy, not the official files)")
    write_run(root, "cifar100", "LEAP", 0, None, status="failed", error="DatasetMissingError: no CIFAR-100 files")

    values = table_1_values(collect_runs(root)).set_index(["method", "row"])
    leap = values.loc[("LEAP", "mnist")]
    assert leap["ours_mean"] == 96.0 and math.isclose(leap["ours_std"], math.sqrt(2.0), rel_tol=1e-12)
    assert math.isclose(leap["diff"], 96.0 - 99.31) and leap["ours_runs"] == 2 and leap["updates"] == "1876"
    assert values.loc[("SPLD", "mnist"), "ours_mean"] == 96.0 and math.isnan(values.loc[("SPLD", "mnist"), "ours_std"])
    assert values.loc[("Random", "mnist"), "ours_runs"] == 1  # the running seed does not count
    assert values.loc[("LEAP", "cifar100"), "status"] == "data missing"
    assert values.loc[("SPLD", "svhn"), "status"] == "not run"

    table = table_1(values.reset_index())
    assert table.loc["LEAP", ("MNIST", "ours (final)")] == "96.00 ± 1.41 (n=2)"
    assert table.loc["LEAP", ("MNIST", "diff")] == "-3.31"
    assert table.loc["LEAP", ("CIFAR-100*", "ours (final)")] == "data missing"
    jpeg = sorted({c for c in table.columns.get_level_values(0) if c.startswith("CIFAR-10 [")})
    assert jpeg == ["CIFAR-10 [CIFAR-10 (lossy JPEG copy, not the official files)]"]

    curve = curves(collect_runs(root))
    point = curve.reset_index().set_index(["row", "method", "metric", "epoch"]).loc[("mnist", "LEAP", "test_acc", 1)]
    assert (point["mean"], point["low"], point["high"], point["seeds"], point["updates"]) == (95.0, 94.0, 96.0, 2, 1600)

    out = tmp_path / "out"
    assert not any(root.rglob("leap_embedding.csv"))
    assert main(["leap", "--runs", str(root), "--out", str(out)]) == 0
    for name in ("table_1.md", "table_1.csv", "table_1.tex", "curves.png", "report.html", "curves.csv"):
        assert (out / name).stat().st_size > 0
    assert not (out / "embedding.png").exists()  # no LEAP run wrote an embedding: no blank figure
    assert "96.00 ± 1.41 (n=2)" in (out / "table_1.md").read_text()
    page = (out / "report.html").read_text()  # a title naming the paper and table, a one-line caption above it
    assert "<h1>LEAP reproduction: Table 1 (all data sets), convergence curves and embeddings</h1>" in page
    assert '<p class="caption">Final test accuracy (%) per sampling method and data set: paper, ours' in page


def test_rows_option_keeps_only_the_named_data_sets(tmp_path, capsys):
    root = tmp_path / "runs"
    write_run(root, "mnist", "LEAP", 0, [0.90, 0.95])
    out = tmp_path / "out"
    assert main(["leap", "--runs", str(root), "--out", str(out), "--rows", "mnist"]) == 0
    header = (out / "table_1.md").read_text()
    assert "MNIST (ours (final))" in header and "95.00 (n=1)" in header
    assert "Fashion-MNIST (paper)" not in header and "SVHN* (paper)" not in header
    assert main(["leap", "--runs", str(root), "--out", str(out), "--rows", "mnist,fmnist"]) == 2
    # An evidence folder of results/manifest.yaml gets the manifest's title; --title wins over both.
    evidence = tmp_path / "results" / "leap" / "cpu"
    evidence.mkdir(parents=True)
    (tmp_path / "results" / "manifest.yaml").write_text(
        "folders:\n  - {path: results/leap/other, title: Other}\n  - {path: results/leap/cpu, title: LEAP on a CPU}\n"
    )
    assert main(["leap", "--runs", str(root), "--out", str(evidence), "--rows", "mnist"]) == 0
    assert "<h1>LEAP on a CPU</h1>" in (evidence / "report.html").read_text()
    assert main(["leap", "--runs", str(root), "--out", str(evidence), "--rows", "mnist", "--title", "Mine"]) == 0
    assert "<h1>Mine</h1>" in (evidence / "report.html").read_text()
    assert (
        "--rows fmnist: not a LEAP Table 1 data set; accepted: mnist,fashion_mnist,cifar10,cifar100,svhn"
        in capsys.readouterr().err
    )


def test_a_cell_refuses_runs_of_two_configurations(tmp_path, capsys):
    # Seeds of one configuration average; a run with strategy.losses=current among losses=trained runs is refused,
    # naming the key and both runs. A run whose (older) config lacks the key is not compared on it.
    root = tmp_path / "runs"
    write_run(root, "mnist", "SPLD", 0, [0.90, 0.95])  # older code: no `losses` key
    write_run(root, "mnist", "SPLD", 1, [0.91, 0.96], strategy={"losses": "trained"})
    assert table_1_values(collect_runs(root)).set_index(["method", "row"]).loc[("SPLD", "mnist"), "ours_runs"] == 2
    write_run(root, "mnist", "SPLD", 2, [0.92, 0.98], strategy={"losses": "current"}, name="_current")
    out = tmp_path / "out"
    assert main(["leap", "--runs", str(root), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert (
        "LEAP Table 1, SPLD on mnist" in err
        and "strategy.losses: trained (mnist_SPLD_1) vs current (mnist_SPLD_2_current)" in err
    )
    assert not (out / "table_1.md").exists()


def test_a_cell_refuses_a_seed_recorded_twice(tmp_path, capsys):
    # An earlier run's records copied beside a rerun's under another folder name: seed 1 would count twice.
    root = tmp_path / "runs"
    for seed in (0, 1):
        write_run(root, "mnist", "LEAP", seed, [0.90, 0.95])
    assert table_1_values(collect_runs(root)).set_index(["method", "row"]).loc[("LEAP", "mnist"), "ours_runs"] == 2
    write_run(root, "mnist", "LEAP", 1, [0.91, 0.99], name="-rerun")
    assert main(["leap", "--runs", str(root), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "LEAP Table 1, LEAP on mnist: 2 folders under" in err
    assert "for seed 1: ['mnist_LEAP_1', 'mnist_LEAP_1-rerun']; a cell counts each once" in err


def test_best_epoch_and_method_minus_baseline_against_scipy(tmp_path):
    # LEAP seed 0 peaks before its last epoch (96 at epoch 2, 1,600 updates); seed 1 peaks at the end (97).
    # LEAP - Random of the final accuracies: (95, 97) vs (90, 93): +4.50, Welch interval as scipy's.
    root = tmp_path / "runs"
    write_run(root, "mnist", "LEAP", 0, [0.90, 0.96, 0.95])
    write_run(root, "mnist", "LEAP", 1, [0.91, 0.96, 0.97])
    write_run(root, "mnist", "Random", 0, [0.85, 0.90])
    write_run(root, "mnist", "Random", 1, [0.88, 0.93])
    write_run(root, "mnist", "SPLD", 0, [0.93, 0.96])
    runs = collect_runs(root)
    per_run = final_values(runs, leap_runs(runs)).set_index(["method", "seed"])
    best = per_run.loc[("LEAP", 0)]
    assert (best["test_acc"], best["best_test_acc"]) == pytest.approx((95.0, 96.0))
    assert (best["best_epoch"], best["best_updates"]) == (2, 1600)
    assert per_run.loc[("LEAP", 1), "best_epoch"] == 3

    values = table_1_values(runs).set_index(["method", "row"])
    leap = values.loc[("LEAP", "mnist")]
    ci = stats.ttest_ind([95.0, 97.0], [90.0, 93.0], equal_var=False).confidence_interval()
    assert leap["vs_random_diff"] == pytest.approx(4.5)
    assert (leap["vs_random_ci_low"], leap["vs_random_ci_high"]) == pytest.approx((ci.low, ci.high))
    assert leap["vs_random_text"] == f"+4.50 [{ci.low:+.2f}, {ci.high:+.2f}]" == "+4.50 [-4.47, +13.47]"
    assert leap["vs_spld_text"] == "+0.00 (no interval: n < 2)" and math.isnan(leap["vs_spld_ci_low"])
    assert (leap["ours_best_mean"], leap["ours_best_std"]) == pytest.approx((96.5, math.sqrt(0.5)))
    assert values.loc[("Random", "mnist"), "vs_random_text"] == ""
    assert values.loc[("SPLD", "mnist"), "vs_spld_text"] == ""

    table = table_1(values.reset_index())
    assert table.loc["LEAP", ("MNIST", "ours (best epoch)")] == "96.50 ± 0.71 (n=2)"
    assert table.loc["LEAP", ("MNIST", "vs Random")] == "+4.50 [-4.47, +13.47]"
    assert table.loc["SPLD", ("MNIST", "vs Random")] == "+4.50 (no interval: n < 2)"
    assert table.loc["Random", ("MNIST", "vs SPLD")] == ""
    assert any("95 % Welch t interval over seeds (n per arm as shown)" in line for line in table.attrs["caption"])

    out = tmp_path / "out"
    assert main(["leap", "--runs", str(root), "--out", str(out), "--rows", "mnist"]) == 0
    assert list(pd.read_csv(out / "table_1_runs.csv")["best_epoch"].sort_values()) == [2, 2, 2, 2, 3]
    written = pd.read_csv(out / "table_1_values.csv")
    assert {"ours_mean", "ours_std", "ours_runs", "paper_mean", "ours_best_mean", "vs_random_ci_high"} <= set(written)
