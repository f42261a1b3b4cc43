"""trainfix.core.allocator: the settings it applies, a user's own MALLOC_* variable wins, off glibc nothing.
(Freed buffers reused instead of faulted in again, measured in a fresh process:
tests/system/test_allocator_process.py.)"""

from __future__ import annotations

import platform

import pytest

from trainfix.core import allocator
from trainfix.core.allocator import SETTINGS, keep_freed_memory

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_a_variable_the_environment_sets_is_left_to_it(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    class FakeLibc:
        def mallopt(self, param, value):  # noqa: ANN001, ANN202
            calls.append((param.value, value.value))
            return 1

    monkeypatch.setattr(allocator, "_libc", lambda: FakeLibc())
    monkeypatch.setenv("MALLOC_TOP_PAD_", "0")
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    applied = keep_freed_memory()
    assert applied == {"MALLOC_MMAP_THRESHOLD_": 32 << 20, "MALLOC_TRIM_THRESHOLD_": 1 << 30}
    assert calls == [(-3, 32 << 20), (-1, 1 << 30)]  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD; M_TOP_PAD untouched


def test_a_refused_setting_is_not_reported_applied(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class RefusingLibc:
        def mallopt(self, param, value):  # noqa: ANN001, ANN202
            return 0 if param.value == -3 else 1

    monkeypatch.setattr(allocator, "_libc", lambda: RefusingLibc())
    for variable in SETTINGS:
        monkeypatch.delenv(variable, raising=False)
    assert set(keep_freed_memory()) == {"MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"}
    assert "MALLOC_MMAP_THRESHOLD" in caplog.text


def test_nothing_off_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allocator.platform, "libc_ver", lambda: ("", ""))
    assert allocator._libc() is None
    assert keep_freed_memory() == {}
