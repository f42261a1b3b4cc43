"""Readable run names, plain paths on the command line, one-line config errors with "did you mean", rerun."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from trainfix.cli import (
    CommandLineError,
    compose_checked,
    group_options,
    help_text,
    hydra_quote,
    normalize_argv,
    suggest,
)
from trainfix.core.records import read_run, write_run
from trainfix.runs.folder import (
    archive_previous,
    decide,
    discard_unstarted,
    hydra_files_dir,
    own_invocation,
    restore_previous,
    skip_message,
)
from trainfix.runs.identity import (
    config_hash,
    default_label,
    readable_label,
    run_folder_name,
    safe_label,
)
from trainfix.training.compose import compose_config, register_resolvers

OLD_NAME = "data.batch_size=128,data=fashion_mnist,optimizer=adam,strategy=shuffle"


def parsed_value(override: str) -> str:
    return OverridesParser.create().parse_overrides([override])[0].value()


@pytest.mark.parametrize(
    "path",
    [
        "runs/train/baseline-lenet5-mnist-s0-1a2b3c4d",
        f"runs/train/{OLD_NAME}-ecd87730",
        "multirun/leap_table_1_quick/fashion_mnist_leap_paper_seed0-86d32705",
        "/tmp/a b/it's [here]",
    ],
)
def test_a_quoted_path_reads_back_unchanged_through_hydras_parser(path):
    assert parsed_value(f"run_dir={hydra_quote(path)}") == path


def test_positional_and_keyed_run_folders_become_quoted_run_dir_overrides():
    old = f"runs/train/{OLD_NAME}-ecd87730"
    assert normalize_argv([old, "export=both"], ("run_dir",), positional="run_dir") == [
        f"run_dir='{old}'",
        "export=both",
    ]
    assert normalize_argv([f"run_dir={old}"], ("run_dir",), positional="run_dir") == [f"run_dir='{old}'"]
    plain = "runs/train/baseline-lenet5-mnist-s0-1a2b3c4d"
    assert normalize_argv([plain, "ckpt=best"], ("run_dir",), positional="run_dir") == [f"run_dir={plain}", "ckpt=best"]
    # Flags and their values, deletions and ordinary overrides are left alone.
    argv = ["--cfg", "job", "-m", "~extras", "seed=0,1", "hydra/launcher=joblib"]
    assert normalize_argv(argv, ("init_from",)) == argv


def test_readable_labels_hold_no_equals_or_comma_and_are_cut_between_words():
    assert default_label("baseline", "lenet5", "fashion_mnist", 3) == "baseline-lenet5-fashion_mnist-s3"
    assert readable_label("lr=0.1,seed=0") == "lr_0.1_seed_0"
    long = "-".join(f"part{i:03d}" for i in range(40))  # 319 characters
    label = readable_label(long)
    assert len(label) <= 120 and label.endswith(tuple(f"part{i:03d}" for i in range(40)))


def test_default_run_folder_is_strategy_model_data_seed_and_the_hash_is_unchanged(tmp_path, data_dir):
    cfg = compose_config(
        [f"paths.data_dir={data_dir}", "data=fashion_mnist", "strategy=shuffle", "seed=2"], tmp_path / "run"
    )
    assert cfg.run_name == "shuffle-lenet5-fashion_mnist-s2"
    assert "rerun" in cfg and cfg.rerun is False
    from omegaconf import OmegaConf

    config = OmegaConf.to_container(cfg, resolve=True)
    with_rerun = {**config, "rerun": True}
    assert config_hash(config) == config_hash(with_rerun)  # rerun is not part of a run's identity


def test_a_network_of_your_own_is_named_after_its_factory_and_finds_its_custom_labelled_run(tmp_path):
    from omegaconf import OmegaConf

    from trainfix.runs.identity import RESOLVERS

    own = "tests.unit.test_custom_model.small_cnn"
    assert (
        compose_config(["model=custom", f"model.target={own}"], tmp_path / "a").run_name
        == "baseline-small_cnn-mnist-s0"
    )
    hydra_style = ["model=custom", "model.target=null", f"+model._target_={own}", "seed=1"]
    cfg = compose_config(hydra_style, tmp_path / "b")
    assert cfg.run_name == "baseline-small_cnn-mnist-s1"
    # A run recorded as `baseline-custom-mnist-s1-<hash>` before a key was added to the configuration is found again.
    recorded = OmegaConf.to_container(cfg, resolve=True)
    recorded.pop("init_from")
    old = tmp_path / "runs" / f"baseline-custom-mnist-s1-{config_hash(recorded)}"
    write_run(old, {"status": "finished", "config": recorded})
    assert RESOLVERS["trainfix_run_folder"](str(tmp_path / "runs"), _root_=cfg) == old.name


def test_an_old_named_folder_is_found_by_its_hash(tmp_path):
    config = {"seed": 0, "model": {"name": "lenet5"}, "paths": {"runs_dir": "x"}}
    digest = config_hash(config)
    old = tmp_path / f"{safe_label(OLD_NAME)}-{digest}"
    old.mkdir()
    assert run_folder_name(tmp_path, "shuffle-lenet5-fashion_mnist-s0", config) == old.name
    assert run_folder_name(tmp_path / "empty", "shuffle-lenet5-fashion_mnist-s0", config) == (
        f"shuffle-lenet5-fashion_mnist-s0-{digest}"
    )


def test_an_old_named_record_without_a_new_key_is_found_by_its_old_label(tmp_path):
    old_config = {"seed": 0, "model": {"name": "lenet5"}}
    new_config = {**old_config, "added_since": 1}
    old = tmp_path / f"{safe_label(OLD_NAME)}-{config_hash(old_config)}"
    write_run(old, {"status": "finished", "config": old_config})
    assert run_folder_name(tmp_path, "shuffle-lenet5-mnist-s0", new_config) != old.name  # other label, other hash
    assert run_folder_name(tmp_path, "shuffle-lenet5-mnist-s0", new_config, legacy_labels=[OLD_NAME]) == old.name


def test_rerun_moves_a_finished_run_aside_and_starts_again(tmp_path):
    run = tmp_path / "run"
    config = {"seed": 0}
    write_run(run, {"status": "finished", "config": config})
    (run / "metrics.csv").write_text("epoch,test_acc\n0,0.5\n")
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.ckpt").write_bytes(b"x")
    (run / "train.log").write_text("log\n")
    skip = decide(run, config)
    assert skip.kind == "skip"
    assert "rerun=true" in skip_message(run, skip.reason)
    action = decide(run, config, rerun=True)
    assert action.kind == "new" and action.previous_outcome == "finished" and action.checkpoint is None
    moved = run / "previous" / "1"
    assert sorted(p.name for p in moved.iterdir()) == ["checkpoints", "metrics.csv", "run.json"]
    assert (moved / "checkpoints" / "last.ckpt").read_bytes() == b"x"
    assert sorted(p.name for p in run.iterdir()) == ["previous", "train.log"]
    write_run(run, {"status": "finished", "config": config})
    assert archive_previous(run) == run / "previous" / "2"


def hydra_files(folder: Path, overrides: str) -> None:
    """Hydra's three files as a job writes them, `overrides` standing for their content."""
    folder.mkdir(parents=True)
    for name in ("config.yaml", "hydra.yaml", "overrides.yaml"):
        (folder / name).write_text(f"{overrides}\n")


