"""The dynamic-checking thesis' oscillating-loss study from run folders: detection rate and pair index
(Tables 3-1/3-2), the online detection epoch under each checking schedule (with and without AutoTrainer's
warm-up gate, on the thesis' and on AutoTrainer's reading), AutoTrainer's own verdict, detection delay, and
the overhead of Eq. 4.1 (overhead = q x t2 / t1).

Per finished run of a budget (planned epochs), on its recorded per-epoch validation accuracy
(`val_acc`, else `test_acc`: the thesis' Keras validation_data was the MNIST test set):

- thesis reading: `ol_judge` once on the whole series (zeta 0.02, eta 0.2): flagged or not, and the
  pair index (pairs - 1) the thesis tabulates as its "detection epoch";
- AutoTrainer reading: the same on the training accuracy with zeta 0.03 (an extra column);
- per reading (`trainfix.monitor.replay.READINGS`: validation 0.02, the thesis'; training 0.03, AutoTrainer's):
  the first firing epoch, the first n at which ol_judge on the series so far flags; and per schedule
  (constant 3, constant 5, dynamic with AutoTrainer's late checks 21/31/41, dynamic with 30/40/50), without
  and with AutoTrainer's warm-up gate, the first check at which the monitor reports oscillation at once (the
  detection epoch; the run would stop there), the checks made until then (all of the schedule's checks when
  never), the delay = detection epoch - first firing epoch; and AutoTrainer's verdict epoch (warm-up gate,
  sticky flags, verdict only at its layer-output check). Every check is the monitor callback's own
  (`trainfix.monitor.replay.replay`).

`--replay`: a run of more planned epochs also counts, by its first `b` epochs, as a run of budget `b`
(valid when nothing in the run depends on the planned epochs: Adam at a constant learning rate, no
scheduler; `replay_check` compares the two where a seed has both). Only finished runs count.

    python -m trainfix.results monitor --runs multirun/monitor_ol_full --out results/monitor_ol_full
        [--replay --budgets 50,100]

Writes table_detection, table_schedules, table_replay_check (.md/.csv/.tex, when not empty),
per_run.csv, histograms.png and report.html.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trainfix.monitor import replay as monitor_replay
from trainfix.monitor.detectors import History, first_firing_epoch, ol_judge
from trainfix.monitor.replay import READINGS, history_from_series
from trainfix.monitor.schedules import Schedule, gated_check_epochs
from trainfix.results.arguments import int_list
from trainfix.results.collect import RunCollection, collect_runs
from trainfix.results.configs import require_same_configs
from trainfix.results.paper import load_paper
from trainfix.results.report import publish

THESIS = READINGS["validation"]
AUTOTRAINER = READINGS["training"]
SCHEDULES = {
    "constant3": Schedule("constant", every=3),
    "constant5": Schedule("constant", every=5),
    "dynamic": Schedule("dynamic"),  # late checks by AutoTrainer's rule: 21, 31, 41 of 50
    "dynamic_segment": Schedule("dynamic", align="segment"),  # late checks 30, 40, 50 of 50
}
GATES = {"at_once": False, "gated": True}  # without / with AutoTrainer's warm-up gate
READING_LABELS = {"validation": "validation acc, 0.02 (thesis)", "training": "training acc, 0.03 (AutoTrainer)"}


def _lookup(config: dict[str, Any], dotted: str, default: Any = None) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def study_runs(runs: RunCollection, budgets: Iterable[int] | None = None, replay: bool = False) -> pd.DataFrame:
    """One row per (run, budget): the study's numbers (see the module docstring)."""
    rows = []
    for _, run in runs.runs.iterrows():
        config = runs.configs.get(run["run_id"], {})
        planned = _lookup(config, "trainer.max_epochs")
        metrics = runs.metrics(run["run_id"])
        if planned is None or metrics.empty:
            continue
        val_column = "val_acc" if "val_acc" in metrics and metrics["val_acc"].notna().all() else "test_acc"
        val = metrics[val_column].astype(float).tolist()
        loss_column = "val_loss" if val_column == "val_acc" else "test_loss"
        history = history_from_series(
            metrics["train_loss"].astype(float).tolist(),
            metrics["train_acc"].astype(float).tolist(),
            metrics[loss_column].astype(float).tolist() if loss_column in metrics else [None] * len(val),
            val,
        )
        finished = run["status"] == "finished" and len(val) >= int(planned)
        wanted = sorted(set(budgets or [int(planned)]))
        for budget in wanted:
            own = budget == int(planned)
            if not (own or (replay and int(planned) > budget and len(val) >= budget)):
                continue
            if own and not finished:
                continue
            row = {
                "run_id": run["run_id"],
                "seed": run["seed"],
                "hidden_layers": _lookup(config, "model.params.hidden_layers"),
                "model": _lookup(config, "model.name"),
                "planned": int(planned),
                "budget": budget,
                "replayed": not own,
                "series": val_column,
                "epoch_s": float((metrics["epoch_time_s"] + metrics.get("eval_time_s", 0)).head(budget).mean()),
                "check_s": float(metrics["monitor_check_s"].dropna().mean())
                if "monitor_check_s" in metrics
                else math.nan,
            }
            cut = History(
                *(getattr(history, name)[:budget] for name in ("train_loss", "train_acc", "val_loss", "val_acc"))
            )
            row.update(judge_run(cut, budget))
            rows.append(row)
    frame = pd.DataFrame(rows)
    if len(frame):  # a seed's own run of a budget wins over a replayed longer one
        frame = frame.sort_values(["hidden_layers", "budget", "seed", "replayed"]).drop_duplicates(
            ["hidden_layers", "budget", "seed"]
        )
        require_one_configuration_per_case(runs, frame)
    return frame.reset_index(drop=True)


