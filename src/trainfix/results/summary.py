"""One row per configuration of any sweep: its swept keys, the metric's mean ± std over seeds, run statuses.

    python -m trainfix.results summary --runs multirun/<task_name> [--metric test_acc] [--at last|max] [--out summary.md|.csv]

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

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from trainfix.results.collect import OK_STATUS, RunCollection
from trainfix.runs.identity import is_identity_key, recorded_value
from trainfix.runs.records import atomic_write_text

# Beyond the keys that are not part of a run's identity (runs/identity.py: paths, loggers, display,
# devices, names): the seed (averaged over), where a run started from, and `quick.`, which holds
# profile=quick's sizes that data.* already carries resolved.
IGNORED_KEYS = frozenset({"seed", "init_from", "data.root"})
IGNORED_PREFIXES = ("quick.", "callbacks.")
AT = ("last", "max")
STATUS_ORDER = ("finished", "failed", "diverged", "running", "data missing", "unreadable")
# The key of a run with no readable config, so that it still gets a row.
NO_CONFIG = "(no readable config)"


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists become JSON text so that values compare and hash."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, (list, dict)):
            flat[name] = json.dumps(value, sort_keys=True)
        else:
            flat[name] = value
    return flat


def ignored(key: str) -> bool:
    return not is_identity_key(key) or key in IGNORED_KEYS or key.startswith(IGNORED_PREFIXES)


def swept_keys(configs: list[dict[str, Any]]) -> list[str]:
    """The dotted keys (not ignored) whose value differs between `configs` (flattened), in first-seen
    order; a key present in some configs and absent in others differs."""
    readable = [c for c in configs if c]
    keys = list(dict.fromkeys(k for c in readable for k in c if not ignored(k)))
    return [k for k in keys if len({_text(c.get(k, _ABSENT)) for c in readable}) > 1]


_ABSENT = "(absent)"


def _text(value: Any) -> str:
    """A value as shown in a table cell and compared between runs."""
    if value is _ABSENT or value is None:
        return "-" if value is None else _ABSENT
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def require_one_configuration(runs: RunCollection, run_ids: Iterable[str], cell: str) -> None:
    """A paper table's cell averages seeds of one configuration: raise ValueError when two of `run_ids`
    differ in a compared key (not ignored: the seed, paths, loggers, ...), naming the keys, both runs
    and their values, and what to do.

    Keys are compared where both runs recorded them: a key one run lacks was added by a later version
    of the code, and the run that lacks it ran that key's behaviour before it became an option."""
    require_same_configs({run_id: runs.configs.get(run_id) or {} for run_id in run_ids}, cell, runs.root)


def require_same_configs(configs: dict[str, dict[str, Any]], cell: str, where: Any, allowed: Iterable[str] = ()) -> None:
    """`require_one_configuration` on {run name: resolved config}; `where` names the runs' folder;
    `allowed`: dotted keys the members of this cell differ in by design (e.g. an rDLM's window)."""
    allowed = frozenset(allowed)
    flat = {name: flatten(config) for name, config in configs.items()}
    names = list(flat)
    for i, first in enumerate(names):
        for other in names[i + 1:]:
            a, b = flat[first], flat[other]
            values = {}  # a key one record lacks is compared at its PAST_VALUES value, if listed
            for k in [*a, *(k for k in b if k not in a)]:
                (known_a, value_a), (known_b, value_b) = recorded_value(a, k), recorded_value(b, k)
                if known_a and known_b and k not in allowed and not ignored(k) and _text(value_a) != _text(value_b):
                    values[k] = (value_a, value_b)
            keys = list(values)
            if keys:
                shown = "; ".join(f"{k}: {_text(values[k][0])} ({first}) vs {_text(values[k][1])} ({other})" for k in keys[:5])
                raise ValueError(
                    f"{cell}: finished runs under {where} differ in {len(keys)} key(s) besides the seed ({shown}); "
                    "a cell is the mean over seeds of one configuration: give --runs a folder holding one configuration "
                    "per cell (e.g. one folder per profile, update budget or strategy option)"
                )


def run_numbers(runs: RunCollection, metric: str, at: str = "last") -> pd.Series:
    """run_id -> the run's number for `metric` (last epoch's value or maximum; NaN when not recorded)."""
    if at not in AT:
        raise ValueError(f"at={at!r} is not accepted; use one of {list(AT)}")
    known = set(runs.epochs.columns) - {"run_id", "row", "strategy", "seed", "status", "table_vii_role"}
    if metric not in known:
        raise ValueError(f"metric={metric!r} is not a column of the runs' metrics.csv; recorded: {sorted(known)}")
    values = runs.epochs[["run_id", "epoch", metric]].dropna(subset=[metric])
    if at == "max":
        return values.groupby("run_id")[metric].max()
    return values.sort_values("epoch").groupby("run_id")[metric].last()


def configuration_frame(runs: RunCollection) -> tuple[pd.DataFrame, list[str]]:
    """One row per run: run_id, status, seed, the swept keys' values (as text) and `configuration`
    (a "key=value, ..." label); returns (frame, swept keys)."""
    flat = {run_id: flatten(config) for run_id, config in runs.configs.items()}
    keys = swept_keys(list(flat.values()))
    rows = []
    for run in runs.runs.itertuples(index=False):
        config = flat.get(run.run_id) or {}
        values = {k: _text(config.get(k, _ABSENT)) if config else NO_CONFIG for k in keys}
        label = ", ".join(f"{k}={v}" for k, v in values.items()) if config else NO_CONFIG
        rows.append({"run_id": run.run_id, "status": run.status, "seed": run.seed, **values,
                     "configuration": label or "(one configuration)"})
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
        values = group["value"].dropna()
        mean = float(values.mean()) if len(values) else math.nan
        std = float(values.std(ddof=1)) if len(values) > 1 else math.nan
        row = {k: group[k].iloc[0] for k in keys}
        row.update({
            "n": len(values), "mean": mean, "std": std,
            f"{metric} (mean ± std)": _mean_std_text(mean, std, len(values)),
            "seeds": ",".join(str(int(s)) for s in sorted(group["seed"].dropna().unique())),
        })
        row.update({status: int((group["status"] == status).sum()) for status in statuses})
        row["configuration"] = label
        rows.append(row)
    table = pd.DataFrame(rows)
    how = "last recorded epoch" if at == "last" else "maximum over epochs"
    table.attrs = {
        "stem": "summary",
        "title": f"Summary of {runs.root}: {metric}",
        "caption": [
            f"{len(frame)} run folders, {len(table)} configurations; swept keys: {', '.join(keys) or 'none (one configuration)'}.",
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
