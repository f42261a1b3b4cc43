"""A table cell from runs: pick one run per expected seed, measure each, aggregate, lay out paper | ours | diff.

`RunPool` groups selected runs into cells by (row, group, seed); `Aggregate` / `aggregate_runs`: a cell's counted
values (mean, sample std, n, seeds) and the statuses of the rest; `Cell` / `aggregate`: one "ours" text of a
seed-per-cell table ("98.52% ± 0.21 (4/5; 1 failed)", or why it has no number); `spread_text`: the one shape of
a mean over seeds that every table, the summary and the findings write; `difference` / `versus`: method
minus baseline with its 95 % Welch t interval over seeds; `entry` / `Entries` / `layout` / `widen`: a table's long
values frame and its paper | ours | diff layout.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from trainfix.core.statistics import Difference, welch_difference
from trainfix.results.collect import DATA_MISSING, OK_STATUS, UNREADABLE
from trainfix.results.configs import require_same_configs

SOURCES = ("paper", "ours", "diff")
# The caption words of every method-minus-baseline column (`difference`).
INTERVAL_NOTE = "95 % Welch t interval over seeds (n per arm as shown)"
OFF_PROTOCOL = "off protocol"
# Order in which the reasons a seed does not count are listed in a cell: measurement reasons, then statuses.
REASON_ORDER = (
    "not converged",
    "not reached",
    "no gradient norm",
    "not recorded",
    "no epochs",
    "running",
    "failed",
    "diverged",
    "chance level",
    DATA_MISSING,
    "missing",
    UNREADABLE,
    OFF_PROTOCOL,
)
# Status preference when one (row, group, seed) has several run folders.
STATUS_RANK = {OK_STATUS: 0, "diverged": 1, "running": 2, "failed": 3, DATA_MISSING: 4, UNREADABLE: 5, OFF_PROTOCOL: 6}

Outcome = float | str  # a seed's number, or why it has none
Measure = Callable[[pd.DataFrame, pd.Series], Outcome]  # (the run's epochs, its row of RunCollection.runs) -> outcome


# --------------------------------------------------------------------------- numbers of a cell
@dataclass(frozen=True)
class Aggregate:
    """The counted values of one cell (finished runs with a number), their seeds, and (status, runs) of the others,
    most frequent first."""

    values: tuple[float, ...] = ()
    seeds: tuple[Any, ...] = ()
    rest: tuple[tuple[str, int], ...] = ()

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
    return Aggregate(
        tuple(float(v) for v in done[value]),
        tuple(done["seed"]) if "seed" in done else (),
        tuple(runs.loc[~counted, "status"].value_counts().items()),
    )


# --------------------------------------------------------------------------- seed-per-cell texts
@dataclass(frozen=True)
class Cell:
    """One 'ours' cell: a mean over the seeds that count, or (value None) the reason there is no number.

    kind: "acc" (percent), "epochs", "ratio" or "text"; used/expected: seeds counted/expected; others: (reason,
    count) of the seeds not counted; values: the counted seeds' numbers when the cell is their mean (text: mean ±
    sample std (n)); a cell computed otherwise (a ratio of two means) has none and shows its value alone.
    """

    kind: str
    value: float | None
    used: int = 0
    expected: int = 0
    text_if_none: str = ""
    others: tuple[tuple[str, int], ...] = ()
    values: tuple[float, ...] = ()

    @property
    def std(self) -> float:
        """Sample standard deviation (ddof 1) of `values`; NaN when fewer than 2."""
        return Aggregate(self.values).std

    @property
    def text(self) -> str:
        if self.value is None:
            return self.text_if_none
        spread = format_spread(self.kind, self.std) if len(self.values) > 1 else None
        notes = [f"n={self.used}"] if self.values and self.used == self.expected else []
        if self.used < self.expected:
            notes = [f"{self.used}/{self.expected}", ", ".join(f"{n} {reason}" for reason, n in self.others)]
        return spread_text(format_value(self.kind, self.value), spread, notes)


def aggregate(kind: str, outcomes: list[Outcome], soft: str | None = None, soft_text: str | None = None) -> Cell:
    """The mean (`Aggregate.mean`) of the numeric outcomes, with the reasons of the others. soft / soft_text: a
    per-seed reason ("not converged") and the cell text when it is the only reason and no seed has a number
    ("failed")."""
    numbers = Aggregate(tuple(float(v) for v in outcomes if not isinstance(v, str)))
    counts = Counter(v for v in outcomes if isinstance(v, str))
    others = tuple(sorted(counts.items(), key=lambda item: (_reason_rank(item[0]), item[0])))
    if numbers.n:
        return Cell(kind, numbers.mean, numbers.n, len(outcomes), others=others, values=numbers.values)
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


def spread_text(mean: str, spread: str | None = None, notes: Iterable[str] = ()) -> str:
    """The one text of a mean over seeds, wherever one is shown: '98.52% ± 0.21 (n=4)', '18.00 ± 2.83 (n=2; 1 not
    finished)', '0.9812 ± 0.0021', '97.23' (no ± without a spread, no parentheses without notes; empty ones dropped)."""
    shown = [note for note in notes if note]
    return mean + (f" ± {spread}" if spread else "") + (f" ({'; '.join(shown)})" if shown else "")