def require_one_configuration_per_case(runs: RunCollection, study: pd.DataFrame) -> None:
    """A case (hidden layers, budget) pools seeds of one configuration: raise ValueError when two of its runs
    differ in a key besides the seed (a replayed longer run: besides the seed and trainer.max_epochs)."""
    for (layers, budget), group in study.groupby(["hidden_layers", "budget"], dropna=False):
        configs = {str(run_id): runs.configs.get(run_id) or {} for run_id in group["run_id"]}
        require_same_configs(
            configs,
            f"Oscillating-loss study, {layers} hidden layers, {budget} epochs",
            runs.root,
            ["trainer.max_epochs"],
        )


def judge_run(history: History, budget: int) -> dict[str, Any]:
    """The study's numbers for one run of `budget` epochs (history: its recorded series, cut to the budget)."""
    val, train = history.val_acc, history.train_acc
    whole = ol_judge(val, THESIS.zeta, THESIS.eta)
    out: dict[str, Any] = {
        "flagged": whole.flagged,
        "pair_index": whole.pair_index,
        "pairs": whole.pairs,
        "counted_pairs": whole.counted,
        "flagged_autotrainer": ol_judge(train, AUTOTRAINER.zeta, AUTOTRAINER.eta).flagged,
    }
    for reading_name, reading in READINGS.items():
        first = first_firing_epoch(history.series(reading.series), reading.zeta, reading.eta)
        out[f"{reading_name}_first_firing"] = first
        for name, schedule in SCHEDULES.items():
            for gate_name, warmup in GATES.items():
                r = monitor_replay.replay(history, schedule, budget, reading, warmup=warmup)
                key = f"{reading_name}_{name}_{gate_name}"
                out[f"{key}_detect"] = r.detect
                out[f"{key}_checks"] = r.checks
                out[f"{key}_epochs"] = r.detect if r.detect is not None else budget
                out[f"{key}_delay"] = r.detect - first if r.detect is not None and first is not None else None
            out[f"{reading_name}_{name}_verdict"] = r.verdict  # AutoTrainer's verdict is always gated
            out[f"{reading_name}_{name}_verdict_other"] = r.verdict_other
    return out


def _range(values: list[int]) -> str:
    return f"{min(values)}-{max(values)}" if values else "-"


