"""Copy runs' records into an evidence folder's runs/, so a committed folder rebuilds its tables by itself.

    python -m trainfix.evidence copy ../evidence-runs/leap_mnist_authors_recipe results/leap/<folder>/runs \\
        --files convergence.json leap_embedding.csv

Per run folder of the source (one holding run.json and metrics.csv, i.e. with an epoch recorded; `--glob` narrows
them): run.json, metrics.csv, the `--files` named, and the Hydra overrides (`.hydra/overrides.yaml` as
`overrides.yaml`); never checkpoints. A run the destination holds under another folder name (the same label and a
compatible identity, as training finds a run's folder: a rerun of a committed row named by today's identity hash)
is copied into that folder, so its seed is recorded once. Unfinished runs are copied too (their tables label
them; `--finished-only` leaves them out, e.g. while a sweep still trains beside the copy); a run that failed
before its first epoch has nothing to copy. Nothing finished is lost: a finished record
in the destination is kept when the source's record of that run is not finished (a restarted or rerun run under
the same name). A copied file that the source's run no longer has (a `--files` output its rerun did not write) is
removed from the destination, so a run folder holds one record's files only. A linked run folder (a second
reading of another folder's runs) is left out: the destination links it itself; and a destination entry that is
a link is never written through (it reads another evidence folder's record, which stays as that folder committed
it).

With `--apricot-passes`, also every finished Apricot pass `RUNS/adapt/<glob>/` (result.json written): its
result.json, config.json, reduced.json and history.csv, gzipped as history.csv.gz, into `DEST/adapt/<pass>/`. A
pass the destination holds under another folder name (the same settings, its input runs named by label: the folder
hash covers the input runs' folder names, which a rerun on a fresh clone names by today's hashes) is copied into that
folder, as runs are.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from trainfix.core.records import FINISHED, METRICS_FILE, RUN_FILE, atomic_write_bytes
from trainfix.runs.identity import overridden_keys, recorded_folder

OVERRIDES = Path(".hydra") / "overrides.yaml"
ADAPT = "adapt"  # an Apricot runs folder's passes (`trainfix.procedures.apricot`)
PASS_FILES = ("result.json", "config.json", "reduced.json")
HISTORY = "history.csv"
HASH_SUFFIX = re.compile(r"-[0-9a-f]{8}$")


@dataclass
class Copied:
    """What `copy_records` did: the destination's run folders written, those kept because only the destination's
    finished, the stale files removed (`<run>/<file>`) and the source's unfinished runs left out (`finished_only`)."""

    copied: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)


def _finished(run_dir: Path) -> bool:
    try:
        return json.loads((run_dir / RUN_FILE).read_text()).get("status") == FINISHED
    except (OSError, ValueError, AttributeError):  # missing, half-written or not an object: not finished
        return False


def copy_records(
    source: Path, dest: Path, *, glob: str = "*", files: tuple[str, ...] = (), finished_only: bool = False
) -> Copied:
    """Copy the records of every run folder `source/<glob>` into `dest/<run name>/` (see the module docstring);
    `finished_only`: only the runs whose record says finished."""
    source, dest = Path(source), Path(dest)
    if not source.is_dir():
        raise FileNotFoundError(f"runs folder {source} does not exist; expected the folder a sweep wrote its runs into")
    done = Copied()
    for run in sorted(p for p in source.glob(glob) if p.is_dir() and not p.is_symlink()):
        if not (run / RUN_FILE).is_file() or not (run / METRICS_FILE).is_file():
            continue  # not a run, or one that has not recorded its first epoch yet
        if finished_only and not _finished(run):
            done.unfinished.append(run.name)
            continue
        target = dest / _destination(dest, run, taken={*done.copied, *done.kept})
        if target.name != run.name:
            print(f"copying {run.name} into {target}: the same run, recorded there under that name", file=sys.stderr)
        if target.is_symlink():
            print(
                f"kept {target}: a link to another folder's record ({os.readlink(target)}), not written through",
                file=sys.stderr,
            )
            done.kept.append(target.name)
            continue
        if _finished(target) and not _finished(run):
            print(f"kept {target}: finished there, not (yet) in {run}", file=sys.stderr)
            done.kept.append(target.name)
            continue
        target.mkdir(parents=True, exist_ok=True)
        pairs = [(run / name, target / name) for name in (RUN_FILE, METRICS_FILE, *files)]
        for origin, copy in [*pairs, (run / OVERRIDES, target / OVERRIDES.name)]:
            _copy_or_remove(origin, copy, done)
        done.copied.append(target.name)
    return done


