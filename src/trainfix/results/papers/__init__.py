"""The papers whose tables `python -m trainfix.results <paper>` builds: one module each, one line here.

A paper module declares its tables and holds its command: `HELP` (the command's line in `--help`), `RUNS_HELP`
and `OUT_HELP` (what its --runs and --out hold; `__main__` adds them, --title and --note), optionally
`add_arguments(parser)` for its own flags, and `build(args) -> list[Path]` (the files written). docs/results.md
shows how to add one.
"""

PAPERS = {  # command -> module
    "deepeutaxy": "trainfix.results.papers.deepeutaxy",
    "monitor": "trainfix.results.papers.monitor",
    "apricot": "trainfix.results.papers.apricot",
    "leap": "trainfix.results.papers.leap",
    "trimming": "trainfix.results.papers.trimming",
}
