"""PROVENANCE.md for the committed evidence folders, and `make reports`.

Each folder listed in `results/manifest.yaml` (`results/<paper>/<table or study>/`) holds its tables, figures and
`runs/<run>/` (run.json, metrics.csv, overrides.yaml, the technique's records). This module writes the folder's
PROVENANCE.md from the manifest entry (the command that trained the runs, the command that builds the tables, what
was reduced against the paper) and from the runs' own run.json: the code commit(s) and whether the tree was clean,
host, start and end times, attempts, seeds and overrides. Nothing else is read, so the file rebuilds offline from
the committed records and is the same on every machine.

    python -m trainfix.results.provenance                      # PROVENANCE.md in every folder of the manifest
    python -m trainfix.results.provenance --build [FOLDER ...] # first rebuild tables, figures, report.html

`--build` runs each entry's `build` (`python -m trainfix.results ...`, read from the manifest: one place).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

MANIFEST = Path("results/manifest.yaml")
FILENAME = "PROVENANCE.md"


@dataclass(frozen=True)
class Evidence:
    """One manifest entry: a committed evidence folder and how it was made."""

    path: str
    title: str
    produced: str
    build: str
    reduced: str
    notes: str | None = None

    def build_argv(self, python: str = sys.executable) -> list[str]:
        return [python, "-m", *shlex.split(self.build)]


@dataclass
class RunFacts:
    """What PROVENANCE.md says about one run, read from its run.json (and overrides.yaml)."""

    name: str
    status: str = "?"
    seed: Any = None
    commit: str | None = None
    dirty: bool | None = None
    start: str | None = None
    end: str | None = None
    attempts: int = 0
    active_s: float | None = None
    epochs: Any = None
    host: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    overrides: list[str] | None = None
    linked: str | None = None  # where a symlinked run folder points (shared with another evidence folder)


def load_manifest(path: Path = MANIFEST) -> list[Evidence]:
    """The manifest's entries; a missing key names the entry and the keys accepted."""
    data = yaml.safe_load(Path(path).read_text())
    if not isinstance(data, dict) or not isinstance(data.get("folders"), list):
        raise ValueError(f"{path}: expected a mapping with a list `folders:`")
    keys = {"path", "title", "produced", "build", "reduced", "notes"}
    entries = []
    for i, item in enumerate(data["folders"]):
        missing = {"path", "title", "produced", "build", "reduced"} - set(item or {})
        unknown = set(item or {}) - keys
        if missing or unknown:
            raise ValueError(
                f"{path}: folders[{i}] ({(item or {}).get('path', '?')}): missing {sorted(missing)}, "
                f"unknown {sorted(unknown)}; accepted keys: {sorted(keys)}"
            )
        entries.append(Evidence(**{k: (str(v).strip() if v is not None else None) for k, v in item.items()}))
    paths = Counter(e.path for e in entries)
    if duplicates := [p for p, n in paths.items() if n > 1]:
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
            items = yaml.safe_load(candidate.read_text()) or []
            return [str(item) for item in items]
    return None


def read_run(run_dir: Path) -> RunFacts:
    """One run folder's facts from run.json; fields the record lacks stay empty."""
    record = json.loads((run_dir / "run.json").read_text())
    code = record.get("code") or record.get("code_state") or {}
    attempts = record.get("attempts") or []
    active = 0.0
    for attempt in attempts:
        start, end = _time(attempt.get("start")), _time(attempt.get("end"))
        if start and end:
            active += (end - start).total_seconds()
    config = record.get("config") or {}
    return RunFacts(
        name=run_dir.name,
        status=str(record.get("status", "?")),
        seed=record.get("seed", config.get("seed")),
        commit=code.get("git_commit"),
        dirty=code.get("git_dirty"),
        start=record.get("start_time"),
        end=record.get("end_time"),
        attempts=len(attempts),
        active_s=active if attempts else None,
        epochs=record.get("epochs_completed"),
        host=record.get("host") or {},
        versions=record.get("versions") or {},
        overrides=_overrides(run_dir),
        linked=os.readlink(run_dir) if run_dir.is_symlink() else None,
    )


