"""What W&B is told before a run starts: the profile tag of what really runs, the other tags, the mode rule
(offline unless asked, WANDB_MODE, or credentials), the run's name, entity and project. No W&B run is started."""

from __future__ import annotations

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tests.conftest import compose_train
from trainfix.training.logger_setup import run_profile, wandb_credentials, wandb_mode

QUICK = {"max_epochs": 5, "train_subset": 2000, "test_subset": 1000, "batch_size": 250}
AT_QUICK = {"trainer.max_epochs": 5, "data.train_subset": 2000, "data.test_subset": 1000, "data.batch_size": 250}


def test_the_profile_is_what_the_run_really_is():
    assert run_profile("full", {"trainer.max_epochs": 200}, QUICK) == "full"
    assert run_profile("quick", AT_QUICK, QUICK) == "quick"
    # A size set on the command line (or by a sweep) takes the run away from its profile.
    assert run_profile("full", {}, QUICK, ["seed", "data.train_subset", "strategy"]) == "custom"
    assert run_profile("quick", AT_QUICK, QUICK, ["quick.max_epochs"]) == "custom"
    assert run_profile("quick", AT_QUICK, QUICK, ["profile/sizes"]) == "custom"
    assert run_profile("full", {}, QUICK, ["optimizer.lr", "seed"]) == "full"  # not a size
    # profile=quick whose sizes are not quick's, however that came about.
    assert run_profile("quick", {**AT_QUICK, "data.train_subset": 3000}, QUICK) == "custom"
    assert run_profile("full", {}, QUICK, debug="limit") == "debug"


def test_the_profile_tag_reads_the_runs_own_config_in_or_out_of_a_hydra_app(monkeypatch):
    # A config composed in a notebook or test (Hydra's part kept) is tagged by its own overrides and choices,
    # whether no Hydra app runs or another configuration's does.
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from trainfix.training.compose import CONF_DIR, register_resolvers

    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        sized = compose("train.yaml", overrides=["trainer.max_epochs=3"], return_hydra_config=True)
        debug = compose("train.yaml", overrides=["debug=limit"], return_hydra_config=True)
        plain = compose("train.yaml", overrides=["seed=1"], return_hydra_config=True)
    GlobalHydra.instance().clear()

    def profile(cfg) -> str:
        with open_dict(cfg):
            cfg.profile_tag = "${trainfix_run_profile:}"
        return cfg.profile_tag

    monkeypatch.setattr(HydraConfig.instance(), "cfg", None)  # no Hydra app
    assert [profile(cfg) for cfg in (sized, debug, plain)] == ["custom", "debug", "full"]
    HydraConfig.instance().set_config(debug)  # another configuration's app
    assert [profile(cfg) for cfg in (sized, plain)] == ["custom", "full"]


@pytest.mark.parametrize(
    ("overrides", "profile"),
    [
        ([], "full"),
        (["profile=quick"], "quick"),
        (["profile=quick", "trainer.max_epochs=3"], "custom"),
        (["+trainer.max_steps=10"], "custom"),
        (["data.train_subset=3000", "trainer.max_epochs=3"], "custom"),  # issue 28: this was tagged profile=full
        (["experiment=deepeutaxy/table_iv/resnet32", "profile=quick"], "quick"),  # the experiment's own quick sizes
    ],
)
def test_wandb_and_mlflow_tags_name_the_profile_strategy_variant_seed_model_and_data(tmp_path, overrides, profile):
    cfg = compose_train(["logger=wandb", "strategy=spl", "seed=3", *overrides], tmp_path)
    model, data = cfg.model.name, cfg.data.dataset
    assert OmegaConf.to_container(cfg.logger.wandb, resolve=True)["run_tags"] == [
        f"profile={profile}",
        "strategy=spl",
        "variant=paper",
        "seed=3",
        f"model={model}",
        f"data={data}",
    ]
    mlflow = compose_train(["logger=mlflow", "strategy=spl", "seed=3", *overrides], tmp_path)
    assert OmegaConf.to_container(mlflow.logger.mlflow.tags, resolve=True) == {
        "strategy": "spl",
        "variant": "paper",
        "profile": profile,
        "seed": 3,
        "model": model,
        "data": data,
    }


def _no_wandb_auth(monkeypatch, tmp_path):
    for variable in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    if wandb_credentials() is not None:
        pytest.skip(f"W&B credentials on this machine ({wandb_credentials()})")


def test_wandb_mode_is_offline_unless_asked_set_in_the_environment_or_logged_in(tmp_path, monkeypatch):
    _no_wandb_auth(monkeypatch, tmp_path)
    assert wandb_mode(None)[0] == "offline"
    assert wandb_mode("online") == ("online", "online (logger.wandb.mode)")
    assert wandb_mode("disabled")[0] == "disabled"
    with pytest.raises(ValueError, match=r"logger.wandb.mode='onlin': accepted online, offline, disabled, or null"):
        wandb_mode("onlin")
    # WANDB_MODE set: passed to wandb.init as it is (wandb reads its environment once per process).
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert wandb_mode(None) == ("offline", "offline (WANDB_MODE)")
    assert wandb_mode("online")[0] == "online"  # the config beats the environment, as wandb.init(mode=) does
    monkeypatch.delenv("WANDB_MODE")
    # `wandb login` writes a netrc entry for the W&B host: then wandb's default, online.
    (tmp_path / "netrc").write_text(f"machine api.wandb.ai\n  login user\n  password {'a1' * 20}\n")
    mode, why = wandb_mode(None)
    assert mode is None and why.startswith(f"online (W&B credentials in {tmp_path / 'netrc'}")
    (tmp_path / "netrc").write_text(f"machine other.example.com\n  login user\n  password {'a1' * 20}\n")
    assert wandb_mode(None)[0] == "offline"  # another host's entry is not a W&B login
    monkeypatch.setenv("WANDB_API_KEY", "b2" * 20)
    assert wandb_mode(None) == (None, "online (W&B credentials in WANDB_API_KEY; WANDB_MODE=offline keeps it local)")


def test_the_wandb_logger_gets_the_folder_name_entity_project_mode_and_log_model(tmp_path, monkeypatch):
    _no_wandb_auth(monkeypatch, tmp_path)
    run_dir = tmp_path / "spl-lenet5-mnist-s0-1a2b3c4d"
    cfg = compose_train(["logger=wandb", "logger.wandb.entity=my-team", "logger.wandb.log_model=true"], run_dir)
    logger = instantiate(cfg.logger.wandb)
    init = logger._wandb_init
    assert init["name"] == "spl-lenet5-mnist-s0-1a2b3c4d" and init["entity"] == "my-team"
    assert init["project"] == "trainfix" and init["mode"] == "offline" and logger._log_model is True
    assert "anonymous" not in init  # passed at all, wandb warns that the setting is gone
    monkeypatch.setenv("WANDB_PROJECT", "from-env")
    online = compose_train(["logger=wandb", "logger.wandb.mode=online", "logger.wandb.name=mine"], run_dir)
    init = instantiate(online.logger.wandb)._wandb_init
    assert init["mode"] == "online" and init["project"] == "from-env" and init["name"] == "mine"
    older = compose_train(["logger=wandb", "logger.wandb.offline=false"], run_dir)  # the older spelling
    assert instantiate(older.logger.wandb)._wandb_init["mode"] == "online"
