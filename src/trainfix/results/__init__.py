"""Results: read run folders into pandas, build the papers' tables (paper / ours / diff), figures and reports.

    python -m trainfix.results deepeutaxy --runs multirun/deepeutaxy_table_iv --out results/deepeutaxy_table_iv

The core: `collect` (run folders -> frames: the one reader), `configs` (what makes runs one
configuration), `cells` (runs -> cells -> mean, std, n, statuses; paper | ours | diff), `render`
(Markdown / CSV / LaTeX / PNG, written atomically), `report` (one HTML file), `summary` (any sweep),
`paper` (the published numbers and caption prose, as data). Each paper declares its tables in
`papers/<paper>.py`, listed in `papers.PAPERS`; what only one technique computes from its records lives with
the technique (docs/results.md). docs/tables.md says how every cell is computed.
"""

from trainfix.results.collect import RunCollection, RunsInputError, collect_runs

__all__ = ["RunCollection", "RunsInputError", "collect_runs"]