def detection_table(study: pd.DataFrame, paper: dict[str, Any]) -> pd.DataFrame:
    """Tables 3-1/3-2 side by side with the thesis: per (hidden layers, budget), flagged share and pair-index range."""
    rows = []
    groups = study.groupby(["hidden_layers", "budget"]) if len(study) else []
    for (layers, budget), group in groups:
        pairs = sorted(int(p) for p in group["pair_index"].dropna())
        cases = [c for c in paper["cases"] if c["epochs"] == budget and c["hidden_layers"] == layers]
        rows.append(
            {
                "hidden layers": int(layers),
                "epochs": int(budget),
                "runs": len(group),
                "replayed": int(group["replayed"].sum()),
                "flagged (ours)": f"{int(group['flagged'].sum())}/{len(group)} = {100 * group['flagged'].mean():.0f}%",
                "flagged (thesis)": ", ".join(f"{c['flagged_pct']}% ({c['device']}, {c['runs']} runs)" for c in cases)
                or "-",
                "pair index range (ours)": _range(pairs),
                "pair index range (thesis)": ", ".join(_range(c["pair_index"]) for c in cases) or "-",
                "pair index mean (ours)": round(float(np.mean(pairs)), 2) if pairs else None,
                "pair index / epochs (ours)": round(float(np.mean(pairs)) / budget, 3) if pairs else None,
                "flagged, AutoTrainer reading (train acc, 0.03)": f"{100 * group['flagged_autotrainer'].mean():.0f}%",
                "first firing epoch range (online ol_judge)": _range(
                    [int(v) for v in group["validation_first_firing"].dropna()]
                ),
                "first firing, AutoTrainer reading (runs; epoch range)": (
                    f"{int(group['training_first_firing'].notna().sum())}; "
                    f"{_range([int(v) for v in group['training_first_firing'].dropna()])}"
                ),
            }
        )
    table = pd.DataFrame(rows)
    table.attrs.update(
        stem="table_detection",
        title="Oscillating loss: detection rate and pair index (thesis Tables 3-1/3-2)",
        caption=[
            "ol_judge (zeta 0.02, eta 0.2) once on each finished run's whole validation-accuracy series; the pair "
            "index (pairs - 1) is what the thesis tabulates as its detection 'epoch'. First firing epoch: the first "
            "epoch at which ol_judge on the series so far would flag (the true online detection point)."
        ],
    )
    return table


