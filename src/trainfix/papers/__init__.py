"""The papers whose tables `python -m trainfix.results <paper>` builds: one module each, one line here.

A paper module declares its tables and holds its command: `HELP` (the command's line in `--help`), `RUNS_HELP`
and `OUT_HELP` (what its --runs and --out hold; `__main__` adds them, --title and --note), optionally
`add_arguments(parser)` for its own flags, and `build(args) -> list[Path]` (the files written). docs/results.md
shows how to add one.
"""

PAPERS = {  # command -> module
    "deepeutaxy": "trainfix.papers.deepeutaxy",
    "monitor": "trainfix.papers.monitor",
    "apricot": "trainfix.papers.apricot",
    "leap": "trainfix.papers.leap",
    "trimming": "trainfix.papers.trimming",
}
