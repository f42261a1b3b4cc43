"""conf/ reads straight: every experiment lives at experiment/<paper>/<table or study>/<row>.yaml and composes
(profile=quick) into a configuration the rules accept; the keys a run folder's label leaves out agree with the
keys outside a run's identity; a key retired from conf/ keeps every run's hash."""

from __future__ import annotations

import pytest
import yaml
from omegaconf import OmegaConf

from tests.conftest import CONF_DIR, compose_train
from trainfix.runs.identity import (
    NOT_IDENTITY,
    RETIRED,
    config_hash,
    flatten,
    is_identity_key,
    resolved_identity_config,
)
from trainfix.training.config_rules import check_config

EXPERIMENT_DIR = CONF_DIR / "experiment"
EXPERIMENTS = sorted(str(p.relative_to(EXPERIMENT_DIR).with_suffix("")) for p in EXPERIMENT_DIR.rglob("*.yaml"))
PAPERS = {"deepeutaxy", "trimming", "leap", "apricot", "monitor"}


def test_every_experiment_lies_at_paper_table_row():
    assert EXPERIMENTS, f"no experiment under {EXPERIMENT_DIR}"
    misplaced = [e for e in EXPERIMENTS if len(e.split("/")) != 3 or e.split("/")[0] not in PAPERS]
    assert (
        not misplaced
    ), f"experiments outside experiment/<paper>/<table or study>/<row>.yaml (papers {sorted(PAPERS)}): {misplaced}"


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_with_profile_quick(experiment, tmp_path):
    cfg = compose_train([f"experiment={experiment}", "profile=quick"], tmp_path)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    check_config(cfg)
    assert resolved["profile_name"] == "quick"
    # profile=quick applies the sizes at `quick` (conf/profile/sizes/quick.yaml, as the experiment adjusts them)
    for key in ("train_subset", "test_subset", "batch_size"):
        assert resolved["data"][key] == resolved["quick"][key], (experiment, key)
    assert resolved["trainer"]["max_epochs"] == resolved["quick"]["max_epochs"]
    assert isinstance(resolved["run_name"], str) and resolved["run_name"], experiment


def test_the_deepeutaxy_table_iv_experiments_select_the_full_gradient_reading(tmp_path):
    for experiment in [e for e in EXPERIMENTS if e.startswith("deepeutaxy/")]:
        convergence = OmegaConf.to_container(compose_train([f"experiment={experiment}"], tmp_path).convergence)
        assert convergence == {
            "epsilon": 0.01,
            "reading": "full",
            "stop": False,
            "full_gradient": True,
            "full_gradient_chunk": 1000,
        }, experiment
    # every other run records Eq. 12 on the steps' gradients, as before the group existed
    plain = OmegaConf.to_container(compose_train([], tmp_path).convergence)
    assert plain == {
        "epsilon": 0.01,
        "reading": "last",
        "stop": False,
        "full_gradient": False,
        "full_gradient_chunk": 1000,
    }


def label_exclusions() -> list[str]:
    hydra_cfg = yaml.safe_load((CONF_DIR / "hydra" / "default.yaml").read_text())
    return hydra_cfg["job"]["config"]["override_dirname"]["exclude_keys"]


def test_label_exclusions_are_outside_the_identity_or_name_a_group():
    """conf/hydra/default.yaml's exclude_keys (left out of a run folder's readable label) and NOT_IDENTITY (left
    out of its hash) are one list seen twice: an excluded key is outside the identity, or it is a config group
    whose choice the hash still sees through the keys it sets (trainer=gpu: trainer.precision), so the label may
    drop it."""
    groups = {p.relative_to(CONF_DIR).as_posix() for p in CONF_DIR.rglob("*") if p.is_dir()} | {"hydra/launcher"}
    for key in label_exclusions():
        if key in groups:
            continue
        assert not is_identity_key(
            key.replace("/", ".")
        ), f"exclude_keys has {key!r}, an identity key: add it to NOT_IDENTITY or drop it"
    top_level = {k for k in NOT_IDENTITY if "." not in k}
    # every non-identity key a user sets on the command line to place or watch a run stays out of its label
    for key in (
        "paths.data_dir",
        "paths.runs_dir",
        "paths.multirun_dir",
        "task_name",
        "run_name",
        "trainer.devices",
        "trainer.accelerator",
        "trainer.enable_progress_bar",
        "extras.print_config",
        "run_lock.wait",
        "run_lock.timeout_s",
    ):
        assert key in label_exclusions() and not is_identity_key(key), key
    assert {"hydra", "paths", "logger", "extras", "run_lock", "task_name", "run_name"} <= top_level


OUTPUT_FOLDER = ("${paths.output_dir}", "${hydra:runtime.output_dir}", "${hydra:run.dir}", "${hydra:sweep.")


@pytest.mark.parametrize("experiment", [None, *EXPERIMENTS])
def test_no_identity_key_follows_the_run_folder(experiment, tmp_path):
    """A key whose value follows the run's folder (callbacks=best's checkpoint folder) is outside the identity:
    the folder is named before it is known, and a record reached under another path must stay the same run."""
    chosen = [f"experiment={experiment}"] if experiment else []
    cfg = compose_train([*chosen, "callbacks=best", "logger=tensorboard"], tmp_path)
    flat = flatten(OmegaConf.to_container(cfg, resolve=False))
    following = {k for k, v in flat.items() if isinstance(v, str) and any(s in v for s in OUTPUT_FOLDER)}
    assert {"callbacks.model_checkpoint.dirpath", "logger.tensorboard.save_dir"} <= following, "the scan missed them"
    assert not {k for k in following if is_identity_key(k)}, f"add them to NOT_IDENTITY ({experiment})"


def test_a_retired_key_keeps_the_hash_of_every_run(tmp_path):
    cfg = compose_train(["experiment=deepeutaxy/table_iv/lenet5", "strategy=spl"], tmp_path)
    config = resolved_identity_config(cfg)
    assert not set(RETIRED) & set(config), "a retired key is back in conf/: remove it from RETIRED"
    recorded = {**config, **RETIRED}  # a run.json written while conf/ held the key at its one value
    assert config_hash(recorded) == config_hash(config)
    assert config_hash({**config, "deterministic": False}) != config_hash(config)
