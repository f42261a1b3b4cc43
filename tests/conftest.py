"""Shared fixtures: the real data root, composing the real train.yaml, tiny run settings."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# One OpenMP/MKL thread per process, in pytest and in every process a test starts: CLI runs, DDP and
# gloo ranks, joblib workers and the notebook kernel inherit os.environ. On the 2-core CI machine,
# children taking a thread per core each oversubscribed it (some tests ran 40x slower); pytest itself
# ran a single-process test (test_same_seed_gives_identical_metrics) in 55 s with 1 thread vs 75-81 s
# with 2 on a loaded 2-core machine. A value set in the caller's environment wins (MKL follows OMP:
# torch takes the smaller of the two). Set before torch is imported (it reads them when it loads),
# and pinned below in case a plugin imported it first.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", os.environ["OMP_NUM_THREADS"])
if "torch" in sys.modules and os.environ["OMP_NUM_THREADS"].isdigit():
    sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

import pytest  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

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


def process_running(pid: int | str) -> bool:
    """Whether the process exists and is not a zombie (an orphan's zombie may wait for a reaper); reads /proc."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
