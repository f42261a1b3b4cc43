"""The import graph of src/trainfix: layers point down only, and no module imports itself in a circle.

Layers, bottom first (docs/architecture.md says why `runs` sits just above `core`, and `results` just above `runs`
with the papers that declare tables on it near the top): a module may import from its own layer or a lower one.
Imports inside functions count: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "trainfix"
LAYERS = [
    "core",
    "runs",
    "results",  # the tables pipeline knows run folders, not techniques: papers/ declares tables on it
    "data",
    "models",
    "strategies",
    "training",
    "monitor",
    "procedures",
    "papers",
    "evidence",
    "entry",
]
ENTRY_MODULES = {
    "trainfix",
    "trainfix.__main__",
    "trainfix.cli",
    "trainfix.train",
    "trainfix.eval",
    "trainfix.apricot",
    "trainfix.results.__main__",  # `python -m trainfix.results <paper>` dispatches through papers.PAPERS
}
# (importer, imported) pairs allowed to point up, each with the reason it stays. Empty: none does.
UPWARD_ALLOWED: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> str:
    if module in ENTRY_MODULES:
        return "entry"
    first = module.split(".")[1]
    if first not in LAYERS:
        raise AssertionError(
            f"{module}: its package {first!r} is in no layer; add it to LAYERS (and to docs/architecture.md)"
        )
    return first


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(
                        package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                    )
                targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
            for target in targets:
                while target and target not in modules:  # `from pkg import name`: the module, else its package
                    target = target.rpartition(".")[0]
                if target and target.startswith("trainfix") and target != name and target in modules:
                    graph[name].add(target)
                    break
    return graph


def test_every_package_has_a_layer() -> None:
    for name in import_graph():
        layer(name)


def test_layers_point_down() -> None:
    order = {name: i for i, name in enumerate(LAYERS)}
    upward = sorted(
        (importer, imported)
        for importer, imports in import_graph().items()
        for imported in imports
        if order[layer(imported)] > order[layer(importer)] and (importer, imported) not in UPWARD_ALLOWED
    )
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(f"  {a} -> {b}" for a, b in upward)


def test_no_import_circles() -> None:
    graph = import_graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    # A package's __init__ that re-exports its own modules forms no real circle: those are excluded
    # only when the package imports nothing else of the circle's members besides its children.
    real = [c for c in circles if not all(m == c[0] or m.startswith(c[0] + ".") for m in c)]
    assert not real, "import circles:\n" + "\n".join("  " + " <-> ".join(c) for c in real)


@pytest.mark.parametrize("limit", [500])
def test_no_module_over_limit(limit: int) -> None:
    long = {str(p.relative_to(SRC)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > limit}
    assert not long, f"modules over {limit} lines (one idea per module): {long}"


def test_results_pipeline_within_limit() -> None:
    """The shared results pipeline stays small: each paper declares its tables in papers/, not in results/."""
    lines = sum(len(p.read_text().splitlines()) for p in (PACKAGE / "results").rglob("*.py"))
    assert lines <= 2000, f"src/trainfix/results/ is {lines} lines (at most 2,000: the shared pipeline only)"


def test_no_lightning_in_models() -> None:
    graph_lightning = [
        str(p.relative_to(SRC))
        for p in (PACKAGE / "models").rglob("*.py")
        if any(
            (
                isinstance(n, ast.Import)
                and any(a.name.split(".")[0] in ("pytorch_lightning", "lightning") for a in n.names)
            )
            or (isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[0] in ("pytorch_lightning", "lightning"))
            for n in ast.walk(ast.parse(p.read_text()))
        )
    ]
    assert not graph_lightning, f"models/ holds plain networks; Lightning imported in {graph_lightning}"