def test_hydra_files_of_the_invocation_that_started_a_run_are_never_overwritten(tmp_path):
    run = tmp_path / "run"
    assert hydra_files_dir(str(run)) == ".hydra"  # a new folder: Hydra's usual place
    hydra_files(run / ".hydra", "- seed=0")
    write_run(run, {"status": "finished", "config": {"seed": 0}})
    later = hydra_files_dir(str(run))  # a skip, a resume or a rerun of the finished run
    assert re.fullmatch(rf"\.hydra/invocations/\d{{8}}T\d{{6}}Z-{os.getpid()}", later), later
    hydra_files(run / later, "- seed=0,1")
    assert (run / ".hydra" / "overrides.yaml").read_text() == "- seed=0\n"
    assert own_invocation(run) == run / later
    assert own_invocation(tmp_path / "other") is None


def test_a_rerun_makes_its_invocations_hydra_files_the_runs_and_keeps_the_old_ones(tmp_path):
    run = tmp_path / "run"
    hydra_files(run / ".hydra", "- first")
    write_run(run, {"status": "finished", "config": {}})
    hydra_files(run / ".hydra" / "invocations" / "20261201T000000Z-1", "- skipped")  # another process's skip
    hydra_files(run / hydra_files_dir(str(run)), "- rerun=true")  # this process's rerun
    archived = archive_previous(run)
    assert (run / ".hydra" / "overrides.yaml").read_text() == "- rerun=true\n"
    assert sorted(p.name for p in (run / ".hydra").iterdir()) == ["config.yaml", "hydra.yaml", "overrides.yaml"]
    assert (archived / ".hydra" / "overrides.yaml").read_text() == "- first\n"
    assert [p.name for p in (archived / ".hydra" / "invocations").iterdir()] == ["20261201T000000Z-1"]
    write_run(run, {"status": "failed"})  # the rerun cannot be built: everything goes back
    restore_previous(run, archived)
    assert (run / ".hydra" / "overrides.yaml").read_text() == "- first\n"
    kept = sorted((run / ".hydra" / "invocations").iterdir())
    assert [p.name for p in kept][0] == "20261201T000000Z-1" and len(kept) == 2
    assert (kept[1] / "overrides.yaml").read_text() == "- rerun=true\n"  # the failed rerun's own, kept
    assert read_run(run)["status"] == "finished" and not archived.exists()


