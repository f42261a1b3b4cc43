"""DeepEutaxy (Zhang & Chan) Tables IV-VII from run folders: the paper's number, ours, and the difference.

Paper numbers are read from `trainfix/results/paper/deepeutaxy_table_{iv,v,vi,vii}.yaml`, never from code.
Our numbers come from the runs' `metrics.csv` (see `trainfix.results.collect`).

Definitions (the same text is in docs/tables.md):
- Epochs in tables are 1-based counts ("number of epochs") = metrics `epoch` + 1.
- Train accuracy is `train_eval_acc` (the whole training set in eval mode after each epoch, measured
  the same way for every strategy) when the run recorded it, else `train_acc` (running mean over the
  epoch in training mode); each caption says which.
- Convergence (Eq. 12): the first epoch whose gradient L2 norm is <= epsilon (the run's
  `config.convergence.epsilon`, default 0.01). Reading `full` uses `grad_norm_full`, the data-loss
  gradient over the whole training set at the epoch's end; `last` uses `grad_norm_last`, the norm at
  the epoch's last step; `mean` uses `grad_norm_mean`, the mean over its steps. `auto` (default):
  `full` when every finished run recorded it, else `last`. Every caption gives the epochs to converge
  under each recorded reading. An epoch that made no optimizer step (`samples_seen` did not grow)
  cannot meet it. A run that never meets it is "not converged".
- Only runs with status `finished` count, and by default (`chance_level="exclude"`) not a finished run
  whose training accuracy never exceeded 2 / num_classes and whose gradient vanished (Eq. 12 met at
  the run's epsilon on the full-set gradient, or on a step reading when that is not recorded): a dead
  network, reason "chance level", named in every caption; `chance_level="count"` counts it. A cell is the mean over the seeds that count; when some of
  the expected seeds do not, it says so: "98.52% (4/5; 1 failed)". With none: "missing" (no run
  folder), "failed", "diverged", "running", "data missing" (a DatasetMissingError), or a breakdown.
  Expected seeds: the `seeds` argument, else every seed found in the runs of the table.
- Table IV (rows x BL/SPL/DE): train and test accuracy at the convergence epoch, or at the last
  epoch for a seed that did not converge (the paper: "the values at the epoch with the convergence
  criterion satisfied right after it or at the 200-th epoch"); epochs to converge = mean over the
  seeds that converged, "(k/n)" when only k of n did, "not converged" when none did. Not in the
  paper: "SPL selected at convergence" = spl_selected_frac at that epoch. A caption line names each
  seed that met Eq. 12 at chance level (train accuracy <= 2 / num_classes at that epoch: a dead network).
- Table V (train accuracy) / VI (test accuracy): max accuracy = mean over seeds of each seed's
  maximum; epochs to the max = mean of each seed's 1-based argmax (first occurrence). "Same level as
  BL" (B for SPL, C for DE): BL's level = mean over BL seeds of their maxima; per seed the first epoch
  with accuracy >= that level (1e-9 tolerance on fractions); mean over the seeds that reach it,
  "failed" when none does. Speedup = A / B (A = BL's epochs to its max), "-" when B has no number.
- Per seed (`seed_values`): the numbers the tables average, one row per (row, strategy, seed).
- Table VII (ResNet-20/32): Base = the SPL runs of 200 epochs (max train/test accuracy over them);
  SPL, DE, SPL+DE = runs with `config.table_vii_role` spl/de/spl_de that train 50 more epochs from
  Base: max train/test accuracy over those epochs and the additional epochs to convergence, counted
  from the run's first recorded epoch (1 = its first epoch), "failed" when no seed converged.
- diff = ours - paper: percentage points for accuracies, epochs for epoch counts, a plain number
  for speedups; "n/a" when either side is not a number.
Accuracies are shown in percent with two decimals; epochs with up to two decimals; speedups with two.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from trainfix.callbacks.convergence import READINGS
from trainfix.callbacks.full_gradient import FULL_GRADIENT_COLUMN as FULL_NORM
from trainfix.results.collect import OK_STATUS, RunCollection, order_rows, row_label
from trainfix.results.protocol import OFF_PROTOCOL, protocol_caption
from trainfix.results.summary import require_same_configs

PAPER_DIR = Path(__file__).resolve().parent / "paper"
STRATEGIES = ("BL", "SPL", "DE")
READING_TEXT = {
    "last": "grad_norm_last, the gradient L2 norm at the last step of each epoch",
    "mean": "grad_norm_mean, the mean gradient L2 norm over each epoch's steps",
    "full": "grad_norm_full, the L2 norm of the data-loss gradient over the whole training set at the end of each epoch",
}
# `auto`: `full` when every finished run used recorded grad_norm_full, else `last`.
READING_CHOICES = (*READINGS, "auto")
AUTO_TEXT = "grad_norm_full when every finished run recorded it, else grad_norm_last"
TABLE_VII_ROLES = {"base": "Base", "spl": "SPL", "de": "DE", "spl_de": "SPL+DE"}
SOURCES = ("paper", "ours", "diff")
# Accuracies are fractions; a seed reaches BL's level when acc >= level - LEVEL_TOLERANCE
# (the level is a mean of fractions, so it can differ from an equal accuracy in the last bit).
LEVEL_TOLERANCE = 1e-9
# Order in which the reasons a seed does not count are listed in a cell.
REASON_ORDER = ("not converged", "not reached", "no gradient norm", "not recorded", "no epochs",
                "running", "failed", "diverged", "chance level", "data missing", "missing", "unreadable", OFF_PROTOCOL)
# Status preference when one (row, strategy, seed) has several run folders.
STATUS_RANK = {OK_STATUS: 0, "diverged": 1, "running": 2, "failed": 3, "data missing": 4, "unreadable": 5, OFF_PROTOCOL: 6}
CELL_NOTE = ("Cells: mean over the seeds whose run finished; '(k/n; ...)' = k of n expected seeds counted, "
             "the others as listed. Epochs are 1-based counts. diff = ours - paper (percentage points for "
             "accuracies, epochs for epoch counts, plain for speedups).")

Outcome = float | str  # a seed's number, or why it has none
# A finished run whose training accuracy never exceeded twice chance (2 / num_classes) and whose gradient
# vanished (Eq. 12 met on the full-set gradient when recorded, else on a step reading): a dead network
# (e.g. ReLUs killed by the first Adagrad steps) that predicts one class or the prior for the whole run,
# at a stationary point.
# "exclude" (default): such a seed does not count in any cell (reason "chance level"), as a diverged run;
# "count": it counts as any finished run (the paper's averaging read literally). Captions name such seeds.
CHANCE_LEVEL_CHOICES = ("exclude", "count")
CHANCE_REASON = "chance level"


# --------------------------------------------------------------------------- paper numbers
def load_paper_table(table: str, paper_dir: Path | None = None) -> dict[str, Any]:
    """The published numbers of one table (`"iv"`, `"v"`, `"vi"` or `"vii"`) from trainfix/results/paper/.

    Returns the YAML as a dict: `rows` maps a row key (cnn1, ..., or base/spl/de/spl_de for VII) to
    its cells; accuracies are percent, epochs are counts, "not converged"/"failed"/"-" are strings.
    """
    key = table.lower()
    if key not in ("iv", "v", "vi", "vii"):
        raise ValueError(f"table={table!r} is not a DeepEutaxy table with published numbers; accepted: iv, v, vi, vii")
    path = Path(paper_dir or PAPER_DIR) / f"deepeutaxy_table_{key}.yaml"
    if not path.exists():
        raise FileNotFoundError(f"the published numbers of DeepEutaxy Table {key.upper()} are expected in {path}")
    return yaml.safe_load(path.read_text())


# --------------------------------------------------------------------------- cells
@dataclass(frozen=True)
class Cell:
    """One 'ours' cell: a mean over the seeds that count, or the reason there is no number.

    kind: "acc" (value in percent), "epochs", "ratio" or "text". used/expected: seeds counted and
    seeds expected. others: (reason, count) for the seeds not counted. text_if_none: shown when
    value is None.
    """

    kind: str
    value: float | None
    used: int = 0
    expected: int = 0
    text_if_none: str = ""
    others: tuple[tuple[str, int], ...] = ()

    @property
    def text(self) -> str:
        if self.value is None:
            return self.text_if_none
        text = format_value(self.kind, self.value)
        if self.used < self.expected:
            detail = f"{self.used}/{self.expected}"
            if self.others:
                detail += "; " + ", ".join(f"{n} {reason}" for reason, n in self.others)
            text += f" ({detail})"
        return text


def aggregate(kind: str, outcomes: list[Outcome], soft: str | None = None, soft_text: str | None = None) -> Cell:
    """The mean of the numeric outcomes, with the reasons of the others.

    soft / soft_text: a per-seed reason (e.g. "not converged") and the cell text when it is the only
    reason and no seed has a number (e.g. "failed" in Tables V-VII, as the paper writes).
    """
    numbers = [float(v) for v in outcomes if not isinstance(v, str)]
    counts = Counter(v for v in outcomes if isinstance(v, str))
    others = tuple(sorted(counts.items(), key=lambda item: (_reason_rank(item[0]), item[0])))
    if numbers:
        return Cell(kind, sum(numbers) / len(numbers), len(numbers), len(outcomes), others=others)
    if not outcomes:
        return Cell(kind, None, text_if_none="missing")
    if len(counts) == 1:
        (reason,) = counts
        text = soft_text if (reason == soft and soft_text) else reason
    else:
        text = ", ".join(f"{n} {reason}" for reason, n in others)
    return Cell(kind, None, 0, len(outcomes), text, others)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _reason_rank(reason: str) -> int:
    return REASON_ORDER.index(reason) if reason in REASON_ORDER else len(REASON_ORDER)


def format_value(kind: str, value: float) -> str:
    """98.52% for "acc" (value in percent), 81.8 / 4 for "epochs", 2.50 for "ratio"."""
    if kind == "acc":
        return f"{value:.2f}%"
    if kind == "epochs":
        return _trim(value)
    if kind == "ratio":
        return f"{value:.2f}"
    return str(value)


def format_diff(kind: str, diff: float) -> str:
    """+0.35 pp for accuracies, -3.2 for epochs, +0.12 for ratios."""
    if kind == "acc":
        d = round(diff, 2) or 0.0
        return f"{d:+.2f} pp"
    if kind == "epochs":
        d = round(diff, 2) or 0.0
        return ("+" if d >= 0 else "-") + _trim(abs(d)) if d else "0"
    d = round(diff, 2) or 0.0
    return f"{d:+.2f}"


def _trim(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _paper_text(kind: str, paper: Any) -> str:
    if paper is None:
        return "not in paper"
    if isinstance(paper, (int, float)) and not isinstance(paper, bool):
        return format_value(kind, float(paper))
    return str(paper)


# --------------------------------------------------------------------------- run selection
def validate_chance_level(chance_level: str) -> str:
    if chance_level not in CHANCE_LEVEL_CHOICES:
        raise ValueError(f"chance_level={chance_level!r} is not accepted; use one of {list(CHANCE_LEVEL_CHOICES)} "
                         "(what the cells do with a dead network: a finished run whose training accuracy never exceeded "
                         "2 / num_classes and whose gradient vanished)")
    return chance_level


def chance_accuracy(run: pd.Series) -> float:
    """1 / num_classes of the run (10 classes when the run did not record it)."""
    classes = run.get("num_classes")
    return 1.0 / (float(classes) if classes is not None and not pd.isna(classes) else 10.0)


def at_chance_level(metrics: pd.DataFrame | None, run: pd.Series) -> bool:
    """Whether the run is a dead network: its training accuracy (`train_acc_used`) never exceeded twice
    chance in any epoch, and its gradient vanished (Eq. 12 met at the run's epsilon: on the full-set
    gradient when recorded, else on a step reading; a stationary point). A network still learning slowly
    (a short run, a large gradient) is not."""
    if metrics is None or metrics.empty or "train_acc_used" not in metrics.columns or not metrics["train_acc_used"].notna().any():
        return False
    if float(metrics["train_acc_used"].max()) > 2 * chance_accuracy(run):
        return False
    # The full-set gradient when recorded: a step reading is met spuriously by an SPL epoch with a few
    # selected samples (fix 1), which is not a dead network.
    full = READINGS["full"]
    columns = [full] if full in metrics.columns and metrics[full].notna().any() else [READINGS["last"], READINGS["mean"]]
    epsilon = _epsilon(run, None)
    return any(isinstance(_first_converged(metrics, column, epsilon), int) for column in columns)


def validate_reading(convergence: str) -> str:
    """The metrics column of a convergence reading ("last", "mean" or "full")."""
    if convergence not in READINGS:
        raise ValueError(f"convergence={convergence!r} is not accepted; use one of {sorted(READING_CHOICES)}")
    return READINGS[convergence]


def resolve_reading(convergence: str, pool: RunPool) -> tuple[str, str]:
    """(the reading, why) for `convergence` in READING_CHOICES: "auto" is "full" when every finished
    run of `pool` recorded grad_norm_full (the only reading that needs the whole training set in play:
    neither an SPL batch with one selected sample, the last batch of a DE order, nor the L2 penalty
    can meet it), else "last"."""
    if convergence != "auto":
        validate_reading(convergence)
        return convergence, "given"
    finished = pool.runs[pool.runs["status"] == OK_STATUS] if not pool.runs.empty else pool.runs
    recorded = [_recorded_column(pool.metrics.get(str(path)), READINGS["full"]) for path in finished.get("path", [])]
    if recorded and all(recorded):
        return "full", "auto: every finished run recorded grad_norm_full"
    return "last", f"auto: grad_norm_full recorded by {sum(recorded)} of {_count(len(recorded), 'finished run')} (convergence.full_gradient=false)"


def _recorded_column(metrics: pd.DataFrame | None, column: str) -> bool:
    return metrics is not None and column in metrics.columns and bool(metrics[column].notna().any())


def select_runs(runs: pd.DataFrame, *, roles: Iterable[str | None], strategies: Iterable[str] | None = None,
                variant: str | None = None) -> pd.DataFrame:
    """The identified runs (row, strategy and seed known) with `table_vii_role` in `roles`.

    None in `roles` selects runs without a role (Tables IV-VI). `variant`: keep runs of that
    strategy variant (and runs whose strategy has none, e.g. BL); None: refuse a mix of variants.
    """
    roles = set(roles)
    keep = runs["table_vii_role"].isin({r for r in roles if r is not None})
    if None in roles:
        keep |= runs["table_vii_role"].isna()
    keep &= runs["row"].notna() & runs["strategy"].notna() & runs["seed"].notna()
    if strategies is not None:
        keep &= runs["strategy"].isin(list(strategies))
    chosen = runs[keep]
    variants = sorted({v for v in chosen["variant"].dropna()})
    if variant is None and len(variants) > 1:
        raise ValueError(f"the runs mix strategy variants {variants}; choose one with variant= (CLI: --variant {'|'.join(variants)})")
    if variant is not None and len(chosen):
        if variant not in variants:
            raise ValueError(f"variant={variant!r}: no run has it; the runs have {variants or 'no variant'}")
        chosen = chosen[chosen["variant"].isna() | (chosen["variant"] == variant)]
    return chosen


def expected_seeds(runs: pd.DataFrame, seeds: Iterable[int] | None) -> list[int]:
    """`seeds` when given, else every seed found in `runs` (a seed found only in off-protocol runs
    is not expected: an ad-hoc run must not add a "missing" seed to every other cell)."""
    if seeds is not None:
        return sorted({int(s) for s in seeds})
    on_protocol = runs[runs["status"] != OFF_PROTOCOL] if "status" in runs.columns else runs
    return sorted({int(s) for s in (on_protocol if len(on_protocol) else runs)["seed"].dropna()})


@dataclass
class RunPool:
    """Selected runs and their epochs, looked up by (row, group, seed); group = strategy or role.

    runs: the selected rows of `RunCollection.runs` (possibly from several collections);
    metrics: run path -> its epochs; group_column: "strategy" (Tables IV-VI) or "table_vii_role";
    configs: run path -> its resolved config; roots: the collections' folders (for messages).

    A cell averages the seeds of one configuration: `outcomes` raises ValueError when the finished
    runs it takes for one (row, group) differ in a key besides the seed (summary.require_same_configs),
    e.g. a strategy option that the protocol check (protocol.py: the training recipe) does not cover.
    """

    runs: pd.DataFrame
    metrics: dict[str, pd.DataFrame]
    group_column: str
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    roots: tuple[str, ...] = ()
    chance_level: str = "exclude"
    checked: set[tuple[str, str, tuple[int, ...]]] = field(default_factory=set)  # cells already compared

    def __post_init__(self) -> None:
        validate_chance_level(self.chance_level)

    @classmethod
    def of(cls, parts: list[tuple[RunCollection, pd.DataFrame]], group_column: str, chance_level: str = "exclude") -> RunPool:
        frames, metrics, configs = [], {}, {}
        for collection, runs in parts:
            frames.append(runs)
            path_of = dict(zip(runs["run_id"], runs["path"]))
            for run_id, frame in collection.epochs[collection.epochs["run_id"].isin(set(path_of))].groupby("run_id", sort=False):
                metrics[str(path_of[run_id])] = frame.reset_index(drop=True)
            for run_id, path in path_of.items():
                configs[str(path)] = collection.configs.get(run_id) or {}
        runs = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        return cls(runs, metrics, group_column, configs, tuple(str(c.root) for c, _ in parts), chance_level)

    def seed_runs(self, row: str, group: str, seeds: list[int]) -> list[tuple[int, pd.Series | None]]:
        """(seed, the run used for it or None when missing); among several folders the best status wins."""
        if self.runs.empty:
            return [(s, None) for s in seeds]
        mine = self.runs[(self.runs["row"] == row) & (self.runs[self.group_column] == group)]
        out = []
        for seed in seeds:
            candidates = mine[(mine["seed"] == seed).fillna(False).astype(bool)]
            if candidates.empty:
                out.append((seed, None))
                continue
            ranked = candidates.assign(
                _rank=candidates["status"].map(STATUS_RANK).fillna(len(STATUS_RANK)),
                _end=candidates["end_time"].fillna(""),
            ).sort_values(["_rank", "_end", "run_id"], ascending=[True, False, True])
            out.append((seed, ranked.iloc[0]))
        return out

    def at_chance(self, run: pd.Series | None) -> bool:
        """Whether `run` finished as a dead network (`at_chance_level`)."""
        if run is None or run["status"] != OK_STATUS:
            return False
        return at_chance_level(self.metrics.get(str(run["path"])), run)

    def counted(self, run: pd.Series | None) -> bool:
        """Whether `run` counts in the cells: finished, with epochs, and not excluded at chance level."""
        if run is None or run["status"] != OK_STATUS:
            return False
        metrics = self.metrics.get(str(run["path"]))
        if metrics is None or metrics.empty:
            return False
        return not (self.chance_level == "exclude" and at_chance_level(metrics, run))

    def chance_seeds(self, rows: Iterable[str], groups: Iterable[str], seeds: list[int]) -> list[str]:
        """'LeNet-5 BL seed 2 (max train 11.24%)' for each finished seed at chance level."""
        found = []
        for row in rows:
            for group in groups:
                for seed, run in self.seed_runs(row, group, seeds):
                    if self.at_chance(run):
                        best = float(self.metrics[str(run["path"])]["train_acc_used"].max())
                        found.append(f"{row_label(row)} {TABLE_VII_ROLES.get(group, group)} seed {seed} (max train {100 * best:.2f}%)")
        return found

    def chance_line(self, rows: Iterable[str], groups: Iterable[str], seeds: list[int], where: str = "cells") -> str | None:
        """The caption line naming the seeds at chance level and what `where` (the cells, the curves) does
        with them (None: none)."""
        found = self.chance_seeds(rows, groups, seeds)
        if not found:
            return None
        what = (f"excluded from the {where} (reason 'chance level'; --chance-level count counts them)" if self.chance_level == "exclude"
                else f"counted in the {where} as any finished run (--chance-level count; the default excludes them)")
        return ("At chance level (training accuracy never above 2 / num_classes in the whole run, gradient vanished: Eq. 12 "
                "met on the full-set gradient, or a step reading when that is not recorded; a dead network that predicts one "
                f"class or the prior), {what}: {'; '.join(found)}.")

    def outcomes(self, row: str, group: str, seeds: list[int], measure: Callable[[pd.DataFrame, pd.Series], Outcome]) -> list[Outcome]:
        """Per expected seed: `measure(metrics, run)` for a finished run, else why it has no number
        ("chance level" for a run at chance level when `chance_level` is "exclude")."""
        result: list[Outcome] = []
        chosen = self.seed_runs(row, group, seeds)
        cell = (row, group, tuple(seeds))
        if cell not in self.checked:
            # table_vii_role is the group itself, read with aliases ("de" = "deepeutaxy"): not compared.
            # Runs the protocol check marked off protocol count only under --allow-off-protocol, which
            # asks for them to be mixed in (the captions list them): they are not compared either.
            finished = {str(run["run_id"]): self.configs.get(str(run["path"])) or {}
                        for _, run in chosen if run is not None and run["status"] == OK_STATUS
                        and not isinstance(run.get("off_protocol"), str)}
            require_same_configs(finished, f"DeepEutaxy tables, row {row}, {group}", " and ".join(self.roots) or "--runs",
                                 ["table_vii_role"])
            self.checked.add(cell)
        for _, run in chosen:
            if run is None:
                result.append("missing")
            elif run["status"] != OK_STATUS:
                result.append(str(run["status"]))
            else:
                metrics = self.metrics.get(str(run["path"]))
                if metrics is None or metrics.empty:
                    result.append("no epochs")
                elif self.chance_level == "exclude" and at_chance_level(metrics, run):
                    result.append(CHANCE_REASON)
                else:
                    result.append(measure(metrics, run))
        return result

    def duplicates(self) -> int:
        if self.runs.empty:
            return 0
        return int(self.runs.duplicated(["row", self.group_column, "seed"]).sum())


# --------------------------------------------------------------------------- per-seed measures
def _number(value: Any, scale: float = 1.0) -> Outcome:
    return "not recorded" if value is None or pd.isna(value) else float(value) * scale


def _first_converged(metrics: pd.DataFrame, column: str, epsilon: float) -> int | None | str:
    """Position of the first epoch with gradient norm <= epsilon; None: never; "no gradient norm".

    An epoch that made no optimizer step (e.g. SPL selected no sample) records a NaN norm (older
    runs: 0, recognized because the cumulative `samples_seen` did not grow); it cannot meet the criterion.
    """
    norms = metrics[column] if column in metrics.columns else pd.Series(dtype=float)
    if not norms.notna().any():
        return "no gradient norm"
    eligible = norms <= epsilon
    seen = metrics["samples_seen"]
    if seen.notna().all():
        eligible &= seen.diff().fillna(seen) > 0
    hits = eligible.to_numpy().nonzero()[0]
    return int(hits[0]) if len(hits) else None


def _first_at_level(metrics: pd.DataFrame, column: str, level: float) -> Outcome:
    """The 1-based epoch at which `column` first reaches `level` (LEVEL_TOLERANCE), or "not reached"."""
    hits = (metrics[column] >= level - LEVEL_TOLERANCE).to_numpy().nonzero()[0] if column in metrics.columns else []
    return float(metrics["epoch_number"].iloc[hits[0]]) if len(hits) else "not reached"


def _bl_level(maxima: list[Outcome]) -> float | None:
    """BL's level: the mean of the counted BL seeds' maxima (None when no BL seed counts)."""
    numbers = [float(v) for v in maxima if not isinstance(v, str)]
    return sum(numbers) / len(numbers) if numbers else None


def _epsilon(run: pd.Series, override: float | None) -> float:
    return float(override) if override is not None else float(run["epsilon"])


def _first_argmax_epoch(series: pd.Series, epoch_number: pd.Series) -> Outcome:
    """The 1-based epoch of the first maximum of `series`."""
    if not series.notna().any():
        return "not recorded"
    return float(epoch_number.iloc[int(series.fillna(-math.inf).to_numpy().argmax())])


# --------------------------------------------------------------------------- table assembly
def _entry(row: str, label: str, column: str, kind: str, paper: Any, cell: Cell) -> dict[str, Any]:
    paper_number = float(paper) if isinstance(paper, (int, float)) and not isinstance(paper, bool) else math.nan
    ours = cell.value if cell.value is not None else math.nan
    diff = ours - paper_number if not (math.isnan(ours) or math.isnan(paper_number)) else math.nan
    return {
        "row": row, "label": label, "column": column, "kind": kind,
        "paper": paper_number, "paper_text": _paper_text(kind, paper),
        "ours": ours, "ours_text": cell.text,
        "diff": diff, "diff_text": "n/a" if math.isnan(diff) else format_diff(kind, diff),
        "seeds_used": cell.used, "seeds_expected": cell.expected,
    }


def widen(values: pd.DataFrame, index_name: str = "Model") -> pd.DataFrame:
    """The long frame of a table (one row per cell) as the paper's layout: one row per table row,
    columns (column, source) with source in paper / ours / diff; captions carried in `attrs`."""
    columns = list(dict.fromkeys(values["column"]))
    labels = list(dict.fromkeys(values["label"]))
    frame = values.set_index(["label", "column"])[["paper_text", "ours_text", "diff_text"]]
    frame.columns = list(SOURCES)
    wide = frame.unstack("column").swaplevel(axis=1)
    wide = wide.reindex(index=labels, columns=pd.MultiIndex.from_product([columns, SOURCES], names=["column", "source"]))
    wide.index.name = index_name
    wide.attrs = dict(values.attrs)
    return wide


def _published(cells: dict[str, Any], key: str, strategy: str) -> Any:
    """The paper's cell `key` of `strategy` in one row of a YAML table (None when not published)."""
    return (cells.get(key) or {}).get(strategy)


