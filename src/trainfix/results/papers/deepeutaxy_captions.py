"""DeepEutaxy's caption lines: where the numbers come from (profile, data, hardware, seeds, statuses,
Eq. 12's reading, the train-accuracy column) and the epochs to converge under every recorded reading."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import pandas as pd

from trainfix.results.cells import RunPool, aggregate, count
from trainfix.results.collect import OK_STATUS, RunCollection
from trainfix.results.paper import load_paper
from trainfix.results.papers.deepeutaxy_protocol import protocol_caption
from trainfix.results.papers.deepeutaxy_runs import TABLE_VII_ROLES, row_label
from trainfix.training.callbacks.convergence import READINGS
from trainfix.training.callbacks.convergence_measures import AUTO_TEXT, READING_TEXT, converged_epoch

TEXT = load_paper("deepeutaxy_tables")  # the caption prose (paper/deepeutaxy_tables.yaml)
CELL_NOTE = TEXT["cells"]


def readings_line(
    pool: RunPool,
    rows: list[str],
    groups: Iterable[str],
    seeds: list[int],
    epsilon: float | None,
    epoch_column: str | None,
) -> str:
    """One caption line: epochs to converge under every reading recorded, per (row, group), so a
    table built on one reading shows the others. `epoch_column`: 1-based epoch column, or None to
    count from the run's first recorded epoch (Table VII)."""
    parts = []
    for row in rows:
        for group in groups:
            texts = []
            for reading, column in READINGS.items():
                outcomes = pool.outcomes(row, group, seeds, converged_epoch(column, epsilon, epoch_column))
                if all(o == "no gradient norm" or o == "missing" for o in outcomes):
                    continue
                texts.append(
                    f"{reading} {aggregate('epochs', outcomes, soft='not converged', soft_text='not converged').text}"
                )
            if texts:
                parts.append(f"{row_label(row)} {TABLE_VII_ROLES.get(group, group)}: {', '.join(texts)}")
    return (
        "Epochs to converge by reading (mean over converged seeds): "
        + ("; ".join(parts) if parts else "none recorded")
        + "."
    )


def provenance_lines(
    collections: list[RunCollection],
    used: pd.DataFrame,
    seeds: list[int],
    convergence: str,
    epsilon: float | None,
    table: str,
    *,
    uses_convergence: bool = True,
    duplicates: int = 0,
    variant: str | None = None,
    reading_why: str = "given",
) -> list[str]:
    """Caption lines: source of the paper numbers, profile, data, hardware, seeds and run statuses,
    the convergence reading, the train-accuracy column, and how cells are computed."""
    lines = [
        f"Paper numbers: trainfix/results/paper/deepeutaxy_table_{table}.yaml (Zhang & Chan, DeepEutaxy, "
        f"Table {table.upper()})."
    ]
    lines.append(f"Runs: {', '.join(str(c.root) for c in collections)}.")
    profiles = sorted({str(p) for p in used["profile"].dropna()})
    lines.append(f"Profile: {', '.join(profiles) if profiles else 'not recorded'}.")
    states = {True: "official files", False: "NOT the official files"}
    data = sorted(
        {
            f"{label} ({states.get(official, 'officialness not recorded')})"
            for label, official in zip(used["data_label"], used["data_official"])
            if isinstance(label, str)
        }
    )
    lines.append(f"Data: {'; '.join(data) if data else 'not recorded (no run loaded its data)'}.")
    hardware = sorted(
        {
            f"{d} ({g})" if isinstance(g, str) and g else str(d)
            for d, g in zip(used["device"], used["gpu"])
            if isinstance(d, str)
        }
    )
    lines.append(f"Hardware: {', '.join(hardware) if hardware else 'not recorded'}.")
    statuses = Counter(used["status"])
    lines.append(
        f"Seeds: {len(seeds)} expected per cell ({', '.join(map(str, seeds)) or 'none'}); "
        f"run folders: {len(used)} ({', '.join(f'{n} {s}' for s, n in sorted(statuses.items()))})."
        + (
            f" {count(duplicates, 'extra run folder')} for an already seen seed: per seed the best status "
            "(finished first), then the latest, is used."
            if duplicates
            else ""
        )
    )
    if epsilon is not None:
        eps_text = f"{epsilon:g} (given)"
    else:
        eps_values = sorted({float(e) for e in used["epsilon"].dropna()})
        eps_text = (
            ", ".join(f"{e:g}" for e in eps_values) + " (from the runs' config)" if eps_values else "0.01 (default)"
        )
    reading = (
        f"Convergence (Eq. 12): the first epoch whose gradient norm is <= epsilon = {eps_text}; "
        f"reading '{convergence}' ({reading_why}) = {READING_TEXT.get(convergence, AUTO_TEXT)}."
    )
    lines.append(reading if uses_convergence else reading + " Not used by this output.")
    finished = used[used["status"] == OK_STATUS]
    columns = Counter(finished["train_acc_column"].dropna())
    descriptions = {
        "train_eval_acc": "train_eval_acc (whole training set in eval mode after each epoch)",
        "train_acc": "train_acc (running mean over the epoch in training mode, as Keras fit reports)",
    }
    used_columns = "; ".join(
        f"{descriptions.get(c, c)} in {count(n, 'finished run')}" for c, n in sorted(columns.items(), reverse=True)
    )
    lines.append(f"Train accuracy: {used_columns or 'no finished run'}.")
    if variant is not None:
        lines.append(f"Strategy variant: {variant}.")
    everything = pd.concat([c.runs for c in collections], ignore_index=True)
    unusable = everything[everything["row"].isna() | everything["strategy"].isna() | everything["seed"].isna()]
    if len(unusable):
        names = ", ".join(unusable["run_id"].astype(str).head(5)) + (" ..." if len(unusable) > 5 else "")
        lines.append(f"Not used: {count(len(unusable), 'run folder')} without a readable run.json/config ({names}).")
    off_protocol = protocol_caption(used)  # runs marked by trainfix.results.protocol.check_protocol
    if off_protocol:
        lines.append(off_protocol)
    lines.append(CELL_NOTE)
    return lines
