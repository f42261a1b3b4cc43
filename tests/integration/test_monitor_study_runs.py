"""The oscillating-loss study on tiny real runs (in-process): a longer run replays a shorter budget exactly.
(Per-run numbers on crafted series: tests/unit/test_monitor_study.py.)"""

from __future__ import annotations


def test_a_longer_run_replays_a_shorter_budget_exactly(tiny_cfg, tmp_path):
    """`--replay` counts a longer run's first b epochs as a run of b epochs. That holds only if nothing in the
    study's runs depends on the planned epochs: train the study's experiment (20-layer MLP, Adam, shuffle) for
    2 and for 3 epochs from the same seed; the first 2 epochs must be identical, and replay_check says 0. The
    budget contrast pairs the seed's own 2-epoch run with its 3-epoch run."""
    import pandas as pd

    from trainfix.monitor.contrasts import budget_table
    from trainfix.monitor.study import replay_check
    from trainfix.papers.monitor import study_runs
    from trainfix.results.collect import collect_runs
    from trainfix.train import train

    root = tmp_path / "monitor_ol_quick"
    for epochs in (2, 3):
        train(
            tiny_cfg(
                "experiment=monitor/oscillating_loss/mlp_mnist",
                f"trainer.max_epochs={epochs}",
                "data.train_subset=640",
                "data.test_subset=200",
                "data.batch_size=32",
                run_dir=root / f"mlp20_ep{epochs}_seed0",
            )
        )
    short, long = (pd.read_csv(root / f"mlp20_ep{e}_seed0" / "metrics.csv") for e in (2, 3))
    compared = [c for c in short.columns if not c.endswith("_s")]
    assert {"train_loss", "test_acc", "grad_norm_mean"} <= set(compared)
    pd.testing.assert_frame_equal(short[compared], long[compared].head(2), check_exact=True)
    check = replay_check(collect_runs(root))
    assert check["planned"].tolist() == ["2 vs 3"] and check["max |diff| test_acc"].tolist() == [0.0]
    study = study_runs(collect_runs(root), budgets=[2, 3], replay=True)
    assert sorted(zip(study["budget"], study["replayed"])) == [(2, False), (3, False)]  # the seed's own 2-epoch run
    table = budget_table(study, {"cases": []})
    assert table["epochs"].tolist() == ["3 vs 2"] and table["runs (judged at both)"].tolist() == [1]
    assert table["thesis difference, points"].tolist() == ["-"]
