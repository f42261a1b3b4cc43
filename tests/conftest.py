"""Shared fixtures: the real data root, composing the real train.yaml, tiny run settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from omegaconf import DictConfig

import trainfix.runs.identity  # noqa: F401,E402  (registers the run-folder resolvers)
from trainfix.train import CONF_DIR, compose_config  # noqa: E402

os.environ.setdefault("WANDB_MODE", "offline")

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """The real data root: $TRAINFIX_DATA_DIR, else ../shared/data beside the checkout."""
    env = os.environ.get("TRAINFIX_DATA_DIR")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    root = shared_data_dir()
    if not (root / "MNIST" / "raw").exists():
        pytest.skip(f"real data not found at {root} (set TRAINFIX_DATA_DIR)")
    return root


def compose_train(overrides: list[str], output_dir: Path) -> DictConfig:
    """Compose conf/train.yaml with `overrides` as `python -m trainfix.train` would, output in `output_dir`."""
    return compose_config(overrides, output_dir)


def compose_eval(*overrides: str) -> DictConfig:
    """Compose conf/eval.yaml with `overrides` as `python -m trainfix.eval` would (for `trainfix.eval.evaluate`)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        return compose("eval.yaml", overrides=list(overrides))


@pytest.fixture
def tiny_cfg(tmp_path: Path, data_dir: Path):
    """A factory for small CPU runs on real MNIST (LeNet-5, 2 epochs of 2,000 samples)."""

    def make(*overrides: str, run_dir: Path | None = None) -> DictConfig:
        base = [
            f"paths.data_dir={data_dir}",
            "trainer.accelerator=cpu",
            "trainer.max_epochs=2",
            "trainer.enable_progress_bar=false",
            "data.train_subset=2000",
            "data.test_subset=500",
            "data.batch_size=250",
            "data.eval_batch_size=500",
        ]
        return compose_train(base + list(overrides), run_dir or tmp_path / "run")

    return make
