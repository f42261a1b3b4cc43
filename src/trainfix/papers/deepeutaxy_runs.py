"""DeepEutaxy's view of the runs: labels, the runs a table takes, their protocol, their pool, the Eq. 12 reading,
the seeds at chance level, and the caption lines saying where the numbers come from.

`label_runs` adds to `RunCollection.runs` (`row`, `strategy`, `table_vii_role` also to its epochs): `strategy` (BL,
SPL, DE, SPL+DE from config.strategy._target_), `row` (config.experiment_row, else the model plus `_clr` under
CyclicLR), `table_vii_role` (base / spl / de / spl_de; aliases `deepeutaxy`, `spl_deepeutaxy`) and `epsilon` (Eq.
12's threshold, default 0.01). `train_measure="code"` reads training accuracy/loss as the authors' code measured
them (DE, SPL+DE, Table VII's SPL: running mean in training mode) instead of the eval-mode pass ("same").
`check_protocol`: a run counts in row `lenet5` only when it trained as `experiment=deepeutaxy/table_iv/lenet5` does
under its profile (`trainfix.training.protocol`), so a 2-epoch ad-hoc run is not averaged into Table IV.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from trainfix.papers.published import load_paper
from trainfix.results.cells import OFF_PROTOCOL, Cell, RunPool, aggregate, count
from trainfix.results.collect import OK_STATUS, RunCollection, collect_runs
from trainfix.training.callbacks import convergence_measures as measures
from trainfix.training.callbacks.convergence import READINGS
from trainfix.training.protocol import DEFAULT_PROFILE
from trainfix.training.protocol import protocol_differences as differences

TEXT = load_paper("deepeutaxy_tables")  # caption prose and labels (paper/deepeutaxy_tables.yaml)
CELL_NOTE = TEXT["cells"]
CAPTION = TEXT["runs"]  # the lines of TableRuns.caption
STRATEGY_LABELS: dict[str, str] = TEXT["labels"]["strategies"]  # config.strategy._target_ -> BL, SPL, DE, SPL+DE
STRATEGIES = ("BL", "SPL", "DE")
ROW_LABELS: dict[str, str] = TEXT["labels"]["rows"]  # table row key -> the paper's name, in the paper's order
TABLE_VII_ROLES: dict[str, str] = TEXT["labels"]["table_vii_roles"]
TABLE_VII_ROLE_ALIASES = {"deepeutaxy": "de", "spl_deepeutaxy": "spl_de", "spl+de": "spl_de"}
DEFAULT_EPSILON = 0.01
TRAIN_MEASURES = ("same", "code")
# The authors' code measured BL and SPL (SPL.py, Table VII's Base) with `evaluate` after the epoch (eval mode, our
# train_eval_*), DE and SPL+DE with Keras `fit` history (running mean in training mode, our train_*), and so Table
# VII's SPL row too: the code continues SPL with `SPL+DE.py -u 0`, the same fit loop without the reordering.
CODE_MEASURES_FIT_HISTORY = ("DE", "SPL+DE")
CODE_MEASURES_FIT_HISTORY_ROLES = ("spl", "spl_de", "de")


# --------------------------------------------------------------------------- labels
def table_vii_role(config: dict[str, Any]) -> str | None:
    role = config.get("table_vii_role")
    return None if role is None else TABLE_VII_ROLE_ALIASES.get(str(role).lower(), str(role).lower())


def _row(config: dict[str, Any], row: Any) -> Any:
    scheduler = (config.get("scheduler") or {}).get("scheduler") or {}
    cyclic = isinstance(scheduler, dict) and str(scheduler.get("_target_", "")).endswith("CyclicLR")
    return f"{row}_clr" if cyclic and row is not None and not config.get("experiment_row") else row


def label_runs(runs: RunCollection, train_measure: str = "same") -> RunCollection:
    """`runs` with DeepEutaxy's columns (see the module docstring); a labelled collection is returned as is."""
    if train_measure not in TRAIN_MEASURES:
        raise ValueError(f"train_measure={train_measure!r} is not accepted; use one of {list(TRAIN_MEASURES)}")
    if "table_vii_role" in runs.runs.columns:
        return runs
    frame = runs.runs.copy()
    configs = [runs.configs.get(run_id) or {} for run_id in frame["run_id"]]
    frame["strategy"] = [
        STRATEGY_LABELS.get(t, s) if isinstance(t, str) else s
        for t, s in zip(frame["strategy_target"], frame["strategy"])
    ]
    frame["row"] = [_row(c, r) for c, r in zip(configs, frame["row"])]
    frame["table_vii_role"] = [table_vii_role(c) for c in configs]
    frame["epsilon"] = [float((c.get("convergence") or {}).get("epsilon", DEFAULT_EPSILON)) for c in configs]
    fit_history = (train_measure == "code") & (
        frame["strategy"].isin(CODE_MEASURES_FIT_HISTORY)
        | frame["table_vii_role"].isin(CODE_MEASURES_FIT_HISTORY_ROLES)
    )
    fit_history &= frame["n_epochs"] > 0
    frame.loc[fit_history, "train_acc_column"] = "train_acc"
    frame.loc[fit_history, "train_loss_column"] = "train_loss"
    epochs = runs.epochs.copy()
    for column in ("row", "strategy", "table_vii_role"):
        epochs[column] = epochs["run_id"].map(dict(zip(frame["run_id"], frame[column])))
    if len(epochs):
        refit = epochs["run_id"].isin(set(frame.loc[fit_history, "run_id"]))
        epochs.loc[refit, "train_acc_used"] = epochs.loc[refit, "train_acc"]
        epochs.loc[refit, "train_loss_used"] = epochs.loc[refit, "train_loss"]
    return replace(runs, runs=frame, epochs=epochs)


