"""The tracked evidence under results/ stays within its size budget (docs/results.md, "Committed evidence")."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RESULTS_BUDGET = 12_000_000  # bytes of tracked files under results/


def _content(path: Path) -> str:
    data = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
    return hashlib.sha1(data).hexdigest()


def test_tracked_results_stay_within_the_size_budget_with_history_compressed() -> None:
    """New evidence folders must fit: the Apricot passes' per-batch history.csv (read by no table) is committed as
    history.csv.gz, written by `gzip -n` (no name, no time: a rebuild copies the same bytes)."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(["git", "ls-files", "-z", "results"], cwd=REPO, check=True, capture_output=True).stdout
    tracked = [p for p in listed.decode().split("\0") if p]
    assert "results/manifest.yaml" in tracked
    # as git stores them: a link is its target's name, identical contents are one blob (a folder that re-reads another
    # folder's runs for a second table holds byte-identical records and figures); a tracked file deleted in the tree is
    # on its way out
    sizes = {path: (REPO / path).lstat().st_size for path in tracked if os.path.lexists(REPO / path)}
    blobs = {_content(REPO / path): size for path, size in sizes.items()}
    total = sum(blobs.values())
    largest = ", ".join(f"{p} ({n:,})" for p, n in sorted(sizes.items(), key=lambda kv: -kv[1])[:5])
    over = f"tracked contents under results/: {total:,} bytes, over {RESULTS_BUDGET:,}"
    assert total <= RESULTS_BUDGET, f"{over}; {largest}"
    plain = [p for p in tracked if p.endswith("/history.csv")]
    assert not plain, f"uncompressed Apricot history tracked (commit history.csv.gz, gzip -n): {plain}"
    for path in (p for p in tracked if p.endswith("/history.csv.gz")):
        raw = (REPO / path).read_bytes()
        assert raw[:2] == b"\x1f\x8b" and raw[4:8] == bytes(4), f"{path}: not gzip, or it stores a time (use gzip -n)"
        assert gzip.decompress(raw).startswith(b"batch,failing,adjusted,"), f"{path}: not an Apricot history"