def schedule_table(study: pd.DataFrame, timing: dict[str, float] | None = None) -> pd.DataFrame:
    """Each schedule on the same runs, per reading, without and with AutoTrainer's warm-up gate: checks,
    detections, delay, detection epoch on the runs every schedule detects, AutoTrainer's verdict, time, Eq. 4.1."""
    rows = []
    groups = study.groupby(["hidden_layers", "budget"]) if len(study) else []
    for (layers, budget), group in groups:
        t1 = float(group["epoch_s"].mean())  # these runs' own epochs
        t2 = float(timing["check_s"]) if timing else float(group["check_s"].mean())
        for reading in READINGS:
            for gate_name, warmup in GATES.items():
                keys = {name: f"{reading}_{name}_{gate_name}" for name in SCHEDULES}
                common = group[[f"{k}_detect" for k in keys.values()]].dropna()
                for name, schedule in SCHEDULES.items():
                    key = keys[name]
                    detected = group[f"{key}_detect"].dropna()
                    delays = group[f"{key}_delay"].dropna()
                    checks = int(group[f"{key}_checks"].sum())
                    epochs = int(group[f"{key}_epochs"].sum())
                    q = checks / epochs if epochs else math.nan
                    missed = int((group[f"{reading}_first_firing"].notna() & group[f"{key}_detect"].isna()).sum())
                    verdicts = group[f"{reading}_{name}_verdict"].dropna().astype(int)
                    first_check = (
                        gated_check_epochs(schedule, int(budget)) if warmup else schedule.check_epochs(int(budget))
                    )[:1]
                    rows.append(
                        {
                            "hidden layers": int(layers),
                            "epochs": int(budget),
                            "reading": READING_LABELS[reading],
                            "schedule": schedule.describe(),
                            "warm-up gate": "yes" if warmup else "no",
                            "runs": len(group),
                            "checks per run (planned)": len(schedule.check_epochs(int(budget))),
                            "first oscillation check": first_check[0] if first_check else None,
                            "checks made (until detection)": checks,
                            "epochs trained (until detection)": epochs,
                            "detected": f"{len(detected)}/{len(group)}",
                            "fired but never caught": missed,
                            "detection epoch median": float(detected.median()) if len(detected) else None,
                            "detection epoch mean, runs all schedules detect": (
                                f"{common[f'{key}_detect'].mean():.2f} ({len(common)})" if len(common) else "-"
                            ),
                            "delay mean (epochs)": round(float(delays.mean()), 2) if len(delays) else None,
                            "delay max": int(delays.max()) if len(delays) else None,
                            "AutoTrainer verdict 'unstable' (runs: epochs)": (
                                f"{len(verdicts)}: {', '.join(str(v) for v in sorted(set(verdicts)))}"
                                if len(verdicts)
                                else "0"
                            ),
                            "q (checks/epoch)": round(q, 4),
                            "t1 epoch s": round(t1, 3),
                            "t2 check s": round(t2, 5) if math.isfinite(t2) else None,
                            "overhead q*t2/t1 (Eq. 4.1)": f"{100 * q * t2 / t1:.3f}%"
                            if math.isfinite(t2) and t1 > 0
                            else "t2 not measured",
                        }
                    )
    table = pd.DataFrame(rows)
    table.attrs.update(
        stem="table_schedules",
        title="Checking schedules on the same runs: both readings, without and with AutoTrainer's warm-up gate",
        caption=[
            "Each schedule replayed through the monitor's own check (trainfix.monitor.replay). Detection: the first "
            "check at which ol_judge on the series so far flags, reported at once; the run stops there, so checks "
            "and epochs count up to it (all of them when never detected). Warm-up gate: AutoTrainer's loss_issue "
            "judges oscillation only once epochs >= 0.3 x planned - the check interval. Delay: detection epoch - the "
            "first epoch at which ol_judge on the series so far fires (same reading). AutoTrainer verdict: as its "
            "code reports it (warm-up gate, flags kept once raised, a verdict only at a check that computes layer "
            "outputs: here its mid check, the first check with 0-based epoch >= 0.5 x planned). Dynamic, "
            "run-aligned: late checks by AutoTrainer's rule (0-based epoch % 10 == 0); segment-aligned: 10 epochs "
            "counted from 2/5. t1: measured seconds per epoch (training + evaluation) of these runs; t2: seconds per "
            "check " + ("(from --timing)" if timing else "(monitor_check_s of the runs)") + "."
        ],
    )
    return table


def replay_check(runs: RunCollection) -> pd.DataFrame:
    """Per seed with runs of two planned lengths: the largest |difference| of val accuracy over their shared epochs."""
    rows = []
    by_seed: dict[tuple[Any, Any], list[tuple[int, pd.DataFrame]]] = {}
    for _, run in runs.runs.iterrows():
        config = runs.configs.get(run["run_id"], {})
        planned = _lookup(config, "trainer.max_epochs")
        metrics = runs.metrics(run["run_id"])
        if planned is not None and not metrics.empty:
            by_seed.setdefault((run["seed"], _lookup(config, "model.params.hidden_layers")), []).append(
                (int(planned), metrics)
            )
    for (seed, layers), items in by_seed.items():
        items.sort(key=lambda item: item[0])
        for (short, a), (long, b) in zip(items, items[1:]):
            shared = min(len(a), len(b), short)
            diff = a["test_acc"].head(shared).to_numpy() - b["test_acc"].head(shared).to_numpy()
            rows.append(
                {
                    "seed": seed,
                    "hidden layers": layers,
                    "planned": f"{short} vs {long}",
                    "shared epochs": shared,
                    "max |diff| test_acc": float(np.abs(diff).max()) if shared else None,
                }
            )
    table = pd.DataFrame(rows)
    table.attrs.update(
        stem="table_replay_check",
        title="Replay check: a short run vs the same seed's longer run",
        caption=["0 means the longer run's prefix is the short run: budgets can be replayed from longer runs."],
    )
    return table