def _finish(entries: list[dict[str, Any]], attrs: dict[str, Any]) -> pd.DataFrame:
    values = pd.DataFrame(entries)
    values.attrs = attrs
    return values


def table_rows(pool_runs: pd.DataFrame, rows: Iterable[str] | None) -> list[str]:
    """`rows` when given, else the rows present in `pool_runs`, in the paper's order."""
    return list(rows) if rows is not None else order_rows(sorted(set(pool_runs["row"].dropna())))


# --------------------------------------------------------------------------- Table IV
def table_iv_values(runs: RunCollection, *, convergence: str = "auto", epsilon: float | None = None,
                    seeds: Iterable[int] | None = None, rows: Iterable[str] | None = None,
                    variant: str | None = None, paper: dict[str, Any] | None = None,
                    chance_level: str = "exclude") -> pd.DataFrame:
    """Table IV as a long frame: one row per (table row, column) with paper/ours/diff numbers and texts.

    Columns: row, label, column, kind, paper, paper_text, ours, ours_text, diff, diff_text,
    seeds_used, seeds_expected. `attrs` holds title, caption (list of lines) and stem.
    """
    paper = paper or load_paper_table("iv")
    selected = select_runs(runs.runs, roles=[None], strategies=STRATEGIES, variant=variant)
    pool = RunPool.of([(runs, selected)], "strategy", chance_level)
    seed_list = expected_seeds(selected, seeds)
    convergence, why = resolve_reading(convergence, pool)
    norm_column = validate_reading(convergence)

    def at_convergence(column: str, scale: float) -> Callable[[pd.DataFrame, pd.Series], Outcome]:
        def measure(metrics: pd.DataFrame, run: pd.Series) -> Outcome:
            position = _first_converged(metrics, norm_column, _epsilon(run, epsilon))
            position = len(metrics) - 1 if not isinstance(position, int) else position
            return _number(metrics[column].iloc[position] if column in metrics.columns else None, scale)
        return measure

    def epochs_to_converge(metrics: pd.DataFrame, run: pd.Series) -> Outcome:
        position = _first_converged(metrics, norm_column, _epsilon(run, epsilon))
        if position is None:
            return "not converged"
        return position if isinstance(position, str) else float(metrics["epoch_number"].iloc[position])

    entries = []
    for row in table_rows(selected, rows):
        cells = (paper["rows"].get(row) or {})
        label = row_label(row)
        for strategy in STRATEGIES:
            for name, column in (("train", "train_acc_used"), ("test", "test_acc")):
                cell = aggregate("acc", pool.outcomes(row, strategy, seed_list, at_convergence(column, 100.0)))
                entries.append(_entry(row, label, f"{strategy} {name} acc", "acc", _published(cells, f"{name}_acc", strategy), cell))
        for strategy in STRATEGIES:
            cell = aggregate("epochs", pool.outcomes(row, strategy, seed_list, epochs_to_converge), soft="not converged", soft_text="not converged")
            entries.append(_entry(row, label, f"{strategy} epochs to converge", "epochs", _published(cells, "epochs_to_converge", strategy), cell))
        # Not in the paper: how much of the training set SPL had in play at that epoch (an SPL epoch
        # with few selected samples has small step gradients and can meet Eq. 12 without training).
        cell = aggregate("acc", pool.outcomes(row, "SPL", seed_list, at_convergence("spl_selected_frac", 100.0)))
        entries.append(_entry(row, label, "SPL selected at convergence", "acc", None, cell))
    caption = provenance_lines([runs], selected, seed_list, convergence, epsilon, "iv", uses_convergence=True,
                               duplicates=pool.duplicates(), variant=variant, reading_why=why)
    caption.append("SPL selected at convergence: spl_selected_frac (share of the epoch's samples SPL selected) at the epoch the "
                   "train/test accuracies are taken from; not a column of the paper.")
    caption.append(readings_line(pool, table_rows(selected, rows), STRATEGIES, seed_list, epsilon, "epoch_number"))
    dead = pool.chance_line(table_rows(selected, rows), STRATEGIES, seed_list)
    if dead:
        caption.append(dead)
    stuck = chance_level_convergence(pool, table_rows(selected, rows), seed_list, norm_column, epsilon)
    if stuck:
        caption.append("Eq. 12 met at chance level (a stationary point of a network that predicts one class or the "
                       "class prior, e.g. dead ReLUs; counted above as the paper's criterion says): " + "; ".join(stuck) + ".")
    attrs = {"stem": "table_iv", "title": f"Table IV (DeepEutaxy): {paper.get('title', '')}", "caption": caption}
    return _finish(entries, attrs)


