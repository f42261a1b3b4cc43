"""tests/conftest.py puts each `@pytest.mark.xdist_group(name)` in the node id as `@name`, the key pytest-xdist's
`--dist loadgroup` schedules by (pytest 9.2 ignores xdist 3.8's own way: pytest-xdist issue 1386)."""

from __future__ import annotations

import pytest

from tests.conftest import pytest_collection_modifyitems

pytest_plugins = ["pytester"]

MODULE = """
import pytest

pytestmark = pytest.mark.xdist_group("module_group")


@pytest.mark.xdist_group("ddp")
def test_in_two_groups():
    pass


@pytest.mark.parametrize("i", [1, 2])
def test_in_the_module_group(i):
    pass
"""


def test_groups_reach_the_node_id_on_an_xdist_worker(pytester: pytest.Pytester):
    items = pytester.getitems(MODULE)
    items[0].config.option.loadgroup = True  # what --dist loadgroup sets on each worker
    pytest_collection_modifyitems(items[0].config, items)
    pytest_collection_modifyitems(items[0].config, items)  # once only, whoever else adds it
    assert [item.nodeid.split("::", 1)[1] for item in items] == [
        "test_in_two_groups@ddp_module_group",
        "test_in_the_module_group[1]@module_group",
        "test_in_the_module_group[2]@module_group",
    ]


def test_node_ids_stay_as_they_are_without_loadgroup(pytester: pytest.Pytester):
    items = pytester.getitems(MODULE)
    before = [item.nodeid for item in items]
    pytest_collection_modifyitems(items[0].config, items)
    assert [item.nodeid for item in items] == before and not any("@" in nodeid for nodeid in before)