def collect(runs_dir: Path) -> tuple[list[RunFacts], list[dict]]:
    """The runs under runs_dir (any depth but adapt/) and Apricot's adaptation passes (runs/adapt/*/result.json)."""
    runs = [read_run(p.parent) for p in sorted(runs_dir.glob("*/run.json"))]
    passes = []
    for result in sorted(runs_dir.glob("adapt/*/result.json")):
        data = json.loads(result.read_text())
        settings = {}
        if (result.parent / "config.json").is_file():
            settings = json.loads((result.parent / "config.json").read_text()).get("settings", {})
        passes.append({"name": result.parent.name, **data, "_settings": settings})
    return runs, passes


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
        dirty = sum(1 for r in members if r.dirty is True)
        clean = sum(1 for r in members if r.dirty is False)
        unknown = len(members) - dirty - clean
        parts = (
            ([f"clean ({clean})"] if clean else [])
            + ([f"**uncommitted changes** ({dirty})"] if dirty else [])
            + ([f"not recorded ({unknown})"] if unknown else [])
        )
        rows.append((f"`{commit}`" if commit != "not recorded" else commit, len(members), ", ".join(parts)))
    return _markdown("commit | runs | tree", rows)


def _host_lines(runs: list[RunFacts]) -> list[str]:
    hosts = Counter(
        f"{r.host.get('device', '?')}, {r.host.get('cpu_threads', '?')} thread(s), "
        f"host `{r.host.get('hostname', '?')}`, "
        f"{r.host.get('platform', '?')}"
        for r in runs
    )
    lines = [f"- {text}: {n} run(s)" for text, n in sorted(hosts.items())]
    keys = ("python", "torch", "pytorch-lightning", "torchvision", "hydra-core", "trainfix")
    versions = Counter(", ".join(f"{k} {r.versions[k]}" for k in keys if k in r.versions) for r in runs)
    lines += [f"- software: {text or 'not recorded'}: {n} run(s)" for text, n in sorted(versions.items())]
    return lines


def _run_row(r: RunFacts) -> tuple[Any, ...]:
    start, end = _time(r.start), _time(r.end)
    span = (end - start).total_seconds() if start and end else None
    return (
        f"{r.name} (link: `{r.linked}`)" if r.linked else r.name,
        r.status,
        r.seed if r.seed is not None else "-",
        r.epochs if r.epochs is not None else "-",
        _utc(r.start),
        _utc(r.end),
        _duration(span),
        _duration(r.active_s),
        r.attempts,
        (r.commit or "-")[:10],
        {True: "uncommitted changes", False: "clean"}.get(r.dirty, "-"),
        " ".join(f"`{o}`" for o in r.overrides) if r.overrides is not None else "not recorded",
    )


def _pass_row(p: dict) -> tuple[Any, ...]:
    """One Apricot adaptation pass (its result.json as recorded)."""
    test = f"{100 * p['test_acc']:.2f} %" if isinstance(p.get("test_acc"), (int, float)) else "-"
    gain = f"{100 * p['gain']:+.2f}" if isinstance(p.get("gain"), (int, float)) else "-"
    keys = ("strategy", "direction", "r", "retrain_epochs", "eval_on")
    batches = f"{p.get('batches_done', '-')} / {p.get('batches_planned', '-')}"
    return (p["name"], *(p.get(k, "-") for k in keys), batches, p.get("complete", "-"), test, gain)


RUN_HEADER = (
    "run | status | seed | epochs | start (UTC) | end (UTC) | start to end | in attempts | attempts | commit | tree "
    "| overrides"
)
PASS_HEADER = (
    "pass | strategy | direction | r | retrain epochs | eval on | batches done / planned | complete | test acc "
    "| gain (points)"
)


