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


# -- the engine against a reference merger, over whole fleets -------------------------------

import importlib.util  # noqa: E402
import os  # noqa: E402

# the reference merger sits beside this file (loaded by path: ansible-test's pytest does not
# put test directories on sys.path)
_SPEC = importlib.util.spec_from_file_location(
    "accelmon_reference_merger", os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference_merger.py")
)
_REFERENCE = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_REFERENCE)
reference_policy = _REFERENCE.effective_policy

from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_catalog import Catalog  # noqa: E402

FLEET_GROUPS = [
    "infrastructure:dc",
    "infrastructure:dc/r1",
    "infrastructure:dc/r2",
    "logical:a",
    "logical:a/x",
    "logical:b",
    "environment:prod",
    "environment:stg",
]
PATHS = ["/data", "/models", "/scratch"]
full_rule_item = st.fixed_dictionaries(
    {},
    optional={
        "thresholds": st.integers(min_value=0, max_value=100),
        "strategy": st.sampled_from(["merge", "override"]),
        "enabled": st.booleans(),
        "severity": st.sampled_from(["info", "warning", "critical"]),
        "for": st.sampled_from(["0s", "5m", "1h30m", "1w"]),
        "labels": st.dictionaries(st.sampled_from(["team", "site"]), st.sampled_from(["x", "y"]), max_size=2),
    },
)
mount_item = st.fixed_dictionaries(
    {},
    optional={
        "config": st.fixed_dictionaries({"paths": st.lists(st.sampled_from(PATHS), max_size=3)}),
        "strategy": st.sampled_from(["merge", "override"]),
        "enabled": st.booleans(),
    },
)
alerting_item = st.fixed_dictionaries(
    {},
    optional={
        "receiver": st.sampled_from(["default", "pager"]),
        "labels": st.dictionaries(st.sampled_from(["route"]), st.sampled_from(["a", "b"]), max_size=1),
        "strategy": st.sampled_from(["merge", "override"]),
    },
)


def _block(draw_rules, mount, alerting):
    block = {}
    if draw_rules:
        block["alert_rules"] = _materialize(draw_rules)
    if mount is not None:
        block["checks"] = {"mount": mount}
    if alerting is not None:
        block["alerting"] = alerting
    return block


policy_blocks = st.builds(
    _block,
    st.dictionaries(st.sampled_from(sorted(RULES)), full_rule_item, max_size=2),
    st.one_of(st.none(), mount_item),
    st.one_of(st.none(), alerting_item),
)
target_spec = st.fixed_dictionaries(
    {
        "primary_group": st.sampled_from(["infrastructure:dc/r1", "infrastructure:dc/r2"]),
        "groups": st.lists(st.sampled_from(FLEET_GROUPS[3:]), max_size=3, unique=True),
    },
    optional={"overrides": policy_blocks},
)
fleets = st.fixed_dictionaries(
    {
        "groups": st.fixed_dictionaries(dict((g, policy_blocks) for g in FLEET_GROUPS)),
        "targets": st.dictionaries(st.sampled_from(["t%d" % i for i in range(6)]), target_spec, min_size=1),
    }
)


def _fleet_model(fleet):
    # same-level conflicts are allowed (not strict): the later group wins, as documented
    return build_model([(copy.deepcopy(fleet), "fleet.yml")])


@settings(max_examples=150, deadline=None)
@given(fleets)
def test_engine_matches_the_reference_merger(fleet):
    model = _fleet_model(fleet)
    defaults = Catalog().defaults()
    for name, target in fleet["targets"].items():
        want = reference_policy(defaults, fleet["groups"], target)
        assert model.effective(name)[0] == want, name


@settings(max_examples=100, deadline=None)
@given(fleets, st.data())
def test_one_targets_inputs_cannot_change_another_targets_result(fleet, data):
    """Changing one target's overrides or groups leaves every other target's policy and
    trace as they were (the engine shares state between targets)."""
    before = _fleet_model(fleet)
    changed = copy.deepcopy(fleet)
    victim = data.draw(st.sampled_from(sorted(fleet["targets"])))
    changed["targets"][victim] = data.draw(target_spec)
    after = _fleet_model(changed)
    # evaluate the changed target first, so shared caches are filled by it
    after.effective(victim)
    for name in fleet["targets"]:
        if name != victim:
            assert after.effective(name)[:2] == before.effective(name)[:2], name
