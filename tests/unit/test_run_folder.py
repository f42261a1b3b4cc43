"""Run-folder decisions: new, skip finished, resume interrupted, refuse a different config."""

import logging
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import in_background
from trainfix.core.records import (
    CHECKPOINT_DIR,
    FINISHED,
    LAST_CHECKPOINT,
    PREVIOUS_CHECKPOINT,
    read_run,
    write_metrics,
    write_run,
)
from trainfix.data.readers import OFFICIAL_READERS
from trainfix.runs.folder import RunConflictError, config_differences, decide, discard_unstarted
from trainfix.runs.identity import (
    CHECKED_DATASETS,
    config_hash,
    find_run,
    overridden_keys,
    run_folder_name,
    safe_label,
    upgrade_compatible,
)
from trainfix.runs.lock import RunLockedError, acquire

CONFIG = {"seed": 0, "model": {"name": "lenet5"}, "optimizer": {"lr": 0.1}, "paths": {"data_dir": "/a"}}


def test_new_folder_is_a_new_run(tmp_path):
    assert decide(tmp_path / "run", CONFIG).kind == "new"


def test_finished_run_is_skipped_even_if_only_paths_differ(tmp_path):
    write_run(tmp_path, {"status": "finished", "config": CONFIG})
    moved = {**CONFIG, "paths": {"data_dir": "/elsewhere"}}
    assert decide(tmp_path, moved).kind == "skip"


def test_interrupted_run_resumes_from_last_checkpoint(tmp_path):
    write_run(tmp_path, {"status": "running", "config": CONFIG})
    (tmp_path / CHECKPOINT_DIR).mkdir()
    _checkpoint(tmp_path / CHECKPOINT_DIR / LAST_CHECKPOINT, epoch=3)
    action = decide(tmp_path, CONFIG)
    assert action.kind == "resume" and action.checkpoint.name == LAST_CHECKPOINT
    assert action.previous_outcome == "killed"  # still marked running while nobody holds the lock


def _checkpoint(path, epoch):
    torch.save({"state_dict": {"w": torch.ones(2)}, "epoch": epoch, "loops": {}, "trainfix": {}}, path)


def test_damaged_last_checkpoint_falls_back_on_previous_and_is_kept_aside(tmp_path):
    write_run(tmp_path, {"status": "interrupted", "config": CONFIG})
    folder = tmp_path / CHECKPOINT_DIR
    folder.mkdir()
    _checkpoint(folder / PREVIOUS_CHECKPOINT, epoch=2)
    (folder / LAST_CHECKPOINT).write_bytes(b"PK\x03\x04 truncated zip")
    action = decide(tmp_path, CONFIG)
    assert action.kind == "resume" and action.checkpoint.name == PREVIOUS_CHECKPOINT
    assert action.previous_outcome == "interrupted"
    assert len(action.problems) == 1 and "last.ckpt could not be loaded" in action.problems[0]
    aside = [p.name for p in folder.iterdir() if p.name.startswith("last.ckpt.damaged-")]
    assert len(aside) == 1 and not (folder / LAST_CHECKPOINT).exists()


def test_no_usable_checkpoint_starts_over(tmp_path):
    write_run(tmp_path, {"status": "failed", "config": CONFIG})
    folder = tmp_path / CHECKPOINT_DIR
    folder.mkdir()
    (folder / LAST_CHECKPOINT).write_bytes(b"")
    torch.save({"epoch": 1}, folder / PREVIOUS_CHECKPOINT)  # loads, but lacks the weights
    action = decide(tmp_path, CONFIG)
    assert action.kind == "new" and len(action.problems) == 2 and "missing ['state_dict'" in action.problems[1]


def test_other_config_is_refused_and_differences_named(tmp_path):
    write_run(tmp_path, {"status": "finished", "config": CONFIG})
    write_metrics(tmp_path, [{"epoch": 0, "train_loss": 1.0}])
    other = {**CONFIG, "optimizer": {"lr": 0.01}}
    with pytest.raises(RunConflictError, match=r"(?s)optimizer.lr: 0.1 -> 0.01.*run_name="):
        decide(tmp_path, other)
    assert read_run(tmp_path)["status"] == "finished"


