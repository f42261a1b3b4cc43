"""Evaluate a trained run's checkpoint on one of its evaluation sets, and export its network.

    python -m trainfix.eval runs/train/baseline-lenet5-mnist-s0-1a2b3c4d     # last checkpoint, test set
    python -m trainfix.eval run_dir=runs/train/<run> ckpt=best eval_set=val
    python -m trainfix.eval runs/train/<run> export=both       # + export/model.pt, export/model.onnx
    trainfix eval runs/train/<run>                             # the console script (also trainfix-eval)

The run folder is a plain path, positional or `run_dir=<path>` (a folder named before readable names, holding
`=` and `,`, needs no quoting: trainfix.cli).

The run is rebuilt from its saved config (`trainfix.load_run`): same network, same data subsets,
same validation split, the run's precision; the pass is the one training used for its per-epoch
evaluation (`Classifier.validation_step` under `Trainer.validate`), so the last checkpoint gives
metrics.csv's last `test_acc` exactly. Writes `eval.json` (atomically) in the run folder, or at
`out=`, and prints the metrics. A user error (no such folder, no checkpoint, an unfinished run,
missing data, a model that cannot be exported) is one line on stderr and exit status 2.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
from omegaconf import DictConfig

from trainfix.core.exit_status import run_hydra_cli
from trainfix.core.records import METRICS_FLOAT_FORMAT, atomic_write_text, now_iso, package_versions, read_metrics
from trainfix.training.compose import CONF_DIR, register_resolvers

if TYPE_CHECKING:  # imported where used: torch and Lightning load after the command line composed (trainfix.cli)
    from trainfix.training.checkpoint import LoadedRun

log = logging.getLogger(__name__)

EVAL_FILE = "eval.json"
# eval_set -> the evaluation set's name in the DataModule, the Classifier and metrics.csv
EVAL_SETS = {"test": "test", "val": "val", "train": "train_eval"}
EXIT_USER_ERROR = 2


def evaluate(cfg: DictConfig) -> tuple[dict[str, Any], LoadedRun]:
    """Load the run `cfg.run_dir`, evaluate `cfg.eval_set`, write eval.json and any exports; returns
    (eval record, run)."""
    import pytorch_lightning as pl

    from trainfix.training.checkpoint import RunLoadError, load_run
    from trainfix.training.export import export_run

    if not cfg.get("run_dir"):
        raise RunLoadError("a run folder is required: python -m trainfix.eval <run folder> (or run_dir=<run folder>)")
    if cfg.eval_set not in EVAL_SETS:
        raise ValueError(f"eval_set={cfg.eval_set!r}; accepted: {', '.join(EVAL_SETS)}")
    name = EVAL_SETS[cfg.eval_set]
    overrides = []
    if cfg.get("data_dir"):
        overrides.append(f"data.root={cfg.data_dir}")
    if cfg.eval_set == "train":
        overrides.append("data.eval_train=true")
    run = load_run(cfg.run_dir, cfg.ckpt, overrides=overrides, allow_unfinished=bool(cfg.allow_unfinished))
    if name not in run.datamodule.eval_names:
        raise RunLoadError(
            f"eval_set={cfg.eval_set}: the run has no validation split (its data.val_fraction is 0); accepted here: "
            "test, train"
        )

    trainer = pl.Trainer(
        accelerator=cfg.accelerator,
        devices=1,
        deterministic=run.config.trainer.get("deterministic", False),  # as the run trained
        precision=run.config.trainer.get("precision", "32-true"),
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,  # the DataModule's fixed evaluation batches, as in training
        default_root_dir=str(run.run_dir),
    )
    trainer.validate(run.classifier, datamodule=run.datamodule, verbose=False)
    results = run.classifier.eval_results
    metrics = {f"{name}_acc": results[f"{name}_acc"], f"{name}_loss": results[f"{name}_loss"]}

    record = {
        "run_dir": str(run.run_dir.resolve()),
        "eval_set": cfg.eval_set,
        "metrics": metrics,
        "num_samples": len(run.datamodule.splits["train" if name == "train_eval" else name].labels),
        "recorded": (recorded := _recorded(run, metrics)),
        # metrics.csv keeps 8 significant digits: compare at that precision
        "matches_recorded": None
        if recorded is None
        else all(METRICS_FLOAT_FORMAT % metrics[k] == METRICS_FLOAT_FORMAT % v for k, v in recorded.items()),
        "checkpoint": {
            "path": str(run.checkpoint.resolve()),
            "epoch": run.checkpoint_epoch,
            "global_step": run.checkpoint_step,
        },
        "config_source": run.config_source,
        "run_status": (run.record or {}).get("status"),
        "device": str(trainer.strategy.root_device),
        "precision": str(trainer.precision),
        "time": now_iso(),
        "versions": package_versions(),
    }
    if cfg.get("export"):
        out_dir = Path(cfg.export_dir) if cfg.get("export_dir") else run.run_dir / "export"
        record["exports"] = [str(path) for path in export_run(run, cfg.export, out_dir)]
    path = _eval_path(run.run_dir, cfg.get("out"))
    atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True) + "\n")
    record["eval_file"] = str(path)
    return record, run


def _eval_path(run_dir: Path, out: str | None) -> Path:
    if not out:
        return run_dir / EVAL_FILE
    out_path = Path(out).expanduser()
    return out_path if out_path.suffix == ".json" else out_path / EVAL_FILE


def _recorded(run: LoadedRun, metrics: dict[str, float]) -> dict[str, float] | None:
    """The same metrics in the run's metrics.csv row of the checkpoint's step (None when the run recorded none)."""
    frame = read_metrics(run.run_dir)
    if run.checkpoint_step is None or "global_step" not in frame.columns:
        return None
    rows = frame[frame["global_step"] == run.checkpoint_step]
    if rows.empty:
        return None
    row = rows.iloc[-1]
    found = {key: float(row[key]) for key in metrics if key in row.index and not math.isnan(float(row[key]))}
    return found or None


def report(record: dict[str, Any]) -> str:
    """The lines `python -m trainfix.eval` prints."""
    metrics = "  ".join(f"{key} {value:.6g}" for key, value in record["metrics"].items())
    checkpoint = record["checkpoint"]
    lines = [
        f"{record['eval_set']} set, {record['num_samples']} samples: {metrics}",
        f"checkpoint {checkpoint['path']} (epoch {checkpoint['epoch']}, step {checkpoint['global_step']}) "
        f"on {record['device']}",
    ]
    if record["recorded"]:
        recorded = "  ".join(f"{key} {value:.6g}" for key, value in record["recorded"].items())
        same = "identical" if record["matches_recorded"] else "DIFFERENT"
        lines.append(
            f"metrics.csv at that step: {recorded} ({same} at metrics.csv's precision, {METRICS_FLOAT_FORMAT})"
        )
    lines += [f"export: {path}" for path in record.get("exports", [])]
    lines.append(f"wrote {record['eval_file']}")
    return "\n".join(lines)


_TASK_STARTED = False


register_resolvers()  # before @hydra.main composes conf/


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="eval.yaml")
def main(cfg: DictConfig) -> None:
    global _TASK_STARTED
    _TASK_STARTED = True
    from trainfix.core.third_party_noise import quiet_third_party_noise
    from trainfix.training.export import ExportError

    quiet_third_party_noise()  # e.g. a torch deprecation inside Lightning's own code
    logging.getLogger("trainfix.training.export").setLevel(logging.WARNING)  # report() names each export once
    try:
        record, _ = evaluate(cfg)
    except (ValueError, FileNotFoundError, ExportError) as error:  # a user's mistake: its message, exit 2
        log.debug("evaluation failed", exc_info=True)
        print(f"trainfix.eval: error: {error}", file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
    print(report(record))


def cli() -> None:
    """`python -m trainfix.eval` / `trainfix-eval` / `trainfix eval`: the run folder positional or `run_dir=`."""
    from trainfix.cli import answer_help, normalize_argv, run_checked

    sys.argv[1:] = normalize_argv(
        sys.argv[1:], path_keys=("run_dir", "out", "export_dir", "data_dir", "ckpt"), positional="run_dir"
    )
    answer_help(sys.argv[1:], "eval", __doc__ or "")
    run_checked("trainfix-eval", "eval", sys.argv[1:])
    run_hydra_cli(main, lambda: _TASK_STARTED, EXIT_USER_ERROR)


if __name__ == "__main__":
    cli()