def collect_de_runs(root: Path, train_measure: str = "same") -> RunCollection:
    """The run folders under `root`, labelled (`label_runs`)."""
    return label_runs(collect_runs(root), train_measure)


def row_label(row: str) -> str:
    """The paper's name of a table row (`mobilenetv2_clr` -> `MobileNetV2-2`); unknown rows as given."""
    return ROW_LABELS.get(row, row)


def table_rows(rows: Iterable[str] | None, selected: pd.DataFrame) -> list[str]:
    """`rows` when given, else the rows of `selected` in the paper's order, then any others alphabetically."""
    if rows is not None:
        return list(rows)
    found = set(selected["row"].dropna())
    return [r for r in ROW_LABELS if r in found] + sorted(found - set(ROW_LABELS))


def select_runs(
    runs: pd.DataFrame,
    *,
    roles: Iterable[str | None],
    strategies: Iterable[str] | None = None,
    variant: str | None = None,
) -> pd.DataFrame:
    """The identified runs (row, strategy and seed known) with `table_vii_role` in `roles` (None: no role, Tables
    IV-VI). `variant`: keep runs of that strategy variant (and runs whose strategy has none); None: refuse a mix."""
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
        raise ValueError(
            f"the runs mix strategy variants {variants}; choose one with variant= (CLI: --variant {'|'.join(variants)})"
        )
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


# --------------------------------------------------------------------------- protocol
def protocol_differences(config: dict[str, Any], row: str, role: str | None) -> list[str]:
    """Why a run (its resolved config) is off its experiment's protocol; [] when it is on it."""
    return differences(config, f"deepeutaxy/{'table_vii' if role not in (None, 'base') else 'table_iv'}/{row}")


def check_protocol(runs: RunCollection, allow: bool = False) -> RunCollection:
    """`runs` with column `off_protocol` (reasons, or None) for the runs a table would use (row and strategy known).
    Unless `allow`, such runs get status "off protocol" (a cell says "(4/5; 1 off protocol)") and the profile
    "full (off protocol, not counted)"; with `allow` they keep their status, profile "full (off protocol)"."""
    runs = label_runs(runs)
    frame = runs.runs.copy()
    frame["off_protocol"] = [
        "; ".join(protocol_differences(runs.configs.get(run.run_id) or {}, run.row, run.table_vii_role)) or None
        if isinstance(run.row, str) and isinstance(run.strategy, str)
        else None
        for run in frame.itertuples(index=False)
    ]
    off = frame["off_protocol"].notna()
    profile = frame.loc[off, "profile"].fillna(DEFAULT_PROFILE).astype(str)
    if allow:
        frame.loc[off, "profile"] = profile + f" ({OFF_PROTOCOL})"
    else:
        frame.loc[off, "profile"] = profile + f" ({OFF_PROTOCOL}, not counted)"
        frame.loc[off & (frame["status"] != "unreadable"), "status"] = OFF_PROTOCOL
    epochs = runs.epochs.copy()
    if len(epochs):
        epochs["status"] = epochs["run_id"].map(dict(zip(frame["run_id"], frame["status"])))
    return replace(runs, runs=frame, epochs=epochs)


