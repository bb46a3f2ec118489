"""Property-based tests of the policy engine (hypothesis)."""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.accelmon.monitoring.plugins.module_utils.fleet_model import build_model

RULES = {
    "HighCPUUsage": "cpu_percent",
    "HighMemoryUsage": "memory_percent",
    "DiskSpaceLow": "free_percent",
    "AcceleratorHighTemperature": "celsius",
}
GROUPS = ["infrastructure:dc", "infrastructure:dc/r1", "logical:a", "logical:b", "environment:prod"]

rule_item = st.fixed_dictionaries(
    {},
    optional={
        "thresholds": st.integers(min_value=0, max_value=100),
        "strategy": st.sampled_from(["merge", "override"]),
        "enabled": st.booleans(),
        "severity": st.sampled_from(["info", "warning", "critical"]),
    },
)
policy_block = st.dictionaries(st.sampled_from(sorted(RULES)), rule_item, max_size=3)
group_policies = st.fixed_dictionaries(dict((g, policy_block) for g in GROUPS))


def _materialize(block):
    out = {}
    for rule, item in block.items():
        item = dict(item)
        if "thresholds" in item:
            item["thresholds"] = {RULES[rule]: item["thresholds"]}
        out[rule] = item
    return out


def _model(policies, override=None, extra_empty_group=False):
    groups = dict((g, {"alert_rules": _materialize(p)} if p else {}) for g, p in policies.items())
    member = ["logical:a", "logical:b", "environment:prod"]
    if extra_empty_group:
        groups["logical:empty"] = {}
        member = member + ["logical:empty"]
    target = {"primary_group": "infrastructure:dc/r1", "groups": member}
    if override:
        target["overrides"] = {"alert_rules": _materialize(override)}
    return build_model([({"groups": groups, "targets": {"t": target}}, "m.yml")])


@settings(max_examples=60, deadline=None)
@given(group_policies)
def test_a_group_without_policy_changes_nothing(policies):
    before = _model(policies).effective("t")
    after = _model(policies, extra_empty_group=True).effective("t")
    assert before[0] == after[0]
    assert dict((k, v["source"]) for k, v in before[1].items()) == dict((k, v["source"]) for k, v in after[1].items())


@settings(max_examples=60, deadline=None)
@given(group_policies, st.one_of(st.none(), policy_block))
def test_winning_source_is_a_contributor(policies, override):
    _unused, trace, _unused = _model(policies, override).effective("t")
    for entry in trace.values():
        assert entry["source"] in [h["source"] for h in entry["history"]]
        assert entry["history"], "every leaf has at least its default"


@settings(max_examples=60, deadline=None)
@given(group_policies, st.sampled_from(sorted(RULES)), st.integers(min_value=0, max_value=100))
def test_override_at_the_top_makes_the_value_that_sources(policies, rule, value):
    override = {rule: {"strategy": "override", "thresholds": value}}
    policy, trace, _unused = _model(policies, copy.deepcopy(override)).effective("t")
    key = "alert_rules.%s.thresholds.%s" % (rule, RULES[rule])
    assert policy["alert_rules"][rule]["thresholds"][RULES[rule]] == value
    assert trace[key]["source"] == "target:t"
    # every other key of that rule is back at its built-in default
    defaults = build_model([({}, "empty.yml")]).catalog.defaults()["alert_rules"][rule]
    assert policy["alert_rules"][rule]["for"] == defaults["for"]
    assert policy["alert_rules"][rule]["severity"] == defaults["severity"]
    assert policy["alert_rules"][rule]["enabled"] is True


@settings(max_examples=40, deadline=None)
@given(group_policies)
def test_computation_is_deterministic(policies):
    assert _model(policies).effective("t") == _model(policies).effective("t")