def render(entry: Evidence, root: Path = Path(".")) -> str:
    """PROVENANCE.md's text for one evidence folder (deterministic: the same records give the same file)."""
    folder = root / entry.path
    runs_dir = folder / "runs"
    runs, passes = collect(runs_dir)
    seeds = sorted({r.seed for r in runs if r.seed is not None}, key=lambda s: (str(type(s)), s))
    commits = {r.commit for r in runs if r.commit}
    dirty_commits = {r.commit for r in runs if r.commit and r.dirty}
    starts = [t for t in (_time(r.start) for r in runs) if t]
    ends = [t for t in (_time(r.end) for r in runs) if t]
    active = sum(r.active_s or 0.0 for r in runs if not r.linked)
    statuses = Counter(r.status for r in runs)
    out = [
        f"# {entry.title}",
        "",
        "Generated by `python -m trainfix.results.provenance` from `results/manifest.yaml` and the records in"
        " `runs/`"
        " (do not edit: edit the manifest, or the notes file).",
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
    ]
    out += ["## Code", ""]
    if runs:
        tail = (
            f"{len(dirty_commits)} of them with uncommitted changes in the tree for some runs"
            if dirty_commits
            else "every run from a clean tree"
        )
        resumed = sum(1 for r in runs if r.attempts > 1)
        out += [
            f"{len(runs)} run(s) from {len(commits)} commit(s); {tail}. From run.json's `code`: the commit the"
            " process that last wrote the record had imported, and whether that checkout had uncommitted changes"
            " (`git_dirty`).",
            "",
            *_commit_table(runs),
            "",
        ]
        if resumed:
            out += [
                f"{resumed} run(s) resumed (attempts > 1): run.json keeps the commit of the last attempt only;"
                " the earlier attempts may have run other code.",
                "",
            ]
    else:
        out += ["No run.json under runs/.", ""]
    if passes:
        out += [
            "Apricot's adaptation passes (`runs/adapt/`) record no commit of their own; they start from the runs"
            " above.",
            "",
        ]
    if runs:
        span = f"{min(starts):%Y-%m-%d %H:%M} to {max(ends):%Y-%m-%d %H:%M} UTC" if starts and ends else "not recorded"
        out += [
            "## Hardware, times, seeds",
            "",
            *_host_lines(runs),
            f"- runs: {len(runs)} ({', '.join(f'{n} {s}' for s, n in sorted(statuses.items()))}); seeds: "
            f"{', '.join(str(s) for s in seeds) or 'not recorded'}",
            f"- first start to last end: {span}; time inside the runs' attempts, summed over runs"
            f"{' (linked runs not counted)' if any(r.linked for r in runs) else ''}: {_duration(active)}"
            " (runs overlapped where two ran side by side)",
            "",
        ]
        out += [
            "## Runs",
            "",
            "`start to end` includes pauses between sessions for resumed runs; `in attempts` sums each attempt's"
            " own time. `overrides`: the run's Hydra overrides (`overrides.yaml`), where they were copied with the"
            " records; `not recorded` where only run.json's composed config was kept.",
            "",
            *_markdown(RUN_HEADER, map(_run_row, runs)),
            "",
        ]
    if passes:
        out += ["## Adaptation passes", "", *_markdown(PASS_HEADER, map(_pass_row, passes)), ""]
    return "\n".join(out)


def write(entry: Evidence, root: Path = Path(".")) -> Path:
    """Write PROVENANCE.md into the folder (atomically: temp file + rename)."""
    target = root / entry.path / FILENAME
    text = render(entry, root)
    tmp = target.with_name(f".{FILENAME}.tmp")
    tmp.write_text(text)
    tmp.replace(target)
    return target


def build(entry: Evidence, root: Path = Path("."), python: str = sys.executable) -> None:
    """Rebuild the folder's tables, figures and report.html with the results CLI named by the manifest."""
    argv = entry.build_argv(python)
    print(f"+ python -m {entry.build}", flush=True)
    subprocess.run(argv, cwd=root, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainfix.results.provenance", description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="*", help="evidence folders of the manifest (default: all)")
    parser.add_argument("--manifest", type=Path, default=MANIFEST, help=f"default {MANIFEST}")
    parser.add_argument(
        "--build", action="store_true", help="first rebuild tables, figures and report.html (make reports)"
    )
    args = parser.parse_args(argv)
    root = args.manifest.resolve().parent.parent
    entries = load_manifest(args.manifest)
    if args.folders:
        wanted = {str(Path(f)).rstrip("/") for f in args.folders}
        unknown = wanted - {e.path for e in entries}
        if unknown:
            parser.error(f"not in {args.manifest}: {sorted(unknown)}; listed: {[e.path for e in entries]}")
        entries = [e for e in entries if e.path in wanted]
    failed = []
    for entry in entries:
        if not (root / entry.path / "runs").is_dir():
            failed.append(f"{entry.path}: no runs/ folder")
            continue
        if args.build:
            try:
                build(entry, root)
            except subprocess.CalledProcessError as error:
                failed.append(f"{entry.path}: the build exited {error.returncode}")
        print(f"wrote {write(entry, root).relative_to(root)}", flush=True)
    for line in failed:
        print(f"error: {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
