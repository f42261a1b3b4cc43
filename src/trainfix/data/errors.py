"""How reading a dataset fails: the error classes a caller may catch, and the missing-files message.

`trainfix.train` records these as a "data error" (its own exit status) with the message, not a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from trainfix.data.catalogue import DATASETS

DATA_ROOT_HINT = "set the data root with paths.data_dir=<dir> or the TRAINFIX_DATA_DIR environment variable"


class DatasetMissingError(FileNotFoundError):
    """The files of a dataset are not where they are looked for; the message lists them and the fix."""


class NonOfficialDataError(ValueError):
    """Files whose checksums are not the official ones, refused because accept_nonofficial is off."""


class NonOfficialDataWarning(UserWarning):
    """Files whose checksums are not the official ones were loaded because accept_nonofficial is on."""


class DatasetFormatError(ValueError):
    """Files that exist but do not hold what the dataset needs (mixed image sizes, wrong classes, ...)."""


def missing_error(
    name: str, searched: Sequence[Path], expected: Sequence[str], extra_fix: str = ""
) -> DatasetMissingError:
    """The error for dataset `name`'s absent files: what was expected, where it looked, and the fix."""
    lines = [f"{DATASETS[name].label} ({name}): files not found.", "Expected:"]
    lines += [f"  {path}" for path in expected]
    lines.append("Searched: " + ", ".join(str(path) for path in searched))
    lines.append(
        f"Fix: put the official files there ({DATA_ROOT_HINT})" + (f"; {extra_fix}" if extra_fix else "") + "."
    )
    return DatasetMissingError("\n".join(lines))
