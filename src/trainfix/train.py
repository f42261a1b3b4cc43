"""Train one configuration, or a sweep of them, and write the run's records.

    python -m trainfix.train                                   # conf/train.yaml defaults
    python -m trainfix.train data=fashion_mnist model=lenet5 strategy=shuffle optimizer=adam \
        optimizer.lr=0.001 data.batch_size=128 trainer.max_epochs=1
    python -m trainfix.train -m seed=0,1,2 strategy=baseline,shuffle          # multirun
    python -m trainfix.train -m hydra/launcher=joblib seed=0,1                # runs side by side
    python -m trainfix.train trainer=ddp trainer.devices=4                     # DDP on 4 GPUs

Each run lives in a folder named from its configuration (`runs/<task_name>/<run_name>/`, or
`multirun/<task_name>/<run_name>/` in a sweep): a finished run is skipped when invoked again, an
interrupted one resumes from its last epoch checkpoint.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from trainfix.core.exit_status import EXIT_CONFIG, EXIT_DATA, EXIT_FAILED, EXIT_STORAGE, run_hydra_cli
from trainfix.core.records import FINISHED, now_iso, read_metrics, read_run, write_run
from trainfix.runs.folder import (
    RunAction,
    RunConflictError,
    decide,
    discard_unstarted,
    restore_previous,
    skip_message,
)
from trainfix.runs.identity import overridden_keys
from trainfix.runs.lock import RunLockedError, acquire
from trainfix.runs.orphan import exit_if_orphaned, stop_when_parent_dies
from trainfix.runs.storage import probe_writable, storage_problem
from trainfix.runs.sweep import record_job
from trainfix.training.compose import CONF_DIR, register_resolvers

if TYPE_CHECKING:  # imported where used: torch and Lightning load after the command line composed (trainfix.cli)
    import pytorch_lightning as pl

    from trainfix.data.datamodule import ImageDataModule
    from trainfix.training.module import Classifier

log = logging.getLogger(__name__)
register_resolvers()  # before @hydra.main composes conf/


class BuildError(ValueError):
    """A value that only shows itself when the run is built (e.g. a model that cannot take the data's shape)."""


def train(cfg: DictConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Build everything from `cfg` and fit; returns (last epoch's metrics, built objects).

    Holds the run folder's lock from the decision (start, resume, skip) to the end of training, so a
    second process on the same run folder skips it (or waits, `run_lock.wait=true`).
    """
    from trainfix.core.allocator import keep_freed_memory
    from trainfix.core.third_party_noise import quiet_third_party_noise
    from trainfix.monitor.repair import repair_if_asked
    from trainfix.training.callbacks.progress import print_config_tree
    from trainfix.training.config_rules import check_config

    check_config(cfg)
    quiet_third_party_noise()  # here, not at import: launcher workers may never import this module
    if OmegaConf.select(cfg, "extras.keep_freed_memory", default=True):
        keep_freed_memory()  # in this process, which may be a launcher's worker (trainfix.core.allocator)
    stop_when_parent_dies()  # a launcher's worker whose sweep was killed stops as interrupted (trainfix.runs.orphan)
    if OmegaConf.select(cfg, "extras.print_config", default=False):
        print_config_tree(cfg)
    run_dir = Path(cfg.paths.output_dir)
    config = OmegaConf.to_container(cfg, resolve=True)
    probe_writable(run_dir)
    lock_cfg = cfg.get("run_lock") or {}
    try:
        lock = acquire(run_dir, wait=bool(lock_cfg.get("wait", False)), timeout_s=lock_cfg.get("timeout_s"))
    except RunLockedError as error:
        log.warning("Skipping: %s", error)
        return {}, {"run_dir": run_dir, "action": RunAction("skip", reason=str(error)), "locked_by": error.holder}
    with lock:
        if lock.stale_holder:
            log.warning(
                "Took over the lock of %s from pid %s on %s, which died holding it",
                run_dir,
                lock.stale_holder.get("pid"),
                lock.stale_holder.get("host"),
            )
        result = _train_locked(cfg, run_dir, config)
    repair_if_asked(cfg, run_dir, _task_overrides())
    return result


def _train_locked(cfg: DictConfig, run_dir: Path, config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    from trainfix.core.seeding import seed_everything

    action = decide(
        run_dir, config, overridden_keys(_task_overrides(), _config_groups()), rerun=bool(cfg.get("rerun", False))
    )
    if action.kind == "skip":
        log.info(skip_message(run_dir, action.reason))
        return _last_row(run_dir), {"run_dir": run_dir, "action": action}
    for problem in action.problems:
        log.warning("Damaged checkpoint: %s", problem)
    if action.reason:
        log.info(action.reason)

    seed_everything(cfg.seed)  # torch's deterministic algorithms: trainer.deterministic, which Lightning applies
    attempt = {
        "action": action.kind,
        "previous_outcome": action.previous_outcome,
        "checkpoint_problems": list(action.problems),
        "overrides": _task_overrides(),  # this invocation's command line (Hydra's files: `.hydra/`, runs/folder.py)
    }
    try:
        trainer, module, datamodule = _build(cfg, run_dir, config, action, attempt)
    except Exception as error:
        if action.archived is not None:  # a rerun that cannot even be built: the finished run stays as it was
            restore_previous(run_dir, action.archived)
            raise
        # Recorded, so a table shows this cell as failed (or "data missing") rather than absent; a single run
        # refused for its configuration or data in a folder of its own leaves no folder instead (_main).
        if not (action.kind == "new" and action.previous_outcome is None and _single_run() and _user_error(error)):
            _record_failure_before_fit(run_dir, config, cfg.seed, error, attempt)
        raise
    loggers = trainer.loggers
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(action.checkpoint) if action.checkpoint else None)
    finally:
        if any(type(lg).__name__ == "WandbLogger" for lg in loggers):
            import wandb

            wandb.finish()
    return _last_row(run_dir), {
        "run_dir": run_dir,
        "action": action,
        "trainer": trainer,
        "module": module,
        "datamodule": datamodule,
    }


def _record_failure_before_fit(
    run_dir: Path, config: dict[str, Any], seed: int, error: Exception, attempt: dict[str, Any]
) -> None:
    from trainfix.training.callbacks.recorder import attempt_list, close_open_attempts

    previous = read_run(run_dir) or {}
    attempts = attempt_list(previous.get("attempts"))
    close_open_attempts(attempts, "killed")
    message = f"{type(error).__name__}: {error}"
    attempts.append({"start": now_iso(), "end": now_iso(), "outcome": "failed", "error": message, **attempt})
    record = {
        **previous,
        "status": "failed",
        "config": config,
        "seed": seed,
        "error": message,
        "end_time": now_iso(),
        "attempts": attempts,
    }
    try:
        write_run(run_dir, record)
    except OSError as write_error:  # the disk may be why it failed: never hide the first error
        log.error("Could not record the failure in %s: %s", run_dir, write_error)


def _record_refusal(run_dir: Path, cfg: DictConfig, error: Exception) -> None:
    """Record a refused job in its folder, holding the run's lock, unless the folder holds a run already (also one
    that another process is running there now: it holds the lock)."""
    try:
        lock = acquire(run_dir)
    except RunLockedError:
        return
    with lock:
        if read_run(run_dir) is None:
            config = OmegaConf.to_container(cfg, resolve=False)
            _record_failure_before_fit(
                run_dir, config, cfg.get("seed"), error, {"action": "refused", "overrides": _task_overrides()}
            )


def _single_run() -> bool:
    try:
        return HydraConfig.get().mode != RunMode.MULTIRUN
    except ValueError:  # not under Hydra (tests, notebooks): the caller keeps what it asked for
        return False


def _user_error(error: Exception) -> bool:
    return _classify(error, Path("."))[0] in ("config error", "data error")


def _config_groups() -> list[str]:
    try:
        return list(HydraConfig.get().runtime.choices.keys())
    except ValueError:  # not under Hydra
        return []


def _task_overrides() -> list[str]:
    try:
        return list(HydraConfig.get().overrides.task)
    except ValueError:  # not under Hydra (tests, notebooks): nothing was set on a command line
        return []


def _build(
    cfg: DictConfig, run_dir: Path, config: dict[str, Any], action: RunAction, attempt: dict[str, Any]
) -> tuple[pl.Trainer, Classifier, ImageDataModule]:
    """Strategy, data, model, callbacks, loggers and trainer, in that order."""
    from hydra.utils import instantiate

    from trainfix.monitor.callback import build_monitor
    from trainfix.training.callbacks.checkpoint import LastCheckpoint
    from trainfix.training.callbacks.convergence import Convergence
    from trainfix.training.callbacks.progress import EpochLog, monitored_metric
    from trainfix.training.callbacks.recorder import RunRecorder
    from trainfix.training.callbacks.run_loggers import RunLoggers
    from trainfix.training.callbacks.strategy_driver import StrategyDriver
    from trainfix.training.module import Classifier
    from trainfix.training.sync_batchnorm import batchnorm_sync, count_batchnorm

    log.info("Instantiating strategy <%s>", cfg.strategy._target_)
    strategy = _instantiate(cfg.strategy, "strategy")

    log.info("Instantiating datamodule <%s> for %s", cfg.data._target_, cfg.data.dataset)
    datamodule: ImageDataModule = _instantiate(cfg.data, "data")
    datamodule.attach(strategy, cfg.seed)
    data_facts = datamodule.describe()
    log.info("Data: %s", data_facts)

    log.info("Instantiating model <%s>", cfg.model.name)
    try:
        module = Classifier.from_config(cfg, datamodule, strategy, config)
    except ValueError as error:  # the model cannot take this data (shape, channels, options)
        raise BuildError(
            f"model={cfg.model.name} on data={cfg.data.dataset} ({'x'.join(map(str, datamodule.input_shape))} images): "
            f"{error}"
        ) from None
    if cfg.init_from and action.kind == "new":
        _load_network_weights(module, Path(cfg.init_from))

    log.info("Instantiating callbacks and loggers")
    recorder = RunRecorder(run_dir, config, data_facts, cfg.seed, attempt)
    convergence = Convergence(run_dir, **cfg.convergence)
    readable = [RunLoggers(run_dir, config, data_facts), EpochLog(run_dir, monitored_metric(cfg.data.val_fraction))]
    monitor = build_monitor(cfg, run_dir)  # after the recorder (it reads the epoch's row), before the checkpoint
    callbacks: list[pl.Callback] = [
        StrategyDriver(strategy),
        *convergence.measurements(),
        recorder,
        *readable,
        convergence,
        *monitor,
        LastCheckpoint(run_dir),
    ]
    callbacks += [instantiate(c) for c in (cfg.callbacks or {}).values()]
    loggers = [instantiate(c) for c in (cfg.logger or {}).values()]

    log.info("Instantiating trainer <%s>", cfg.trainer._target_)
    varying = {"reload_dataloaders_every_n_epochs": 1} if strategy.epoch_length_varies else {}
    # BatchNorm synchronized under DDP when the strategy needs global per-sample losses
    # (trainfix.training.sync_batchnorm)
    try:
        sync = batchnorm_sync(strategy, OmegaConf.select(cfg, "trainer.sync_batchnorm"))
    except ValueError as error:
        raise BuildError(str(error)) from None
    layer_sync = {"sync_batchnorm": True, "plugins": [sync]} if sync else {"sync_batchnorm": False}
    trainer: pl.Trainer = _instantiate(
        cfg.trainer,
        "trainer",
        callbacks=callbacks,
        logger=loggers or False,
        default_root_dir=str(run_dir),
        **varying,
        **layer_sync,
    )
    if sync and trainer.world_size > 1 and (layers := count_batchnorm(module.net)):
        log.info(
            "SyncBatchNorm on: %d BatchNorm layers normalize over the global batch of %d ranks, because %s",
            layers,
            trainer.world_size,
            sync.reason,
        )
    return trainer, module, datamodule


def _instantiate(node: DictConfig, group: str, **kwargs: Any) -> Any:
    """`instantiate(node)`; a key its class does not take (`+trainer.max_epoch=1`, as Hydra's hint for a misspelt
    key suggests) is a BuildError naming the key, with the closest accepted ones."""
    import inspect

    from hydra.utils import get_object, instantiate

    from trainfix.cli import suggest

    try:
        return instantiate(node, **kwargs)
    except Exception as error:
        unknown = re.search(r"unexpected keyword argument '(\w+)'", str(error))
        if unknown is None or unknown.group(1) not in node:  # not the config's key: a fault in the code, as it is
            raise
        try:
            # every __init__ up the class tree (a strategy passes **options on to its base class), and the options
            # a class forwards elsewhere (FORWARDED_OPTIONS, e.g. LEAP's embedding network)
            target = get_object(node._target_)
            accepted = [
                p.name
                for cls in getattr(target, "__mro__", (target,))
                if "__init__" in vars(cls) or not isinstance(target, type)
                for p in inspect.signature(cls.__init__ if isinstance(target, type) else cls).parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
            ] + list(getattr(target, "FORWARDED_OPTIONS", ()))
        except (ValueError, TypeError, ImportError):
            accepted = [str(k) for k in node.keys() if k != "_target_"]
        key = unknown.group(1)
        close = suggest(f"{group}.{key}", [f"{group}.{name}" for name in accepted if name != key])
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise BuildError(f"{group}.{key}: not an argument of {node._target_}{hint}") from None


def _load_network_weights(module: Classifier, checkpoint: Path) -> None:
    """Start from the network weights of another run's checkpoint (optimizer and strategy start fresh,
    as the authors' code does when it loads the SPL model for Table VII).

    Every tensor must match, except that BatchNorm layers this network has and the checkpoint's lacks
    keep their initial state (gamma 1, beta 0, running mean 0, variance 1): AutoTrainer's "bn" repair
    inserts fresh BatchNormalization layers into the trained model (`model.params.batch_norm=true` from
    the weights of the same MLP without it)."""
    import torch

    if not checkpoint.exists():
        raise FileNotFoundError(
            f"init_from={checkpoint}: no such checkpoint. For DeepEutaxy Table VII, "
            "run Table IV's SPL runs of the same profile, variant and seed first (make reproduce-table-iv)."
        )
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    net_state = {key.removeprefix("net."): value for key, value in state.items() if key.startswith("net.")}
    batch_norm = {
        f"{name}.{key}"
        for name, m in module.net.named_modules()
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
        for key in m.state_dict()
    }
    missing = set(module.net.state_dict()) - set(net_state)
    fresh = missing & batch_norm
    if fresh and {key.rsplit(".", 1)[0] for key in fresh} & {key.rsplit(".", 1)[0] for key in net_state}:
        raise RuntimeError(
            f"init_from={checkpoint}: BatchNorm layers only partly in the checkpoint: {sorted(fresh)[:4]}"
        )
    try:
        result = module.net.load_state_dict(net_state, strict=not fresh)
    except RuntimeError as error:  # shapes differ
        raise RuntimeError(f"init_from={checkpoint} does not fit this run's network: {error}") from None
    if result.unexpected_keys or set(result.missing_keys) - fresh:
        raise RuntimeError(
            f"init_from={checkpoint} does not fit this run's network: "
            f"missing {sorted(set(result.missing_keys) - fresh)[:6]}, unexpected {sorted(result.unexpected_keys)[:6]}"
        )
    log.info(
        "Network weights from %s%s",
        checkpoint,
        f" (new BatchNorm layers at their initial state: {len(fresh)} tensors)" if fresh else "",
    )


def _last_row(run_dir: Path) -> dict[str, Any]:
    metrics = read_metrics(run_dir)
    return metrics.iloc[-1].to_dict() if len(metrics) else {}


_TASK_STARTED = False


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train.yaml")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point: one run (or one job of a sweep). User mistakes end with their message alone and
    a distinct exit status; in a sweep a failed job is recorded and the sweep goes on. A launcher's worker
    whose sweep was killed ends once its job is recorded (trainfix.runs.orphan)."""
    try:
        return _main(cfg)
    finally:
        exit_if_orphaned()


def _main(cfg: DictConfig) -> float | None:
    global _TASK_STARTED
    _TASK_STARTED = True
    in_sweep = HydraConfig.get().mode == RunMode.MULTIRUN
    run_dir = Path(cfg.paths.output_dir)
    metric_name = cfg.get("optimized_metric", "test_acc")
    sweep_dir = Path(HydraConfig.get().sweep.dir)
    try:
        metrics, built = train(cfg)
    except Exception as error:
        outcome, status, message = _classify(error, run_dir)
        if not in_sweep and outcome in ("config error", "data error") and discard_unstarted(run_dir):
            pass  # a single run refused before it started: no folder (in a sweep, tables show the cell as failed)
        elif outcome in ("config error", "data error") and not isinstance(error, RunConflictError):
            # A job refused before it was built still leaves its verdict in its folder (a new one: its
            # identity is this configuration's), so sweeps and tables show it as failed, not absent.
            _record_refusal(run_dir, cfg, error)
        record_job(sweep_dir, run_dir, outcome, metric_name, None, message)
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        log.error("%s: %s", outcome, message)
        if in_sweep and not cfg.get("fail_fast_in_sweeps", False):
            return None
        sys.exit(status)
    action = built["action"]
    run = read_run(run_dir) or {}
    outcome = (
        "running elsewhere"
        if "locked_by" in built
        else ("skipped" if action.kind == "skip" else run.get("status", FINISHED))
    )
    if outcome == "skipped":
        outcome = f"skipped ({run.get('status', '?')})"
    value = metrics.get(metric_name)
    record_job(sweep_dir, run_dir, outcome, metric_name, None if value is None else float(value), action.reason)
    return float(value) if value is not None else None


def _classify(error: Exception, run_dir: Path) -> tuple[str, int, str]:
    """(outcome, exit status, message) for an error that ended a run."""
    from trainfix.data.errors import DatasetFormatError, DatasetMissingError, NonOfficialDataError
    from trainfix.training.config_rules import ConfigError

    if isinstance(error, ConfigError | RunConflictError | BuildError):
        return "config error", EXIT_CONFIG, str(error)
    if isinstance(error, DatasetMissingError | DatasetFormatError | NonOfficialDataError):
        return "data error", EXIT_DATA, str(error)
    storage = storage_problem(error, run_dir)
    if storage is not None:
        return "storage error", EXIT_STORAGE, storage.strerror or str(storage)
    trace = "".join(traceback.format_exception(error))
    logging.getLogger(__name__).debug(trace)
    return (
        "failed",
        EXIT_FAILED,
        (
            f"{type(error).__name__}: {error}\n  (run folder {run_dir}; its run.json records the error, "
            "HYDRA_FULL_ERROR=1 prints the traceback)"
        ),
    )


def cli() -> None:
    """`python -m trainfix.train` / `trainfix-train` / `trainfix train`: the command line is composed up front
    (one-line errors with "did you mean", exit 2) before torch and Lightning are imported (trainfix.cli)."""
    from trainfix.cli import answer_help, normalize_argv, run_checked

    sys.argv[1:] = normalize_argv(sys.argv[1:], path_keys=("init_from",))
    answer_help(sys.argv[1:], "train")
    run_checked("trainfix-train", "train", sys.argv[1:])
    run_hydra_cli(main, lambda: _TASK_STARTED, EXIT_CONFIG)


if __name__ == "__main__":
    cli()
