"""The configuration tree (`conf/`), its OmegaConf resolvers, and composing it outside Hydra's CLI.

Every entry point (`trainfix.train`, `trainfix.eval`, `trainfix.apricot`) calls `register_resolvers()`
before Hydra composes anything; `compose_config` and `load_run` call it too, so notebooks, tests and
the results package resolve saved configurations without importing an entry point.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from trainfix.runs import folder, identity
from trainfix.training import logger_setup

# `${trainfix_stderr_is_tty:}`, `${trainfix_monitor:...}`, `${trainfix_eval_loss:...}`: small functions of
# trainfix.training.callbacks.progress, whose module imports Lightning; called through these so that composing
# conf/ (--help, completion, a config error) answers before Lightning is imported (trainfix.cli).
PROGRESS_RESOLVERS = ("trainfix_stderr_is_tty", "trainfix_monitor", "trainfix_eval_loss")


def _progress_resolver(name: str) -> Callable[..., Any]:
    def resolve(*args: Any) -> Any:
        from trainfix.training.callbacks import progress

        return progress.RESOLVERS[name](*args)

    return resolve


PACKAGE_DIR = Path(__file__).resolve().parents[1]  # src/trainfix in a checkout, site-packages/trainfix installed


def find_conf_dir(package: Path = PACKAGE_DIR) -> Path:
    """The configuration tree of the `trainfix` package folder `package`: the copy an installed wheel
    carries (`trainfix/conf`, put there by setup.py's build step), else the checkout's top-level `conf/`
    (source tree, editable install)."""
    installed = package / "conf"
    if (installed / "train.yaml").is_file():
        return installed
    checkout = package.parents[1] / "conf"
    if (checkout / "train.yaml").is_file():
        return checkout
    raise FileNotFoundError(
        f"trainfix's configuration tree is missing: neither {installed} (an installed wheel's copy) nor {checkout} "
        "(a checkout's conf/) holds train.yaml; reinstall trainfix (pip install .) or run from a checkout"
    )


CONF_DIR = find_conf_dir()


def register_resolvers() -> None:
    """Register every `${trainfix_*:...}` resolver that conf/ uses (idempotent)."""
    lazy = {name: _progress_resolver(name) for name in PROGRESS_RESOLVERS}
    for name, function in {**identity.RESOLVERS, **folder.RESOLVERS, **logger_setup.RESOLVERS, **lazy}.items():
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
