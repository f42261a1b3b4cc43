"""One Apricot adaptation pass over trained runs (seeds/apricot.txt Algorithm 2), resumable per batch.

Inputs are ordinary run folders of one multirun (`make reproduce-apricot-table-v` makes them):
`<row>_input_seed<s>-<hash>` (the input model, Table II) and `<row>_reduced_w<start>_seed<s>-<hash>`
(the rDLMs of Algorithm 1), each with `checkpoints/best.ckpt` (highest test accuracy, as the paper).

The pass, per batch of `batch_size` training samples (default 20, the paper's):
  1. adjust the weights for each failing sample with a correct rDLM (`adapt.adjust_batch`, Eqs. 1-4);
  2. evaluate on the selection set (the test set as the paper, or a seeded validation split of it);
  3. strictly better than the best so far: keep (a deep copy becomes the best); else roll back to the best;
  4. retrain on the whole training set for `retrain_epochs` through the input run's own LightningModule
     loss, optimizer and batch size (`retrain.Retrainer`), then carry that model into the next batch
     (`after_retrain=carry`; `discard` is Algorithm 2 line 35 read literally: back to the best weights,
     the retraining thrown away). Batch k's retraining is seeded by (`seed`, k) alone, so every pass over
     the same runs, the control included, retrains batch k on the same order and augmentation (a paired
     design); `retrain_optimizer=fresh` starts a new optimizer each batch, `kept` carries one across;
  5. write the state atomically (current and best weights, best accuracy, history, a kept optimizer's
     state): a killed pass re-invoked continues after its last completed batch with the same result.
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

import json
import logging
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

from trainfix.core.records import atomic_write_bytes, atomic_write_text
from trainfix.core.seeding import derived_seed
from trainfix.procedures.apricot.adapt import (
    BatchOutcome,
    LazyReducedCorrect,
    ReducedWeights,
    adaptable_tensors,
    adjust_batch,
    channels_last_input,
    check_choice,
    predictions,
)
from trainfix.procedures.apricot.inputs import (
    Inputs,
    accuracy,
    find_runs,
    load_inputs,
    prepare_predictions,
    reduced_facts,
    state_bytes,
)
from trainfix.procedures.apricot.retrain import OPTIMIZER_STATES, Retrainer
from trainfix.runs.identity import config_hash

log = logging.getLogger(__name__)

# rdlm_predictions changes the cost, not the result: left out, so a pass can switch modes and folders made
# before the key existed keep their hash.
NOT_IN_HASH = (
    "runs",
    "input_run",
    "reduced_runs",
    "max_batches",
    "time_budget_s",
    "device",
    "out_dir",
    "rdlm_predictions",
)
# settings that only shape the adjustment, so the control pass (adjust=false) does not depend on them
CONTROL_IGNORES = ("apricot_strategy", "direction", "r", "predict", "parameters_only")
# keys added after passes were run, with the value those passes had: at that value a key stays out of the hash, so a
# pass keeps its folder (a strategy pass has no `adjust` key; the control pass's `adjust: false` is in its hash)
KEYS_ADDED_LATER = {"adjust": True, "retrain_optimizer": "fresh"}
EVAL_SETS = ("test", "validation")
AFTER_RETRAIN = ("carry", "discard")
RDLM_PREDICTIONS = ("full", "lazy")


# Without retraining (retrain_epochs=0) a batch that adjusts nothing leaves the model equal to the best one, so
# its selection accuracy is the best accuracy: not evaluated again (the history is the same; a test turns it off).
SKIP_UNCHANGED_EVAL = True


# ------------------------------------------------------------------------------ settings, folder
def _check_settings(cfg: DictConfig) -> tuple[str, bool]:
    """The pass's settings checked before anything is loaded: (rdlm_predictions mode, adjust)."""
    check_choice(int(cfg.apricot_strategy), str(cfg.direction))
    for key, accepted in (
        ("eval_on", EVAL_SETS),
        ("after_retrain", AFTER_RETRAIN),
        ("retrain_optimizer", OPTIMIZER_STATES),
    ):
        if (
            cfg.get(key) not in accepted
        ):  # conf/apricot.yaml sets each; a hand-built config must too (no silent default)
            raise ValueError(f"{key}={cfg.get(key)!r}; accepted: {list(accepted)}")
    mode = cfg.get("rdlm_predictions")
    if mode not in RDLM_PREDICTIONS:
        raise ValueError(
            f"rdlm_predictions={mode!r}; accepted: {list(RDLM_PREDICTIONS)} (full: "
            "every rDLM predicts the whole training set once, shared by the passes; lazy: "
            "only the training samples the model fails, during the pass)"
        )
    if int(cfg.batch_size) < 1 or float(cfg.r) <= 0 or int(cfg.retrain_epochs) < 0:
        raise ValueError(
            f"batch_size={cfg.batch_size}, r={cfg.r}, retrain_epochs={cfg.retrain_epochs}: need batch_size >= 1, "
            "r > 0, retrain_epochs >= 0"
        )
    adjust = cfg.get("adjust", True)
    if not isinstance(adjust, bool):
        raise ValueError(
            f"adjust={adjust!r}; accepted: true (a strategy pass) or false (the control pass, no weight adjusted)"
        )
    return mode, adjust


