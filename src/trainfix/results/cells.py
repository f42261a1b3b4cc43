"""A table cell from runs: pick one run per expected seed, measure each, aggregate, lay out paper | ours | diff.

- `RunPool` groups selected runs into cells by (row, group, seed), group = a strategy, method or role;
  among several folders of one seed the best status wins (finished first, then the latest).
- `Aggregate`: the numbers of a cell: mean and sample std (ddof 1) of the counted values, n, their
  seeds, and the statuses of the runs not counted. A method-vs-baseline comparison (a difference and
  its confidence interval) is computed from two Aggregates' `values`.
- `Cell` / `aggregate`: one "ours" text of a seed-per-cell table: "98.52% (4/5; 1 failed)", or why it
  has no number ("missing", "failed", "2 running, 1 failed").
- `entry` / `layout`: one row of a table's long values frame, and the paper | ours | diff layout.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from trainfix.results.collect import DATA_MISSING, OK_STATUS, UNREADABLE
from trainfix.results.configs import require_same_configs

SOURCES = ("paper", "ours", "diff")
OFF_PROTOCOL = "off protocol"
# Order in which the reasons a seed does not count are listed in a cell: measurement reasons, then statuses.
REASON_ORDER = ("not converged", "not reached", "no gradient norm", "not recorded", "no epochs", "running", "failed",
                "diverged", "chance level", DATA_MISSING, "missing", UNREADABLE, OFF_PROTOCOL)
# Status preference when one (row, group, seed) has several run folders.
STATUS_RANK = {OK_STATUS: 0, "diverged": 1, "running": 2, "failed": 3, DATA_MISSING: 4, UNREADABLE: 5, OFF_PROTOCOL: 6}

Outcome = float | str  # a seed's number, or why it has none
Measure = Callable[[pd.DataFrame, pd.Series], Outcome]  # (the run's epochs, its row of RunCollection.runs) -> outcome


# --------------------------------------------------------------------------- numbers of a cell
@dataclass(frozen=True)
class Aggregate:
    """The counted values of one cell (finished runs with a number) and the statuses of the others."""

    values: tuple[float, ...] = ()
    seeds: tuple[Any, ...] = ()
    rest: tuple[tuple[str, int], ...] = ()  # (status, runs) of the runs not counted, most frequent first

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(pd.Series(self.values, dtype=float).mean()) if self.values else math.nan

    @property
    def std(self) -> float:
        """Sample standard deviation (ddof 1); NaN when n < 2."""
        return float(pd.Series(self.values, dtype=float).std(ddof=1)) if self.n > 1 else math.nan


def aggregate_runs(runs: pd.DataFrame, value: str) -> Aggregate:
    """The Aggregate of `runs` (rows with status, seed and the `value` column): finished runs with a value count."""
    counted = (runs["status"] == OK_STATUS) & runs[value].notna()
    done = runs[counted]
    return Aggregate(tuple(float(v) for v in done[value]), tuple(done["seed"]) if "seed" in done else (),
                     tuple(runs.loc[~counted, "status"].value_counts().items()))


# --------------------------------------------------------------------------- seed-per-cell texts
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
    reason and no seed has a number (e.g. "failed", as DeepEutaxy's Tables V-VII write).
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


def _reason_rank(reason: str) -> int:
    return REASON_ORDER.index(reason) if reason in REASON_ORDER else len(REASON_ORDER)


def count(n: int, noun: str) -> str:
    """'1 seed', '3 seeds'."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


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
    """+0.35 pp for accuracies, -3.2 for epochs, +0.12 for ratios (rounded to 2 decimals; -0 shows as 0)."""
    d = round(diff, 2) or 0.0
    if kind == "acc":
        return f"{d:+.2f} pp"
    if kind == "epochs":
        return ("+" if d >= 0 else "-") + _trim(abs(d)) if d else "0"
    return f"{d:+.2f}"