def histograms(study: pd.DataFrame, paper: dict[str, Any]):
    """Per (hidden layers, budget): pair index (ours vs the thesis) and online detection epochs per schedule."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(study.groupby(["hidden_layers", "budget"])) if len(study) else []
    figure, axes = plt.subplots(max(1, len(groups)), 2, figsize=(11, 3.2 * max(1, len(groups))), squeeze=False)
    for i, ((layers, budget), group) in enumerate(groups):
        left, right = axes[i]
        ours = [int(p) for p in group["pair_index"].dropna()]
        thesis = [
            p for c in paper["cases"] if c["epochs"] == budget and c["hidden_layers"] == layers for p in c["pair_index"]
        ]
        bins = np.arange(0, budget + 2) - 0.5
        if thesis:
            left.hist(thesis, bins=bins, alpha=0.5, density=True, label=f"thesis ({len(thesis)} flagged)")
        if ours:
            left.hist(ours, bins=bins, alpha=0.6, density=True, label=f"ours ({len(ours)}/{len(group)} flagged)")
        else:
            left.text(0.5, 0.5, f"ours: 0/{len(group)} flagged", transform=left.transAxes, ha="center")
        left.set(
            title=f"{layers} hidden layers, {budget} epochs: pair index",
            xlabel="pair index (thesis 'detection epoch')",
            ylabel="share",
        )
        left.legend(fontsize=8)
        for name in SCHEDULES:
            for gate_name, style in (("at_once", "-"), ("gated", ":")):
                values = [int(v) for v in group[f"validation_{name}_{gate_name}_detect"].dropna()]
                if values:
                    right.hist(
                        values,
                        bins=bins,
                        histtype="step",
                        linewidth=2,
                        linestyle=style,
                        label=f"{name}{', warm-up gate' if gate_name == 'gated' else ''} ({len(values)})",
                    )
        firing = [int(v) for v in group["validation_first_firing"].dropna()]
        if firing:
            right.hist(firing, bins=bins, histtype="step", color="black", label=f"first firing ({len(firing)})")
        right.set(title="online detection epoch per schedule (validation reading)", xlabel="epoch", ylabel="runs")
        if firing:
            right.legend(fontsize=8)
    figure.tight_layout()
    return figure


def load_timing(path: Path | None) -> dict[str, float] | None:
    if path is None:
        return None
    data = json.loads(Path(path).read_text())
    if "check_s" not in data:
        raise ValueError(f"--timing {path}: expected the key check_s (written by benchmarks/monitor_overhead.py --out)")
    return data


# --------------------------------------------------------------------------- command line
HELP = "oscillating-loss study: detection rate, pair index, constant vs dynamic checking"


def add_arguments(mon: argparse.ArgumentParser) -> None:
    mon.add_argument("--runs", type=Path, required=True, help="multirun folder of experiment=monitor/ol_mnist runs")
    mon.add_argument(
        "--out",
        type=Path,
        required=True,
        help="folder for tables (md/csv/tex), per_run.csv, histograms.png, report.html",
    )
    mon.add_argument(
        "--budgets",
        type=int_list,
        help="epoch budgets to report, e.g. 50,100,125,150 (default: each run's planned epochs)",
    )
    mon.add_argument(
        "--replay",
        action="store_true",
        help="count a longer run's first b epochs as a run of budget b (constant-LR Adam only)",
    )
    mon.add_argument(
        "--timing",
        type=Path,
        help="JSON with check_s, seconds per check (benchmarks/monitor_overhead.py --out), for Eq. 4.1 "
        "when the runs did not run the monitor",
    )


def build(args: argparse.Namespace) -> list[Path]:
    """The study's tables, histograms, per-run values and report into args.out."""
    runs = collect_runs(args.runs)
    paper = load_paper("monitor_thesis")
    study = study_runs(runs, args.budgets, replay=args.replay)
    if study.empty:
        raise ValueError(
            f"--runs {args.runs}: no finished run with a recorded accuracy series "
            f"({', '.join(f'{n} {s}' for s, n in runs.runs['status'].value_counts().items())})"
        )
    Path(args.out).mkdir(parents=True, exist_ok=True)
    tables = [
        t
        for t in (detection_table(study, paper), schedule_table(study, load_timing(args.timing)), replay_check(runs))
        if len(t)
    ]
    caption = "Pair index (ours vs the thesis) and the online detection epoch under each checking schedule"
    return publish(
        runs,
        args.out,
        f"Oscillating-loss study: {args.runs}",
        tables=[(t.set_index(t.columns[0]), None) for t in tables],
        frames=[("per_run.csv", study)],
        figures=[("histograms.png", caption, histograms(study, paper), caption)],
    )