def chance_level_convergence(pool: RunPool, rows: list[str], seeds: list[int], norm_column: str,
                             epsilon: float | None) -> list[str]:
    """Counted seeds whose first converged epoch has train accuracy at most twice chance (2 / num_classes, 10
    classes when the run did not record it): "LeNet-5 BL seed 2: epoch 1, train 11.24%, test 11.35%"."""
    found = []
    for row in rows:
        for strategy in STRATEGIES:
            for seed, run in pool.seed_runs(row, strategy, seeds):
                if not pool.counted(run):
                    continue
                metrics = pool.metrics[str(run["path"])]
                position = _first_converged(metrics, norm_column, _epsilon(run, epsilon))
                if not isinstance(position, int) or "train_acc_used" not in metrics.columns:
                    continue
                train = float(metrics["train_acc_used"].iloc[position])
                if train <= 2 * chance_accuracy(run):
                    test = float(metrics["test_acc"].iloc[position]) if "test_acc" in metrics.columns else math.nan
                    found.append(f"{row_label(row)} {strategy} seed {seed}: epoch {int(metrics['epoch_number'].iloc[position])}, "
                                 f"train {100 * train:.2f}%, test {100 * test:.2f}%")
    return found


def build_table_iv(runs: RunCollection, **options: Any) -> pd.DataFrame:
    """Table IV in the paper's layout (rows = models; (column, paper/ours/diff) columns of text).

    Options as `table_iv_values`: convergence ("auto" | "last" | "mean" | "full"), epsilon, seeds, rows, variant, paper,
    chance_level ("exclude" | "count").
    """
    return widen(table_iv_values(runs, **options))


