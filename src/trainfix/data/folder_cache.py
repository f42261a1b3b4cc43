"""The cache of decoded image folders: one `.pt` file per folder split, keyed by the folder's content.

Decoding thousands of image files takes longer than a short run, so `trainfix.data.image_folders`
decodes a split once and keeps the uint8 tensors here. A cache file holds a dict (`CACHE_VERSION`,
the content key, and what the image-folder reader stores) and is reused only while the version and
the key (path, file names, sizes, modification times, resize) still match; otherwise it is decoded
again and replaced, atomically.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

CACHE_DIRNAME = ".trainfix-cache"
CACHE_VERSION = 2  # 2: the cache records the mode its images were converted to and the split's file modes


def folder_key(split_dir: Path, files: Sequence[str], resize: tuple[int, int] | None) -> str:
    """Identity of a folder's content: absolute path, file count, sorted relative names, sizes, mtimes."""
    digest = hashlib.sha256(f"{split_dir}\n{len(files)}\n{resize}\n".encode())
    prefix = len(str(split_dir)) + 1  # ImageFolder's paths are <split_dir>/<class>/<file>
    for path in sorted(files):
        stat = os.stat(path)
        digest.update(f"{path[prefix:]}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def cache_file(root: Path, cache_dir: str | os.PathLike | None, split_dir: Path, key: str) -> Path | None:
    """`<cache_dir>/image_folder-<folder hash>-<split>-<content key>.pt`; None when no cache dir is writable.

    Without `cache_dir`: `<root>/.trainfix-cache/`, else (a read-only data root) `~/.cache/trainfix/`.
    """
    if cache_dir is not None:
        directories = [Path(cache_dir).expanduser()]
    else:
        user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "trainfix"
        directories = [root / CACHE_DIRNAME, user_cache]
    for directory in directories:
        if _writable(directory):
            directory.mkdir(parents=True, exist_ok=True)
            folder_hash = hashlib.sha256(str(split_dir).encode()).hexdigest()[:12]
            return directory / f"image_folder-{folder_hash}-{split_dir.name}-{key[:16]}.pt"
    if cache_dir is not None:
        raise ValueError(f"cache_dir={str(cache_dir)!r} is not a writable directory")
    log.warning(
        "no writable cache directory (tried %s); decoding %s without caching", [str(d) for d in directories], split_dir
    )
    return None


def _writable(directory: Path) -> bool:
    """Whether `directory` (or its nearest existing parent) may be written.

    Besides access(), a folder whose mode has no write bit counts as read-only: root may write
    anywhere, but a data folder marked r-x (like a shared data root) is not ours to fill.
    """
    existing = directory
    while not existing.exists():
        if existing.parent == existing:
            return False
        existing = existing.parent
    return existing.is_dir() and os.access(existing, os.W_OK) and bool(existing.stat().st_mode & 0o222)


def read_cache(path: Path | None, key: str) -> dict[str, Any] | None:
    """The cached content at `path` when it exists, is readable and matches `key` and `CACHE_VERSION`; else None."""
    return _load(path, key, mmap=False)


def read_cached_modes(path: Path | None, key: str) -> dict[str, dict] | None:
    """Only the "modes" entry of a current cache file (memory-mapped: the images are not read); else None."""
    cached = _load(path, key, mmap=True)
    return cached["modes"] if cached is not None else None


def write_cache(path: Path, key: str, content: dict[str, Any]) -> None:
    """Write `content` under `key` atomically (temp file + rename), then drop older caches of the same
    folder and split."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            torch.save({"version": CACHE_VERSION, "key": key, **content}, stream)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    stem = path.name.rsplit("-", 1)[0]
    for stale in path.parent.glob(f"{stem}-*.pt"):
        if stale != path:
            stale.unlink(missing_ok=True)


def _load(path: Path | None, key: str, mmap: bool) -> dict[str, Any] | None:
    if path is None or not path.is_file():
        return None
    try:
        cached = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as error:  # a truncated or foreign file: decode again and overwrite it
        log.warning("ignoring unreadable cache %s (%s)", path, error)
        return None
    if not isinstance(cached, dict) or cached.get("version") != CACHE_VERSION or cached.get("key") != key:
        return None
    return cached