def test_config_differences_lists_added_and_removed_keys():
    diff = config_differences({"a": {"b": 1}}, {"a": {"c": 2}})
    assert diff == ["a.b: 1 -> '<absent>'", "a.c: '<absent>' -> 2"]


def test_write_run_rejects_unknown_status(tmp_path):
    with pytest.raises(ValueError, match="not one of"):
        write_run(tmp_path, {"status": "done"})


def test_labels_are_safe_folder_names():
    assert safe_label("") == "default"
    assert safe_label("experiment=deepeutaxy/table_iv,seed=1") == "experiment=deepeutaxy_table_iv,seed=1"
    assert len(safe_label("x" * 500)) == 120


def test_identity_ignores_paths_logging_and_devices_but_not_behaviour():
    base = {**CONFIG, "trainer": {"max_epochs": 2, "devices": 1, "enable_progress_bar": True}, "run_name": "a"}
    same = {
        **base,
        "paths": {"data_dir": "/b"},
        "logger": {"wandb": {}},
        "run_name": "b",
        "trainer": {"max_epochs": 2, "devices": 2, "enable_progress_bar": False},
    }
    assert config_hash(base) == config_hash(same)
    assert config_hash(base) != config_hash({**base, "optimizer": {"lr": 0.05}})
    assert config_hash(base) != config_hash(
        {**base, "trainer": {"max_epochs": 3, "devices": 1, "enable_progress_bar": True}}
    )


def _on(dataset: str, root: str, **data: object) -> dict:
    return {**CONFIG, "data": {"dataset": dataset, "root": root, "accept_nonofficial": False, **data}}


def test_the_data_sets_whose_root_leaves_the_identity_are_those_whose_files_are_checked():
    assert CHECKED_DATASETS == set(OFFICIAL_READERS)  # each reader there checks the files' md5 (test_datasets)


def test_the_data_root_of_checked_official_files_is_outside_the_identity_and_of_any_other_files_inside():
    for dataset in ("mnist", "fashion_mnist", "cifar10", "cifar100", "svhn"):  # files checked against their md5
        assert config_hash(_on(dataset, "/work/shared/data")) == config_hash(_on(dataset, "/mnt/gpu/shared/data"))
    assert config_hash(_on("mnist", "/a")) != config_hash(_on("fashion_mnist", "/a"))
    # a copy nobody checks, and official names with accept_nonofficial: the root says which files were read
    assert config_hash(_on("cifar10_jpeg", "/a")) != config_hash(_on("cifar10_jpeg", "/b"))
    unchecked = {"accept_nonofficial": True}
    assert config_hash(_on("mnist", "/a", **unchecked)) != config_hash(_on("mnist", "/b", **unchecked))


def test_a_finished_run_is_skipped_after_its_data_moved_and_another_root_of_unchecked_files_is_refused(tmp_path):
    write_run(tmp_path / "mnist", {"status": "finished", "config": _on("mnist", "/work/shared/data")})
    assert decide(tmp_path / "mnist", _on("mnist", "/mnt/elsewhere")).kind == "skip"
    write_run(tmp_path / "jpeg", {"status": "finished", "config": _on("cifar10_jpeg", "/work/shared/data")})
    with pytest.raises(RunConflictError, match="data.root: '/work/shared/data' -> '/mnt/elsewhere'"):
        decide(tmp_path / "jpeg", _on("cifar10_jpeg", "/mnt/elsewhere"))


def test_folder_is_found_again_by_identity_whatever_its_label(tmp_path):
    first = run_folder_name(tmp_path, "seed=0", CONFIG)
    assert first == f"seed_0-{config_hash(CONFIG)}"  # readable_label: no = or , in a name
    (tmp_path / first).mkdir()
    assert run_folder_name(tmp_path, "data=mnist,seed=0", CONFIG) == first  # spelled differently
    assert run_folder_name(tmp_path, "seed=0", {**CONFIG, "optimizer": {"lr": 0.05}}) != first


