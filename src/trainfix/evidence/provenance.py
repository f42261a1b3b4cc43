"""PROVENANCE.md of each evidence folder in `results/manifest.yaml` (written by `python -m trainfix.evidence`).

PROVENANCE.md is written from the manifest entry (the command that trained the runs, the one that builds the tables,
what was reduced against the paper) and the runs' run.json (commits and whether the tree was clean, host, times,
attempts, seeds, overrides) alone, so it rebuilds offline and is the same on every machine.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from trainfix.core.records import RUN_FILE, read_metrics, read_run

MANIFEST = Path("results/manifest.yaml")
FILENAME = "PROVENANCE.md"
COMMAND = "python -m trainfix.evidence provenance"


@dataclass(frozen=True)
class Evidence:
    """One manifest entry: a committed evidence folder and how it was made."""

    path: str
    title: str
    produced: str
    build: str
    reduced: str
    notes: str | None = None


@dataclass
class RunFacts:
    """What PROVENANCE.md says of one run; `linked`: where a linked run folder points (another folder's runs)."""

    name: str
    status: str
    seed: Any
    commit: str | None
    dirty: bool | None
    start: str | None
    end: str | None
    attempts: int
    active_s: float | None
    epoch_s: tuple[float, float, float] | None  # metrics.csv's epoch_time_s (training only): median, min, max
    epochs: Any
    host: dict
    versions: dict
    overrides: list[str] | None
    linked: str | None


def load_manifest(path: Path = MANIFEST) -> list[Evidence]:
    """The manifest's entries; a missing or unknown key names the entry and the keys accepted."""
    data = yaml.safe_load(Path(path).read_text())
    if not isinstance(data, dict) or not isinstance(data.get("folders"), list):
        raise ValueError(f"{path}: expected a mapping with a list `folders:`")
    keys = {f.name for f in fields(Evidence)}
    entries = []
    for i, item in enumerate(data["folders"]):
        item = item or {}
        missing, unknown = keys - {"notes"} - set(item), set(item) - keys
        if missing or unknown:
            raise ValueError(
                f"{path}: folders[{i}] ({item.get('path', '?')}): missing {sorted(missing)}, "
                f"unknown {sorted(unknown)}; accepted keys: {sorted(keys)}"
            )
        entries.append(Evidence(**{k: (str(v).strip() if v is not None else None) for k, v in item.items()}))
    if duplicates := [p for p, n in Counter(e.path for e in entries).items() if n > 1]:
        raise ValueError(f"{path}: folders listed twice: {duplicates}")
    return entries


def _time(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = int(round(seconds / 60))
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _utc(text: str | None) -> str:
    moment = _time(text)
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


def _overrides(run_dir: Path) -> list[str] | None:
    for candidate in (run_dir / "overrides.yaml", run_dir / ".hydra" / "overrides.yaml"):
        if candidate.is_file():
            return [str(item) for item in yaml.safe_load(candidate.read_text()) or []]
    return None


def run_facts(run_dir: Path) -> RunFacts:
    """One run folder's facts from its run.json (the one reader, `core.records.read_run`); what it lacks stays empty."""
    record = read_run(run_dir) or {}
    code = record.get("code") or record.get("code_state") or {}
    attempts = record.get("attempts") or []
    spans = [(_time(a.get("start")), _time(a.get("end"))) for a in attempts]
    active = sum(((end - start).total_seconds() for start, end in spans if start and end), 0.0)
    return RunFacts(
        name=run_dir.name,
        status=str(record.get("status", "?")),
        seed=record.get("seed", (record.get("config") or {}).get("seed")),
        commit=code.get("git_commit"),
        dirty=code.get("git_dirty"),
        start=record.get("start_time"),
        end=record.get("end_time"),
        attempts=len(attempts),
        active_s=active if attempts else None,
        epoch_s=_epoch_seconds(run_dir),
        epochs=record.get("epochs_completed"),
        host=record.get("host") or {},
        versions=record.get("versions") or {},
        overrides=_overrides(run_dir),
        linked=os.readlink(run_dir) if run_dir.is_symlink() else None,
    )


def _epoch_seconds(run_dir: Path) -> tuple[float, float, float] | None:
    """Median, min and max of a run's recorded training seconds per epoch (None without any)."""
    metrics = read_metrics(run_dir)
    if "epoch_time_s" not in metrics or not metrics["epoch_time_s"].notna().any():
        return None
    seconds = metrics["epoch_time_s"].dropna()
    return float(seconds.median()), float(seconds.min()), float(seconds.max())


def _markdown(header: str, rows: Iterable[Iterable[Any]]) -> list[str]:
    """A Markdown table: `header` ("a | b | c"), then one line per row of cells."""
    width = header.count("|") + 1
    return [f"| {header} |", "|" + "---|" * width, *("| " + " | ".join(map(str, row)) + " |" for row in rows)]


def _commit_table(runs: list[RunFacts]) -> list[str]:
    by_commit: dict[str, list[RunFacts]] = defaultdict(list)
    for run in runs:
        by_commit[run.commit or "not recorded"].append(run)
    rows = []
    for commit, members in sorted(by_commit.items(), key=lambda kv: min(r.start or "" for r in kv[1])):
        trees = Counter({True: "**uncommitted changes**", False: "clean"}.get(r.dirty, "not recorded") for r in members)
        tree = ", ".join(f"{t} ({trees[t]})" for t in ("clean", "**uncommitted changes**", "not recorded") if trees[t])
        rows.append((f"`{commit}`" if commit != "not recorded" else commit, len(members), tree))
    return _markdown("commit | runs | tree", rows)


def _host_lines(runs: list[RunFacts]) -> list[str]:
    hosts = Counter(
        f"{r.host.get('device', '?')}, {r.host.get('cpu_threads', '?')} thread(s), "
        f"host `{r.host.get('hostname', '?')}`, {r.host.get('platform', '?')}"
        + (f", CPU kernels {r.host['cpu_capability']}" if "cpu_capability" in r.host else "")
        for r in runs
    )
    keys = ("python", "torch", "pytorch-lightning", "torchvision", "hydra-core", "trainfix")
    versions = Counter(", ".join(f"{k} {r.versions[k]}" for k in keys if k in r.versions) for r in runs)
    return [f"- {text}: {n} run(s)" for text, n in sorted(hosts.items())] + [
        f"- software: {text or 'not recorded'}: {n} run(s)" for text, n in sorted(versions.items())
    ]


def _run_row(r: RunFacts) -> tuple[Any, ...]:
    start, end = _time(r.start), _time(r.end)
    return (
        f"{r.name} (link: `{r.linked}`)" if r.linked else r.name,
        r.status,
        r.seed if r.seed is not None else "-",
        r.epochs if r.epochs is not None else "-",
        _utc(r.start),
        _utc(r.end),
        _duration((end - start).total_seconds() if start and end else None),
        _duration(r.active_s),
        f"{r.epoch_s[0]:.1f} ({r.epoch_s[1]:.1f}-{r.epoch_s[2]:.1f})" if r.epoch_s else "-",
        r.attempts,
        (r.commit or "-")[:10],
        {True: "uncommitted changes", False: "clean"}.get(r.dirty, "-"),
        " ".join(f"`{o}`" for o in r.overrides) if r.overrides is not None else "not recorded",
    )


def _pass_row(p: dict) -> tuple[Any, ...]:
    """One Apricot adaptation pass (runs/adapt/<pass>/result.json as recorded)."""
    test = f"{100 * p['test_acc']:.2f} %" if isinstance(p.get("test_acc"), (int, float)) else "-"
    gain = f"{100 * p['gain']:+.2f}" if isinstance(p.get("gain"), (int, float)) else "-"
    keys = ("strategy", "direction", "r", "retrain_epochs", "eval_on")
    batches = f"{p.get('batches_done', '-')} / {p.get('batches_planned', '-')}"
    return (p["name"], *(p.get(k, "-") for k in keys), batches, p.get("complete", "-"), test, gain)


RUN_HEADER = (
    "run | status | seed | epochs | start (UTC) | end (UTC) | start to end | in attempts "
    "| train s/epoch: median (range) | attempts | commit | tree | overrides"
)
PASS_HEADER = (
    "pass | strategy | direction | r | retrain epochs | eval on | batches done / planned | complete | test acc "
    "| gain (points)"
)


def _code(runs: list[RunFacts]) -> list[str]:
    dirty = {r.commit for r in runs if r.commit and r.dirty}
    tail = f"{len(dirty)} of them with uncommitted changes in the tree for some runs" if dirty else ""
    out = [
        f"{len(runs)} run(s) from {len({r.commit for r in runs if r.commit})} commit(s); "
        f"{tail or 'every run from a clean tree'}. From run.json's `code`: the commit the process that last wrote the"
        " record had imported, and whether that checkout had uncommitted changes (`git_dirty`).",
        "",
        *_commit_table(runs),
        "",
    ]
    if resumed := sum(1 for r in runs if r.attempts > 1):
        out += [
            f"{resumed} run(s) resumed (attempts > 1): run.json keeps the commit of the last attempt only; the earlier"
            " attempts may have run other code.",
            "",
        ]
    return out


def _hardware(runs: list[RunFacts]) -> list[str]:
    seeds = sorted({r.seed for r in runs if r.seed is not None}, key=lambda s: (str(type(s)), s))
    starts, ends = ([t for t in map(_time, times) if t] for times in ([r.start for r in runs], [r.end for r in runs]))
    span = f"{min(starts):%Y-%m-%d %H:%M} to {max(ends):%Y-%m-%d %H:%M} UTC" if starts and ends else "not recorded"
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(Counter(r.status for r in runs).items()))
    active = sum(r.active_s or 0.0 for r in runs if not r.linked)
    return [
        "## Hardware, times, seeds",
        "",
        *_host_lines(runs),
        f"- runs: {len(runs)} ({statuses}); seeds: {', '.join(str(s) for s in seeds) or 'not recorded'}",
        f"- first start to last end: {span}; time inside the runs' attempts, summed over runs"
        f"{' (linked runs not counted)' if any(r.linked for r in runs) else ''}: {_duration(active)}"
        " (runs overlapped where two ran side by side)",
        "",
    ]


def render(entry: Evidence, root: Path = Path(".")) -> str:
    """PROVENANCE.md's text for one evidence folder (deterministic: the same records give the same file)."""
    runs_dir = root / entry.path / "runs"
    runs = [run_facts(p.parent) for p in sorted(runs_dir.glob(f"*/{RUN_FILE}"))]
    passes = [
        {"name": p.parent.name, **json.loads(p.read_text())} for p in sorted(runs_dir.glob("adapt/*/result.json"))
    ]
    out = [
        f"# {entry.title}",
        "",
        f"Generated by `{COMMAND}` from `results/manifest.yaml` and the records in `runs/` (do not edit: edit the"
        " manifest, or the notes file).",
        "",
    ]
    if runs_dir.is_symlink():
        out += [f"`runs/` is a link to `{os.readlink(runs_dir)}`: the same runs, read differently.", ""]
    out += ["## What was reduced against the paper's protocol", "", entry.reduced, ""]
    if entry.notes:
        out += [f"Hand-written notes (results, commands, hardware as it was used): [{entry.notes}]({entry.notes}).", ""]
    out += [
        "## Commands",
        "",
        "The runs (training; resumable, checkpoints stay in the runs folder and are not committed):",
        "",
        f"    {entry.produced}",
        "",
        "The tables, figures and report.html in this folder, offline from `runs/` (`make reports` runs it for every"
        " evidence folder):",
        "",
        f"    python -m {entry.build}",
        "",
        "## Code",
        "",
        *(_code(runs) if runs else ["No run.json under runs/.", ""]),
    ]
    if passes:
        out += [
            "Apricot's adaptation passes (`runs/adapt/`) record no commit of their own; they start from the runs"
            " above.",
            "",
        ]
    if runs:
        out += [
            *_hardware(runs),
            "## Runs",
            "",
            "`start to end` includes pauses between sessions for resumed runs; `in attempts` sums each attempt's own"
            " time; `train s/epoch`: metrics.csv's `epoch_time_s` (training only, not evaluation), which also shows"
            " what ran beside the run. `overrides`: the run's Hydra overrides (`overrides.yaml`), where they were"
            " copied with the records; `not recorded` where only run.json's composed config was kept.",
            "",
            *_markdown(RUN_HEADER, map(_run_row, runs)),
            "",
        ]
    if passes:
        out += ["## Adaptation passes", "", *_markdown(PASS_HEADER, map(_pass_row, passes)), ""]
    return "\n".join(out)
