"""Results: run folders -> pandas -> tables (paper / ours / diff), figures, summaries, reports.

The core that every paper's tables go through: `collect` (the one run reader), `configs` (what makes runs one
configuration), `cells` (runs -> cells), `summary` (any sweep), `report` (every file written: md / csv / tex /
PNG / HTML). It imports nothing of ours but `core` and `runs`; the papers that declare tables with it live one
layer up, in `trainfix.papers` (docs/results.md, docs/architecture.md).
"""

from trainfix.results.collect import RunCollection, RunsInputError, collect_runs

__all__ = ["RunCollection", "RunsInputError", "collect_runs"]
