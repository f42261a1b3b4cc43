"""The committed evidence: PROVENANCE.md of the folders of results/manifest.yaml, and the findings table.

    python -m trainfix.evidence provenance [FOLDER ...]          # PROVENANCE.md in every (or each named) folder
    python -m trainfix.evidence provenance --build [FOLDER ...]  # first rebuild tables, figures, report.html
    python -m trainfix.evidence findings [--write docs/findings.md] [--readme README.md]  # print; refresh the pages
    python -m trainfix.evidence copy RUNS DEST [--glob G] [--files F ...] [--apricot-passes] [--finished-only]

`provenance` exits 1 when a folder has no runs/ or (--build, `make reports`) its manifest `build` fails; `findings`
exits 2 when an evidence file it reads is missing or --write's file has no findings markers; `copy` exits 2 when
RUNS does not exist (`copying`).
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

from trainfix.core.records import atomic_write_text
from trainfix.evidence import copying, findings, provenance


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m trainfix.evidence", description=__doc__.split("\n\n")[0])
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    folders = commands.add_parser("provenance", help="write PROVENANCE.md of the manifest's evidence folders")
    folders.add_argument("folders", nargs="*", help="evidence folders of the manifest (default: all)")
    folders.add_argument("--manifest", type=Path, default=provenance.MANIFEST, help=f"default {provenance.MANIFEST}")
    folders.add_argument("--build", action="store_true", help="first rebuild tables, figures, report.html")
    folders.set_defaults(parser=folders)
    table = commands.add_parser("findings", help="each paper's headline claims against the committed evidence")
    table.add_argument("--write", type=Path, help="replace the table between this Markdown file's findings markers")
    table.add_argument("--readme", type=Path, help="replace README's shorter view between its findings markers")
    copy = commands.add_parser("copy", help="copy runs' records (not checkpoints) into an evidence folder's runs/")
    copy.add_argument("source", type=Path, help="the folder a sweep wrote its run folders into")
    copy.add_argument("dest", type=Path, help="the evidence folder's runs/")
    copy.add_argument("--glob", default="*", help="the run folders to copy, as a pattern of their names (default *)")
    copy.add_argument("--files", nargs="*", default=[], help="records to copy besides run.json and metrics.csv")
    passes_help = "also the finished Apricot passes RUNS/adapt/<glob> (result, config, reduced, history gzipped)"
    copy.add_argument("--apricot-passes", action="store_true", help=passes_help)
    copy.add_argument(
        "--finished-only",
        action="store_true",
        help="leave out runs that have not finished (default: copy them too; their tables label them)",
    )
    return top


def provenance_command(args: argparse.Namespace) -> int:
    root = args.manifest.resolve().parent.parent
    entries = provenance.load_manifest(args.manifest)
    if args.folders:
        wanted = {str(Path(f)).rstrip("/") for f in args.folders}
        if unknown := wanted - {e.path for e in entries}:
            args.parser.error(f"not in {args.manifest}: {sorted(unknown)}; listed: {[e.path for e in entries]}")
        entries = [e for e in entries if e.path in wanted]
    failed = []
    for entry in entries:
        if not (root / entry.path / "runs").is_dir():
            failed.append(f"{entry.path}: no runs/ folder")
            continue
        if args.build:  # the manifest's `build`: tables, figures, report.html
            print(f"+ python -m {entry.build}", flush=True)
            try:
                subprocess.run([sys.executable, "-m", *shlex.split(entry.build)], cwd=root, check=True)
            except subprocess.CalledProcessError as exc:
                failed.append(f"{entry.path}: the build exited {exc.returncode}")
        target = Path(entry.path) / provenance.FILENAME
        atomic_write_text(root / target, provenance.render(entry, root))  # temp file + rename
        print(f"wrote {target}", flush=True)
    for line in failed:
        print(f"error: {line}", file=sys.stderr)
    return 1 if failed else 0


def findings_command(args: argparse.Namespace) -> int:
    try:
        rows = findings.measured()  # once for both pages
        text = findings.table(rows)
        print(text)
        if args.write:
            findings.write_between_markers(args.write, text)
            print(f"wrote:\n  {args.write}", file=sys.stderr)
        if args.readme:
            findings.write_between_markers(args.readme, findings.readme_table(rows), findings.README_BEGIN)
            print(f"wrote:\n  {args.readme}", file=sys.stderr)
    except (ValueError, FileNotFoundError) as exc:  # a missing evidence file, a page without the markers
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def copy_command(args: argparse.Namespace) -> int:
    try:
        done = copying.copy_records(
            args.source, args.dest, glob=args.glob, files=tuple(args.files), finished_only=args.finished_only
        )
        passes = copying.copy_passes(args.source, args.dest, glob=args.glob) if args.apricot_passes else None
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    kept = f", kept {len(done.kept)} finished record(s)" if done.kept else ""
    left = f", left out {len(done.unfinished)} unfinished: {', '.join(done.unfinished)}" if done.unfinished else ""
    print(
        f"copied the records of {len(done.copied)} run(s) from {args.source} to {args.dest}{kept}{left}",
        file=sys.stderr,
    )
    if passes is not None:
        print(f"copied the records of {len(passes.copied)} Apricot pass(es) into {args.dest}/adapt", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    commands = {"provenance": provenance_command, "findings": findings_command, "copy": copy_command}
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
