"""Arguments the commands share: the runs folder (positional or --runs), --out, --title, comma-separated lists."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml


def int_list(text: str) -> list[int]:
    """ "0,1,2" -> [0, 1, 2]."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--seeds {text!r}: expected comma-separated integers, e.g. --seeds 0,1,2,3,4"
        ) from None


def str_list(text: str) -> list[str]:
    """ "cnn1, lenet5" -> ["cnn1", "lenet5"]."""
    return [part.strip() for part in text.split(",") if part.strip()]


def add_runs_out(parser: argparse.ArgumentParser, runs_help: str, out_help: str) -> None:
    """The arguments every paper command takes: --runs (the run folders), --out (the folder written), --title,
    --note; each paper gives its own two help texts (`RUNS_HELP`, `OUT_HELP`)."""
    parser.add_argument("--runs", type=Path, required=True, help=runs_help)
    parser.add_argument("--out", type=Path, required=True, help=out_help)
    title_help = "report title (default: the folder's title in results/manifest.yaml, else the paper's tables)"
    parser.add_argument("--title", help=title_help)
    parser.add_argument("--note", help="one line first in every table's caption and under the report's title")


def report_title(args: argparse.Namespace, default: str) -> str:
    """--title, else the title results/manifest.yaml gives the --out folder when it lists it, else `default`."""
    out = Path(args.out).resolve()
    manifest = out.parent.parent / "manifest.yaml"  # results/<paper>/<folder> -> results/manifest.yaml
    folders = yaml.safe_load(manifest.read_text()).get("folders", []) if manifest.is_file() else []
    listed = [f["title"] for f in folders if (manifest.parent.parent / f["path"]).resolve() == out]
    return args.title or (listed or [default])[0]


def add_runs_folder(parser: argparse.ArgumentParser, runs_help: str) -> None:
    """The runs folder, given as the first positional argument or as --runs (`runs_folder` checks it came once)."""
    parser.add_argument("runs_positional", nargs="?", type=Path, metavar="RUNS", help=runs_help + " (or --runs RUNS)")
    parser.add_argument("--runs", type=Path, help="the same folder as RUNS")


def runs_folder(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    """`args` with `runs` set from RUNS or --runs; exits 2 (parser.error) when neither or two different ones came."""
    given = {p for p in (args.runs, args.runs_positional) if p is not None}
    if len(given) != 1:
        parser.error(f"{args.command}: give the runs folder once, as RUNS or --runs RUNS (got {len(given)})")
    args.runs = given.pop()
    return args