def _trim(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


# --------------------------------------------------------------------------- runs -> cells
@dataclass
class RunPool:
    """Selected runs and their epochs, looked up by (row, group, seed).

    runs: the selected rows of `RunCollection.runs` (possibly from several collections); metrics: run
    path -> its epochs; group_column: the runs' column that names a cell's group; configs: run path ->
    its resolved config; roots: the collections' folders (for messages). `exclude(metrics, run)`: why a
    finished run does not count (e.g. "chance level"), or None. `label`: the tables, for messages;
    `allowed`: config keys the runs of one cell may differ in besides the seed.

    A cell averages the seeds of one configuration: `outcomes` raises ValueError when the finished
    runs it takes for one (row, group) differ in a key besides the seed (configs.require_same_configs).
    """

    runs: pd.DataFrame
    metrics: dict[str, pd.DataFrame]
    group_column: str
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    roots: tuple[str, ...] = ()
    exclude: Callable[[pd.DataFrame, pd.Series], str | None] | None = None
    label: str = "tables"
    allowed: tuple[str, ...] = ()
    checked: set[tuple[str, str, tuple[int, ...]]] = field(default_factory=set)  # cells already compared

    @classmethod
    def of(cls, parts: list[tuple[Any, pd.DataFrame]], group_column: str, **options: Any) -> RunPool:
        """The pool of `parts`: (RunCollection, its selected runs) pairs."""
        frames, metrics, configs = [], {}, {}
        for collection, runs in parts:
            frames.append(runs)
            path_of = dict(zip(runs["run_id"], runs["path"]))
            for run_id, frame in collection.epochs[collection.epochs["run_id"].isin(set(path_of))].groupby("run_id", sort=False):
                metrics[str(path_of[run_id])] = frame.reset_index(drop=True)
            for run_id, path in path_of.items():
                configs[str(path)] = collection.configs.get(run_id) or {}
        runs = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        return cls(runs, metrics, group_column, configs, tuple(str(c.root) for c, _ in parts), **options)

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

    def epochs_of(self, run: pd.Series | None) -> pd.DataFrame | None:
        return None if run is None else self.metrics.get(str(run["path"]))

    def excluded(self, run: pd.Series | None) -> str | None:
        """Why a finished run with epochs does not count (`exclude`), else None."""
        metrics = self.epochs_of(run)
        if run is None or run["status"] != OK_STATUS or metrics is None or metrics.empty or self.exclude is None:
            return None
        return self.exclude(metrics, run)

    def counted(self, run: pd.Series | None) -> bool:
        """Whether `run` counts in the cells: finished, with epochs, and not excluded."""
        metrics = self.epochs_of(run)
        return run is not None and run["status"] == OK_STATUS and metrics is not None and not metrics.empty and not self.excluded(run)

    def outcomes(self, row: str, group: str, seeds: list[int], measure: Measure) -> list[Outcome]:
        """Per expected seed: `measure(metrics, run)` for a counted run, else why it has no number."""
        chosen = self.seed_runs(row, group, seeds)
        cell = (row, group, tuple(seeds))
        if cell not in self.checked:
            # Runs marked off protocol count only when asked for (--allow-off-protocol): not compared.
            finished = {str(run["run_id"]): self.configs.get(str(run["path"])) or {}
                        for _, run in chosen if run is not None and run["status"] == OK_STATUS
                        and not isinstance(run.get("off_protocol"), str)}
            require_same_configs(finished, f"{self.label}, row {row}, {group}", " and ".join(self.roots) or "--runs", self.allowed)
            self.checked.add(cell)
        result: list[Outcome] = []
        for _, run in chosen:
            metrics = self.epochs_of(run)
            if run is None:
                result.append("missing")
            elif run["status"] != OK_STATUS:
                result.append(str(run["status"]))
            elif metrics is None or metrics.empty:
                result.append("no epochs")
            else:
                result.append(self.excluded(run) or measure(metrics, run))
        return result

    def duplicates(self) -> int:
        """Run folders beyond the first for one (row, group, seed)."""
        if self.runs.empty:
            return 0
        return int(self.runs.duplicated(["row", self.group_column, "seed"]).sum())


# --------------------------------------------------------------------------- paper | ours | diff
def paper_text(kind: str, paper: Any) -> str:
    if paper is None:
        return "not in paper"
    if isinstance(paper, (int, float)) and not isinstance(paper, bool):
        return format_value(kind, float(paper))
    return str(paper)


def entry(row: str, label: str, column: str, kind: str, paper: Any, cell: Cell) -> dict[str, Any]:
    """One row of a table's long values frame: the paper's number, ours, diff = ours - paper (numbers and texts)."""
    paper_number = float(paper) if isinstance(paper, (int, float)) and not isinstance(paper, bool) else math.nan
    ours = cell.value if cell.value is not None else math.nan
    diff = ours - paper_number if not (math.isnan(ours) or math.isnan(paper_number)) else math.nan
    return {
        "row": row, "label": label, "column": column, "kind": kind,
        "paper": paper_number, "paper_text": paper_text(kind, paper),
        "ours": ours, "ours_text": cell.text,
        "diff": diff, "diff_text": "n/a" if math.isnan(diff) else format_diff(kind, diff),
        "seeds_used": cell.used, "seeds_expected": cell.expected,
    }


def values_frame(entries: list[dict[str, Any]], attrs: dict[str, Any]) -> pd.DataFrame:
    """The long values frame of `entries`, with the table's title, caption and stem in `attrs`."""
    values = pd.DataFrame(entries)
    values.attrs = attrs
    return values


def layout(cells: Iterable[tuple[str, str, dict[str, str]]], index_name: str, attrs: dict[str, Any] | None = None) -> pd.DataFrame:
    """The paper's layout of (row label, column, {source: text}) cells: one row per label, columns
    (column, source) in the order first seen (sources as given: paper, ours, diff)."""
    rows: dict[str, dict[tuple[str, str], str]] = {}
    columns: dict[tuple[str, str], None] = {}
    for label, column, texts in cells:
        for source, text in texts.items():
            rows.setdefault(label, {})[(column, source)] = text
            columns[(column, source)] = None
    table = pd.DataFrame.from_dict(rows, orient="index")
    table = table.reindex(columns=pd.MultiIndex.from_tuples(list(columns)))
    table.index.name = index_name
    table.attrs = dict(attrs or {})
    return table


def widen(values: pd.DataFrame, index_name: str = "Model") -> pd.DataFrame:
    """The long values frame (one row per cell, `entry`) in the paper's layout."""
    cells = ((r.label, r.column, dict(zip(SOURCES, (r.paper_text, r.ours_text, r.diff_text)))) for r in values.itertuples())
    return layout(cells, index_name, values.attrs)