def test_upgrade_that_adds_a_key_at_its_default_finds_the_old_run(tmp_path):
    old_folder = tmp_path / "lenet5_seed0"  # a folder named before identities existed
    write_run(old_folder, {"status": "finished", "config": CONFIG})
    upgraded = {**CONFIG, "optimizer": {"lr": 0.1, "weight_decay": 0.0}}
    assert upgrade_compatible(CONFIG, upgraded)
    assert run_folder_name(tmp_path, "lenet5_seed0", upgraded) == "lenet5_seed0"
    assert decide(old_folder, upgraded).kind == "skip"
    # ... unless the new key was set on the command line, or a recorded key changed.
    assert not upgrade_compatible(CONFIG, upgraded, overridden=["optimizer.weight_decay"])
    assert run_folder_name(tmp_path, "lenet5_seed0", upgraded, ["optimizer.weight_decay"]).startswith("lenet5_seed0-")
    assert not upgrade_compatible(CONFIG, {**upgraded, "seed": 1})


def test_a_key_with_a_past_value_matches_old_records_at_that_value_only(tmp_path):
    # optimizer.initial_accumulator_value came to conf/ after runs were recorded without it; they ran torch's 0.
    # A request for 0 is the same run; a request for 0.1 (DeepEutaxy authors_code) is another run.
    adagrad = {**CONFIG, "optimizer": {"_target_": "torch.optim.Adagrad", "lr": 0.1}}
    old_folder = tmp_path / "lenet5_seed0"
    write_run(old_folder, {"status": "finished", "config": adagrad})
    at = {
        value: {**adagrad, "optimizer": {**adagrad["optimizer"], "initial_accumulator_value": value}}
        for value in (0.0, 0.1)
    }
    assert upgrade_compatible(adagrad, at[0.0]) and not upgrade_compatible(adagrad, at[0.1])
    assert run_folder_name(tmp_path, "lenet5_seed0", at[0.0]) == "lenet5_seed0"
    assert run_folder_name(tmp_path, "lenet5_seed0", at[0.1]) == f"lenet5_seed0-{config_hash(at[0.1])}"


def test_a_group_choice_does_not_count_as_setting_the_keys_added_to_that_group():
    # `strategy=spld` on the command line picks the group's option; a key added to the group since (at its default)
    # must not make the recorded run look like another configuration. Naming the new key itself still does.
    saved = {**CONFIG, "strategy": {"_target_": "trainfix.strategies.leap.spld.Spld", "lambda0": 0.1}}
    upgraded = {**saved, "strategy": {**saved["strategy"], "losses": "trained"}}
    keys = overridden_keys(
        ["strategy=spld", "seed=0", "hydra/launcher=joblib"], groups=["strategy", "hydra/launcher", "data"]
    )
    assert keys == ["seed"]
    assert upgrade_compatible(saved, upgraded, keys)
    assert overridden_keys(["strategy=spld", "strategy.losses=trained"], groups=["strategy"]) == ["strategy.losses"]
    assert not upgrade_compatible(
        saved, upgraded, overridden_keys(["strategy=spld", "strategy.losses=trained"], groups=["strategy"])
    )
    assert overridden_keys(["~strategy", "+data.flip=1", "data=mnist"], groups=["strategy", "data"]) == [
        "strategy",
        "data.flip",
    ]
    assert not upgrade_compatible(saved, upgraded, ["strategy"])  # without the group list: the cautious reading


def test_find_run_resolves_a_label_to_its_one_finished_folder(tmp_path):
    assert find_run(str(tmp_path), "base_seed0") == str(tmp_path / "base_seed0")  # none yet: the expected path
    write_run(tmp_path / "base_seed0-aaaa1111", {"status": "finished", "config": CONFIG})
    write_run(tmp_path / "base_seed0-bbbb2222", {"status": "failed", "config": CONFIG})
    assert find_run(str(tmp_path), "base_seed0") == str(tmp_path / "base_seed0-aaaa1111")
    write_run(tmp_path / "base_seed0-cccc3333", {"status": "finished", "config": CONFIG})
    with pytest.raises(ValueError, match="2 finished runs labelled 'base_seed0'"):
        find_run(str(tmp_path), "base_seed0")


def test_code_state_is_the_one_the_process_loaded(monkeypatch):
    """A long sweep records, for every job, the commit whose code the process imported, even when the
    checkout moves on meanwhile: code_state() does not ask git again."""
    import subprocess

    from trainfix.core import records

    loaded = records.code_state()

    def moved_on(*args, **kwargs):
        raise AssertionError("git asked again after import")

    monkeypatch.setattr(subprocess, "run", moved_on)
    assert records.code_state() == loaded and "git_commit" in loaded
    records.code_state()["git_commit"] = "changed by a caller"
    assert records.code_state() == loaded


