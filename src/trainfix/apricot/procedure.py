"""One Apricot adaptation pass over trained runs (seeds/apricot.txt Algorithm 2), resumable per batch.

Inputs are ordinary run folders of one multirun (`make reproduce-apricot-table-v` makes them):
`<row>_input_seed<s>-<hash>` (the input model, Table II) and `<row>_reduced_w<start>_seed<s>-<hash>`
(the rDLMs of Algorithm 1), each with `checkpoints/best.ckpt` (highest test accuracy, as the paper).

The pass, per batch of `batch_size` training samples (default 20, the paper's):
  1. adjust the weights for each failing sample with a correct rDLM (`adapt.adjust_batch`, Eqs. 1-4);
  2. evaluate on the selection set (the test set as the paper, or a seeded validation split of it);
  3. strictly better than the best so far: keep (a deep copy becomes the best); else roll back to the best;
  4. retrain on the whole training set for `retrain_epochs` with the input model's optimizer and batch
     size, then carry that model into the next batch (`after_retrain=carry`; `discard` is Algorithm 2
     line 35 read literally: back to the best weights, the retraining thrown away);
  5. write the state atomically (current and best weights, best accuracy, history): a killed pass
     re-invoked continues after its last completed batch with the same result (retraining is seeded
     per batch).
The best model is returned: its train and test accuracy go to `result.json`.

`adjust=false` runs the control pass: steps 2-5 on the same batches, with step 1 skipped (no weight
moves; the failing samples are still counted). Its gain is what retraining and keeping the best
selection accuracy give by themselves, so a strategy's gain minus the control's is the adjustment's.
It does not depend on the strategy's settings (`CONTROL_IGNORES`); its folder is
`<row>_seed<s>_control-<hash>` and result.json records strategy 0, sign convention "control".

Output: `<runs>/adapt/<row>_seed<s>_S<strategy>_<direction>-<hash>/` with `state.pt`, `history.csv`,
`reduced.json` (Table IV facts), `result.json`, `best.pt`; beside it the predictions computed once for all
passes over the same runs. `rdlm_predictions=full`: `predictions-<hash>.pt`, every rDLM and the input model
on the whole training and test sets. `rdlm_predictions=lazy`: `predictions-<hash>-lazy.pt`, the same on the
test set, the input model on the training set, and each rDLM on its own window only (Table IV's train
accuracy); during the pass the rDLMs predict only the training samples the current model fails
(`adapt.LazyReducedCorrect`, cached in memory, rebuilt on resume). Both modes give the same pass.
The hash covers every setting except `max_batches`, `time_budget_s`, `device` and `rdlm_predictions`, so
raising `max_batches` continues the same folder, and a pass may switch modes on resume.
"""

from __future__ import annotations

import fcntl
import io
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from trainfix.apricot.adapt import (
    BatchOutcome,
    LazyReducedCorrect,
    ReducedWeights,
    adaptable_tensors,
    adjust_batch,
    channels_last_input,
    check_choice,
    predictions,
    reduced_predictions,
)
from trainfix.data.windows import resolve_order, window_indices
from trainfix.data.datasets import DATASETS
from trainfix.models.classifier import conv_kernels
from trainfix.runs.identity import config_hash
from trainfix.runs.loading import LoadedRun, classifier_from_checkpoint, load_run
from trainfix.runs.records import atomic_write_bytes, atomic_write_text, read_run
from trainfix.runs.seeding import derived_seed

log = logging.getLogger(__name__)

# rdlm_predictions changes the cost, not the result: left out, so a pass can switch modes and folders made
# before the key existed keep their hash.
NOT_IN_HASH = ("runs", "input_run", "reduced_runs", "max_batches", "time_budget_s", "device", "out_dir", "rdlm_predictions")
# settings that only shape the adjustment, so the control pass (adjust=false) does not depend on them
CONTROL_IGNORES = ("apricot_strategy", "direction", "r", "predict", "parameters_only")
EVAL_SETS = ("test", "validation")
AFTER_RETRAIN = ("carry", "discard")
RDLM_PREDICTIONS = ("full", "lazy")


# Without retraining (retrain_epochs=0) a batch that adjusts nothing leaves the model equal to the best one, so
# its selection accuracy is the best accuracy: not evaluated again (the history is the same; a test turns it off).
SKIP_UNCHANGED_EVAL = True


class ApricotInputError(ValueError):
    """Run folders that cannot feed Apricot (missing, unfinished, mismatched); the message says which."""


