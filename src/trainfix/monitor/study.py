"""The dynamic-checking thesis' oscillating-loss study on recorded runs: each run judged under every checking
schedule, reading and gate, and the study's tables as frames (the results layer declares their titles and captions,
`trainfix/papers/published/monitor_tables.yaml`, and writes them: `trainfix.papers.monitor`).

Per finished run of a budget (planned epochs), on its recorded per-epoch validation accuracy
(`val_acc`, else `test_acc`: the thesis' Keras validation_data was the MNIST test set):

- whether the network learned: its best validation accuracy above twice chance (some 34-layer networks never
  leave chance level; they stay in the study's shares like every finished run, and their flat series is not
  flagged);
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

With `replay`, a run of more planned epochs also counts, by its first `b` epochs, as a run of budget `b`
(valid when nothing in the run depends on the planned epochs: Adam at a constant learning rate, no
scheduler; `replay_check` compares the two where a seed has both). Only finished runs count.

`runs` below is any collection of run records with `.runs` (one row per run: run_id, seed, status),
`.configs` (run_id -> resolved config) and `.metrics(run_id)` (its per-epoch frame), e.g. the results
layer's `RunCollection`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from trainfix.core.records import FINISHED
from trainfix.core.statistics import Difference, paired_difference
from trainfix.monitor import replay as monitor_replay
from trainfix.monitor.detectors import History, first_firing_epoch, ol_judge
from trainfix.monitor.replay import READINGS, history_from_series
from trainfix.monitor.schedules import Schedule, gated_check_epochs
from trainfix.training.callbacks.convergence_measures import chance_accuracy

THESIS = READINGS["validation"]
AUTOTRAINER = READINGS["training"]
SCHEDULES = {
    "constant3": Schedule("constant", every=3),
    "constant5": Schedule("constant", every=5),
    "dynamic": Schedule("dynamic"),  # late checks by AutoTrainer's rule: 21, 31, 41 of 50
    "dynamic_segment": Schedule("dynamic", align="segment"),  # late checks 30, 40, 50 of 50
}
GATES = {"at_once": False, "gated": True}  # without / with AutoTrainer's warm-up gate
CASE_SEED = ["hidden_layers", "budget", "seed"]  # a study row's case and seed: each counts once per case
READING_LABELS = {"validation": "validation acc, 0.02 (thesis)", "training": "training acc, 0.03 (AutoTrainer)"}


def _lookup(config: dict[str, Any], dotted: str, default: Any = None) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def study_runs(runs: Any, budgets: Iterable[int] | None = None, replay: bool = False) -> pd.DataFrame:
    """One row per (run, budget): the study's numbers (see the module docstring). A seed's own run of a budget
    stands for it over longer runs replayed to that budget; two rows may still share a case and seed (two own runs,
    or two replayed ones): `trainfix.papers.monitor.study_runs` refuses those, naming the folders."""
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
        finished = run["status"] == FINISHED and len(val) >= int(planned)
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
                "max_val_acc": float(np.nanmax(val[:budget])),
                "learned": bool(np.nanmax(val[:budget]) > 2 * chance_accuracy(run)),
                "first_val_acc": float(val[0]),
                "chance": chance_accuracy(run),
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
    if len(frame):  # a seed's own run of a budget stands for it: longer runs replayed to that budget drop out
        frame = frame.sort_values([*CASE_SEED, "replayed"])
        has_own = (~frame["replayed"]).groupby([frame[k] for k in CASE_SEED], dropna=False).transform("any")
        frame = frame[~(frame["replayed"] & has_own)]
    return frame.reset_index(drop=True)


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


def flags(column: pd.Series, name: str) -> pd.Series:
    """A yes/no column of the study as booleans, whether computed or read back from per_run.csv (True/False or
    their text); ValueError naming the column and the values when any is missing or something else (astype(bool)
    would read NaN and the text "False" as True)."""
    known = {True: True, False: False, "True": True, "False": False}
    bad = sorted({repr(v) for v in column if not isinstance(v, (bool, np.bool_, str)) or v not in known})
    if bad:
        raise ValueError(f"study column {name!r}: values {bad} are not True/False (a row written before it existed?)")
    return column.map(known).astype(bool)


def value_range(values: list[int]) -> str:
    """'11-18', or '-' when there are none."""
    return f"{min(values)}-{max(values)}" if values else "-"


def thesis_rates(cases: list[dict[str, Any]]) -> str:
    """The thesis' flagged percentages of `cases` (monitor_thesis.yaml) as the tables and findings quote them."""
    return ", ".join(f"{c['flagged_pct']}% ({c['device']}, {c['runs']} runs)" for c in cases) or "-"


