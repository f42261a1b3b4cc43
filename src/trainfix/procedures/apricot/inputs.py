"""The inputs of an Apricot pass: the input model's run and its reduced models (rDLMs), the predictions
every pass over the same runs shares (computed once, under a lock), and Tables II/IV's facts about them.
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from trainfix.core.records import FINISHED, atomic_write_bytes, read_run
from trainfix.data.catalogue import DATASETS
from trainfix.data.windows import resolve_order, window_indices
from trainfix.procedures.apricot.adapt import channels_last_input, predictions, reduced_predictions
from trainfix.runs.identity import config_hash
from trainfix.runs.lock import acquire
from trainfix.training.checkpoint import LoadedRun, classifier_from_checkpoint, load_run

log = logging.getLogger(__name__)


class ApricotInputError(ValueError):
    """Run folders that cannot feed Apricot (missing, unfinished, mismatched); the message says which."""


@dataclass
class Inputs:
    """The input model's rebuilt run and the rDLMs' networks with their run folders and windows."""

    input_run: LoadedRun
    reduced_dirs: list[Path]
    reduced_nets: list[torch.nn.Module]
    windows: list[torch.Tensor]


def find_runs(runs: Path, row: str, seed: int) -> tuple[Path, list[Path]]:
    """The input run and the reduced runs of `row` and `seed` in the multirun folder `runs`."""
    inputs = sorted(runs.glob(f"{row}_input_seed{seed}-*"))
    reduced = sorted(
        runs.glob(f"{row}_reduced_w*_seed{seed}-*"), key=lambda p: int(p.name.split("_w")[1].split("_")[0])
    )
    experiment = "apricot/mnist/lenet5" if row == "lenet5_mnist" else f"apricot/table_v/{row}"
    if len(inputs) != 1:
        raise ApricotInputError(
            f"runs={str(runs)!r} row={row!r} model_seed={seed}: expected one folder {row}_input_seed{seed}-*, "
            f"found {[p.name for p in inputs]}; train it with `python -m trainfix.train -m experiment={experiment} "
            f"seed={seed}` or give input_run=<folder>"
        )
    if not reduced:
        raise ApricotInputError(
            f"runs={str(runs)!r}: no reduced runs {row}_reduced_w*_seed{seed}-*; "
            f"train them with `python -m trainfix.train -m experiment={experiment}_reduced "
            "'data.train_window.start=range(0,40000,2000)'`"
        )
    return inputs[0], reduced


def load_inputs(input_dir: Path, reduced_dirs: list[Path], device: str) -> Inputs:
    """Rebuild the input run (best checkpoint) and every rDLM, checking they share architecture and data."""
    input_run = load_run(input_dir, "best", device=device)
    cfg = input_run.config
    train_count = len(input_run.datamodule.splits["train"].labels)
    nets, windows = [], []
    for folder in reduced_dirs:
        record = read_run(folder)
        if record is None or record.get("status") != FINISHED:
            raise ApricotInputError(
                f"{folder}: the reduced run is not finished (status {record and record.get('status')}); "
                "re-run its sweep"
            )
        config = OmegaConf.create(record["config"])
        for key in ("model.name", "data.dataset", "data.train_subset", "data.subset_seed"):
            if OmegaConf.select(config, key) != OmegaConf.select(cfg, key):
                raise ApricotInputError(
                    f"{folder}: {key}={OmegaConf.select(config, key)!r} but the input run {input_dir.name} has "
                    f"{OmegaConf.select(cfg, key)!r}; rDLMs must share the input model's architecture and training set"
                )
        window = config.data.train_window
        order = resolve_order(window.order, DATASETS[config.data.dataset].official_order, config.data.dataset)
        windows.append(
            window_indices(train_count, int(window.start), int(window.size), order, int(config.data.subset_seed))
        )
        # channels-last: the rDLMs only predict (and give their weights, read in logical order), ~1.5x faster on CPU
        nets.append(
            classifier_from_checkpoint(folder / "checkpoints" / "best.ckpt", device)
            .net.eval()
            .to(memory_format=torch.channels_last)
        )
    return Inputs(input_run, reduced_dirs, nets, windows)


def accuracy(pred: torch.Tensor, labels: torch.Tensor) -> float:
    return float((pred == labels).float().mean()) if len(labels) else float("nan")


def state_bytes(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def prepare_predictions(folder: Path, inputs: Inputs, cfg: DictConfig, lazy: bool = False) -> dict[str, Any]:
    """Predictions computed once and shared by every pass over the same runs, beside the pass folders.

    Full (`<folder>/predictions-<hash>.pt`): every rDLM and the input model on the training and test sets.
    Lazy (`<folder>/predictions-<hash>-lazy.pt`): the rDLMs on the test set (Table IV's rescued share) and
    each on its own window of the training set (Table IV's train accuracy), the input model on both sets;
    not the rDLMs on the whole training set (the pass predicts its failing samples on demand)."""
    key = [p.name for p in inputs.reduced_dirs] + [inputs.input_run.run_dir.name]
    path = folder / f"predictions-{config_hash({'runs': key})}{'-lazy' if lazy else ''}.pt"
    # Passes started side by side (a joblib sweep) share the file: one computes it, the others wait for it
    # (runs/lock.py: an exclusive flock, released by the kernel if its holder dies) and read it.
    with acquire(folder, wait=True, name=path.name + ".lock"):
        if path.exists():
            prep = torch.load(path, weights_only=False)
            if prep.get("key") == key:
                return prep
        return compute_predictions(path, key, inputs, cfg, lazy)


def compute_predictions(path: Path, key: list[str], inputs: Inputs, cfg: DictConfig, lazy: bool) -> dict[str, Any]:
    dm, batch = inputs.input_run.datamodule, int(cfg.eval_batch_size)
    n_train, n_test = len(dm.splits["train"].labels), len(dm.splits["test"].labels)
    t0 = time.perf_counter()
    train_in = lambda i: dm.gather("train", i)[0]  # noqa: E731
    test_in = lambda i: dm.gather("test", i)[0]  # noqa: E731
    prep: dict[str, Any] = {"key": key, "mode": "lazy" if lazy else "full"}
    if lazy:
        prep["reduced_window"] = [
            predictions(net, lambda i, w=window: channels_last_input(train_in(w[i])), len(window), batch)
            for net, window in zip(inputs.reduced_nets, inputs.windows, strict=True)
        ]
    else:
        prep["reduced_train"] = reduced_predictions(
            inputs.reduced_nets, lambda i: channels_last_input(train_in(i)), n_train, batch
        )
    prep["reduced_test"] = reduced_predictions(
        inputs.reduced_nets, lambda i: channels_last_input(test_in(i)), n_test, batch
    )
    prep["input_train"] = predictions(inputs.input_run.net, train_in, n_train, batch)
    prep["input_test"] = predictions(inputs.input_run.net, test_in, n_test, batch)
    prep["seconds"] = time.perf_counter() - t0
    prep["rdlm_train_forwards"] = sum(len(w) for w in inputs.windows) if lazy else len(inputs.reduced_nets) * n_train
    atomic_write_bytes(path, state_bytes(prep))
    log.info(
        "%s predictions of %d rDLMs and the input model on %d + %d images: %.1f s",
        prep["mode"],
        len(inputs.reduced_nets),
        n_train,
        n_test,
        prep["seconds"],
    )
    return prep


def reduced_facts(
    prep: dict[str, torch.Tensor], inputs: Inputs, train_y: torch.Tensor, test_y: torch.Tensor
) -> dict[str, Any]:
    """Table II/IV facts: input model and rDLM accuracies, and the test images the input model fails
    that at least one rDLM classifies correctly (as a share of all test images, and of the failed ones).
    Lazy predictions have each rDLM's training predictions on its window only: `train_acc_full` is None."""
    reduced_test_correct = prep["reduced_test"] == test_y.unsqueeze(0)
    input_fails = prep["input_test"] != test_y
    rescued = input_fails & reduced_test_correct.any(dim=0)
    covered = torch.zeros(len(train_y), dtype=torch.bool)
    models = []
    full = "reduced_train" in prep
    window_preds = (
        [p[w] for p, w in zip(prep["reduced_train"], inputs.windows, strict=True)] if full else prep["reduced_window"]
    )
    for i, (folder, window, test_pred) in enumerate(
        zip(inputs.reduced_dirs, inputs.windows, prep["reduced_test"], strict=True)
    ):
        covered[window] = True
        models.append(
            {
                "run": folder.name,
                "window_start": int(window.min()),
                "window_size": len(window),
                "train_acc_window": accuracy(window_preds[i], train_y[window]),
                "train_acc_full": accuracy(prep["reduced_train"][i], train_y) if full else None,
                "test_acc": accuracy(test_pred, test_y),
            }
        )
    return {
        "input_run": inputs.input_run.run_dir.name,
        "input_train_acc": accuracy(prep["input_train"], train_y),
        "input_test_acc": accuracy(prep["input_test"], test_y),
        "reduced": models,
        "rescued_share_of_test": float(rescued.float().mean()),
        "rescued_share_of_failed": float(rescued.sum() / input_fails.sum().clamp(min=1)),
        "train_images_never_used": int((~covered).sum()),
        "prediction_seconds": float(prep["seconds"]),
        "predictions": prep.get("mode", "full"),
        "prediction_rdlm_train_forwards": int(prep.get("rdlm_train_forwards", len(inputs.reduced_dirs) * len(train_y))),
    }
