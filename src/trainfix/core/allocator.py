"""glibc's allocator settings for CPU training: keep freed memory instead of handing it back every batch.

With glibc's defaults a PyTorch CPU process returns its batch-sized activation and gradient buffers to
the kernel when it frees them (a buffer above the mmap threshold is unmapped, the heap's free top is
trimmed), and the next batch faults every page in again, zero-filled by the kernel. On this project's
2-core CPU (LeNet-5, full MNIST, batch 1,000, Adagrad, two runs side by side) that was 35 % of the runs'
CPU time spent in the kernel (1.9 billion page faults in an hour) and 12.6-13.3 s an epoch; with the
settings below 7.7-8.0 s. `benchmarks/bench_allocator.py` measures the ratio in one run. The settings
change where memory comes from, never a computed value.

`keep_freed_memory()` sets through `mallopt` each of

- M_MMAP_THRESHOLD = 32 MiB (the largest glibc accepts on 64-bit): smaller buffers come from the heap
  and are reused instead of being mapped and unmapped;
- M_TRIM_THRESHOLD = 1 GiB: the heap's free top goes back to the kernel only beyond this;
- M_TOP_PAD = 256 MiB: the heap grows in large steps

that the environment does not set itself (`MALLOC_MMAP_THRESHOLD_`, `MALLOC_TRIM_THRESHOLD_`,
`MALLOC_TOP_PAD_`, which glibc reads at start: a user's own value wins). Off glibc (macOS, musl,
Windows) it does nothing. The price: a process keeps up to about 1 GiB of freed memory for reuse.
`extras.keep_freed_memory=false` turns it off for `python -m trainfix.train`.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform

log = logging.getLogger(__name__)

MiB = 1 << 20
# mallopt parameter numbers (glibc malloc.h) and this module's values, by the environment variable
# glibc reads for the same parameter.
SETTINGS: dict[str, tuple[int, int]] = {
    "MALLOC_MMAP_THRESHOLD_": (-3, 32 * MiB),  # M_MMAP_THRESHOLD
    "MALLOC_TRIM_THRESHOLD_": (-1, 1024 * MiB),  # M_TRIM_THRESHOLD
    "MALLOC_TOP_PAD_": (-2, 256 * MiB),  # M_TOP_PAD
}


def _libc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") else None


def keep_freed_memory() -> dict[str, int]:
    """Apply the settings above that the environment leaves unset; returns {variable: value} of those
    applied ({} off glibc). Process-wide and idempotent: call it once per process before training."""
    libc = _libc()
    if libc is None:
        return {}
    applied = {}
    for variable, (param, value) in SETTINGS.items():
        if variable in os.environ:
            continue
        if libc.mallopt(ctypes.c_int(param), ctypes.c_int(value)) != 1:
            log.warning("mallopt(%s, %d) was refused; glibc keeps its default for it", variable.strip("_"), value)
            continue
        applied[variable] = value
    if applied:
        log.debug("glibc malloc: %s", ", ".join(f"{k.strip('_')}={v}" for k, v in applied.items()))
    return applied