def protocol_caption(used: pd.DataFrame, limit: int = 5) -> str | None:
    """A caption line naming the off-protocol runs among `used` and why; None when there are none."""
    if "off_protocol" not in used.columns or not used["off_protocol"].notna().any():
        return None
    off = used[used["off_protocol"].notna()]
    listed = "; ".join(f"{r.run_id}: {r.off_protocol}" for r in off.head(limit).itertuples(index=False))
    return CAPTION["off_protocol"].format(
        n=len(off),
        counted=CAPTION["counted"][bool((off["status"] != OFF_PROTOCOL).any())],
        listed=listed,
        more=CAPTION["more"].format(n=len(off) - limit) if len(off) > limit else "",
    )


# --------------------------------------------------------------------------- pools
def resolve_reading(convergence: str, pool: RunPool) -> tuple[str, str]:
    """(the reading, why) for `convergence`: "auto" is "full" when every finished run of `pool` recorded
    grad_norm_full (the only reading that needs the whole training set in play: neither an SPL batch with one
    selected sample, the last batch of a DE order, nor the L2 penalty can meet it), else "last"."""
    if convergence != "auto":
        measures.validate_reading(convergence)
        return convergence, "given"
    finished = pool.runs[pool.runs["status"] == OK_STATUS] if not pool.runs.empty else pool.runs
    recorded = [
        measures.recorded_column(pool.metrics.get(str(path)), READINGS["full"]) for path in finished.get("path", [])
    ]
    if recorded and all(recorded):
        return "full", "auto: every finished run recorded grad_norm_full"
    return (
        "last",
        f"auto: grad_norm_full recorded by {sum(recorded)} of {count(len(recorded), 'finished run')} "
        "(convergence.full_gradient=false)",
    )


def _chance_reason(metrics: pd.DataFrame, run: pd.Series) -> str | None:
    return measures.CHANCE_REASON if measures.at_chance_level(metrics, run) else None


def _joined(items: Iterable[str], separator: str = ", ") -> str:
    return separator.join(sorted(set(items)))