def _pass_folder(cfg: DictConfig, adjust: bool) -> tuple[Path, list[Path], Path, dict[str, Any]]:
    """(input run, reduced runs, the pass's folder, config.json's content). The folder's hash covers the
    settings that change the pass's result, each run by its folder name."""
    runs = Path(cfg.runs)
    if cfg.input_run:
        input_dir, reduced_dirs = Path(cfg.input_run), [Path(p) for p in cfg.reduced_runs]
    else:
        input_dir, reduced_dirs = find_runs(runs, str(cfg.row), int(cfg.model_seed))
    settings = OmegaConf.to_container(cfg, resolve=True)
    identity = {k: v for k, v in settings.items() if k not in NOT_IN_HASH}
    identity["input_run"], identity["reduced_runs"] = input_dir.name, [p.name for p in reduced_dirs]
    for key, default in KEYS_ADDED_LATER.items():  # at its default a key added later leaves the hash as it was
        if identity.get(key) == default:
            identity.pop(key)
    if not adjust:  # the control adjusts nothing: the strategy's settings do not change it
        for key in CONTROL_IGNORES:
            identity.pop(key, None)
    label = f"S{cfg.apricot_strategy}_{cfg.direction}" if adjust else "control"
    out = (
        Path(cfg.out_dir)
        if cfg.out_dir
        else runs / "adapt" / f"{cfg.row}_seed{cfg.model_seed}_{label}-{config_hash(identity)}"
    )
    return input_dir, reduced_dirs, out, {"settings": settings, "identity": identity}


