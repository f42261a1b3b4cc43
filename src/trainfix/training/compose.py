"""The configuration tree (`conf/`), its OmegaConf resolvers, and composing it outside Hydra's CLI.

Every entry point (`trainfix.train`, `trainfix.eval`, `trainfix.apricot`) calls `register_resolvers()`
before Hydra composes anything; `compose_config` and `load_run` call it too, so notebooks, tests and
the results package resolve saved configurations without importing an entry point.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from trainfix.runs import identity
from trainfix.training.callbacks import progress

CONF_DIR = Path(__file__).resolve().parents[3] / "conf"


def register_resolvers() -> None:
    """Register every `${trainfix_*:...}` resolver that conf/ uses (idempotent)."""
    for name, function in {**identity.RESOLVERS, **progress.RESOLVERS}.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, function)


def compose_config(overrides: list[str], output_dir: Path) -> DictConfig:
    """conf/train.yaml composed with `overrides` as `python -m trainfix.train` would, writing its run
    to `output_dir`: for notebooks, benchmarks and tests that call `train(cfg)` in-process."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose("train.yaml", overrides=list(overrides), return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        del cfg["hydra"]
    return cfg