@dataclass
class TableRuns:
    """What one table or figure takes from the runs: the labelled collections, the pool of the runs selected
    (`pool.runs`), the expected seeds, the Eq. 12 reading (and why) and the options its caption names."""

    collections: list[RunCollection]
    pool: RunPool
    seeds: list[int]
    convergence: str
    why: str = "given"
    epsilon: float | None = None
    variant: str | None = None
    rows: list[str] | None = None  # the table rows, in the paper's order

    @classmethod
    def of(
        cls,
        parts: list[tuple[RunCollection, pd.DataFrame]],
        group_column: str,
        rows: list[str],
        *,
        convergence: str = "auto",
        epsilon: float | None = None,
        seeds: Iterable[int] | None = None,
        variant: str | None = None,
        chance_level: str = "exclude",
        resolve: bool = True,
    ) -> TableRuns:
        """The table's runs from `parts` ((labelled collection, its selected runs) pairs), pooled by `group_column`.
        Under `chance_level="exclude"` a dead network does not count; table_vii_role is the group itself, read with
        aliases: not compared. "auto" convergence is resolved unless `resolve` is False (the figure names the
        reading asked for)."""
        measures.validate_chance_level(chance_level)
        exclude = _chance_reason if chance_level == "exclude" else None
        allowed = ("table_vii_role",)
        pool = RunPool.of(parts, group_column, exclude=exclude, label="DeepEutaxy tables", allowed=allowed)
        seed_list = expected_seeds(pool.runs, seeds)
        reading, why = resolve_reading(convergence, pool) if resolve else (convergence, "given")
        return cls([c for c, _ in parts], pool, seed_list, reading, why, epsilon, variant, rows)

    @property
    def runs(self) -> RunCollection:
        return self.collections[0]

    def caption(self, table: str | None, uses_convergence: bool = True, duplicates: bool = True) -> list[str]:
        """Caption lines (templates: `runs` in paper/deepeutaxy_tables.yaml): source of Table `table`'s paper
        numbers, runs, profile, data, hardware, seeds and run statuses, the convergence reading, the train-accuracy
        column, and how cells are computed (table None, an output without paper numbers: neither first nor last)."""
        used, text = self.pool.runs, CAPTION
        extra = self.pool.duplicates() if duplicates else 0
        columns = Counter(used.loc[used["status"] == OK_STATUS, "train_acc_column"].dropna())
        official = text["official"]
        filled = {
            "table": table or "",
            "TABLE": (table or "").upper(),
            "roots": ", ".join(str(c.root) for c in self.collections),
            "profiles": _joined(str(p) for p in used["profile"].dropna()),
            "data": _joined(
                (
                    text["data"].format(label=label, state=official.get(state, official[None]))
                    for label, state in zip(used["data_label"], used["data_official"])
                    if isinstance(label, str)
                ),
                "; ",
            ),
            "hardware": _joined(
                f"{d} ({g})" if isinstance(g, str) and g else str(d)
                for d, g in zip(used["device"], used["gpu"])
                if isinstance(d, str)
            ),
            "n_seeds": len(self.seeds),
            "seeds": ", ".join(map(str, self.seeds)),
            "folders": len(used),
            "statuses": ", ".join(f"{n} {s}" for s, n in sorted(Counter(used["status"]).items())),
            "extra": text["extra"].format(extra=count(extra, "extra run folder")) if extra else "",
            "epsilon": self.epsilon_text(),
            "reading": self.convergence,
            "why": self.why,
            "meaning": measures.READING_TEXT.get(self.convergence, measures.AUTO_TEXT),
            "unused": "" if uses_convergence else text["unused"],
            "columns": "; ".join(
                f"{text['train_columns'].get(c, c)} in {count(n, 'finished run')}"
                for c, n in sorted(columns.items(), reverse=True)
            ),
        }
        filled = {key: value if value != "" else text["none"].get(key, "") for key, value in filled.items()}
        lines = [line.format(**filled) for line in text["lines"]][0 if table else 1 :]
        if self.variant is not None:
            lines.append(text["variant"].format(variant=self.variant))
        everything = pd.concat([c.runs for c in self.collections], ignore_index=True)
        unusable = everything[everything["row"].isna() | everything["strategy"].isna() | everything["seed"].isna()]
        if len(unusable):
            names = ", ".join(unusable["run_id"].astype(str).head(5)) + (" ..." if len(unusable) > 5 else "")
            lines.append(text["not_used"].format(runs=count(len(unusable), "run folder"), names=names))
        off_protocol = protocol_caption(used)
        return lines + ([off_protocol] if off_protocol else []) + ([CELL_NOTE] if table else [])

    def epsilon_text(self) -> str:
        """Eq. 12's threshold as the caption states it: given, the runs' own, or the default."""
        if self.epsilon is not None:
            return CAPTION["epsilon"]["given"].format(epsilon=f"{self.epsilon:g}")
        found = sorted({float(e) for e in self.pool.runs["epsilon"].dropna()})
        if not found:
            return CAPTION["epsilon"]["default"]
        return CAPTION["epsilon"]["runs"].format(epsilon=", ".join(f"{e:g}" for e in found))


def tables_iv_vi_runs(
    runs: RunCollection, *, rows: Iterable[str] | None = None, variant: str | None = None, **options: Any
) -> TableRuns:
    """What Tables IV-VI (their per-seed table, Figure 3) take from `runs`: its BL/SPL/DE runs without a Table VII
    role. The options of every Tables IV-VI function: convergence ("auto" | "last" | "mean" | "full"), epsilon
    (Eq. 12's threshold; None: each run's), seeds (expected; None: those found), rows (None: those found, in the
    paper's order), variant (paper | authors_code; None: refuse a mix), chance_level ("exclude" | "count"), resolve
    (`TableRuns.of`)."""
    runs = label_runs(runs)
    selected = select_runs(runs.runs, roles=[None], strategies=STRATEGIES, variant=variant)
    return TableRuns.of([(runs, selected)], "strategy", table_rows(rows, selected), variant=variant, **options)


