r"""One row per configuration of any sweep: its swept keys, the metric's mean ± std over seeds, run statuses.

    python -m trainfix.results summary --runs multirun/<task_name> [--metric test_acc] [--at last|max] \
        [--out summary.md|.csv]

A configuration is a run's resolved config (run.json `config`) without the keys that do not define
what was trained (keys outside the run identity, and IGNORED_KEYS / IGNORED_PREFIXES: the seed, ...).
Swept keys are the remaining (dotted) keys whose values differ between runs; they are the table's
first columns. Per configuration: `n` = finished runs with a number for the metric, the metric's
mean and sample standard deviation over them (std empty when n < 2), the seeds, and one count
column per run status (finished, failed, diverged, running, data missing, unreadable, ...).
A run's number is its last recorded epoch's value of the metric (`at="last"`) or its maximum over
epochs (`at="max"`). Only finished runs count: a failed or diverged run's last epoch is not a result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from trainfix.core.records import atomic_write_text
from trainfix.results.cells import aggregate_runs
from trainfix.results.collect import ID_COLUMNS, OK_STATUS, RunCollection
from trainfix.results.configs import ABSENT, flat_config, ignored, value_text

AT = ("last", "max")
STATUS_ORDER = ("finished", "failed", "diverged", "running", "data missing", "unreadable")
# The key of a run with no readable config, so that it still gets a row.
NO_CONFIG = "(no readable config)"


def swept_keys(configs: list[dict[str, Any]]) -> list[str]:
    """The dotted keys (not ignored) whose value differs between `configs` (flattened), in first-seen
    order; a key present in some configs and absent in others differs."""
    readable = [c for c in configs if c]
    keys = list(dict.fromkeys(k for c in readable for k in c if not ignored(k)))
    return [k for k in keys if len({value_text(c.get(k, ABSENT)) for c in readable}) > 1]


def run_numbers(runs: RunCollection, metric: str, at: str = "last") -> pd.Series:
    """run_id -> the run's number for `metric` (last epoch's value or maximum; NaN when not recorded)."""
    if at not in AT:
        raise ValueError(f"at={at!r} is not accepted; use one of {list(AT)}")
    known = set(runs.epochs.columns) - {*ID_COLUMNS, "table_vii_role"}
    if metric not in known:
        raise ValueError(f"metric={metric!r} is not a column of the runs' metrics.csv; recorded: {sorted(known)}")
    values = runs.epochs[["run_id", "epoch", metric]].dropna(subset=[metric])
    if at == "max":
        return values.groupby("run_id")[metric].max()
    return values.sort_values("epoch").groupby("run_id")[metric].last()


def configuration_frame(runs: RunCollection) -> tuple[pd.DataFrame, list[str]]:
    """One row per run: run_id, status, seed, the swept keys' values (as text) and `configuration`
    (a "key=value, ..." label); returns (frame, swept keys)."""
    flat = {run_id: flat_config(config) for run_id, config in runs.configs.items()}
    keys = swept_keys(list(flat.values()))
    rows = []
    for run in runs.runs.itertuples(index=False):
        config = flat.get(run.run_id) or {}
        values = {k: value_text(config.get(k, ABSENT)) if config else NO_CONFIG for k in keys}
        label = ", ".join(f"{k}={v}" for k, v in values.items()) if config else NO_CONFIG
        rows.append(
            {
                "run_id": run.run_id,
                "status": run.status,
                "seed": run.seed,
                **values,
                "configuration": label or "(one configuration)",
            }
        )
    return pd.DataFrame(rows, columns=["run_id", "status", "seed", *keys, "configuration"]), keys


def summarize(runs: RunCollection, metric: str = "test_acc", at: str = "last") -> pd.DataFrame:
    """The summary table: swept keys, n, mean, std, seeds, `<metric> (mean ± std)`, status counts.

    Rows in the order their configuration was first seen (run folders sorted by path). `attrs` holds
    title, caption and stem, as the paper tables do, so `render` writes it the same way.
    """
    frame, keys = configuration_frame(runs)
    numbers = run_numbers(runs, metric, at)
    frame["value"] = frame["run_id"].map(numbers).where(frame["status"] == OK_STATUS)
    statuses = [s for s in STATUS_ORDER if s in set(frame["status"])] + sorted(set(frame["status"]) - set(STATUS_ORDER))
    rows = []
    for label, group in frame.groupby("configuration", sort=False):
        cell = aggregate_runs(group, "value")
        row = {k: group[k].iloc[0] for k in keys}
        row.update(
            {
                "n": cell.n,
                "mean": cell.mean,
                "std": cell.std,
                f"{metric} (mean ± std)": _mean_std_text(cell.mean, cell.std, cell.n),
                "seeds": ",".join(str(int(s)) for s in sorted(group["seed"].dropna().unique())),
            }
        )
        row.update({status: int((group["status"] == status).sum()) for status in statuses})
        row["configuration"] = label
        rows.append(row)
    table = pd.DataFrame(rows)
    how = "last recorded epoch" if at == "last" else "maximum over epochs"
    table.attrs = {
        "stem": "summary",
        "title": f"Summary of {runs.root}: {metric}",
        "caption": [
            f"{len(frame)} run folders, {len(table)} configurations; swept keys: "
            f"{', '.join(keys) or 'none (one configuration)'}.",
            f"Per run: {metric} at its {how}; per configuration: mean ± sample std over its finished runs (n).",
            "Status columns count the configuration's run folders by status.",
        ],
    }
    return table


def _mean_std_text(mean: float, std: float, n: int) -> str:
    if n == 0:
        return "no finished run"
    return f"{mean:.4f}" if n == 1 else f"{mean:.4f} ± {std:.4f}"


def display_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary without the numeric mean/std columns and the label (what Markdown and HTML show)."""
    return summary.drop(columns=["mean", "std", "configuration"], errors="ignore")


def summary_markdown(summary: pd.DataFrame) -> str:
    title = summary.attrs.get("title", "")
    caption = "\n".join(f"- {line}" for line in summary.attrs.get("caption", []))
    body = display_table(summary).to_markdown(index=False, disable_numparse=True)
    return "\n\n".join(part for part in (f"## {title}" if title else "", caption, body) if part) + "\n"


def write_summary(summary: pd.DataFrame, path: Path) -> Path:
    """`.md`: the Markdown shown on stdout; `.csv`: every column (numbers unrounded), caption as `# ` lines."""
    path = Path(path)
    if path.suffix == ".md":
        atomic_write_text(path, summary_markdown(summary))
    elif path.suffix == ".csv":
        header = [summary.attrs.get("title", ""), *summary.attrs.get("caption", [])]
        atomic_write_text(path, "".join(f"# {line}\n" for line in header if line) + summary.to_csv(index=False))
    else:
        raise ValueError(f"--out {path}: the summary is written as .md or .csv; got suffix {path.suffix!r}")
    return path