def test_a_run_that_starts_over_takes_the_hydra_files_of_the_invocation_that_trains_it(tmp_path):
    run = tmp_path / "run"
    hydra_files(run / ".hydra", "- paths.data_dir=wrong")  # a sweep job refused for its data: a failed record
    write_run(run, {"status": "failed", "config": {"seed": 0}, "error": "data missing"})
    hydra_files(run / hydra_files_dir(str(run)), "- paths.data_dir=right")
    action = decide(run, {"seed": 0})
    assert action.kind == "new" and action.previous_outcome == "failed"
    assert (run / ".hydra" / "overrides.yaml").read_text() == "- paths.data_dir=right\n"
    (earlier,) = (run / ".hydra" / "invocations").iterdir()
    assert earlier.name.endswith("-earlier") and (earlier / "overrides.yaml").read_text() == "- paths.data_dir=wrong\n"


def test_an_unstarted_folder_is_discarded_and_a_run_never(tmp_path):
    fresh = tmp_path / "fresh"
    (fresh / ".hydra").mkdir(parents=True)
    for name in ("config.yaml", "hydra.yaml", "overrides.yaml"):
        (fresh / ".hydra" / name).write_text("{}\n")
    (fresh / "train.log").write_text("config error\n")
    (fresh / ".lock").write_text("")
    assert discard_unstarted(fresh, logs=["train.log"]) and not fresh.exists()
    started = tmp_path / "started"
    write_run(started, {"status": "failed", "config": {}})
    assert not discard_unstarted(started) and (started / "run.json").exists()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine\n")
    assert not discard_unstarted(foreign) and (foreign / "notes.txt").exists()