class NoRuns(ValueError):
    """A study case without runs (or without runs that learned): a comparison that cannot be made."""


def flagged_interval(flagged: int, runs: int, level: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) interval of the share of runs flagged: what the thesis' rate is compared with."""
    ci = stats.binomtest(flagged, runs).proportion_ci(level)
    return float(ci.low), float(ci.high)


def detection_table(study: pd.DataFrame, paper: dict[str, Any]) -> pd.DataFrame:
    """Tables 3-1/3-2 side by side with the thesis: per (hidden layers, budget), flagged share (with its exact 95 %
    interval) and pair-index range."""
    rows = []
    groups = study.groupby(["hidden_layers", "budget"]) if len(study) else []
    for (layers, budget), group in groups:
        pairs = sorted(int(p) for p in group["pair_index"].dropna())
        flagged = flags(group["flagged"], "flagged")
        cases = [c for c in paper["cases"] if c["epochs"] == budget and c["hidden_layers"] == layers]
        rows.append(
            {
                "hidden layers": int(layers),
                "epochs": int(budget),
                "runs": len(group),
                "replayed": int(group["replayed"].sum()),
                "flagged (ours)": f"{int(flagged.sum())}/{len(group)} = {100 * flagged.mean():.0f}%",
                "flagged 95% CI (ours, Clopper-Pearson)": "{:.0f}-{:.0f}%".format(
                    *(100 * x for x in flagged_interval(int(flagged.sum()), len(group)))
                ),
                "flagged (thesis)": thesis_rates(cases),
                "runs never above 2x chance": int((~flags(group["learned"], "learned")).sum()),
                "pair index range (ours)": value_range(pairs),
                "pair index range (thesis)": ", ".join(value_range(c["pair_index"]) for c in cases) or "-",
                "pair index mean (ours)": round(float(np.mean(pairs)), 2) if pairs else None,
                "pair index / epochs (ours)": round(float(np.mean(pairs)) / budget, 3) if pairs else None,
                "flagged, AutoTrainer reading (train acc, 0.03)": f"{100 * group['flagged_autotrainer'].mean():.0f}%",
                "first firing epoch range (online ol_judge)": value_range(
                    [int(v) for v in group["validation_first_firing"].dropna()]
                ),
                "first firing, AutoTrainer reading (runs; epoch range)": (
                    f"{int(group['training_first_firing'].notna().sum())}; "
                    f"{value_range([int(v) for v in group['training_first_firing'].dropna()])}"
                ),
            }
        )
    return pd.DataFrame(rows)


