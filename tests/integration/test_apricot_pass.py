"""Apricot's adaptation pass end to end on tiny real runs (LeNet-5 on real MNIST, CPU): reduced models
on index windows, roll-back to the best weights, and resume after the last completed batch."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from tests.conftest import compose_train
from trainfix.procedures.apricot.procedure import run_pass
from trainfix.train import train
from trainfix.training.compose import CONF_DIR

# one xdist worker trains the module's runs (trained_runs) once for every test here
pytestmark = pytest.mark.xdist_group("apricot_pass")

SMALL = [
    "model=lenet5",
    "data=mnist",
    "trainer.accelerator=cpu",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
    "data.train_subset=1200",
    "data.test_subset=400",
    "data.batch_size=100",
    "data.eval_batch_size=400",
]


@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory, data_dir) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("apricot_runs")
    base = SMALL + [f"paths.data_dir={data_dir}"]
    train(compose_train(["experiment=apricot/table_v/cnn1", *base], root / "input"))
    reduced = []
    for start in (0, 300, 600):
        folder = root / f"reduced_{start}"
        train(
            compose_train(
                [
                    "experiment=apricot/table_v/cnn1_reduced",
                    *base,
                    f"data.train_window.start={start}",
                    "data.train_window.size=600",
                ],
                folder,
            )
        )
        reduced.append(folder)
    return root / "input", reduced


def pass_inputs(trained_runs: tuple[Path, list[Path]]) -> list[str]:
    """A pass's overrides for the module's trained runs: the input run, the reduced runs, evaluation in batches of
    400 (the whole test subset)."""
    input_dir, reduced = trained_runs
    return [f"input_run={input_dir}", f"reduced_runs=[{','.join(map(str, reduced))}]", "eval_batch_size=400"]


def apricot_cfg(*overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        return compose("apricot.yaml", overrides=list(overrides))


def test_reduced_runs_train_on_their_windows(trained_runs):
    _, reduced = trained_runs
    records = [json.loads((f / "run.json").read_text()) for f in reduced]
    assert [r["data"]["num_train"] for r in records] == [600, 600, 600]
    assert [r["data"]["train_window"] for r in records] == [
        {"start": s, "size": 600, "order": "official"} for s in (0, 300, 600)
    ]
    assert all(r["config"]["trainer"]["max_epochs"] == 1 and r["status"] == "finished" for r in records)


def test_rollback_keeps_the_best_weights(trained_runs, tmp_path):
    # r = 0.9 moves 90% of the way toward the correct group's average per failing sample: the model
    # changes a lot, and without retraining every batch that is not strictly better is rolled back.
    cfg = apricot_cfg(
        *pass_inputs(trained_runs),
        f"out_dir={tmp_path / 'a'}",
        "r=0.9",
        "retrain_epochs=0",
        "max_batches=3",
    )
    result = run_pass(cfg)
    state = torch.load(tmp_path / "a" / "state.pt", weights_only=False)
    history = pd.read_csv(tmp_path / "a" / "history.csv")
    assert len(history) == 3 and (history["adjusted"] > 0).all()
    assert history["acc_adjusted"].nunique() > 1  # the adjustments changed the model
    best_acc = max([result["input_selection_acc"], *history.loc[history["kept"], "acc_adjusted"]])
    assert result["best_selection_acc"] == pytest.approx(best_acc)
    assert history["best_acc"].is_monotonic_increasing
    for key, value in state["best"].items():  # after the last batch the model is the best one again
        assert torch.equal(state["current"][key], value), key
    saved = torch.load(tmp_path / "a" / "best.pt", weights_only=False)
    assert all(torch.equal(saved[k], v) for k, v in state["best"].items())
    before = (tmp_path / "a" / "state.pt").read_bytes()
    assert run_pass(cfg) == result  # a complete pass re-invoked: nothing to do, the same result
    assert (tmp_path / "a" / "state.pt").read_bytes() == before
    facts = json.loads((tmp_path / "a" / "reduced.json").read_text())
    assert len(facts["reduced"]) == 3 and facts["train_images_never_used"] == 0
    assert 0 <= facts["rescued_share_of_test"] <= 1 - facts["input_test_acc"] + 1e-9


def test_killed_pass_resumes_with_the_same_result(trained_runs, tmp_path):
    common = [
        *pass_inputs(trained_runs),
        "r=0.05",
        "retrain_epochs=1",
        "apricot_strategy=1",
        "direction=printed",
    ]
    straight = run_pass(apricot_cfg(*common, f"out_dir={tmp_path / 'straight'}", "max_batches=3"))
    run_pass(apricot_cfg(*common, f"out_dir={tmp_path / 'resumed'}", "max_batches=1"))  # stopped after batch 1
    resumed = run_pass(apricot_cfg(*common, f"out_dir={tmp_path / 'resumed'}", "max_batches=3"))
    a = pd.read_csv(tmp_path / "straight" / "history.csv")
    b = pd.read_csv(tmp_path / "resumed" / "history.csv")
    cols = ["batch", "failing", "adjusted", "acc_adjusted", "kept", "best_acc"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    assert straight["test_acc"] == resumed["test_acc"] and straight["train_acc"] == resumed["train_acc"]
    sa = torch.load(tmp_path / "straight" / "state.pt", weights_only=False)["current"]
    sb = torch.load(tmp_path / "resumed" / "state.pt", weights_only=False)["current"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_tables_and_figures_from_the_passes(trained_runs):
    from trainfix.papers.apricot import build_tables as build

    input_dir, _ = trained_runs
    root = input_dir.parent
    results = {}
    for strategy, direction in ((1, "toward"), (3, "printed")):
        out = root / "adapt" / f"s{strategy}_{direction}"
        results[(strategy, direction)] = run_pass(
            apricot_cfg(
                *pass_inputs(trained_runs),
                f"out_dir={out}",
                "row=cnn1",
                f"apricot_strategy={strategy}",
                f"direction={direction}",
                "retrain_epochs=0",
                "max_batches=1",
            )
        )
    control = run_pass(
        apricot_cfg(
            *pass_inputs(trained_runs),
            f"out_dir={root / 'adapt' / 'control'}",
            "row=cnn1",
            "adjust=false",
            "retrain_epochs=1",
            "max_batches=2",
        )
    )
    written = build(root, root / "tables")
    names = {p.name for p in written}
    assert {
        "table_ii.md",
        "table_iii.md",
        "table_iv.md",
        "table_v.md",
        "figure_2.png",
        "figure_3.png",
        "report.html",
    } <= names
    table_v = (root / "tables" / "table_v.md").read_text()
    assert "| CNN1    | paper" in table_v or "CNN1" in table_v
    s1 = results[(1, "toward")]
    assert f"{100 * s1['test_acc']:.2f}" in table_v  # our S1 (toward) test accuracy, beside the paper's 74.88
    assert "74.88" in table_v and "not the official CIFAR-10" not in table_v  # MNIST: official files
    # the control pass is its own row (its gain, not a strategy's) and its test accuracy is in the caption
    control_row = next(line for line in table_v.splitlines() if "control: no adjustment" in line)
    assert f"| {100 * control['gain']:.2f} " in control_row and f"{100 * control['test_acc']:.2f} %" in table_v
    assert "(ours, control)" not in table_v  # not shown as a sign convention
    table_iv = (root / "tables" / "table_iv.md").read_text()
    facts = json.loads((root / "adapt" / "s1_toward" / "reduced.json").read_text())
    mean_test = sum(m["test_acc"] for m in facts["reduced"]) / 3
    assert f"{100 * mean_test:.2f}" in table_iv and "59.47" in table_iv
    assert "official order" in table_iv or "published order" in table_iv


def test_selection_on_a_validation_split_reports_the_held_out_rest(trained_runs, tmp_path):
    from trainfix.procedures.apricot.procedure import _selection_split

    input_dir, _ = trained_runs
    cfg = apricot_cfg(
        *pass_inputs(trained_runs),
        f"out_dir={tmp_path / 'v'}",
        "eval_on=validation",
        "validation_size=150",
        "retrain_epochs=0",
        "max_batches=1",
    )
    select, report = _selection_split(400, cfg)
    assert len(select) == 150 and len(report) == 250 and not set(select.tolist()) & set(report.tolist())
    result = run_pass(cfg)
    predictions = torch.load(next(tmp_path.glob("predictions-*.pt")), weights_only=False)
    held_out = float((predictions["input_test"][report] == _test_labels(input_dir)[report]).float().mean())
    assert result["input_test_acc"] == pytest.approx(held_out)
    with pytest.raises(ValueError, match="validation_size=400"):
        _selection_split(400, apricot_cfg("eval_on=validation", "validation_size=400"))


def _test_labels(input_dir: Path) -> torch.Tensor:
    from trainfix.training.checkpoint import load_run

    return load_run(input_dir, "best").datamodule.splits["test"].labels


def test_lazy_rdlm_predictions_give_the_same_pass(trained_runs, tmp_path):
    """rdlm_predictions=lazy (the rDLMs predict only the training samples the model fails) against full
    (every rDLM predicts the whole training set first): the same decisions, weights and accuracies, also
    when the lazy pass is killed after batch 1 and resumed with an empty cache."""
    common = [
        *pass_inputs(trained_runs),
        "r=0.05",
        "retrain_epochs=1",
        "apricot_strategy=1",
        "direction=toward",
    ]
    with pytest.raises(ValueError, match=r"rdlm_predictions='some'; accepted: \['full', 'lazy'\]"):
        run_pass(apricot_cfg(*common, "rdlm_predictions=some", f"out_dir={tmp_path / 'bad'}"))
    full = run_pass(
        apricot_cfg(*common, "rdlm_predictions=full", f"out_dir={tmp_path / 'full' / 'pass'}", "max_batches=3")
    )
    lazy = run_pass(
        apricot_cfg(*common, "rdlm_predictions=lazy", f"out_dir={tmp_path / 'lazy' / 'pass'}", "max_batches=3")
    )
    run_pass(apricot_cfg(*common, "rdlm_predictions=lazy", f"out_dir={tmp_path / 'lazy' / 'resumed'}", "max_batches=1"))
    resumed = run_pass(
        apricot_cfg(*common, "rdlm_predictions=lazy", f"out_dir={tmp_path / 'lazy' / 'resumed'}", "max_batches=3")
    )

    cost = {
        "seconds_per_batch",
        "rdlm_predictions",
        "rdlm_train_samples_predicted",
    }  # timings and the mode's own accounting
    assert {k: v for k, v in lazy.items() if k not in cost} == {k: v for k, v in full.items() if k not in cost}
    assert {k: v for k, v in resumed.items() if k not in cost} == {k: v for k, v in full.items() if k not in cost}
    assert full["rdlm_train_samples_predicted"] == 1200 and full["rdlm_predictions"] == "full"
    folders = {
        name: tmp_path / name.split("/")[0] / name.split("/")[1] for name in ("full/pass", "lazy/pass", "lazy/resumed")
    }
    histories = {name: pd.read_csv(folder / "history.csv") for name, folder in folders.items()}
    cols = ["batch", "failing", "adjusted", "acc_adjusted", "kept", "acc_retrained", "best_acc"]
    for name in ("lazy/pass", "lazy/resumed"):
        pd.testing.assert_frame_equal(histories[name][cols], histories["full/pass"][cols])
        states = [torch.load(folders[n] / "state.pt", weights_only=False) for n in ("full/pass", name)]
        bests = [torch.load(folders[n] / "best.pt", weights_only=False) for n in ("full/pass", name)]
        for part in ("current", "best"):
            assert all(torch.equal(states[0][part][k], states[1][part][k]) for k in states[0][part]), (name, part)
        assert all(torch.equal(bests[0][k], bests[1][k]) for k in bests[0]), name
    assert histories["full/pass"]["adjusted"].sum() > 0  # the adjustments did use the rDLMs' predictions

    # every failing sample's rDLM column was predicted, nothing outside the batch was:
    # failing <= predicted <= 20 per batch
    lazy_history = histories["lazy/pass"]
    assert (lazy_history["rdlm_predicted"] >= lazy_history["failing"]).all() and (
        lazy_history["rdlm_predicted"] <= 20
    ).all()
    assert lazy["rdlm_train_samples_predicted"] == lazy_history["rdlm_predicted"].sum() < 1200
    assert histories["full/pass"]["rdlm_predicted"].isna().all()

    # reduced.json: Table IV's facts agree; lazy predicted each rDLM on its window (3 x 600), not on all
    # 3 x 1200 samples
    facts = {n: json.loads((folders[n] / "reduced.json").read_text()) for n in ("full/pass", "lazy/pass")}
    for key in (
        "input_train_acc",
        "input_test_acc",
        "rescued_share_of_test",
        "rescued_share_of_failed",
        "train_images_never_used",
    ):
        assert facts["lazy/pass"][key] == facts["full/pass"][key], key
    for a, b in zip(facts["full/pass"]["reduced"], facts["lazy/pass"]["reduced"], strict=True):
        assert (a["train_acc_window"], a["test_acc"]) == (b["train_acc_window"], b["test_acc"]) and b[
            "train_acc_full"
        ] is None
    assert (
        facts["full/pass"]["prediction_rdlm_train_forwards"] == 3600
        and facts["lazy/pass"]["prediction_rdlm_train_forwards"] == 1800
    )
    lazy_file = torch.load(next((tmp_path / "lazy").glob("predictions-*-lazy.pt")), weights_only=False)
    assert "reduced_train" not in lazy_file and [len(p) for p in lazy_file["reduced_window"]] == [600, 600, 600]


def test_control_pass_adjusts_nothing_and_ignores_the_strategy_settings(trained_runs, tmp_path):
    """adjust=false: the same batches, selection and retraining with no weight moved. Without retraining
    nothing changes at all (gain 0, the input model's weights); its folder does not depend on the
    strategy, sign, r; a strategy pass keeps the folder it had before the key existed."""
    input_dir, _ = trained_runs
    runs = tmp_path / "runs"
    runs.mkdir()
    common = [
        f"runs={runs}",
        *pass_inputs(trained_runs),
        "row=cnn1",
        "max_batches=2",
        "retrain_epochs=0",
    ]
    result = run_pass(apricot_cfg(*common, "adjust=false", "r=0.9"))
    (folder,) = (runs / "adapt").glob("cnn1_seed0_control-*")
    history = pd.read_csv(folder / "history.csv")
    assert len(history) == 2 and (history["adjusted"] == 0).all() and history["failing"].sum() > 0
    assert not history["kept"].any() and result["gain"] == 0.0 and result["kept_batches"] == 0
    assert (result["control"], result["strategy"], result["direction"]) == (True, 0, "control")
    assert result["test_acc"] == result["input_test_acc"] and result["train_acc"] == result["input_train_acc"]
    from trainfix.training.checkpoint import load_run

    start = load_run(input_dir, checkpoint="best", device="cpu").net.state_dict()
    best = torch.load(folder / "best.pt", weights_only=False)
    assert all(torch.equal(best[k].cpu(), start[k].cpu()) for k in start)
    # another strategy, sign and r: the same control folder, found complete
    assert run_pass(apricot_cfg(*common, "adjust=false", "apricot_strategy=3", "direction=printed", "r=0.5")) == result
    assert len(list((runs / "adapt").glob("cnn1_seed0_control-*"))) == 1
    # a strategy pass: its identity has no `adjust` key, so its hash (folder) is the one it had before
    run_pass(apricot_cfg(*common, "r=0.9"))
    (strategy_folder,) = (runs / "adapt").glob("cnn1_seed0_S1_toward-*")
    assert "adjust" not in json.loads((strategy_folder / "config.json").read_text())["identity"]
    assert json.loads((folder / "config.json").read_text())["identity"]["adjust"] is False
    with pytest.raises(ValueError, match=r"adjust='no'; accepted: true .* or false"):
        run_pass(apricot_cfg(*common, "adjust=no"))


def test_a_pass_over_an_unfinished_reduced_run_is_refused_and_leaves_no_folder(trained_runs, tmp_path):
    """A reduced run still running (or interrupted) is named, and the refused pass creates no adapt folder that
    could pass for a started one."""
    import shutil

    from trainfix.procedures.apricot.inputs import ApricotInputError

    input_dir, reduced = trained_runs
    unfinished = tmp_path / reduced[1].name
    shutil.copytree(reduced[1], unfinished)
    record = json.loads((unfinished / "run.json").read_text())
    (unfinished / "run.json").write_text(json.dumps({**record, "status": "interrupted"}))
    runs = tmp_path / "runs"
    with pytest.raises(
        ApricotInputError, match=rf"{unfinished.name}: the reduced run is not finished \(status interrupted\)"
    ):
        run_pass(
            apricot_cfg(
                f"runs={runs}", f"input_run={input_dir}", f"reduced_runs=[{reduced[0]},{unfinished}]", "row=cnn1"
            )
        )
    assert not (runs / "adapt").exists()


@pytest.mark.parametrize("extra", [["adjust=false"], ["r=0.9"]], ids=["control", "strategy"])
def test_batches_that_change_nothing_are_not_evaluated_again_without_retraining(
    trained_runs, tmp_path, monkeypatch, extra
):
    """retrain_epochs=0: a batch that adjusts no weight takes the best accuracy instead of a new evaluation;
    the history and result equal those of the pass that evaluates every batch."""
    import trainfix.procedures.apricot.procedure as procedure

    common = [
        *pass_inputs(trained_runs),
        "row=cnn1",
        "batch_size=2",
        "retrain_epochs=0",
        "max_batches=8",
        *extra,
    ]
    calls = []
    real = procedure.predictions
    monkeypatch.setattr(procedure, "predictions", lambda *a, **k: calls.append(1) or real(*a, **k))
    skipped = run_pass(
        apricot_cfg(*common, f"out_dir={tmp_path / 'skipped' / 'pass'}")
    )  # own folders: no shared predictions
    evaluations_skipped = len(calls)
    monkeypatch.setattr(procedure, "SKIP_UNCHANGED_EVAL", False)
    calls.clear()
    every = run_pass(apricot_cfg(*common, f"out_dir={tmp_path / 'every' / 'pass'}"))
    a, b = (pd.read_csv(tmp_path / name / "pass" / "history.csv") for name in ("skipped", "every"))
    assert (a["adjusted"] == 0).any(), "some batch adjusts nothing"
    assert extra == ["adjust=false"] or (a["adjusted"] > 0).any(), "and the strategy pass adjusts in some batch"
    assert len(calls) - evaluations_skipped == int((a["adjusted"] == 0).sum())
    cols = ["batch", "failing", "adjusted", "acc_adjusted", "kept", "best_acc"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    assert {k: v for k, v in skipped.items() if "seconds" not in k and not k.endswith("_s")} == {
        k: v for k, v in every.items() if "seconds" not in k and not k.endswith("_s")
    }


def test_passes_started_together_compute_the_shared_predictions_once(trained_runs, tmp_path, monkeypatch):
    """Two passes preparing at the same time (a joblib sweep's workers): one computes the shared predictions
    file, the other waits for it and reads it."""
    import threading
    import time

    import trainfix.procedures.apricot.inputs as procedure_inputs

    input_dir, reduced = trained_runs
    inputs = procedure_inputs.load_inputs(input_dir, reduced, "cpu")
    cfg = apricot_cfg("eval_batch_size=400")
    computed = []
    real = procedure_inputs.compute_predictions

    def slow(*args, **kwargs):
        computed.append(threading.get_ident())
        time.sleep(1.0)  # the other pass arrives while this one computes
        return real(*args, **kwargs)

    monkeypatch.setattr(procedure_inputs, "compute_predictions", slow)
    results = {}
    threads = [
        threading.Thread(
            target=lambda i=i: results.update(
                {i: procedure_inputs.prepare_predictions(tmp_path / "adapt", inputs, cfg, lazy=True)}
            )
        )
        for i in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(computed) == 1
    assert torch.equal(results[0]["input_test"], results[1]["input_test"])
    assert all(torch.equal(a, b) for a, b in zip(results[0]["reduced_test"], results[1]["reduced_test"], strict=True))


def test_retraining_trains_through_the_runs_lightning_module(trained_runs, monkeypatch):
    """Each retraining step is the input run's `Classifier.step_loss` (the loss every run trains on) over a batch
    of the run's batch size, its L2 term on the convolution kernels included."""
    from trainfix.procedures.apricot.retrain import Retrainer
    from trainfix.training.checkpoint import load_run
    from trainfix.training.module import Classifier, conv_kernels

    input_dir, _ = trained_runs
    run = load_run(input_dir, "best")
    start = {k: v.clone() for k, v in run.net.state_dict().items()}
    sizes = []
    real = Classifier.step_loss
    monkeypatch.setattr(
        Classifier, "step_loss", lambda self, x, *a, **k: sizes.append(len(x)) or real(self, x, *a, **k)
    )
    Retrainer(run, 1)(seed=5)
    assert sizes == [100] * 12  # one step per batch of 100 over the 1,200 training images
    assert not run.classifier.training  # back in eval mode for the selection
    kernels = sum(float(w.detach().pow(2).sum()) for w in conv_kernels(run.net))
    run.net.load_state_dict(start)
    run.classifier.l2_conv_kernels = 1.0
    Retrainer(run, 1)(seed=5)
    assert (
        sum(float(w.detach().pow(2).sum()) for w in conv_kernels(run.net)) < 0.9 * kernels
    )  # the L2 term pulled the kernels in


def test_kept_optimizer_state_carries_across_batches_and_a_resume(trained_runs, tmp_path):
    """retrain_optimizer=kept: one optimizer for the pass (Adam's moments carried from batch to batch, as Keras
    across fit calls), saved with the state, so a killed pass resumes identically; fresh (the default) differs."""
    common = [
        *pass_inputs(trained_runs),
        "r=0.05",
        "retrain_epochs=1",
        "apricot_strategy=1",
        "direction=toward",
        "max_batches=3",
    ]
    with pytest.raises(ValueError, match=r"retrain_optimizer='some'; accepted: \['fresh', 'kept'\]"):
        run_pass(apricot_cfg(*common, "retrain_optimizer=some", f"out_dir={tmp_path / 'bad'}"))
    kept = run_pass(apricot_cfg(*common, "retrain_optimizer=kept", f"out_dir={tmp_path / 'kept'}"))
    run_pass(apricot_cfg(*common[:-1], "max_batches=1", "retrain_optimizer=kept", f"out_dir={tmp_path / 'resumed'}"))
    resumed = run_pass(apricot_cfg(*common, "retrain_optimizer=kept", f"out_dir={tmp_path / 'resumed'}"))
    fresh = run_pass(apricot_cfg(*common, f"out_dir={tmp_path / 'fresh'}"))
    states = {
        name: torch.load(tmp_path / name / "state.pt", weights_only=False) for name in ("kept", "resumed", "fresh")
    }
    assert all(
        torch.equal(states["kept"]["current"][k], states["resumed"]["current"][k]) for k in states["kept"]["current"]
    )
    assert {k: v for k, v in kept.items() if k != "seconds_per_batch"} == {
        k: v for k, v in resumed.items() if k != "seconds_per_batch"
    }
    assert (
        states["kept"]["optimizer"]["state"] and "optimizer" not in states["fresh"]
    )  # Adam's moments, saved per batch
    assert any(
        not torch.equal(states["kept"]["current"][k], states["fresh"]["current"][k]) for k in states["kept"]["current"]
    )
    identities = {
        name: json.loads((tmp_path / name / "config.json").read_text())["identity"] for name in ("kept", "fresh")
    }
    assert (
        identities["kept"]["retrain_optimizer"] == "kept" and "retrain_optimizer" not in identities["fresh"]
    )  # fresh keeps old hashes
    assert fresh["train_acc"] > 0
