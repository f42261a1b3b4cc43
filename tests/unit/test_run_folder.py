"""Run-folder decisions: new, skip finished, resume interrupted, refuse a different config."""

import pytest

from trainfix.runs.records import CHECKPOINT_DIR, LAST_CHECKPOINT, read_run, write_metrics, write_run
from trainfix.runs.folder import RunConflictError, config_differences, decide

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
    (tmp_path / CHECKPOINT_DIR / LAST_CHECKPOINT).write_bytes(b"x")
    action = decide(tmp_path, CONFIG)
    assert action.kind == "resume" and action.checkpoint.name == LAST_CHECKPOINT


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


def test_run_name_from_overrides_is_a_safe_folder_name():
    from trainfix.runs.folder import run_name_from_overrides

    assert run_name_from_overrides("") == "default"
    assert run_name_from_overrides("experiment=deepeutaxy/table_iv,seed=1") == "experiment=deepeutaxy_table_iv,seed=1"
