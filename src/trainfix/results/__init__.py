"""Results: read run folders into pandas, build the papers' tables (paper / ours / diff) and figures.

    python -m trainfix.results deepeutaxy --runs multirun/deepeutaxy_table_iv --out results/deepeutaxy_table_iv

Modules: `collect` (run folders -> frames), `deepeutaxy_tables` (Tables IV-VII), `figures`
(Figure 3), `render` (Markdown / CSV / LaTeX / PNG files, written atomically). docs/tables.md says
how every cell is computed.
"""

from trainfix.results.collect import RunCollection, RunsInputError, collect_runs
from trainfix.results.deepeutaxy_tables import (
    build_table_iv,
    build_table_v,
    build_table_vi,
    build_table_vii,
    load_paper_table,
)

__all__ = [
    "RunCollection",
    "RunsInputError",
    "collect_runs",
    "build_table_iv",
    "build_table_v",
    "build_table_vi",
    "build_table_vii",
    "load_paper_table",
]