def test_records_respect_the_umask(tmp_path) -> None:
    """Atomic writes give a record the permissions a plain write would (0666 less the umask), not mkstemp's 0600."""
    import os
    import stat

    from trainfix.core.records import atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "run.json", "{}")
        os.umask(0o077)
        atomic_write_text(tmp_path / "private.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "run.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "private.json").stat().st_mode) == 0o600


def _unstarted(run: Path, *logs: str) -> Path:
    """A run folder as Hydra leaves it before the run starts: `.hydra/`, the job's log(s), the lock."""
    (run / ".hydra").mkdir(parents=True)
    for name in ("config.yaml", "hydra.yaml", "overrides.yaml"):
        (run / ".hydra" / name).write_text("{}\n")
    for name in logs:
        (run / name).write_text("config error\n")
    (run / ".lock").write_text("")
    return run


def test_discarding_an_unstarted_folder_removes_only_this_invocations_files(tmp_path):
    # This process's log (the root logger's file in the folder) goes with the folder; nobody else's does.
    mine = _unstarted(tmp_path / "mine", "train.log")
    handler = logging.FileHandler(mine / "train.log")
    logging.getLogger().addHandler(handler)
    try:
        assert discard_unstarted(mine) and not mine.exists()
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    other_log = _unstarted(tmp_path / "other_log", "train.log", "eval.log")
    assert not discard_unstarted(other_log, logs=["train.log"])
    assert sorted(p.name for p in other_log.iterdir()) == [".hydra", ".lock", "eval.log", "train.log"]
    not_mine = _unstarted(tmp_path / "not_mine", "train.log")
    assert not discard_unstarted(not_mine) and (not_mine / "train.log").read_text() == "config error\n"


def test_a_folder_whose_lock_another_process_holds_is_never_discarded(tmp_path):
    # Another process took the lock after this one's refusal: its run has started there, with no run.json yet.
    run = _unstarted(tmp_path / "run", "train.log")
    with acquire(run):
        assert not discard_unstarted(run, logs=["train.log"])
        assert sorted(p.name for p in run.iterdir()) == [".hydra", ".lock", "train.log"]
    assert discard_unstarted(run, logs=["train.log"]) and not run.exists()


def test_a_refused_job_is_recorded_only_in_a_folder_nobody_runs_in(tmp_path):
    from omegaconf import OmegaConf

    from trainfix.train import _record_refusal
    from trainfix.training.config_rules import ConfigError

    cfg = OmegaConf.create({"seed": 3, "optimizer": {"lr": -1}})
    busy = _unstarted(tmp_path / "busy", "train.log")
    with acquire(busy):  # another process's run has started there
        _record_refusal(busy, cfg, ConfigError("optimizer.lr=-1"))
    assert read_run(busy) is None
    _record_refusal(busy, cfg, ConfigError("optimizer.lr=-1"))
    record = read_run(busy)
    assert (record["status"], record["seed"], record["attempts"][0]["action"]) == ("failed", 3, "refused")


def test_a_process_waiting_on_a_discarded_lock_file_locks_the_folders_new_one(tmp_path):
    run = tmp_path / "run"
    holder = acquire(run)
    waited: list = []
    with in_background(lambda: waited.append(acquire(run, wait=True))):
        time.sleep(0.3)  # the waiter blocks on the lock file of the folder
        (run / ".lock").unlink()  # what discard_unstarted does, holding the lock
        run.rmdir()
        holder.release()
    try:
        assert (run / ".lock").exists()
        with pytest.raises(RunLockedError):  # one holder: the waiter holds the folder's lock file
            acquire(run)
    finally:
        waited[0].release()


def test_the_finished_status_is_spelled_once_outside_results():
    # core.records defines it; every other module imports it (results/ and evidence/ keep their own readers).
    import trainfix

    src = Path(trainfix.__file__).parent
    spelled = [
        str(path.relative_to(src))
        for path in sorted(src.rglob("*.py"))
        if path.relative_to(src).parts[0] not in ("results", "evidence") and '"finished"' in path.read_text()
    ]
    assert spelled == ["core/records.py"] and FINISHED == "finished"