def first_epoch_table(study: pd.DataFrame) -> pd.DataFrame:
    """Per (hidden layers, budget): the runs whose validation accuracy after the first epoch is at or below twice
    chance (with its exact 95 % interval), and whether that first epoch foretells the run: how many of them leave
    chance level by the budget, and how many runs above it after epoch 1 never learn. A 1-epoch run (budget 1)
    measures the first share alone, cheaply; a longer run shows how far the first epoch can stand for it."""
    rows = []
    groups = study.groupby(["hidden_layers", "budget"]) if len(study) else []
    for (layers, budget), group in groups:
        first = group["first_val_acc"].astype(float)
        at_chance = first <= 2 * group["chance"].astype(float)
        learned = flags(group["learned"], "learned")
        later = int(budget) > 1
        rows.append(
            {
                "hidden layers": int(layers),
                "epochs": int(budget),
                "runs": len(group),
                "at chance after epoch 1": f"{int(at_chance.sum())}/{len(group)} = {100 * at_chance.mean():.0f}%",
                "95% CI (Clopper-Pearson)": "{:.0f}-{:.0f}%".format(
                    *(100 * x for x in flagged_interval(int(at_chance.sum()), len(group)))
                ),
                "epoch-1 accuracy at chance (range)": _accuracy_range(first[at_chance]),
                "lowest epoch-1 accuracy above chance": _accuracy_range(first[~at_chance].nsmallest(1)),
                "of those at chance, learned by the budget": int((at_chance & learned).sum()) if later else "-",
                "above chance after epoch 1, never learned": int((~at_chance & ~learned).sum()) if later else "-",
            }
        )
    return pd.DataFrame(rows)


def _accuracy_range(values: pd.Series) -> str:
    """'0.1135', '0.0980-0.1135', or '-' when there are none."""
    low, high = (f"{values.min():.4f}", f"{values.max():.4f}") if len(values) else ("-", "-")
    return low if low == high else f"{low}-{high}"


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
    return pd.DataFrame(rows)


def schedule_pairs_table(study: pd.DataFrame, reference: str = "constant3") -> pd.DataFrame:
    """Each schedule against `reference` (AutoTrainer's default, constant every 3) run by run, per reading and gate:
    the mean paired difference (schedule - reference) of the detection epoch over the runs both detect, and of the
    epochs trained until detection over every run (undetected: the whole budget), each with its 95 % paired t
    interval: whether one schedule detects sooner than another is read from these, not from the means alone."""
    rows = []
    groups = study.groupby(["hidden_layers", "budget"]) if len(study) else []
    for (layers, budget), group in groups:
        for reading in READINGS:
            for gate_name, warmup in GATES.items():
                base = f"{reading}_{reference}_{gate_name}"
                for name, schedule in SCHEDULES.items():
                    if name == reference:
                        continue
                    key = f"{reading}_{name}_{gate_name}"
                    both = group[[f"{key}_detect", f"{base}_detect"]].dropna()
                    detect = paired_difference(list(both[f"{key}_detect"]), list(both[f"{base}_detect"]))
                    trained = paired_difference(list(group[f"{key}_epochs"]), list(group[f"{base}_epochs"]))
                    rows.append(
                        {
                            "hidden layers": int(layers),
                            "epochs": int(budget),
                            "reading": READING_LABELS[reading],
                            "warm-up gate": "yes" if warmup else "no",
                            "schedule": schedule.describe(),
                            "versus": SCHEDULES[reference].describe(),
                            "runs both detect": len(both),
                            "detection epoch, difference (95% CI)": detect.text() if len(both) else "-",
                            "detects": _sooner(detect) if len(both) > 1 else "-",
                            "epochs trained until detection, difference (95% CI)": trained.text(),
                        }
                    )
    return pd.DataFrame(rows)


def _sooner(d: Difference) -> str:
    """What a paired interval of detection epochs says: sooner / later than the reference, or no difference shown."""
    return "sooner" if d.high < 0 else "later" if d.low > 0 else "no difference shown"


def replay_check(runs: Any) -> pd.DataFrame:
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
    return pd.DataFrame(rows)


def load_timing(path: Path | None) -> dict[str, float] | None:
    if path is None:
        return None
    data = json.loads(Path(path).read_text())
    if "check_s" not in data:
        raise ValueError(f"--timing {path}: expected the key check_s (written by benchmarks/monitor_overhead.py --out)")
    return data
