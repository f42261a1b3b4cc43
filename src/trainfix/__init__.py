"""trainfix: reproduce and reuse techniques that fix how deep networks are trained.

Load a finished run from Python:

    from trainfix import load_run
    run = load_run("runs/train/<run>")     # run.net (eval mode), run.classifier, run.datamodule, run.config
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["LoadedRun", "__version__", "load_exported", "load_run"]

if TYPE_CHECKING:
    from trainfix.training.checkpoint import LoadedRun, load_run
    from trainfix.training.export import load_exported


def __getattr__(name: str) -> Any:
    # Imported on first use: `import trainfix` stays light (no torch, Lightning or Hydra) and
    # importing a submodule never runs into a half-initialized package.
    if name in ("load_run", "LoadedRun"):
        from trainfix.training import checkpoint as loading

        return getattr(loading, name)
    if name == "load_exported":
        from trainfix.training.export import load_exported

        return load_exported
    raise AttributeError(f"module 'trainfix' has no attribute {name!r}")