def test_suggest_finds_the_sibling_or_the_same_name_elsewhere():
    keys = ["trainer", "trainer.max_epochs", "trainer.precision", "data", "data.batch_size", "seed"]
    assert suggest("trainer.max_epoch", keys) == ["trainer.max_epochs"]
    assert suggest("max_epochs", keys) == ["trainer.max_epochs"]
    assert suggest("data.batchsize", keys) == ["data.batch_size"]
    assert suggest("nothing.like.it", keys) == []
    assert suggest("run", ["run_dir", "ckpt", "eval_set"]) == ["run_dir"]  # the key's first word
    assert suggest("data.batch", keys) == ["data.batch_size"]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["trainer.max_epoch=1"], "trainer.max_epoch: no such key; did you mean trainer.max_epochs?"),
        (["+trainer.max_epoch=1"], "did you mean trainer.max_epochs=1?"),
        (["seed=0,1", "trainer.max_epoch=1"], "did you mean trainer.max_epochs?"),
        (["strategy=deepeutaxi"], "strategy=deepeutaxi: no such option; did you mean strategy=deepeutaxy"),
        (["strategy=baseline,deepeutaxi"], "strategy=deepeutaxi: no such option; did you mean"),
        (["trainer.zzz_unknown=1"], "(to add a new key: +trainer.zzz_unknown=...)"),
        (["+seed=1"], "the key exists already; set it without the +: seed=..."),
        (["data.batch_size=[1"], "quote a value that holds"),
        (
            ["+profile/sizes=quick,quik"],
            "profile/sizes=quik: no such option; did you mean profile/sizes=quick? (accepted: quick)",
        ),
        # A nested option: Hydra lists no options for it; the group's files do, one folder written once.
        (
            ["experiment=leap/table_1/mnst"],
            "experiment=leap/table_1/mnst: no such option; did you mean experiment=leap/table_1/mnist",
        ),
        (["+experiment=lep/table_1/mnist"], "did you mean experiment=leap/table_1/mnist"),
        (["experiment=leap/table_1"], "leap/table_1 is a folder of options; did you mean experiment=leap/table_1/"),
        (["experiment=leap/table_1/mnst"], "leap/table_1/{cifar10,cifar100,fashion_mnist,mnist,svhn}"),
        (["experiment=leap/table_1/mnist,leap/table_1/mnst"], "experiment=leap/table_1/mnst: no such option"),
    ],
)
def test_a_bad_command_line_is_one_line_with_did_you_mean(overrides, expected):
    register_resolvers()
    with pytest.raises(CommandLineError) as error:
        compose_checked("train", overrides)
    assert expected in str(error.value)
    assert "\n" not in str(error.value)


def test_a_good_command_line_composes_and_sweeps_at_their_first_value():
    register_resolvers()
    cfg = compose_checked("train", ["seed=3,4", "strategy=baseline,shuffle", "trainer.max_epochs=2", "rerun=true"])
    assert (cfg.seed, cfg.trainer.max_epochs, cfg.rerun) == (3, 2, True)
    assert cfg.hydra.runtime.choices.strategy == "baseline"


def test_help_lists_each_groups_options_from_conf():
    text = help_text("train")
    assert "options: baseline  deepeutaxy  leap" in text
    for option in group_options("optimizer"):
        assert option in text
    assert "deepeutaxy/table_iv/{cnn1,lenet5," in text
    assert "strategy/tuning" not in text and "profile/sizes" not in text and "$" not in text.replace("$(", "")
    eval_help = help_text("eval", "Evaluate a run.")
    assert eval_help.startswith("Evaluate a run.") and "run_dir:" in eval_help and "hydra:" not in eval_help


def test_a_rerun_that_fails_before_training_restores_the_finished_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "run.json").write_text('{"status": "finished", "config": {}}')
    (run / "metrics.csv").write_text("epoch,test_acc\n0,0.9\n")
    (run / "checkpoints" / "last.ckpt").write_bytes(b"weights")
    archived = archive_previous(run)
    assert archived == run / "previous" / "1" and not (run / "run.json").exists()
    (run / "run.json").write_text('{"status": "failed"}')  # what the failed attempt wrote before it was refused
    restore_previous(run, archived)
    assert json.loads((run / "run.json").read_text())["status"] == "finished"
    assert (run / "metrics.csv").read_text() == "epoch,test_acc\n0,0.9\n"
    assert (run / "checkpoints" / "last.ckpt").read_bytes() == b"weights"
    assert not (run / "previous" / "1").exists()


@pytest.mark.parametrize(
    "target,key,expected",
    [
        ("trainfix.strategies.leap.leap.Leap", "embeding_lr", "did you mean strategy.embedding_lr"),  # forwarded
        ("trainfix.strategies.spl_deepeutaxy.SelfPacedDeepEutaxy", "iter_cont", "did you mean strategy.iter_count"),
    ],
)
def test_a_misspelt_key_of_a_strategy_that_passes_options_on_gets_the_right_suggestion(target, key, expected) -> None:
    from omegaconf import OmegaConf

    from trainfix.train import BuildError, _instantiate

    with pytest.raises(BuildError, match=rf"strategy.{key}: not an argument of {target}; {expected}\b"):
        _instantiate(OmegaConf.create({"_target_": target, key: 1}), "strategy")