def _clone_state(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


# ------------------------------------------------------------------------------ the pass
def run_pass(cfg: DictConfig) -> dict[str, Any]:
    """Algorithm 2 over the runs `cfg` names; returns result.json's content."""
    mode, adjust = _check_settings(cfg)
    input_dir, reduced_dirs, out, config = _pass_folder(cfg, adjust)
    device = (
        "cuda"
        if cfg.device == "auto" and torch.cuda.is_available()
        else ("cpu" if cfg.device == "auto" else str(cfg.device))
    )
    inputs = load_inputs(input_dir, reduced_dirs, device)  # refuses unfinished runs before the pass has a folder
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.json", json.dumps(config, indent=2, default=str))
    return Adaptation(cfg, inputs, out, mode, adjust, device).run()


class Adaptation:
    """One pass's working state: the input model adapted in place, the rDLMs' weights and predictions, the
    batches, the selection and report parts of the test split, and the retraining."""

    def __init__(self, cfg: DictConfig, inputs: Inputs, out: Path, mode: str, adjust: bool, device: str) -> None:
        self.cfg, self.inputs, self.out, self.mode, self.adjust, self.device = cfg, inputs, out, mode, adjust, device
        self.dm, self.net = inputs.input_run.datamodule, inputs.input_run.net
        self.tensors = adaptable_tensors(self.net, bool(cfg.parameters_only))
        self.reduced = ReducedWeights.from_nets(inputs.reduced_nets, bool(cfg.parameters_only), device)
        self.train_y, self.test_y = self.dm.splits["train"].labels, self.dm.splits["test"].labels
        self.select_idx, self.report_idx = _selection_split(len(self.test_y), cfg)
        self.prep = prepare_predictions(out.parent, inputs, cfg, lazy=mode == "lazy")
        if not (out / "reduced.json").exists():
            atomic_write_text(
                out / "reduced.json", json.dumps(reduced_facts(self.prep, inputs, self.train_y, self.test_y), indent=2)
            )
        if mode == "lazy":
            # the same batched, channels-last predictions as prepare_predictions', of the failing samples only
            self.lazy = LazyReducedCorrect(
                inputs.reduced_nets,
                lambda i: channels_last_input(self.dm.gather("train", i)[0]),
                self.train_y,
                int(cfg.eval_batch_size),
            )
        else:
            self.full_correct = self.prep["reduced_train"] == self.train_y.unsqueeze(0)  # [n, N]
        order = torch.arange(len(self.train_y))
        if cfg.shuffle:
            order = torch.randperm(
                len(self.train_y),
                generator=torch.Generator().manual_seed(derived_seed(int(cfg.seed), "apricot/batches")),
            )
        self.batches = list(order.split(int(cfg.batch_size)))
        self.planned = len(self.batches) if cfg.max_batches is None else min(len(self.batches), int(cfg.max_batches))
        self.retrain = Retrainer(inputs.input_run, int(cfg.retrain_epochs), str(cfg.retrain_optimizer))

    def evaluate(self) -> float:
        """Accuracy on the selection part of the test split."""
        indices = self.select_idx
        pred = predictions(
            self.net, lambda i: self.dm.gather("test", indices[i])[0], len(indices), int(self.cfg.eval_batch_size)
        )
        return accuracy(pred, self.test_y[indices])

    def run(self) -> dict[str, Any]:
        """Batches from the last completed one to `planned` (or the time budget), then result.json."""
        state = self._start_or_resume()
        previous = self.out / "result.json"
        if state["next_batch"] >= self.planned and previous.exists():
            result = json.loads(previous.read_text())
            if result.get("batches_done") == state["next_batch"]:
                log.info("%s: the pass is complete (%d batches); nothing to do", self.out, self.planned)
                return result
        self.net.eval()
        started, budget = time.perf_counter(), self.cfg.time_budget_s
        for k in range(state["next_batch"], self.planned):
            if budget is not None and time.perf_counter() - started > float(budget):
                log.info("time budget of %s s spent after batch %d; re-invoke to continue", budget, k)
                break
            state["history"].append(self._batch(k, state))
            state["next_batch"], state["current"] = k + 1, _clone_state(self.net)
            if self.retrain.keep:
                state["optimizer"] = self.retrain.state_dict()
            atomic_write_bytes(self.out / "state.pt", state_bytes(state))
            atomic_write_text(self.out / "history.csv", pd.DataFrame(state["history"]).to_csv(index=False))
        result = _finish(
            self.out,
            state,
            self.planned,
            len(self.batches),
            self.inputs,
            self.prep,
            self.select_idx,
            self.report_idx,
            self.cfg,
            self.device,
            self.train_y,
            self.test_y,
        )
        result["rdlm_predictions"] = self.mode
        result["rdlm_train_samples_predicted"] = _train_samples_predicted(
            state["history"], len(self.train_y), self.mode
        )
        atomic_write_text(self.out / "result.json", json.dumps(result, indent=2))
        return result

    def _start_or_resume(self) -> dict[str, Any]:
        """The saved state (the model as the last completed batch left it), or a new one at the input model."""
        state_file = self.out / "state.pt"
        if state_file.exists():
            state = torch.load(state_file, map_location=self.device, weights_only=False)
            self.net.load_state_dict(state["current"])
            self.retrain.load_state_dict(state.get("optimizer"))
            log.info(
                "resuming %s after batch %d of %d (best %.4f)",
                self.out,
                state["next_batch"],
                self.planned,
                state["best_acc"],
            )
            return state
        initial = self.evaluate()
        state = {
            "next_batch": 0,
            "current": _clone_state(self.net),
            "best": _clone_state(self.net),
            "best_acc": initial,
            "initial_acc": initial,
            "history": [],
        }
        atomic_write_bytes(state_file, state_bytes(state))
        return state

    def _adjust(self, index: torch.Tensor) -> tuple[BatchOutcome, int | None]:
        """Algorithm 2 lines 4-23 on the batch `index` (the control: only count the failing samples), and the
        training samples the rDLMs predicted for it (lazy mode; full mode predicted them all before the pass)."""
        x, y = self.dm.gather("train", index)
        predicted_before = self.lazy.predicted if self.mode == "lazy" else 0
        if self.adjust:
            cfg = self.cfg
            correct = self.lazy.for_batch(index) if self.mode == "lazy" else self.full_correct[:, index]
            outcome = adjust_batch(
                self.net,
                self.tensors,
                self.reduced,
                x,
                y.cpu(),
                correct,
                int(cfg.apricot_strategy),
                str(cfg.direction),
                float(cfg.r),
                sequential=str(cfg.predict) == "sequential",
            )
        else:
            with torch.no_grad():
                outcome = BatchOutcome(int((self.net(x).argmax(dim=1).cpu() != y.cpu()).sum()), 0)
        return outcome, (self.lazy.predicted - predicted_before if self.mode == "lazy" else None)

    def _batch(self, k: int, state: dict[str, Any]) -> dict[str, Any]:
        """Batch `k`: adjust, select (keep or roll back), retrain; updates `state`'s best; its history row."""
        cfg, epochs = self.cfg, int(self.cfg.retrain_epochs)
        t0 = time.perf_counter()
        outcome, rdlm_predicted = self._adjust(self.batches[k])
        t1 = time.perf_counter()
        if SKIP_UNCHANGED_EVAL and outcome.adjusted == 0 and epochs == 0:
            acc = state[
                "best_acc"
            ]  # without retraining the model is the best one (kept or rolled back) and nothing moved
        else:
            acc = self.evaluate()  # also when nothing was adjusted: the carried model may have improved by retraining
        kept = acc > state["best_acc"]
        if kept:
            state["best"], state["best_acc"] = _clone_state(self.net), acc
        else:
            self.net.load_state_dict(state["best"])  # roll back (also undoes an adjustment that did not help)
        t2 = time.perf_counter()
        # every pass over the same runs, the control included, retrains batch k with the same seed (a paired design)
        self.retrain(derived_seed(int(cfg.seed), f"apricot/retrain/{k}"))
        after = None
        if cfg.select_after_retrain and epochs > 0:
            after = self.evaluate()
            if after > state["best_acc"]:
                state["best"], state["best_acc"] = _clone_state(self.net), after
        if cfg.after_retrain == "discard":
            self.net.load_state_dict(state["best"])
        t3 = time.perf_counter()
        log.info(
            "batch %d/%d: %d failing, %d adjusted, acc %.4f, best %.4f (%.1f s)",
            k + 1,
            self.planned,
            outcome.failing,
            outcome.adjusted,
            acc,
            state["best_acc"],
            t3 - t0,
        )
        return {
            "batch": k + 1,
            "failing": outcome.failing,
            "adjusted": outcome.adjusted,
            "acc_adjusted": acc,
            "kept": kept,
            "acc_retrained": after,
            "best_acc": state["best_acc"],
            "adjust_s": t1 - t0,
            "eval_s": t2 - t1,
            "retrain_s": t3 - t2,
            "rdlm_predicted": rdlm_predicted,
        }


def _selection_split(test_count: int, cfg: DictConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(selection indices, report indices) in the test split: both the whole test set (the paper), or a
    seeded validation part of `validation_size` images and the disjoint rest."""
    every = torch.arange(test_count)
    if cfg.eval_on == "test":
        return every, every
    size = int(cfg.validation_size)
    if not 0 < size < test_count:
        raise ValueError(
            f"validation_size={size}: accepted 1..{test_count - 1} (the test split has {test_count} images)"
        )
    perm = torch.randperm(
        test_count, generator=torch.Generator().manual_seed(derived_seed(int(cfg.seed), "apricot/validation"))
    )
    return perm[:size].sort().values, perm[size:].sort().values


def _train_samples_predicted(history: list[dict[str, Any]], train_count: int, mode: str) -> int:
    """Training samples the rDLMs predicted for the pass's adjustments, each by every rDLM. Full: the whole
    set, once (shared by the passes over the same runs). Lazy: the sum over the batches done (a resumed
    pass rebuilds its cache, so a sample may count once per invocation); batches an earlier invocation
    ran in full mode add nothing."""
    if mode == "full":
        return train_count
    return int(sum(h.get("rdlm_predicted") or 0 for h in history))


def _finish(
    out: Path,
    state: dict[str, Any],
    planned: int,
    total: int,
    inputs: Inputs,
    prep: dict[str, torch.Tensor],
    select_idx: torch.Tensor,
    report_idx: torch.Tensor,
    cfg: DictConfig,
    device: str,
    train_y: torch.Tensor,
    test_y: torch.Tensor,
) -> dict[str, Any]:
    """Accuracies of the best model (train, test / held-out part) beside the input model's."""
    adjust = bool(cfg.get("adjust", True))
    run, dm, net = inputs.input_run, inputs.input_run.datamodule, inputs.input_run.net
    current = _clone_state(net)
    net.load_state_dict(state["best"])
    batch = int(cfg.eval_batch_size)
    train_pred = predictions(net, lambda i: dm.gather("train", i)[0], len(train_y), batch)
    test_pred = predictions(net, lambda i: dm.gather("test", i)[0], len(test_y), batch)
    atomic_write_bytes(out / "best.pt", state_bytes(state["best"]))
    net.load_state_dict(current)
    history = pd.DataFrame(state["history"])
    per_batch = {c: float(history[c].mean()) for c in ("adjust_s", "eval_s", "retrain_s")} if len(history) else {}
    return {
        # the control pass (adjust=false) is strategy 0, sign convention "control": its own Table V cell
        "row": str(cfg.row),
        "model_seed": int(cfg.model_seed),
        "control": not adjust,
        "strategy": int(cfg.apricot_strategy) if adjust else 0,
        "direction": str(cfg.direction) if adjust else "control",
        "eval_on": str(cfg.eval_on),
        "retrain_epochs": int(cfg.retrain_epochs),
        "r": float(cfg.r),
        "batches_done": int(state["next_batch"]),
        "batches_planned": planned,
        "batches_in_pass": total,
        "complete": int(state["next_batch"]) >= planned,
        "dataset": run.datamodule.spec.label,
        "official_data": bool(dm.splits["train"].official),
        "input_train_acc": accuracy(prep["input_train"], train_y),
        "input_test_acc": accuracy(prep["input_test"][report_idx], test_y[report_idx]),
        "input_selection_acc": float(state["initial_acc"]),
        "best_selection_acc": float(state["best_acc"]),
        "train_acc": accuracy(train_pred, train_y),
        "test_acc": accuracy(test_pred[report_idx], test_y[report_idx]),
        "gain": accuracy(test_pred[report_idx], test_y[report_idx])
        - accuracy(prep["input_test"][report_idx], test_y[report_idx]),
        "kept_batches": int(history["kept"].sum()) if len(history) else 0,
        "seconds_per_batch": per_batch,
        "device": device,
    }