# --------------------------------------------------------------------------- Tables V and VI
def max_accuracy_values(runs: RunCollection, accuracy: str, *, convergence: str = "auto", epsilon: float | None = None,
                        seeds: Iterable[int] | None = None, rows: Iterable[str] | None = None,
                        variant: str | None = None, paper: dict[str, Any] | None = None,
                        chance_level: str = "exclude") -> pd.DataFrame:
    """Table V (`accuracy="train"`) or VI (`"test"`) as a long frame (columns as `table_iv_values`).

    `convergence`/`epsilon` do not change these tables; they are accepted so that the caption can
    state the reading used by the companion tables.
    """
    if accuracy not in ("train", "test"):
        raise ValueError(f"accuracy={accuracy!r} is not accepted; use 'train' (Table V) or 'test' (Table VI)")
    key = "v" if accuracy == "train" else "vi"
    column = "train_acc_used" if accuracy == "train" else "test_acc"
    paper = paper or load_paper_table(key)
    selected = select_runs(runs.runs, roles=[None], strategies=STRATEGIES, variant=variant)
    pool = RunPool.of([(runs, selected)], "strategy", chance_level)
    seed_list = expected_seeds(selected, seeds)
    convergence, why = resolve_reading(convergence, pool)
    reached_lines: list[str] = []

    def seed_max(metrics: pd.DataFrame, run: pd.Series) -> Outcome:
        return _number(metrics[column].max())

    def seed_argmax(metrics: pd.DataFrame, run: pd.Series) -> Outcome:
        return _first_argmax_epoch(metrics[column], metrics["epoch_number"])

    def reaching(level: float) -> Callable[[pd.DataFrame, pd.Series], Outcome]:
        return lambda metrics, run: _first_at_level(metrics, column, level)

    entries = []
    for row in table_rows(selected, rows):
        cells = (paper["rows"].get(row) or {})
        label = row_label(row)
        maxima = {s: pool.outcomes(row, s, seed_list, seed_max) for s in STRATEGIES}
        for strategy in STRATEGIES:
            cell = aggregate("acc", [v * 100.0 if not isinstance(v, str) else v for v in maxima[strategy]])
            entries.append(_entry(row, label, f"{strategy} max {accuracy} acc", "acc", _published(cells, "max_acc", strategy), cell))
        a_cell = aggregate("epochs", pool.outcomes(row, "BL", seed_list, seed_argmax))
        entries.append(_entry(row, label, "BL epochs to max (A)", "epochs", _published(cells, "epochs_to_max", "BL"), a_cell))
        level = _bl_level(maxima["BL"])
        for strategy, letter in (("SPL", "B"), ("DE", "C")):
            cell = aggregate("epochs", pool.outcomes(row, strategy, seed_list, seed_argmax))
            entries.append(_entry(row, label, f"{strategy} epochs to max", "epochs", _published(cells, "epochs_to_max", strategy), cell))
            if level is None:
                same = Cell("epochs", None, text_if_none="no BL result")
            else:
                same = aggregate("epochs", pool.outcomes(row, strategy, seed_list, reaching(level)), soft="not reached", soft_text="failed")
                others = "".join(f", {n} {reason}" for reason, n in same.others)
                reached_lines.append(f"{label} {strategy} ({letter}): {same.used} of {_count(len(seed_list), 'seed')} reached BL's level "
                                     f"{level * 100:.2f}%{' (' + others[2:] + ')' if others else ''}.")
            published = _published(cells, "same_level_as_bl", strategy)
            entries.append(_entry(row, label, f"{strategy} same level as BL ({letter})", "epochs", published, same))
            if a_cell.value is not None and same.value is not None:
                speedup = Cell("ratio", a_cell.value / same.value, same.used, same.expected)
            else:
                speedup = Cell("ratio", None, text_if_none="-" if a_cell.value is not None else "no BL result")
            entries.append(_entry(row, label, f"Speedup (A/{letter})", "ratio", _published(cells, "speedup", strategy), speedup))
    number = "V" if accuracy == "train" else "VI"
    caption = provenance_lines([runs], selected, seed_list, convergence, epsilon, key, uses_convergence=False,
                               duplicates=pool.duplicates(), variant=variant, reading_why=why)
    caption.append(f"Averaging: BL's level = the mean over BL seeds of each seed's maximum {accuracy} accuracy (the BL max "
                   "column); B (SPL) and C (DE) = the mean, over the seeds that reach that level, of the first 1-based epoch "
                   "at or above it; Speedup = A / B, A / C (ratios of means).")
    dead = pool.chance_line(table_rows(selected, rows), STRATEGIES, seed_list)
    if dead:
        caption.append(dead)
    caption.extend(reached_lines)
    attrs = {"stem": f"table_{key}", "title": f"Table {number} (DeepEutaxy): {paper.get('title', '')}", "caption": caption}
    return _finish(entries, attrs)


