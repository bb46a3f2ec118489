"""The policy filters' model cache: keyed by the input's parts, not by serialising it."""

from __future__ import annotations

import copy

from ansible_collections.accelmon.monitoring.plugins.filter import policy

MODEL = {
    "groups": {
        "infrastructure:dc1": {"alert_rules": {"HighCPUUsage": {"thresholds": {"cpu_percent": 70}}}},
    },
    "targets": {"t1": {"primary_group": "infrastructure:dc1"}},
}


def test_same_parts_reuse_the_model_without_serialising(monkeypatch):
    first = policy._model(MODEL, "t")
    calls = []
    monkeypatch.setattr(policy, "_plain", lambda value: calls.append(value) or value)
    # a new wrapper around the same parts (what Ansible hands a filter on every call)
    again = policy._model(dict(MODEL), "t")
    assert again is first and calls == []
    assert policy.effective_policy(dict(MODEL), "t1")["alert_rules"]["HighCPUUsage"]["thresholds"] == {
        "cpu_percent": 70
    }


def test_changed_model_is_rebuilt():
    first = policy._model(MODEL, "t")
    changed = copy.deepcopy(MODEL)
    changed["groups"]["infrastructure:dc1"]["alert_rules"]["HighCPUUsage"]["thresholds"]["cpu_percent"] = 80
    model = policy._model(changed, "t")
    assert model is not first
    assert policy.effective_policy(changed, "t1")["alert_rules"]["HighCPUUsage"]["thresholds"] == {"cpu_percent": 80}
    # an equal copy (new parts) is recognised by its content
    assert policy._model(copy.deepcopy(MODEL), "t") is first