# --------------------------------------------------------------------------- measures and caption lines
def convergence_cell(
    pool: RunPool, row: str, group: str, seeds: list[int], measure: measures.Measure, none_text: str = "not converged"
) -> Cell:
    """Epochs to converge (Eq. 12) over the seeds: a seed that never met it reads "not converged"; when none did,
    the cell reads `none_text` (Tables V-VII write "failed")."""
    return aggregate("epochs", pool.outcomes(row, group, seeds, measure), soft="not converged", soft_text=none_text)


def readings_line(
    pool: RunPool, rows: list[str], groups: Iterable[str], seeds: list[int], epsilon: float | None, epoch: str | None
) -> str:
    """Epochs to converge under every reading recorded, per (row, group), so a table built on one reading shows
    the others. `epoch`: 1-based epoch column, or None to count from the run's first recorded epoch (Table VII)."""
    parts = []
    for row in rows:
        for group in groups:
            texts = []
            for reading, column in READINGS.items():
                measure = measures.converged_epoch(column, epsilon, epoch)
                if all(o == "no gradient norm" or o == "missing" for o in pool.outcomes(row, group, seeds, measure)):
                    continue
                texts.append(f"{reading} {convergence_cell(pool, row, group, seeds, measure).text}")
            if texts:
                parts.append(f"{row_label(row)} {TABLE_VII_ROLES.get(group, group)}: {', '.join(texts)}")
    return f"Epochs to converge by reading (mean over converged seeds): {'; '.join(parts) or 'none recorded'}."


def at_chance(pool: RunPool, run: pd.Series | None) -> bool:
    """Whether `run` finished as a dead network (`convergence_measures.at_chance_level`)."""
    if run is None or run["status"] != OK_STATUS:
        return False
    return measures.at_chance_level(pool.metrics.get(str(run["path"])), run)


def chance_line(
    pool: RunPool, rows: Iterable[str], groups: Iterable[str], seeds: list[int], where: str = "cells"
) -> list[str]:
    """[the caption line naming the seeds at chance level ('LeNet-5 BL seed 2 (max train 11.24%)') and what `where`
    (the cells, the curves) does with them], or [] when there are none."""
    found = [
        f"{row_label(row)} {TABLE_VII_ROLES.get(group, group)} seed {seed} (max train "
        f"{100 * float(pool.metrics[str(run['path'])]['train_acc_used'].max()):.2f}%)"
        for row in rows
        for group in groups
        for seed, run in pool.seed_runs(row, group, seeds)
        if at_chance(pool, run)
    ]
    if not found:
        return []
    what = TEXT["chance"]["excluded" if pool.exclude is not None else "counted"].format(where=where)
    return [TEXT["chance"]["line"].format(what=what, found="; ".join(found))]


def chance_level_convergence(
    pool: RunPool, rows: list[str], seeds: list[int], norm_column: str, epsilon: float | None
) -> list[str]:
    """Counted seeds whose first converged epoch has train accuracy at most twice chance (2 / num_classes, 10
    classes when the run did not record it): "LeNet-5 BL seed 2: epoch 1, train 11.24%, test 11.35%"."""
    found = []
    for row in rows:
        for strategy in STRATEGIES:
            for seed, run in pool.seed_runs(row, strategy, seeds):
                if not pool.counted(run):
                    continue
                metrics = pool.metrics[str(run["path"])]
                position = measures.first_converged(metrics, norm_column, measures.epsilon_of(run, epsilon))
                if not isinstance(position, int) or "train_acc_used" not in metrics.columns:
                    continue
                train = float(metrics["train_acc_used"].iloc[position])
                if train <= 2 * measures.chance_accuracy(run):
                    test = float(metrics["test_acc"].iloc[position]) if "test_acc" in metrics.columns else math.nan
                    found.append(
                        f"{row_label(row)} {strategy} seed {seed}: "
                        f"epoch {int(metrics['epoch_number'].iloc[position])}, train {100 * train:.2f}%, "
                        f"test {100 * test:.2f}%"
                    )
    return found