def build_table_v(runs: RunCollection, **options: Any) -> pd.DataFrame:
    """Table V (maximum training accuracies, epochs to reach them and BL's level, speedups), paper layout."""
    return widen(max_accuracy_values(runs, "train", **options))


def build_table_vi(runs: RunCollection, **options: Any) -> pd.DataFrame:
    """Table VI (the same on test accuracy), paper layout."""
    return widen(max_accuracy_values(runs, "test", **options))


# --------------------------------------------------------------------------- per seed
SEED_COLUMNS = (
    "status", "epochs", "Eq. 12 epoch (full)", "Eq. 12 epoch (last)", "Eq. 12 epoch (mean)",
    "train acc at Eq. 12", "test acc at Eq. 12", "SPL selected at Eq. 12", "max train acc (epoch)",
    "max test acc (epoch)", "first epoch at BL's train level", "first epoch at BL's test level",
    "min full-set grad norm (epoch)", "note",
)


def seed_values(runs: RunCollection, *, convergence: str = "auto", epsilon: float | None = None,
                seeds: Iterable[int] | None = None, rows: Iterable[str] | None = None,
                variant: str | None = None, chance_level: str = "exclude") -> pd.DataFrame:
    """The per-seed numbers behind Tables IV-VI: one row per (model, strategy, seed), text cells.

    Index (Model, Strategy, Seed); columns SEED_COLUMNS. "Eq. 12 epoch" under each reading (1-based,
    "never", "not recorded"); train/test accuracy at the Eq. 12 epoch of the tables' reading, or at the
    last epoch when never met (Table IV's per-seed value); each accuracy's maximum with its first
    1-based epoch (Tables V-VI); the first epoch at or above BL's level (the mean over finished BL
    seeds of their maxima: Table V/VI's A for BL, B/C for SPL/DE); the smallest full-set data-loss
    gradient norm. A seed whose run has not finished shows its numbers so far and its status (the
    tables count finished runs only); one with no run reads "missing". `note` names a seed whose
    Eq. 12 epoch is at chance level (train accuracy <= 2 / num_classes: a dead network).
    """
    selected = select_runs(runs.runs, roles=[None], strategies=STRATEGIES, variant=variant)
    pool = RunPool.of([(runs, selected)], "strategy", chance_level)
    seed_list = expected_seeds(selected, seeds)
    convergence, why = resolve_reading(convergence, pool)
    norm_column = validate_reading(convergence)
    records, level_texts = [], []
    for row in table_rows(selected, rows):
        levels = {}
        for accuracy, column in (("train", "train_acc_used"), ("test", "test_acc")):
            maxima = pool.outcomes(row, "BL", seed_list, lambda m, r, c=column: _number(m[c].max() if c in m.columns else None))
            levels[accuracy] = _bl_level(maxima)
            counted = sum(not isinstance(v, str) for v in maxima)
            level_texts.append(f"{row_label(row)} {accuracy} "
                               f"{format_value('acc', 100 * levels[accuracy]) if counted else 'none (no counted BL run)'} "
                               f"({_count(counted, 'BL seed')})")
        for strategy in STRATEGIES:
            for seed, run in pool.seed_runs(row, strategy, seed_list):
                record = dict.fromkeys(SEED_COLUMNS, "-")
                record.update({"run": f"(no run: {row} {strategy} seed {seed})" if run is None else str(run["run_id"]), "Model": row_label(row), "Strategy": strategy,
                               "Seed": seed, "status": "missing" if run is None else str(run["status"])})
                metrics = None if run is None else pool.metrics.get(str(run["path"]))
                if metrics is not None and not metrics.empty:
                    record.update(_seed_numbers(metrics, run, epsilon, norm_column, levels))
                    if pool.at_chance(run):
                        record["note"] = ("at chance level: excluded from the tables" if chance_level == "exclude"
                                          else "at chance level: counted in the tables")
                records.append(record)
    frame = pd.DataFrame(records, columns=["run", "Model", "Strategy", "Seed", *SEED_COLUMNS]).set_index("run")
    caption = provenance_lines([runs], selected, seed_list, convergence, epsilon, "iv", uses_convergence=True,
                               duplicates=pool.duplicates(), variant=variant, reading_why=why)[1:-1]
    caption += [
        "One row per seed (index: its run folder): the numbers Tables IV-VI average. A run that has not finished shows its "
        "numbers so far (status column); the tables count finished runs only.",
        f"Eq. 12 epoch: first 1-based epoch with gradient norm <= epsilon under each reading ('never' in the epochs recorded); "
        f"train/test acc at Eq. 12: at that epoch under the tables' reading '{convergence}', or at the last epoch when never met "
        "(Table IV's per-seed value).",
        "max acc (epoch): the seed's maximum and the first 1-based epoch it is reached (Tables V-VI). First epoch at BL's level: "
        "BL's level = mean over counted BL seeds of their maximum (Tables V-VI's A for BL, B for SPL, C for DE); 'not reached' "
        f"when the seed never gets there. BL's levels: {'; '.join(level_texts) or 'none'}.",
        "min full-set grad norm: the smallest grad_norm_full (data-loss gradient over the whole training set) and its epoch.",
        "note: 'at chance level' = training accuracy never above 2 / num_classes in the whole run and Eq. 12 met (full-set "
        "gradient when recorded) (a dead network; the tables exclude it by default, --chance-level count counts it); 'Eq. 12 met at chance level' = a counted seed whose Eq. 12 "
        "epoch has training accuracy <= 2 / num_classes.",
    ]
    frame.attrs = {"stem": "seeds_iv_vi", "title": "Tables IV-VI (DeepEutaxy) per seed", "caption": caption}
    return frame


