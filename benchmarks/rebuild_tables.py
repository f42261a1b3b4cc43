"""Rebuild every committed results folder that carries its own runs/ records, and compare byte by byte.

    .venv/bin/python benchmarks/rebuild_tables.py --commit 206125e --out /tmp/rebuild \
        [--src src] [--reference-src /tmp/old-tree/src] [--only leap/table_1_mnist_cpu ...]

`--commit`'s `results/` is extracted (git archive) into `<out>/tree`, so the committed tables and their
records are read as committed, whatever the working tree's results/ holds. Each folder of the commit's
`results/manifest.yaml` is rebuilt from its copied runs with the entry's `build` command (the one place
that says how), run from `<out>/tree` so the `--runs` path that captions and report titles print is the
committed one, by the code under `--src` into `<out>/new/<folder>` and, with `--reference-src` (e.g. a
`git worktree` of the commit, or `git archive <commit> src conf`: the DeepEutaxy protocol check composes the
`conf/` beside `src/`), by that code into `<out>/reference/<folder>`. Then every file is compared: new vs
reference (the code change must not change a byte), and new vs committed (what a rebuild today changes; a
report.html the folder does not commit is no difference).

report.html is compared without what differs on every build: its "Written <UTC time> by python -m
trainfix.results." line and the random ids pandas' Styler gives each table (`T_<5 hex>`). Exit
status 1 when new and reference differ.
"""

from __future__ import annotations

import argparse
import filecmp
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import yaml

MANIFEST = "results/manifest.yaml"  # one entry per evidence folder: its path and the `build` command (see the file)
VOLATILE = re.compile(rb"[Ww]ritten \d{4}-\d\d-\d\dT[0-9:+]+( by python -m trainfix\.results)?\.|T_[0-9a-f]{5}")
BUILT = (".md", ".csv", ".tex", ".png", ".html")
HAND_WRITTEN = {"README.md", "PROVENANCE.md"}  # committed beside the tables, not built by them


def extract(commit: str, repo: Path, tree: Path) -> None:
    """`results/` of `commit` into `tree/results` (symbolic links kept: variant folders link their runs)."""
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", commit, "results"], check=True, capture_output=True
    ).stdout
    tree.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tree, filter="tar")


def load_folders(tree: Path) -> dict[str, list[str]]:
    """Evidence folder (path under results/, e.g. "leap/table_1_mnist_cpu") -> its manifest `build` arguments."""
    data = yaml.safe_load((tree / MANIFEST).read_text())
    folders = {}
    for item in data["folders"]:
        path = str(item["path"]).removeprefix("results/")
        folders[path] = shlex.split(str(item["build"]))
    return folders


def build(src: Path, tree: Path, out: Path, folder: str, arguments: list[str]) -> tuple[int, str]:
    """Run the folder's manifest `build` (`--out` moved under `out`) with `src` first on the path; returns (exit
    status, stderr tail)."""
    command = list(arguments)
    where = command.index("--out") + 1
    committed = f"results/{folder}"
    if not command[where].startswith(committed):
        raise ValueError(f"{folder}: the manifest's --out {command[where]} is not under {committed}")
    command[where] = str(out / folder) + command[where][len(committed) :]
    (out / folder).mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(src.resolve()), "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-m", *command], cwd=tree, env=env, capture_output=True, text=True)
    return done.returncode, done.stderr[-2000:]


def same(a: Path, b: Path) -> bool:
    if a.name == "report.html":
        return VOLATILE.sub(b"", a.read_bytes()) == VOLATILE.sub(b"", b.read_bytes())
    return filecmp.cmp(a, b, shallow=False)


def compare(left: Path, right: Path, committed: bool = False) -> list[str]:
    """The differences between two folders' built files: 'name: differs / only in ...'. Against the `committed`
    folder, a report.html it lacks is no difference (reports are rebuilt, not committed)."""
    names_left = (
        {p.name for p in left.iterdir() if p.suffix in BUILT and p.name not in HAND_WRITTEN} if left.is_dir() else set()
    )
    names_right = (
        {p.name for p in right.iterdir() if p.suffix in BUILT and p.name not in HAND_WRITTEN}
        if right.is_dir()
        else set()
    )
    out = []
    for name in sorted(names_left | names_right):
        if name not in names_right:
            if not (committed and name == "report.html"):
                out.append(f"{name}: only in {left}")
        elif name not in names_left:
            out.append(f"{name}: only in {right}")
        elif not same(left / name, right / name):
            out.append(f"{name}: differs")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commit", default="HEAD", help="commit whose results/ is rebuilt (default HEAD)")
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument(
        "--src", type=Path, default=Path(__file__).resolve().parents[1] / "src", help="the code to test"
    )
    parser.add_argument(
        "--reference-src", type=Path, help="the code to compare with, e.g. a worktree of --commit's src/"
    )
    parser.add_argument("--out", type=Path, required=True, help="scratch folder (tree/, new/, reference/)")
    parser.add_argument("--keep-reference", action="store_true", help="reuse <out>/reference/<folder> when it exists")
    parser.add_argument(
        "--only", nargs="*", help="these folders only (paths under results/, e.g. leap/table_1_mnist_cpu)"
    )
    args = parser.parse_args(argv)
    tree = args.out / "tree"
    rev_parse = ["git", "-C", str(args.repo), "rev-parse", f"{args.commit}^{{commit}}"]
    sha = subprocess.run(rev_parse, check=True, capture_output=True, text=True).stdout.strip()
    stamp = tree / "COMMIT"  # which commit tree/ holds: a tree of another commit is extracted again, never reused
    if not (stamp.is_file() and stamp.read_text().strip() == sha):
        shutil.rmtree(tree, ignore_errors=True)
        extract(sha, args.repo, tree)
        stamp.write_text(sha + "\n")
    folders = load_folders(tree)
    if unknown := set(args.only or ()) - set(folders):
        parser.error(f"--only {sorted(unknown)}: not in {MANIFEST}; listed: {sorted(folders)}")
    failed = False
    for folder in args.only or list(folders):
        builds = {"new": args.src} | ({"reference": args.reference_src} if args.reference_src else {})
        for name, src in builds.items():
            if name == "reference" and args.keep_reference and (args.out / name / folder).is_dir():
                continue
            status, stderr = build(src, tree, args.out / name, folder, folders[folder])
            if status != 0:
                print(f"{folder}: {name} build exited {status}:\n{stderr}")
                failed = True
        if args.reference_src:
            diffs = compare(args.out / "new" / folder, args.out / "reference" / folder)
            failed |= bool(diffs)
            print(f"{folder}: new vs reference: {'identical' if not diffs else '; '.join(diffs)}")
        diffs = compare(args.out / "new" / folder, tree / "results" / folder, committed=True)
        print(f"{folder}: new vs committed: {'identical' if not diffs else '; '.join(diffs)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
