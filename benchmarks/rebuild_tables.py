"""Rebuild every committed results folder that carries its own runs/ records, and compare byte by byte.

    .venv/bin/python benchmarks/rebuild_tables.py --commit 206125e --out /tmp/rebuild \
        [--src src] [--reference-src /tmp/old-tree/src] [--only leap_mnist_cpu ...]

`--commit`'s `results/` is extracted (git archive) into `<out>/tree`, so the committed tables and their
records are read as committed, whatever the working tree's results/ holds. Each folder is rebuilt from
its copied runs with the command the Makefile uses for it (FOLDERS), run from `<out>/tree` so the
`--runs` path that captions and report titles print is the committed one, by the code under `--src`
into `<out>/new/<folder>` and, with `--reference-src` (e.g. a `git worktree` of the commit), by that
code into `<out>/reference/<folder>`. Then every file is compared: new vs reference (the code change
must not change a byte), and new vs committed (what a rebuild today changes).

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
import subprocess
import sys
import tarfile
from pathlib import Path

TRIM_TITLE = "Mini-batch trimming on this CPU: Fashion-MNIST, LeNet-5 (not the paper's setting)"
# results folder -> (runs folder under results/ when not its own, the `python -m trainfix.results` arguments it was
# built with: the Makefile's, or the folder's PROVENANCE.md / README.md where it names others)
FOLDERS = {
    "apricot_lenet5_mnist_cpu_full": (None, ["apricot"]),
    "apricot_lenet5_mnist_cpu_full_adjust_only_r0.001": (None, ["apricot"]),
    "apricot_lenet5_mnist_cpu_full_adjust_only_r0.01": (None, ["apricot"]),
    "apricot_lenet5_mnist_cpu_full_adjust_only_r0.1": (None, ["apricot"]),
    "apricot_lenet5_mnist_cpu_full_validation": (None, ["apricot"]),
    "deepeutaxy_table_iv_full_lenet5_cpu_paper": (None, ["deepeutaxy", "--variant", "paper", "--rows", "lenet5"]),
    "deepeutaxy_table_iv_full_lenet5_cpu_authors_code": (
        None,
        ["deepeutaxy", "--variant", "authors_code", "--rows", "lenet5"],
    ),
    "deepeutaxy_table_iv_full_lenet5_cpu_authors_code_code_measure": (
        "deepeutaxy_table_iv_full_lenet5_cpu_authors_code",
        ["deepeutaxy", "--variant", "authors_code", "--rows", "lenet5", "--train-measure", "code"],
    ),
    "leap_mnist_cpu": (None, ["leap"]),
    "leap_mnist_cpu_full_protocol": (None, ["leap", "--rows", "mnist"]),
    "leap_mnist_cpu_loss_reading": (None, ["leap", "--rows", "mnist"]),
    "monitor_ol_mnist_cpu": (None, ["monitor", "--timing", "results/monitor_ol_mnist_cpu/timing_quick.json"]),
    "trimming_fmnist_lenet5_cpu": (None, ["trimming", "--title", TRIM_TITLE]),
}
VOLATILE = re.compile(rb"Written \d{4}-\d\d-\d\dT[0-9:+]+ by python -m trainfix\.results\.|T_[0-9a-f]{5}")
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


def build(src: Path, tree: Path, out: Path, folder: str) -> tuple[int, str]:
    """Run the folder's command with `src` first on the path; returns (exit status, stderr tail)."""
    runs_of, arguments = FOLDERS[folder]
    command = [
        sys.executable,
        "-m",
        "trainfix.results",
        arguments[0],
        "--runs",
        f"results/{runs_of or folder}/runs",
        "--out",
        str(out / folder),
        *arguments[1:],
    ]
    (out / folder).mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(src.resolve()), "MPLBACKEND": "Agg"}
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    return done.returncode, done.stderr[-2000:]


def same(a: Path, b: Path) -> bool:
    if a.name == "report.html":
        return VOLATILE.sub(b"", a.read_bytes()) == VOLATILE.sub(b"", b.read_bytes())
    return filecmp.cmp(a, b, shallow=False)


def compare(left: Path, right: Path, names: list[str] | None = None) -> list[str]:
    """The differences between two folders' built files: 'name: differs / only in ...'."""
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
    parser.add_argument("--only", nargs="*", choices=sorted(FOLDERS), help="these folders only")
    args = parser.parse_args(argv)
    tree = args.out / "tree"
    if not (tree / "results").is_dir():
        extract(args.commit, args.repo, tree)
    failed = False
    for folder in args.only or list(FOLDERS):
        builds = {"new": args.src} | ({"reference": args.reference_src} if args.reference_src else {})
        for name, src in builds.items():
            if name == "reference" and args.keep_reference and (args.out / name / folder).is_dir():
                continue
            status, stderr = build(src, tree, args.out / name, folder)
            if status != 0:
                print(f"{folder}: {name} build exited {status}:\n{stderr}")
                failed = True
        if args.reference_src:
            diffs = compare(args.out / "new" / folder, args.out / "reference" / folder)
            failed |= bool(diffs)
            print(f"{folder}: new vs reference: {'identical' if not diffs else '; '.join(diffs)}")
        diffs = compare(args.out / "new" / folder, tree / "results" / folder)
        print(f"{folder}: new vs committed: {'identical' if not diffs else '; '.join(diffs)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