def _seed_numbers(metrics: pd.DataFrame, run: pd.Series, epsilon: float | None, norm_column: str,
                  levels: dict[str, float | None]) -> dict[str, str]:
    """One run's cells of `seed_values` (text)."""
    epochs = metrics["epoch_number"]
    out = {"epochs": str(len(metrics))}
    if run["status"] != OK_STATUS:
        out["status"] = f"{run['status']} (epoch {int(epochs.iloc[-1])} so far)"
    for reading, column in READINGS.items():
        position = _first_converged(metrics, column, _epsilon(run, epsilon))
        out[f"Eq. 12 epoch ({reading})"] = ("never" if position is None else position if isinstance(position, str)
                                            else str(int(epochs.iloc[position])))
    position = _first_converged(metrics, norm_column, _epsilon(run, epsilon))
    at = position if isinstance(position, int) else len(metrics) - 1
    for name, column in (("train", "train_acc_used"), ("test", "test_acc")):
        value = metrics[column].iloc[at] if column in metrics.columns else None
        out[f"{name} acc at Eq. 12"] = "not recorded" if value is None or pd.isna(value) else format_value("acc", 100 * float(value))
    if run["strategy"] == "SPL" and "spl_selected_frac" in metrics.columns and pd.notna(metrics["spl_selected_frac"].iloc[at]):
        out["SPL selected at Eq. 12"] = format_value("acc", 100 * float(metrics["spl_selected_frac"].iloc[at]))
    for name, column in (("train", "train_acc_used"), ("test", "test_acc")):
        series = metrics[column] if column in metrics.columns else pd.Series(dtype=float)
        if not series.notna().any():
            out[f"max {name} acc (epoch)"] = "not recorded"
            continue
        out[f"max {name} acc (epoch)"] = f"{format_value('acc', 100 * float(series.max()))} ({int(_first_argmax_epoch(series, epochs))})"
        if levels[name] is not None:
            reached = _first_at_level(metrics, column, levels[name])
            out[f"first epoch at BL's {name} level"] = reached if isinstance(reached, str) else str(int(reached))
    if FULL_NORM in metrics.columns and metrics[FULL_NORM].notna().any():
        norms = metrics[FULL_NORM]
        out["min full-set grad norm (epoch)"] = f"{float(norms.min()):.3g} ({int(epochs.iloc[int(norms.fillna(math.inf).to_numpy().argmin())])})"
    if isinstance(position, int) and "train_acc_used" in metrics.columns:
        if float(metrics["train_acc_used"].iloc[position]) <= 2 * chance_accuracy(run):
            out["note"] = "Eq. 12 met at chance level"
    return out


