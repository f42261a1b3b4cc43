"""tests/conftest.py's `data_dir`: without the real data a test is skipped on a developer's machine, and fails
with the path it looked for under CI=true, so a CI machine with a broken data path cannot report green."""

from __future__ import annotations

import pytest

from tests.conftest import require_data_root


def test_missing_data_root_skips_outside_ci(tmp_path, monkeypatch):
    monkeypatch.setenv("TRAINFIX_DATA_DIR", str(tmp_path / "nowhere"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"real data not found: .*nowhere/MNIST/raw does not exist"):
        require_data_root()


@pytest.mark.parametrize("ci", ["true", "1"])
def test_missing_data_root_fails_under_ci(tmp_path, monkeypatch, ci):
    monkeypatch.setenv("TRAINFIX_DATA_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("CI", ci)
    with pytest.raises(
        pytest.fail.Exception, match=rf"CI={ci}: real data not found: .*nowhere/MNIST/raw does not exist"
    ):
        require_data_root()


def test_a_data_root_with_mnist_is_returned(tmp_path, monkeypatch):
    (tmp_path / "MNIST" / "raw").mkdir(parents=True)
    monkeypatch.setenv("TRAINFIX_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CI", "true")
    assert require_data_root() == tmp_path
