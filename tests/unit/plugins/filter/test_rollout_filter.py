"""Rollout filters, and the batching they print checked against ansible-core's own.

Controller-side (ansible.executor is not importable in ansible-test's module_utils units).
"""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible.executor.playbook_executor import PlaybookExecutor

from ansible_collections.accelmon.monitoring.plugins.filter.rollout import (
    rollout_max_fail,
    rollout_plan,
    rollout_progress,
    rollout_serial,
)
from ansible_collections.accelmon.monitoring.plugins.module_utils.rollout_strategy import batches


def hosts(n):
    return [f"gpu{i:03d}" for i in range(n)]


class _Inventory:
    def __init__(self, names):
        self.names = names

    def get_hosts(self, pattern, order=None):
        return list(self.names)


class _Play:
    def __init__(self, serial):
        self.hosts = "all"
        self.order = "inventory"
        self.serial = serial


def ansible_batches(names, serial):
    """ansible-core's own batching (PlaybookExecutor._get_serialized_batches)."""
    pbex = object.__new__(PlaybookExecutor)
    pbex._inventory = _Inventory(names)
    return pbex._get_serialized_batches(_Play(serial))


SERIALS = [
    [],
    ["100%"],
    [1],
    [5],
    ["20%"],
    ["30%"],
    [1, 5],
    ["1%", "10%"],
    [1, 2, 10],
    [2, "25%", 3],
    ["13%"],
    [50],
]


@pytest.mark.parametrize("serial", SERIALS, ids=str)
@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 50, 99])
def test_batches_equal_ansible_core(serial, n):
    assert batches(hosts(n), serial) == ansible_batches(hosts(n), serial)


def test_filters():
    assert rollout_serial("canary", 5, 1) == [1, 5]
    assert rollout_max_fail("all_at_once") == 100
    plan = rollout_plan(hosts(3), "rolling", 2)
    assert [b["hosts"] for b in plan["batches"]] == [["gpu000", "gpu001"], ["gpu002"]]
    assert plan["lines"][0].startswith("strategy rolling: 3 hosts in 2 batches")
    assert rollout_progress(plan, 2, 3, 0) == "batch 2/2 (1 hosts): done 3 | failed 0 | pending 0"
    with pytest.raises(AnsibleFilterError, match="rollout_serial: rollout_strategy: 'x'"):
        rollout_serial("x")
    with pytest.raises(AnsibleFilterError, match="list of host names"):
        rollout_plan("gpu000", "rolling")