# --------------------------------------------------------------------------- Table VII
def table_vii_values(runs: RunCollection, base_runs: RunCollection | None = None, *, convergence: str = "auto",
                     epsilon: float | None = None, seeds: Iterable[int] | None = None, rows: Iterable[str] | None = None,
                     variant: str | None = None, paper: dict[str, Any] | None = None,
                     chance_level: str = "exclude") -> pd.DataFrame:
    """Table VII as a long frame: rows Base, SPL, DE, SPL+DE; per model max train/test acc and
    additional epochs to convergence.

    runs: the Table VII multirun (runs with config.table_vii_role in base/spl/de/spl_de).
    base_runs: where the Base runs are when not in `runs`: the 200-epoch SPL runs (e.g. the Table IV
    multirun); its SPL runs without a role are used. `rows` selects models (default: those in `runs`).
    """
    paper = paper or load_paper_table("vii")
    parts = [(runs, select_runs(runs.runs, roles=TABLE_VII_ROLES, variant=variant))]
    if parts[0][1].empty:
        raise ValueError(
            f"{runs.root} holds no Table VII runs: expected runs whose config has table_vii_role in {sorted(TABLE_VII_ROLES)}"
        )
    models = list(rows) if rows is not None else order_rows(sorted(set(parts[0][1]["row"])))
    if base_runs is not None:
        base = select_runs(base_runs.runs, roles=[None, "base"], strategies=["SPL"], variant=variant)
        base = base[base["row"].isin(models)].assign(table_vii_role="base")
        parts.append((base_runs, base))
    pool = RunPool.of(parts, "table_vii_role", chance_level)
    selected = pool.runs
    seed_list = expected_seeds(selected, seeds)
    convergence, why = resolve_reading(convergence, pool)
    norm_column = validate_reading(convergence)
    de_variants = set(selected.loc[selected["table_vii_role"] == "de", "variant"].dropna())

    def seed_max(column: str) -> Callable[[pd.DataFrame, pd.Series], Outcome]:
        return lambda metrics, run: _number(metrics[column].max(), 100.0)

    def additional_epochs(metrics: pd.DataFrame, run: pd.Series) -> Outcome:
        position = _first_converged(metrics, norm_column, _epsilon(run, epsilon))
        if position is None:
            return "not converged"
        return position if isinstance(position, str) else float(metrics["epoch"].iloc[position] - metrics["epoch"].iloc[0] + 1)

    entries = []
    for role, method in TABLE_VII_ROLES.items():
        if role == "de" and "authors_code" in de_variants:
            method += " (no counterpart in the code)"
        cells = (paper["rows"].get(role) or {})
        for model in models:
            published = cells.get(model) or {}
            label = row_label(model)
            for name, column in (("train", "train_acc_used"), ("test", "test_acc")):
                cell = aggregate("acc", pool.outcomes(model, role, seed_list, seed_max(column)))
                entries.append(_entry(role, method, f"{label} max {name} acc", "acc", published.get(f"max_{name}_acc"), cell))
            if role == "base":
                cell = Cell("text", None, text_if_none="-")
            else:
                cell = aggregate("epochs", pool.outcomes(model, role, seed_list, additional_epochs), soft="not converged", soft_text="failed")
            entries.append(_entry(role, method, f"{label} additional epochs to converge", "epochs", published.get("additional_epochs"), cell))
    caption = provenance_lines([collection for collection, _ in parts], selected, seed_list, convergence, epsilon, "vii",
                               uses_convergence=True, duplicates=pool.duplicates(), variant=variant, reading_why=why)
    if "authors_code" in de_variants:
        caption.append("DE row under variant authors_code: the authors' code has no DE continuation for Table VII (SPL+DE.py "
                       "-u 0 continues SPL, -u 1 runs SPL+DE); this row is our authors_code DE started from Base, with no "
                       "counterpart in the code.")
    dead = pool.chance_line(models, TABLE_VII_ROLES, seed_list)
    if dead:
        caption.append(dead)
    caption.append(readings_line(pool, models, [r for r in TABLE_VII_ROLES if r != "base"], seed_list, epsilon, None))
    attrs = {"stem": "table_vii", "title": f"Table VII (DeepEutaxy): {paper.get('title', '')}", "caption": caption}
    return _finish(entries, attrs)


