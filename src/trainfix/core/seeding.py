"""Seeds and random-number-generator state: one place that sets them and saves/restores them.

A run is reproducible when (a) every generator is seeded from the run's seed and (b) a resumed
run restores every generator to the state it had at the checkpoint. Generators we own (batch
plan, augmentation) are explicit `torch.Generator`s held by their components; the global ones
(Python, NumPy, torch CPU and CUDA: dropout, weight init) are captured here.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and every CUDA device) with `seed`, through Lightning.

    Lightning's `seed_everything` also exports `PL_GLOBAL_SEED`, so processes that Lightning spawns
    (DDP ranks) seed the same way, and refuses a seed outside NumPy's range (0..2**32 - 1) with a
    ValueError naming it. Dataloader workers need no seeding: batches are index slices served in
    the main process.
    """
    pl.seed_everything(seed, workers=False, verbose=False)


def derived_seed(seed: int, stream: str) -> int:
    """A seed for one named stream ("plan", "augment/rank0", ...), independent of the others.

    Stable across processes and Python versions (no `hash()`, which is salted per process).
    """
    value = seed & 0xFFFFFFFF
    for ch in stream.encode():
        value = (value * 1_000_003 ^ ch) & 0xFFFFFFFFFFFF
    return value


def global_rng_state() -> dict[str, Any]:
    """The state of the global generators, for a checkpoint."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": _numpy_state_to_tensors(np.random.get_state()),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_global_rng_state(state: dict[str, Any]) -> None:
    """Put the global generators back to a state taken by `global_rng_state`."""
    random.setstate(state["python"])
    np.random.set_state(_numpy_state_from_tensors(state["numpy"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _numpy_state_to_tensors(state: tuple) -> tuple:
    # Checkpoints load with torch.load(weights_only=True), which refuses NumPy arrays.
    name, key, pos, has_gauss, cached = state
    return (name, torch.from_numpy(key.astype(np.int64)), int(pos), int(has_gauss), float(cached))


def _numpy_state_from_tensors(state: tuple) -> tuple:
    name, key, pos, has_gauss, cached = state
    return (name, key.numpy().astype(np.uint32), pos, has_gauss, cached)