@dataclass
class Inputs:
    """The input model's rebuilt run and the rDLMs' networks with their run folders and windows."""

    input_run: LoadedRun
    reduced_dirs: list[Path]
    reduced_nets: list[torch.nn.Module]
    windows: list[torch.Tensor]


# ------------------------------------------------------------------------------ inputs
def find_runs(runs: Path, row: str, seed: int) -> tuple[Path, list[Path]]:
    """The input run and the reduced runs of `row` and `seed` in the multirun folder `runs`."""
    inputs = sorted(runs.glob(f"{row}_input_seed{seed}-*"))
    reduced = sorted(runs.glob(f"{row}_reduced_w*_seed{seed}-*"), key=lambda p: int(p.name.split("_w")[1].split("_")[0]))
    if len(inputs) != 1:
        raise ApricotInputError(
            f"runs={str(runs)!r} row={row!r} model_seed={seed}: expected one folder {row}_input_seed{seed}-*, found "
            f"{[p.name for p in inputs]}; train it with `python -m trainfix.train -m experiment=apricot/{row} seed={seed}` "
            "or give input_run=<folder>"
        )
    if not reduced:
        raise ApricotInputError(
            f"runs={str(runs)!r}: no reduced runs {row}_reduced_w*_seed{seed}-*; train them with "
            f"`python -m trainfix.train -m experiment=apricot/reduced/{row} 'data.train_window.start=range(0,40000,2000)'`"
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
        if record is None or record.get("status") != "finished":
            raise ApricotInputError(f"{folder}: the reduced run is not finished (status {record and record.get('status')}); re-run its sweep")
        config = OmegaConf.create(record["config"])
        for key in ("model.name", "data.dataset", "data.train_subset", "data.subset_seed"):
            if OmegaConf.select(config, key) != OmegaConf.select(cfg, key):
                raise ApricotInputError(
                    f"{folder}: {key}={OmegaConf.select(config, key)!r} but the input run {input_dir.name} has "
                    f"{OmegaConf.select(cfg, key)!r}; rDLMs must share the input model's architecture and training set"
                )
        window = config.data.train_window
        order = resolve_order(window.order, DATASETS[config.data.dataset].official_order, config.data.dataset)
        windows.append(window_indices(train_count, int(window.start), int(window.size), order, int(config.data.subset_seed)))
        # channels-last: the rDLMs only predict (and give their weights, read in logical order), ~1.5x faster on CPU
        nets.append(classifier_from_checkpoint(folder / "checkpoints" / "best.ckpt", device).net.eval().to(memory_format=torch.channels_last))
    return Inputs(input_run, reduced_dirs, nets, windows)


# ------------------------------------------------------------------------------ evaluation, retraining
def accuracy(pred: torch.Tensor, labels: torch.Tensor) -> float:
    return float((pred == labels).float().mean()) if len(labels) else float("nan")


def final_lr(cfg: DictConfig) -> float:
    """The learning rate the input run ended with: its optimizer's, after its per-epoch scheduler ran
    `trainer.max_epochs` epochs (a Keras model fitted again keeps the rate its schedule left it at)."""
    probe = torch.nn.Parameter(torch.zeros(1))
    optimizer = instantiate(cfg.optimizer)(params=[probe])
    scheduler_cfg = cfg.scheduler.get("scheduler")
    if scheduler_cfg is not None and cfg.scheduler.get("interval", "step") == "epoch":
        scheduler = instantiate(scheduler_cfg)(optimizer)
        for _ in range(int(cfg.trainer.max_epochs)):
            optimizer.step()
            scheduler.step()
    elif scheduler_cfg is not None:
        log.warning("retraining at the optimizer's initial rate: the input run's scheduler steps per batch")
    return float(optimizer.param_groups[0]["lr"])


def retrain(run: LoadedRun, epochs: int, seed: int) -> None:
    """`epochs` of the input model's recipe on the whole training set (optimizer and batch size of the
    input run, its augmentation, a fresh optimizer state at the rate its schedule ended with), seeded by `seed`."""
    if epochs <= 0:
        return
    cfg, dm, net = run.config, run.datamodule, run.net
    optimizer = instantiate(cfg.optimizer)(params=net.parameters(), lr=final_lr(cfg))
    count = len(dm.splits["train"].labels)
    batch = int(cfg.data.batch_size)
    order_gen = torch.Generator().manual_seed(derived_seed(seed, "order"))
    if dm.augment_generator is not None:
        dm.augment_generator.manual_seed(derived_seed(seed, "augment"))
    l2 = float(cfg.model.get("l2_conv_kernels", 0.0) or 0.0)
    net.train()
    for _ in range(epochs):
        perm = torch.randperm(count, generator=order_gen)
        for start in range(0, count, batch):
            x, y = dm.gather("train", perm[start : start + batch], augment=True)
            loss = F.cross_entropy(net(x), y)
            if l2:
                loss = loss + l2 * sum(w.pow(2).sum() for w in conv_kernels(net))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    net.eval()


def _state_bytes(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _clone_state(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


# ------------------------------------------------------------------------------ the pass
def run_pass(cfg: DictConfig) -> dict[str, Any]:
    """Algorithm 2 over the runs `cfg` names; returns result.json's content."""
    check_choice(int(cfg.apricot_strategy), str(cfg.direction))
    if cfg.eval_on not in EVAL_SETS:
        raise ValueError(f"eval_on={cfg.eval_on!r}; accepted: {list(EVAL_SETS)}")
    if cfg.after_retrain not in AFTER_RETRAIN:
        raise ValueError(f"after_retrain={cfg.after_retrain!r}; accepted: {list(AFTER_RETRAIN)}")
    mode = cfg.get("rdlm_predictions")  # conf/apricot.yaml sets it; a hand-built config must too (no silent default)
    if mode not in RDLM_PREDICTIONS:
        raise ValueError(
            f"rdlm_predictions={mode!r}; accepted: {list(RDLM_PREDICTIONS)} (full: every rDLM predicts the whole training set once, "
            "shared by the passes; lazy: only the training samples the model fails, during the pass)"
        )
    if int(cfg.batch_size) < 1 or float(cfg.r) <= 0 or int(cfg.retrain_epochs) < 0:
        raise ValueError(f"batch_size={cfg.batch_size}, r={cfg.r}, retrain_epochs={cfg.retrain_epochs}: need batch_size >= 1, r > 0, retrain_epochs >= 0")
    runs = Path(cfg.runs)
    if cfg.input_run:
        input_dir, reduced_dirs = Path(cfg.input_run), [Path(p) for p in cfg.reduced_runs]
    else:
        input_dir, reduced_dirs = find_runs(runs, str(cfg.row), int(cfg.model_seed))
    settings = OmegaConf.to_container(cfg, resolve=True)
    identity = {k: v for k, v in settings.items() if k not in NOT_IN_HASH}
    identity["input_run"], identity["reduced_runs"] = input_dir.name, [p.name for p in reduced_dirs]
    adjust = cfg.get("adjust", True)
    if not isinstance(adjust, bool):
        raise ValueError(f"adjust={adjust!r}; accepted: true (a strategy pass) or false (the control pass, no weight adjusted)")
    if adjust:
        identity.pop("adjust", None)  # a pass's hash is the one it had before the control existed
    else:  # the control adjusts nothing: the strategy's settings do not change it
        for key in CONTROL_IGNORES:
            identity.pop(key, None)
    label = f"S{cfg.apricot_strategy}_{cfg.direction}" if adjust else "control"
    out = Path(cfg.out_dir) if cfg.out_dir else runs / "adapt" / f"{cfg.row}_seed{cfg.model_seed}_{label}-{config_hash(identity)}"
    device = "cuda" if cfg.device == "auto" and torch.cuda.is_available() else ("cpu" if cfg.device == "auto" else str(cfg.device))

    inputs = load_inputs(input_dir, reduced_dirs, device)  # refuses unfinished runs before the pass has a folder
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.json", json.dumps({"settings": settings, "identity": identity}, indent=2, default=str))
    run, dm, net = inputs.input_run, inputs.input_run.datamodule, inputs.input_run.net
    tensors = adaptable_tensors(net, bool(cfg.parameters_only))
    reduced = ReducedWeights.from_nets(inputs.reduced_nets, bool(cfg.parameters_only), device)
    train_y = dm.splits["train"].labels
    test_y = dm.splits["test"].labels
    select_idx, report_idx = _selection_split(len(test_y), cfg)

    prep = _prepare(out.parent, inputs, cfg, lazy=mode == "lazy")
    if not (out / "reduced.json").exists():
        atomic_write_text(out / "reduced.json", json.dumps(_reduced_facts(prep, inputs, train_y, test_y), indent=2))
    if mode == "lazy":  # the same batched, channels-last predictions as _prepare's, of the failing samples only
        lazy = LazyReducedCorrect(inputs.reduced_nets, lambda i: channels_last_input(dm.gather("train", i)[0]), train_y, int(cfg.eval_batch_size))
    else:
        full_correct = prep["reduced_train"] == train_y.unsqueeze(0)  # [n, N]

    def evaluate(indices: torch.Tensor) -> float:
        pred = predictions(net, lambda i: dm.gather("test", indices[i])[0], len(indices), int(cfg.eval_batch_size))
        return accuracy(pred, test_y[indices])

    order = torch.arange(len(train_y))
    if cfg.shuffle:
        order = torch.randperm(len(train_y), generator=torch.Generator().manual_seed(derived_seed(int(cfg.seed), "apricot/batches")))
    batches = list(order.split(int(cfg.batch_size)))
    planned = len(batches) if cfg.max_batches is None else min(len(batches), int(cfg.max_batches))

    state_file = out / "state.pt"
    if state_file.exists():
        state = torch.load(state_file, map_location=device, weights_only=False)
        net.load_state_dict(state["current"])
        log.info("resuming %s after batch %d of %d (best %.4f)", out, state["next_batch"], planned, state["best_acc"])
    else:
        initial = evaluate(select_idx)
        state = {"next_batch": 0, "current": _clone_state(net), "best": _clone_state(net), "best_acc": initial,
                 "initial_acc": initial, "history": []}
        atomic_write_bytes(state_file, _state_bytes(state))
    previous = out / "result.json"
    if state["next_batch"] >= planned and previous.exists():
        result = json.loads(previous.read_text())
        if result.get("batches_done") == state["next_batch"]:
            log.info("%s: the pass is complete (%d batches); nothing to do", out, planned)
            return result
    net.eval()
    started = time.perf_counter()
    for k in range(state["next_batch"], planned):
        if cfg.time_budget_s is not None and time.perf_counter() - started > float(cfg.time_budget_s):
            log.info("time budget of %s s spent after batch %d; re-invoke to continue", cfg.time_budget_s, k)
            break
        index = batches[k]
        t0 = time.perf_counter()
        x, y = dm.gather("train", index)
        predicted_before = lazy.predicted if mode == "lazy" else 0
        if adjust:
            outcome = adjust_batch(net, tensors, reduced, x, y.cpu(), lazy.for_batch(index) if mode == "lazy" else full_correct[:, index],
                                   int(cfg.apricot_strategy), str(cfg.direction), float(cfg.r), sequential=str(cfg.predict) == "sequential")
        else:  # control: the samples the model fails are counted, nothing moves
            with torch.no_grad():
                outcome = BatchOutcome(int((net(x).argmax(dim=1).cpu() != y.cpu()).sum()), 0)
        # training samples the rDLMs predicted in this batch (each by every rDLM); full mode predicted them all before the pass
        rdlm_predicted = lazy.predicted - predicted_before if mode == "lazy" else None
        t1 = time.perf_counter()
        if SKIP_UNCHANGED_EVAL and outcome.adjusted == 0 and int(cfg.retrain_epochs) == 0:
            acc = state["best_acc"]  # without retraining the model is the best one (kept or rolled back) and nothing moved
        else:
            acc = evaluate(select_idx)  # also when nothing was adjusted: the carried model may have improved by retraining
        kept = acc > state["best_acc"]
        if kept:
            state["best"], state["best_acc"] = _clone_state(net), acc
        else:
            net.load_state_dict(state["best"])  # roll back (also undoes an adjustment that did not help)
        t2 = time.perf_counter()
        retrain(run, int(cfg.retrain_epochs), derived_seed(int(cfg.seed), f"apricot/retrain/{k}"))
        after = None
        if cfg.select_after_retrain and int(cfg.retrain_epochs) > 0:
            after = evaluate(select_idx)
            if after > state["best_acc"]:
                state["best"], state["best_acc"] = _clone_state(net), after
        if cfg.after_retrain == "discard":
            net.load_state_dict(state["best"])
        t3 = time.perf_counter()
        state["history"].append({
            "batch": k + 1, "failing": outcome.failing, "adjusted": outcome.adjusted, "acc_adjusted": acc, "kept": kept,
            "acc_retrained": after, "best_acc": state["best_acc"], "adjust_s": t1 - t0, "eval_s": t2 - t1, "retrain_s": t3 - t2,
            "rdlm_predicted": rdlm_predicted,
        })
        state["next_batch"], state["current"] = k + 1, _clone_state(net)
        atomic_write_bytes(state_file, _state_bytes(state))
        atomic_write_text(out / "history.csv", pd.DataFrame(state["history"]).to_csv(index=False))
        log.info("batch %d/%d: %d failing, %d adjusted, acc %s, best %.4f (%.1f s)", k + 1, planned, outcome.failing,
                 outcome.adjusted, f"{acc:.4f}", state["best_acc"], t3 - t0)

    result = _finish(out, state, planned, len(batches), inputs, prep, select_idx, report_idx, cfg, device, train_y, test_y)
    result["rdlm_predictions"] = mode
    result["rdlm_train_samples_predicted"] = _train_samples_predicted(state["history"], len(train_y), mode)
    atomic_write_text(out / "result.json", json.dumps(result, indent=2))
    return result


def _selection_split(test_count: int, cfg: DictConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(selection indices, report indices) in the test split: both the whole test set (the paper), or a
    seeded validation part of `validation_size` images and the disjoint rest."""
    every = torch.arange(test_count)
    if cfg.eval_on == "test":
        return every, every
    size = int(cfg.validation_size)
    if not 0 < size < test_count:
        raise ValueError(f"validation_size={size}: accepted 1..{test_count - 1} (the test split has {test_count} images)")
    perm = torch.randperm(test_count, generator=torch.Generator().manual_seed(derived_seed(int(cfg.seed), "apricot/validation")))
    return perm[:size].sort().values, perm[size:].sort().values


def _prepare(folder: Path, inputs: Inputs, cfg: DictConfig, lazy: bool = False) -> dict[str, Any]:
    """Predictions computed once and shared by every pass over the same runs, beside the pass folders.

    Full (`<folder>/predictions-<hash>.pt`): every rDLM and the input model on the training and test sets.
    Lazy (`<folder>/predictions-<hash>-lazy.pt`): the rDLMs on the test set (Table IV's rescued share) and
    each on its own window of the training set (Table IV's train accuracy), the input model on both sets;
    not the rDLMs on the whole training set (the pass predicts its failing samples on demand)."""
    key = [p.name for p in inputs.reduced_dirs] + [inputs.input_run.run_dir.name]
    path = folder / f"predictions-{config_hash({'runs': key})}{'-lazy' if lazy else ''}.pt"
    # Passes started side by side (a joblib sweep) share the file: one computes it, the others wait for it
    # (an exclusive flock, released by the kernel if its holder dies) and read it.
    folder.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            prep = torch.load(path, weights_only=False)
            if prep.get("key") == key:
                return prep
        return _compute_predictions(path, key, inputs, cfg, lazy)


def _compute_predictions(path: Path, key: list[str], inputs: Inputs, cfg: DictConfig, lazy: bool) -> dict[str, Any]:
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
        prep["reduced_train"] = reduced_predictions(inputs.reduced_nets, lambda i: channels_last_input(train_in(i)), n_train, batch)
    prep["reduced_test"] = reduced_predictions(inputs.reduced_nets, lambda i: channels_last_input(test_in(i)), n_test, batch)
    prep["input_train"] = predictions(inputs.input_run.net, train_in, n_train, batch)
    prep["input_test"] = predictions(inputs.input_run.net, test_in, n_test, batch)
    prep["seconds"] = time.perf_counter() - t0
    prep["rdlm_train_forwards"] = sum(len(w) for w in inputs.windows) if lazy else len(inputs.reduced_nets) * n_train
    atomic_write_bytes(path, _state_bytes(prep))
    log.info("%s predictions of %d rDLMs and the input model on %d + %d images: %.1f s", prep["mode"], len(inputs.reduced_nets),
             n_train, n_test, prep["seconds"])
    return prep


def _train_samples_predicted(history: list[dict[str, Any]], train_count: int, mode: str) -> int:
    """Training samples the rDLMs predicted for the pass's adjustments, each by every rDLM. Full: the whole
    set, once (shared by the passes over the same runs). Lazy: the sum over the batches done (a resumed
    pass rebuilds its cache, so a sample may count once per invocation); batches an earlier invocation
    ran in full mode add nothing."""
    if mode == "full":
        return train_count
    return int(sum(h.get("rdlm_predicted") or 0 for h in history))


def _reduced_facts(prep: dict[str, torch.Tensor], inputs: Inputs, train_y: torch.Tensor, test_y: torch.Tensor) -> dict[str, Any]:
    """Table II/IV facts: input model and rDLM accuracies, and the test images the input model fails
    that at least one rDLM classifies correctly (as a share of all test images, and of the failed ones).
    Lazy predictions have each rDLM's training predictions on its window only: `train_acc_full` is None."""
    reduced_test_correct = prep["reduced_test"] == test_y.unsqueeze(0)
    input_fails = prep["input_test"] != test_y
    rescued = input_fails & reduced_test_correct.any(dim=0)
    covered = torch.zeros(len(train_y), dtype=torch.bool)
    models = []
    full = "reduced_train" in prep
    window_preds = [p[w] for p, w in zip(prep["reduced_train"], inputs.windows, strict=True)] if full else prep["reduced_window"]
    for i, (folder, window, test_pred) in enumerate(zip(inputs.reduced_dirs, inputs.windows, prep["reduced_test"], strict=True)):
        covered[window] = True
        models.append({
            "run": folder.name, "window_start": int(window.min()), "window_size": len(window),
            "train_acc_window": accuracy(window_preds[i], train_y[window]),
            "train_acc_full": accuracy(prep["reduced_train"][i], train_y) if full else None, "test_acc": accuracy(test_pred, test_y),
        })
    return {
        "input_run": inputs.input_run.run_dir.name,
        "input_train_acc": accuracy(prep["input_train"], train_y), "input_test_acc": accuracy(prep["input_test"], test_y),
        "reduced": models,
        "rescued_share_of_test": float(rescued.float().mean()),
        "rescued_share_of_failed": float(rescued.sum() / input_fails.sum().clamp(min=1)),
        "train_images_never_used": int((~covered).sum()),
        "prediction_seconds": float(prep["seconds"]),
        "predictions": prep.get("mode", "full"),
        "prediction_rdlm_train_forwards": int(prep.get("rdlm_train_forwards", len(inputs.reduced_dirs) * len(train_y))),
    }


def _finish(out: Path, state: dict[str, Any], planned: int, total: int, inputs: Inputs, prep: dict[str, torch.Tensor],
            select_idx: torch.Tensor, report_idx: torch.Tensor, cfg: DictConfig, device: str,
            train_y: torch.Tensor, test_y: torch.Tensor) -> dict[str, Any]:
    """Accuracies of the best model (train, test / held-out part) beside the input model's."""
    adjust = bool(cfg.get("adjust", True))
    run, dm, net = inputs.input_run, inputs.input_run.datamodule, inputs.input_run.net
    current = _clone_state(net)
    net.load_state_dict(state["best"])
    batch = int(cfg.eval_batch_size)
    train_pred = predictions(net, lambda i: dm.gather("train", i)[0], len(train_y), batch)
    test_pred = predictions(net, lambda i: dm.gather("test", i)[0], len(test_y), batch)
    atomic_write_bytes(out / "best.pt", _state_bytes(state["best"]))
    net.load_state_dict(current)
    history = pd.DataFrame(state["history"])
    per_batch = {c: float(history[c].mean()) for c in ("adjust_s", "eval_s", "retrain_s")} if len(history) else {}
    return {
        # the control pass (adjust=false) is strategy 0, sign convention "control": its own Table V cell
        "row": str(cfg.row), "model_seed": int(cfg.model_seed), "control": not adjust,
        "strategy": int(cfg.apricot_strategy) if adjust else 0, "direction": str(cfg.direction) if adjust else "control",
        "eval_on": str(cfg.eval_on), "retrain_epochs": int(cfg.retrain_epochs), "r": float(cfg.r),
        "batches_done": int(state["next_batch"]), "batches_planned": planned, "batches_in_pass": total,
        "complete": int(state["next_batch"]) >= planned,
        "dataset": run.datamodule.spec.label, "official_data": bool(dm.splits["train"].official),
        "input_train_acc": accuracy(prep["input_train"], train_y),
        "input_test_acc": accuracy(prep["input_test"][report_idx], test_y[report_idx]),
        "input_selection_acc": float(state["initial_acc"]),
        "best_selection_acc": float(state["best_acc"]),
        "train_acc": accuracy(train_pred, train_y),
        "test_acc": accuracy(test_pred[report_idx], test_y[report_idx]),
        "gain": accuracy(test_pred[report_idx], test_y[report_idx]) - accuracy(prep["input_test"][report_idx], test_y[report_idx]),
        "kept_batches": int(history["kept"].sum()) if len(history) else 0,
        "seconds_per_batch": per_batch,
        "device": device,
    }
