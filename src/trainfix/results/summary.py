"""The `summary` command: one row per configuration of any sweep (docs/results.md, "summary").

Columns: the config keys whose values differ between configurations (`x._target_` shown as `x` holding
the class name), `n` (finished runs with a number), `<metric> (mean ± std)` (sample std; "≈ chance" for an
accuracy within 1.5x of 1/num_classes), `seeds`, one count per status. Runs of several record versions are
one configuration when they agree on every key both recorded (`configs.differences`): equal configs are
grouped first, then from most keys to fewest a group joins the one configuration it agrees with."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from trainfix.results.cells import aggregate_runs, spread_text
from trainfix.results.collect import ID_COLUMNS, OK_STATUS, STATUSES, RunCollection
from trainfix.results.configs import differences, identity, known_value

AT = ("last", "max")
NO_CONFIG = "(no readable config)"  # the configuration of a run with no readable config
NOT_SET = "-"  # a shown key that a configuration does not have (another strategy's option)


def group_configurations(identities: dict[str, dict[str, str]]) -> list[tuple[list[str], dict[str, str]]]:
    """[(run ids, merged identity)] in the order of their first run (see the module docstring)."""
    exact: dict[tuple, list[str]] = {}
    for run_id, config in identities.items():
        exact.setdefault(tuple(sorted(config.items())), []).append(run_id)
    groups: list[tuple[list[str], dict[str, str]]] = []
    for key, ids in sorted(exact.items(), key=lambda item: -len(item[0])):  # stable: first seen among equals
        config = dict(key)
        matches = [g for g in groups if config and g[1] and not differences(g[1], config)]
        if len(matches) == 1:
            matches[0][0].extend(ids)
            matches[0][1].update({k: v for k, v in config.items() if k not in matches[0][1]})
        else:
            groups.append((list(ids), config))
    order = {run_id: i for i, run_id in enumerate(identities)}
    return sorted(((sorted(ids, key=order.get), c) for ids, c in groups), key=lambda g: order[g[0][0]])


def shown_keys(configs: list[dict[str, str]]) -> list[str]:
    """Keys whose recorded values differ between `configs`; keys some lack as well when rows would look alike."""
    keys = list(dict.fromkeys(k for c in configs for k in c))
    shown = [k for k in keys if len({known_value(c, k) for c in configs} - {None}) > 1]
    if len({tuple(known_value(c, k) for k in shown) for c in configs}) < len(configs):
        shown += [k for k in keys if k not in shown and any(known_value(c, k) is None for c in configs)]
    return [k for k in keys if k in shown]


def shown_value(key: str, value: str | None) -> str:
    """A cell of a shown key: a class path as its class name, NOT_SET where the configuration lacks the key."""
    return NOT_SET if value is None else value.rsplit(".", 1)[-1] if key.endswith("._target_") else value


def _natural(text: str) -> tuple[int, float, str]:
    """Sort key of a cell: numbers by value (2000 before 10000), then text."""
    try:
        return 0, float(text), ""
    except ValueError:
        return 1, 0.0, text


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
    """(one row per run: run_id, status, seed, the shown keys, `configuration` label; the shown names).
    `attrs["details"]`: per label, the keys that configuration holds beyond the shown and the shared ones."""
    readable = {r: identity(c) for r, c in runs.configs.items() if c}
    groups = group_configurations(readable)
    keys = shown_keys([c for _, c in groups])
    everywhere = {k: v for k, v in (groups[0][1] if groups else {}).items() if all(c.get(k) == v for _, c in groups)}
    names = [k.removesuffix("._target_") for k in keys]
    of_run, details = {}, {}
    for ids, config in groups:
        values = {name: shown_value(k, known_value(config, k)) for name, k in zip(names, keys)}
        label = ", ".join(f"{n}={v}" for n, v in values.items() if v != NOT_SET) or "(one configuration)"
        rest = [f"{k}={v}" for k, v in config.items() if k not in keys and k not in everywhere]
        lacking = sorted({k for r in ids for k in config if k not in readable[r]})
        lacking = f"merged records, some without {', '.join(lacking)}" if lacking else ""
        details[label] = "; ".join(part for part in (", ".join(rest), lacking) if part)
        of_run.update({r: (values, label) for r in ids})
    rows = []
    for run in runs.runs.itertuples(index=False):
        values, label = of_run.get(run.run_id, (dict.fromkeys(names, NO_CONFIG), NO_CONFIG))
        rows.append({"run_id": run.run_id, "status": run.status, "seed": run.seed, **values, "configuration": label})
    rows.sort(key=lambda row: (row["configuration"] == NO_CONFIG, [_natural(row[name]) for name in names]))
    frame = pd.DataFrame(rows, columns=["run_id", "status", "seed", *names, "configuration"])
    frame.attrs["details"] = details
    return frame, names


def summarize(runs: RunCollection, metric: str = "test_acc", at: str = "last") -> pd.DataFrame:
    """The summary table: shown keys, n, mean, std, `<metric> (mean ± std)`, seeds, status counts; rows by
    the shown keys (numbers by value), unreadable configs last; `attrs`: stem, title, caption, details."""
    frame, names = configuration_frame(runs)
    frame["value"] = frame["run_id"].map(run_numbers(runs, metric, at)).where(frame["status"] == OK_STATUS)
    classes = runs.runs.set_index("run_id")["num_classes"]
    statuses = [s for s in STATUSES if s in set(frame["status"])] + sorted(set(frame["status"]) - set(STATUSES))
    rows = []
    for label, group in frame.groupby("configuration", sort=False):
        cell = aggregate_runs(group, "value")
        chance = {1.0 / n for n in classes.reindex(group["run_id"]).dropna() if n} if "acc" in metric else set()
        text = _mean_std_text(cell.mean, cell.std, cell.n, min(chance, default=None))
        row = {k: group[k].iloc[0] for k in names} | {"n": cell.n, "mean": cell.mean, "std": cell.std}
        row |= {f"{metric} (mean ± std)": text, "seeds": seed_text(group["seed"])}
        rows.append(row | {s: int((group["status"] == s).sum()) for s in statuses} | {"configuration": label})
    table = pd.DataFrame(rows)
    how = "last recorded epoch" if at == "last" else "maximum over epochs"
    details = frame.attrs["details"]
    table.attrs = {
        "stem": "summary",
        "title": f"Summary of {display_path(runs.root)}: {metric}",
        "caption": [f"{metric} at each run's {how}: mean ± sample std over a configuration's finished runs (n)."],
        "details": [
            f"Run folders: {len(frame)}; configurations: {len(table)}; columns: the keys whose values differ "
            f"({', '.join(names) or 'none: one configuration'}); status columns count run folders.",
            "Runs of several record versions are one configuration when they agree on every key both recorded.",
            *(f"{label}: {text}" for label, text in details.items() if text),
        ],
    }
    return table


def display_path(path: Path) -> str:
    """`path` relative to the working folder, else its last three parts: no machine's path in a title."""
    path = Path(path)
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix() if path.is_absolute() else path.as_posix()
    except ValueError:
        return Path(*path.parts[-3:]).as_posix()


def seed_text(seeds: pd.Series) -> str:
    """ "0-4,7": the seeds, consecutive ones as ranges."""
    values, parts = sorted(int(s) for s in seeds.dropna().unique()), []
    for seed in values:
        if parts and seed == parts[-1][1] + 1:
            parts[-1][1] = seed
        else:
            parts.append([seed, seed])
    return ",".join(str(a) if a == b else f"{a}{',' if b == a + 1 else '-'}{b}" for a, b in parts)


def _mean_std_text(mean: float, std: float, n: int, chance: float | None = None) -> str:
    if n == 0:
        return "no finished run"
    near_chance = f"≈ chance {chance:.2f}" if chance and mean < 1.5 * chance else ""
    return spread_text(f"{mean:.4f}", f"{std:.4f}" if n > 1 else None, [near_chance])