def format_value(kind: str, value: float) -> str:
    """98.52% for "acc" (value in percent), 81.8 / 4 for "epochs", 2.50 for "ratio"."""
    if kind == "acc":
        return f"{value:.2f}%"
    if kind == "epochs":
        return _trim(value)
    if kind == "ratio":
        return f"{value:.2f}"
    return str(value)


def format_spread(kind: str, std: float) -> str:
    """A standard deviation beside its mean: 0.21 for accuracies (percentage points) and ratios, 3.2 for epochs."""
    return _trim(std) if kind == "epochs" else f"{std:.2f}"


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


# --------------------------------------------------------------------------- method - baseline
def difference(method: Sequence[float], baseline: Sequence[float]) -> Difference | None:
    """mean(method) - mean(baseline) with its 95 % Welch t interval over seeds, from each arm's counted values;
    None when an arm has none, nan bounds when one has 1."""
    a, b = Aggregate(tuple(method)), Aggregate(tuple(baseline))
    if not a.n or not b.n:
        return None
    return welch_difference(a.mean, a.std, a.n, b.mean, b.std, b.n)


def versus(baseline: str, method: Sequence[float] | None, base: Sequence[float] = ()) -> tuple[str, dict[str, float]]:
    """`method` minus `base` as (text, a values file's numbers): the text '+0.82 [-0.31, +1.95]' (difference [95 %
    interval]), '+0.82 (no interval: n < 2)', 'n/a' (an arm without a number), or "" when `method` is None; the
    numbers vs_<baseline>_diff, _ci_low, _ci_high (nan without a difference)."""
    d = None if method is None else difference(method, base)
    prefix = "vs_" + baseline.lower().replace(" ", "_")
    numbers = (math.nan, math.nan, math.nan) if d is None else (d.diff, d.low, d.high)
    text = "" if method is None else "n/a" if d is None else d.text()
    return text, dict(zip((f"{prefix}_diff", f"{prefix}_ci_low", f"{prefix}_ci_high"), numbers))


# --------------------------------------------------------------------------- runs -> cells
@dataclass
class RunPool:
    """Selected runs (rows of `RunCollection.runs`, maybe of several collections) and their epochs (`metrics`: run
    path -> epochs), looked up by (row, group, seed); group_column names a cell's group (strategy, method, role).

    `exclude(metrics, run)`: why a finished run does not count ("chance level"), or None. A cell averages the seeds
    of one configuration: `outcomes` raises ValueError when its finished runs differ in a config key besides the
    seed and `allowed` (`configs.require_same_configs`; `label` and `roots` name the tables and folders).
    """

    runs: pd.DataFrame
    metrics: dict[str, pd.DataFrame]
    group_column: str
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    roots: tuple[str, ...] = ()
    exclude: Callable[[pd.DataFrame, pd.Series], str | None] | None = None
    label: str = "tables"
    allowed: tuple[str, ...] = ()
    checked: set[tuple[str, str, tuple[int, ...]]] = field(default_factory=set)  # cells whose configs were compared

    @classmethod
    def of(cls, parts: list[tuple[Any, pd.DataFrame]], group_column: str, **options: Any) -> RunPool:
        """The pool of `parts`: (RunCollection, its selected runs) pairs."""
        frames, metrics, configs = [], {}, {}
        for collection, runs in parts:
            frames.append(runs)
            path_of = dict(zip(runs["run_id"], runs["path"]))
            for run_id, frame in collection.epochs[collection.epochs["run_id"].isin(set(path_of))].groupby(
                "run_id", sort=False
            ):
                metrics[str(path_of[run_id])] = frame.reset_index(drop=True)
            for run_id, path in path_of.items():
                configs[str(path)] = collection.configs.get(run_id) or {}
        runs = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        return cls(runs, metrics, group_column, configs, tuple(str(c.root) for c, _ in parts), **options)

    def seed_runs(self, row: str, group: str, seeds: list[int]) -> list[tuple[int, pd.Series | None]]:
        """(seed, the run used for it or None when missing); among several folders of a seed the best status
        (STATUS_RANK) wins, then the latest end_time, then the first run_id."""
        if self.runs.empty:
            return [(s, None) for s in seeds]
        mine = self.runs[(self.runs["row"] == row) & (self.runs[self.group_column] == group)]
        best = (
            mine.assign(
                _rank=mine["status"].map(STATUS_RANK).fillna(len(STATUS_RANK)), _end=mine["end_time"].fillna("")
            )
            .sort_values(["_rank", "_end", "run_id"], ascending=[True, False, True])
            .drop_duplicates("seed")
        )
        chosen = {seed: best.iloc[i] for i, seed in enumerate(best["seed"])}
        return [(seed, chosen.get(seed)) for seed in seeds]

    def epochs_of(self, run: pd.Series | None) -> pd.DataFrame | None:
        return None if run is None else self.metrics.get(str(run["path"]))

    def reason(self, run: pd.Series | None) -> str | None:
        """Why `run` has no number in a cell ("missing", its status, "no epochs", `exclude`'s reason); None when it
        counts."""
        metrics = self.epochs_of(run)
        if run is None:
            return "missing"
        if run["status"] != OK_STATUS:
            return str(run["status"])
        if metrics is None or metrics.empty:
            return "no epochs"
        return self.exclude(metrics, run) if self.exclude else None

    def counted(self, run: pd.Series | None) -> bool:
        return self.reason(run) is None

    def outcomes(self, row: str, group: str, seeds: list[int], measure: Measure) -> list[Outcome]:
        """Per expected seed: `measure(metrics, run)` for a counted run, else why it has no number."""
        chosen = self.seed_runs(row, group, seeds)
        cell = (row, group, tuple(seeds))
        if cell not in self.checked:
            # Runs marked off protocol count only when asked for (--allow-off-protocol): not compared.
            finished = {
                str(run["run_id"]): self.configs.get(str(run["path"])) or {}
                for _, run in chosen
                if run is not None and run["status"] == OK_STATUS and not isinstance(run.get("off_protocol"), str)
            }
            require_same_configs(
                finished, f"{self.label}, row {row}, {group}", " and ".join(self.roots) or "--runs", self.allowed
            )
            self.checked.add(cell)
        return [self.reason(run) or measure(self.epochs_of(run), run) for _, run in chosen]

    def duplicates(self) -> int:
        """Run folders beyond the first for one (row, group, seed)."""
        if self.runs.empty:
            return 0
        return int(self.runs.duplicated(["row", self.group_column, "seed"]).sum())