def build_table_vii(runs: RunCollection, base_runs: RunCollection | None = None, **options: Any) -> pd.DataFrame:
    """Table VII in the paper's layout (rows = Base/SPL/DE/SPL+DE; per model three columns x paper/ours/diff)."""
    return widen(table_vii_values(runs, base_runs, **options), index_name="Method")


# --------------------------------------------------------------------------- captions
def readings_line(pool: RunPool, rows: list[str], groups: Iterable[str], seeds: list[int], epsilon: float | None,
                  epoch_column: str | None) -> str:
    """One caption line: epochs to converge under every reading recorded, per (row, group), so a
    table built on one reading shows the others. `epoch_column`: 1-based epoch column, or None to
    count from the run's first recorded epoch (Table VII)."""
    parts = []
    for row in rows:
        for group in groups:
            texts = []
            for reading, column in READINGS.items():
                def measure(metrics: pd.DataFrame, run: pd.Series, column: str = column) -> Outcome:
                    position = _first_converged(metrics, column, _epsilon(run, epsilon))
                    if position is None:
                        return "not converged"
                    if isinstance(position, str):
                        return position
                    if epoch_column is not None:
                        return float(metrics[epoch_column].iloc[position])
                    return float(metrics["epoch"].iloc[position] - metrics["epoch"].iloc[0] + 1)
                outcomes = pool.outcomes(row, group, seeds, measure)
                if all(o == "no gradient norm" or o == "missing" for o in outcomes):
                    continue
                texts.append(f"{reading} {aggregate('epochs', outcomes, soft='not converged', soft_text='not converged').text}")
            if texts:
                parts.append(f"{row_label(row)} {TABLE_VII_ROLES.get(group, group)}: {', '.join(texts)}")
    return "Epochs to converge by reading (mean over converged seeds): " + ("; ".join(parts) if parts else "none recorded") + "."


def provenance_lines(collections: list[RunCollection], used: pd.DataFrame, seeds: list[int], convergence: str,
                     epsilon: float | None, table: str, *, uses_convergence: bool = True, duplicates: int = 0,
                     variant: str | None = None, reading_why: str = "given") -> list[str]:
    """Caption lines: source of the paper numbers, profile, data, hardware, seeds and run statuses,
    the convergence reading, the train-accuracy column, and how cells are computed."""
    lines = [f"Paper numbers: trainfix/results/paper/deepeutaxy_table_{table}.yaml (Zhang & Chan, DeepEutaxy, Table {table.upper()})."]
    lines.append(f"Runs: {', '.join(str(c.root) for c in collections)}.")
    profiles = sorted({str(p) for p in used["profile"].dropna()})
    lines.append(f"Profile: {', '.join(profiles) if profiles else 'not recorded'}.")
    states = {True: "official files", False: "NOT the official files"}
    data = sorted({f"{label} ({states.get(official, 'officialness not recorded')})"
                   for label, official in zip(used["data_label"], used["data_official"]) if isinstance(label, str)})
    lines.append(f"Data: {'; '.join(data) if data else 'not recorded (no run loaded its data)'}.")
    hardware = sorted({f"{d} ({g})" if isinstance(g, str) and g else str(d) for d, g in zip(used["device"], used["gpu"]) if isinstance(d, str)})
    lines.append(f"Hardware: {', '.join(hardware) if hardware else 'not recorded'}.")
    statuses = Counter(used["status"])
    lines.append(
        f"Seeds: {len(seeds)} expected per cell ({', '.join(map(str, seeds)) or 'none'}); "
        f"run folders: {len(used)} ({', '.join(f'{n} {s}' for s, n in sorted(statuses.items()))})."
        + (f" {_count(duplicates, 'extra run folder')} for an already seen seed: per seed the best status "
           "(finished first), then the latest, is used." if duplicates else "")
    )
    if epsilon is not None:
        eps_text = f"{epsilon:g} (given)"
    else:
        eps_values = sorted({float(e) for e in used["epsilon"].dropna()})
        eps_text = ", ".join(f"{e:g}" for e in eps_values) + " (from the runs' config)" if eps_values else "0.01 (default)"
    reading = (f"Convergence (Eq. 12): the first epoch whose gradient norm is <= epsilon = {eps_text}; "
               f"reading '{convergence}' ({reading_why}) = {READING_TEXT.get(convergence, AUTO_TEXT)}.")
    lines.append(reading if uses_convergence else reading + " Not used by this output.")
    finished = used[used["status"] == OK_STATUS]
    columns = Counter(finished["train_acc_column"].dropna())
    descriptions = {
        "train_eval_acc": "train_eval_acc (whole training set in eval mode after each epoch)",
        "train_acc": "train_acc (running mean over the epoch in training mode, as Keras fit reports)",
    }
    used_columns = "; ".join(f"{descriptions.get(c, c)} in {_count(n, 'finished run')}" for c, n in sorted(columns.items(), reverse=True))
    lines.append(f"Train accuracy: {used_columns or 'no finished run'}.")
    if variant is not None:
        lines.append(f"Strategy variant: {variant}.")
    everything = pd.concat([c.runs for c in collections], ignore_index=True)
    unusable = everything[everything["row"].isna() | everything["strategy"].isna() | everything["seed"].isna()]
    if len(unusable):
        names = ", ".join(unusable["run_id"].astype(str).head(5)) + (" ..." if len(unusable) > 5 else "")
        lines.append(f"Not used: {_count(len(unusable), 'run folder')} without a readable run.json/config ({names}).")
    off_protocol = protocol_caption(used)  # runs marked by trainfix.results.protocol.check_protocol
    if off_protocol:
        lines.append(off_protocol)
    lines.append(CELL_NOTE)
    return lines