def _copy_or_remove(origin: Path, copy: Path, done: Copied) -> None:
    """Copy `origin` to `copy`; when the source record no longer has it, remove the copy an earlier record left."""
    if origin.is_file():
        shutil.copyfile(origin, copy)
    elif copy.is_file():  # left by an earlier record of this run or pass: not this record's
        copy.unlink()
        done.removed.append(f"{copy.parent.name}/{copy.name}")
        print(f"removed {copy}: {origin.parent} no longer has {origin.name}", file=sys.stderr)


def _destination(dest: Path, run: Path, taken: set[str]) -> str:
    """`run`'s folder name, or the destination folder that holds the same run under another name (its label and a
    compatible identity: `runs.identity.recorded_folder`, as training finds a run's folder; e.g. a rerun of a
    committed evidence row on a fresh clone, named by today's identity hash), so its record replaces that one
    instead of counting a seed twice. A folder this copy already wrote stays another run's."""
    if (dest / run.name).exists() or (dest / run.name).is_symlink():
        return run.name
    try:
        config = json.loads((run / RUN_FILE).read_text()).get("config") or {}
    except (OSError, ValueError, AttributeError):
        return run.name
    label = str(config.get("run_name") or run.name.rsplit("-", 1)[0])
    # as training does: a key the run's command line set (its Hydra overrides) is not one a record lacks by age
    overrides = run / OVERRIDES
    lines = overrides.read_text().splitlines() if overrides.is_file() else []
    overridden = overridden_keys(line[2:] for line in lines if line.startswith("- "))
    found = recorded_folder(dest, label, config, overridden) if config else None
    return found if found and found not in taken and not (dest / found).is_symlink() else run.name


def copy_passes(source: Path, dest: Path, *, glob: str = "*") -> Copied:
    """Copy the records of every finished Apricot pass `source/adapt/<glob>` into `dest/adapt/` (module docstring)."""
    source, dest = Path(source) / ADAPT, Path(dest) / ADAPT
    done = Copied()
    for one in sorted(p for p in source.glob(glob) if p.is_dir() and not p.is_symlink()) if source.is_dir() else []:
        if not (one / "result.json").is_file():
            continue  # not started, or stopped before its result
        target = dest / _pass_destination(dest, one, taken=set(done.copied))
        if target.name != one.name:
            print(f"copying {one.name} into {target}: the same pass, recorded there under that name", file=sys.stderr)
        if target.is_symlink():
            print(f"kept {target}: a link to another folder's record, not written through", file=sys.stderr)
            done.kept.append(target.name)
            continue
        target.mkdir(parents=True, exist_ok=True)
        for name in PASS_FILES:
            _copy_or_remove(one / name, target / name, done)
        (target / HISTORY).unlink(missing_ok=True)  # kept gzipped: history.csv.gz
        if (one / HISTORY).is_file():
            packed = gzip.compress(
                (one / HISTORY).read_bytes(), compresslevel=9, mtime=0
            )  # no name or time: same bytes
            atomic_write_bytes(target / f"{HISTORY}.gz", packed)
        elif (target / f"{HISTORY}.gz").is_file():
            (target / f"{HISTORY}.gz").unlink()
            done.removed.append(f"{target.name}/{HISTORY}.gz")
        done.copied.append(target.name)
    return done


def pass_identity(folder: Path) -> dict | None:
    """A pass's identity (its config.json `identity`) with its input runs named by label (`<label>-<hash>` without
    the hash), or None when it has no readable config.json."""
    try:
        identity = dict(json.loads((folder / "config.json").read_text())["identity"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    identity["input_run"] = HASH_SUFFIX.sub("", str(identity.get("input_run")))
    identity["reduced_runs"] = [HASH_SUFFIX.sub("", str(name)) for name in identity.get("reduced_runs") or []]
    return identity


def _pass_destination(dest: Path, one: Path, taken: set[str]) -> str:
    """`one`'s folder name, or the destination pass of the same label (`<row>_seed<k>_<strategy>`) and identity
    (`pass_identity`) under another hash; a folder this copy already wrote stays another pass's."""
    if (dest / one.name).exists() or (dest / one.name).is_symlink() or (identity := pass_identity(one)) is None:
        return one.name
    label = HASH_SUFFIX.sub("", one.name)
    same = [
        p.name
        for p in sorted(dest.glob(f"{label}-*"))
        if HASH_SUFFIX.sub("", p.name) == label
        and p.name not in taken
        and not p.is_symlink()
        and pass_identity(p) == identity
    ]
    return same[0] if same else one.name
