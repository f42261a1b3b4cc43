"""The papers whose tables `python -m trainfix.results <paper>` builds: one module each, one line here.

A paper module declares its tables on the shared pipeline (`trainfix.results`) and holds its command: `HELP` (the
command's line in `--help`), `RUNS_HELP` and `OUT_HELP` (what its --runs and --out hold; `results/__main__.py` adds
them, --title and --note), optionally `add_arguments(parser)` for its own flags, and `build(args) -> list[Path]` (the
files written). Its published numbers and caption prose are data in `published/`. docs/results.md shows how to add
one; docs/architecture.md says why this package sits apart from `results/`.
"""

PAPERS = {  # command -> module
    "deepeutaxy": "trainfix.papers.deepeutaxy",
    "monitor": "trainfix.papers.monitor",
    "apricot": "trainfix.papers.apricot",
    "leap": "trainfix.papers.leap",
    "trimming": "trainfix.papers.trimming",
}
