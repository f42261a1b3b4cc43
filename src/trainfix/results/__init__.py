"""Results: run folders -> pandas -> the papers' tables (paper / ours / diff), figures, summaries, reports.

The core: `collect` (the one run reader), `configs` (what makes runs one configuration), `cells` (runs ->
cells), `summary` (any sweep), `report` (every file written: md / csv / tex / PNG / HTML), `paper` (the
published numbers and caption prose, as data); each paper's tables in `papers/<paper>.py` (docs/results.md).
"""

from trainfix.results.collect import RunCollection, RunsInputError, collect_runs

__all__ = ["RunCollection", "RunsInputError", "collect_runs"]
