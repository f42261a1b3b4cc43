"""Registries, configs and help text agree: a technique is one strategy file, one YAML file and one
registry entry (docs/adding_a_technique.md), and nothing else has to list it."""

from __future__ import annotations

import re

from hydra.utils import get_class
from omegaconf import OmegaConf

from trainfix.strategies import STRATEGIES
from trainfix.training.compose import CONF_DIR

INTERNAL_GROUPS = {"paths", "hydra"}  # set by the tool, not chosen by a user


def test_every_strategy_config_names_its_registered_class() -> None:
    files = {p.stem: p for p in (CONF_DIR / "strategy").glob("*.yaml")}
    assert set(files) == set(
        STRATEGIES
    ), "conf/strategy/*.yaml and trainfix.strategies.STRATEGIES list different strategies"
    for name, path in files.items():
        target = OmegaConf.load(path)["_target_"]
        assert get_class(target) is STRATEGIES[name], f"{path}: _target_ {target} is not STRATEGIES[{name!r}]"


def test_help_text_lists_every_user_facing_config_group() -> None:
    help_text = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "hydra" / "help" / "trainfix.yaml"))["template"]
    listed = set(re.findall(r"^\s+(\S+)\s{2,}", help_text, flags=re.M))
    groups = {p.name for p in CONF_DIR.iterdir() if p.is_dir()} - INTERNAL_GROUPS
    groups |= {"hydra/launcher"}
    missing = sorted(g for g in groups if g not in listed and not g.startswith("strategy_"))
    assert not missing, f"conf/hydra/help/trainfix.yaml does not list the config groups {missing}"