# --------------------------------------------------------------------------- paper | ours | diff
def entry(row: str, label: str, column: str, kind: str, paper: Any, cell: Cell) -> dict[str, Any]:
    """One row of a table's long values frame: the paper's number, ours, diff = ours - paper (numbers and texts)."""
    numeric = isinstance(paper, (int, float)) and not isinstance(paper, bool)
    paper_number = float(paper) if numeric else math.nan
    ours = cell.value if cell.value is not None else math.nan
    diff = ours - paper_number if not (math.isnan(ours) or math.isnan(paper_number)) else math.nan
    return {
        "row": row,
        "label": label,
        "column": column,
        "kind": kind,
        "paper": paper_number,
        "paper_text": "not in paper" if paper is None else format_value(kind, paper_number) if numeric else str(paper),
        "ours": ours,
        "ours_text": cell.text,
        "diff": diff,
        "diff_text": "n/a" if math.isnan(diff) else format_diff(kind, diff),
        "seeds_used": cell.used,
        "seeds_expected": cell.expected,
        "ours_std": cell.std,
    }


@dataclass
class Entries:
    """A table's long values frame, declared cell by cell: `at(row, label, published)` is the `add(column, kind,
    key, group, cell, base=None)` of one table row, which appends the `entry` whose paper number is
    published[key][group] (published[key] when group is None); with `base`, also `cell` minus `base`: its column
    source `vs` ('vs BL'), `vs_text` and numbers (`versus` against `baseline`). `frame(attrs)`: the frame, with the
    table's title, caption and stem in `attrs`."""

    baseline: str = ""
    records: list[dict[str, Any]] = field(default_factory=list)

    def at(self, row: str, label: str, published: dict[str, Any]) -> Callable[..., None]:
        def add(column: str, kind: str, key: str | None, group: str | None, cell: Cell, base: Cell | None = None):
            paper = published.get(key) if group is None else (published.get(key) or {}).get(group)
            record = entry(row, label, column, kind, paper, cell)
            if base is not None:
                text, numbers = versus(self.baseline, cell.values, base.values)
                record.update(vs=f"vs {self.baseline}", vs_text=text, **numbers)
            self.records.append(record)

        return add

    def frame(self, attrs: dict[str, Any]) -> pd.DataFrame:
        values = pd.DataFrame(self.records)
        values.attrs = attrs
        return values


def layout(
    cells: Iterable[tuple[str, str, dict[str, str]]], index_name: str, attrs: dict[str, Any] | None = None
) -> pd.DataFrame:
    """The paper's layout of (row label, column, {source: text}) cells: one row per label, columns (column, source)
    in the order first seen."""
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
    """The long values frame (`entry` rows) in the paper's layout; a compared cell has a fourth source, its `vs`."""
    cells = []
    for r in values.to_dict("records"):
        texts = dict(zip(SOURCES, (r["paper_text"], r["ours_text"], r["diff_text"])))
        if isinstance(r.get("vs"), str):
            texts[r["vs"]] = r["vs_text"]
        cells.append((r["label"], r["column"], texts))
    return layout(cells, index_name, values.attrs)
