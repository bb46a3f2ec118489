"""Policy engine semantics: merge order, strategies, enabled, conflicts, trace."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.accelmon.monitoring.plugins.module_utils.fleet_model import build_model
from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_errors import FleetModelError

# The model of shared/design/fleet-model.md, verbatim, plus the targets its outcomes name.
SPEC_MODEL = {
    "namespaces": {"environment": {"priority": 10}, "logical": {"priority": 50}, "infrastructure": {"priority": 100}},
    "groups": {
        "infrastructure:aws/us-east-1": {
            "provider": "aws",
            "metadata": {"region": "us-east-1"},
            "alert_rules": {"HighCPUUsage": {"thresholds": {"cpu_percent": 90}}},
        },
        "infrastructure:aws/us-east-1/us-east-1a": {"metadata": {"availability_zone": "us-east-1a"}},
        "logical:ml-training": {
            "checks": {"mount": {"config": {"paths": ["/models"]}}},
            "alert_rules": {"HighCPUUsage": {"thresholds": {"cpu_percent": 95}, "strategy": "merge"}},
        },
        "environment:production": {
            "alert_rules": {"HighCPUUsage": {"thresholds": {"cpu_percent": 70}, "strategy": "override"}},
            "alerting": {"receiver": "oncall-pager"},
        },
        "environment:staging": {"alert_rules": {"NodeDown": {"enabled": False}}},
        "infrastructure:onprem/dc1": {"checks": {"mount": {"config": {"paths": ["/data"]}}}},
    },
    "targets": {
        "i-1234567890": {
            "address": "10.0.1.50",
            "primary_group": "infrastructure:aws/us-east-1/us-east-1a",
            "groups": ["logical:ml-training", "environment:production"],
            "provider_metadata": {"instance_type": "p4d.24xlarge"},
            "accelerators": [{"vendor": "nvidia", "model": "A100", "count": 8}],
            "overrides": {"alert_rules": {"HighCPUUsage": {"thresholds": {"cpu_percent": 60}}}},
        },
        "no-override": {
            "primary_group": "infrastructure:aws/us-east-1/us-east-1a",
            "groups": ["logical:ml-training", "environment:production"],
        },
        "stg-1": {"primary_group": "infrastructure:aws/us-east-1", "groups": ["environment:staging"]},
        "ml-onprem": {"primary_group": "infrastructure:onprem/dc1", "groups": ["logical:ml-training"]},
    },
}


def model(doc=None, strict=False):
    return build_model([(copy.deepcopy(doc or SPEC_MODEL), "model.yml")], strict=strict)


def leaf(trace, path):
    return trace[path]


def test_spec_outcome_target_override_wins():
    policy, trace, _unused = model().effective("i-1234567890")
    assert policy["alert_rules"]["HighCPUUsage"]["thresholds"]["cpu_percent"] == 60
    assert trace["alert_rules.HighCPUUsage.thresholds.cpu_percent"]["source"] == "target:i-1234567890"


def test_spec_outcome_without_override_environment_overrides_logical_over_infra():
    _unused, trace, _unused = model().effective("no-override")
    entry = trace["alert_rules.HighCPUUsage.thresholds.cpu_percent"]
    assert entry["value"] == 70
    assert entry["source"] == "environment:production"
    assert [(h["source"], h["value"]) for h in entry["history"]] == [
        ("default", 90),
        ("infrastructure:aws/us-east-1", 90),
        ("logical:ml-training", 95),
        ("environment:production", 70),
    ]
    assert entry["history"][-1]["strategy"] == "override"


def test_spec_outcome_staging_nodedown_disabled():
    policy, trace, _unused = model().effective("stg-1")
    assert policy["alert_rules"]["NodeDown"]["enabled"] is False
    assert trace["alert_rules.NodeDown.enabled"]["source"] == "environment:staging"


def test_spec_outcome_mount_paths_union():
    policy, trace, _unused = model().effective("ml-onprem")
    assert policy["checks"]["mount"]["paths"] == ["/data", "/models"]
    assert policy["checks"]["mount"]["enabled"] is True
    assert trace["checks.mount.paths"]["source"] == "logical:ml-training"


def test_override_refills_other_keys_from_defaults():
    doc = copy.deepcopy(SPEC_MODEL)
    doc["groups"]["infrastructure:aws/us-east-1"]["alert_rules"]["HighCPUUsage"].update(
        {"for": "30m", "labels": {"team": "infra"}}
    )
    policy, trace, _unused = model(doc).effective("no-override")
    rule = policy["alert_rules"]["HighCPUUsage"]
    assert rule["for"] == "10m"  # built-in default, the infra 30m was dropped by the override
    assert rule["labels"] == {}
    assert trace["alert_rules.HighCPUUsage.for"]["source"] == "default"
    assert trace["alert_rules.HighCPUUsage.for"]["history"][-1]["reset_by"] == "environment:production"


def test_enabled_false_then_switched_back_on():
    doc = copy.deepcopy(SPEC_MODEL)
    doc["targets"]["stg-1"]["overrides"] = {"alert_rules": {"NodeDown": {"enabled": True}}}
    policy, trace, _unused = model(doc).effective("stg-1")
    assert policy["alert_rules"]["NodeDown"]["enabled"] is True
    assert [h["value"] for h in trace["alert_rules.NodeDown.enabled"]["history"]] == [True, False, True]


def test_mentioning_a_disabled_rule_does_not_reenable_it():
    doc = copy.deepcopy(SPEC_MODEL)
    doc["targets"]["stg-1"]["overrides"] = {"alert_rules": {"NodeDown": {"for": "5m"}}}
    policy, _unused, _unused = model(doc).effective("stg-1")
    assert policy["alert_rules"]["NodeDown"]["enabled"] is False


def test_checks_default_off_until_configured():
    policy, trace, _unused = model().effective("stg-1")
    assert policy["checks"]["mount"]["enabled"] is False
    assert trace["checks.mount.enabled"]["source"] == "default"


def test_check_explicitly_disabled_stays_off_even_when_configured():
    doc = copy.deepcopy(SPEC_MODEL)
    doc["targets"]["ml-onprem"]["overrides"] = {"checks": {"mount": {"enabled": False}}}
    policy, _unused, _unused = model(doc).effective("ml-onprem")
    assert policy["checks"]["mount"]["enabled"] is False
    assert policy["checks"]["mount"]["paths"] == ["/data", "/models"]


def test_ancestor_before_descendant_child_refines_parent():
    doc = copy.deepcopy(SPEC_MODEL)
    doc["groups"]["infrastructure:aws"] = {"alert_rules": {"DiskSpaceLow": {"thresholds": {"free_percent": 5}}}}
    doc["groups"]["infrastructure:aws/us-east-1/us-east-1a"]["alert_rules"] = {
        "DiskSpaceLow": {"thresholds": {"free_percent": 15}}
    }
    _unused, trace, _unused = model(doc).effective("no-override")
    entry = trace["alert_rules.DiskSpaceLow.thresholds.free_percent"]
    assert entry["value"] == 15
    assert [h["source"] for h in entry["history"]] == [
        "default",
        "infrastructure:aws",
        "infrastructure:aws/us-east-1/us-east-1a",
    ]


def test_custom_namespace_priority_orders_application():
    doc = copy.deepcopy(SPEC_MODEL)
    doc["namespaces"]["tenant"] = {"priority": 5}  # above environment
    doc["groups"]["tenant:acme"] = {"alert_rules": {"HighCPUUsage": {"thresholds": {"cpu_percent": 85}}}}
    doc["targets"]["no-override"]["groups"].append("tenant:acme")
    _unused, trace, _unused = model(doc).effective("no-override")
    assert trace["alert_rules.HighCPUUsage.thresholds.cpu_percent"]["source"] == "tenant:acme"
    doc["namespaces"]["tenant"] = {"priority": 200}  # below infrastructure
    _unused, trace, _unused = model(doc).effective("no-override")
    assert trace["alert_rules.HighCPUUsage.thresholds.cpu_percent"]["source"] == "environment:production"


def _conflict_doc():
    doc = copy.deepcopy(SPEC_MODEL)
    doc["groups"]["logical:inference"] = {"alert_rules": {"HighCPUUsage": {"thresholds": {"cpu_percent": 80}}}}
    doc["targets"]["both"] = {
        "primary_group": "infrastructure:onprem/dc1",
        "groups": ["logical:ml-training", "logical:inference"],
    }
    return doc


def test_same_depth_conflict_is_warning_in_trace():
    _unused, trace, conflicts = model(_conflict_doc()).effective("both")
    entry = trace["alert_rules.HighCPUUsage.thresholds.cpu_percent"]
    # lexicographic order: logical:inference, then logical:ml-training wins
    assert entry["value"] == 95
    assert entry["source"] == "logical:ml-training"
    assert entry["conflicts"][0]["sources"] == ["logical:inference", "logical:ml-training"]
    assert conflicts and conflicts[0]["path"] == "alert_rules.HighCPUUsage.thresholds.cpu_percent"


def test_same_depth_conflict_is_error_under_strict():
    with pytest.raises(FleetModelError) as err:
        model(_conflict_doc(), strict=True).effective("both")
    text = str(err.value)
    assert "target both" in text and "logical:inference" in text and "logical:ml-training" in text
    assert "Fix:" in text


def test_lists_from_same_depth_groups_union_without_conflict():
    doc = copy.deepcopy(SPEC_MODEL)
    doc["groups"]["logical:inference"] = {"checks": {"mount": {"config": {"paths": ["/weights"]}}}}
    doc["targets"]["both"] = {
        "primary_group": "infrastructure:onprem/dc1",
        "groups": ["logical:ml-training", "logical:inference"],
    }
    policy, _unused, conflicts = model(doc, strict=True).effective("both")
    assert policy["checks"]["mount"]["paths"] == ["/data", "/weights", "/models"]
    assert conflicts == []


def test_groups_at_different_depths_do_not_conflict():
    doc = copy.deepcopy(SPEC_MODEL)
    doc["groups"]["logical:ml-training/llm"] = {"alert_rules": {"HighCPUUsage": {"thresholds": {"cpu_percent": 50}}}}
    doc["targets"]["llm"] = {"primary_group": "infrastructure:onprem/dc1", "groups": ["logical:ml-training/llm"]}
    policy, _unused, conflicts = model(doc, strict=True).effective("llm")
    assert policy["alert_rules"]["HighCPUUsage"]["thresholds"]["cpu_percent"] == 50
    assert conflicts == []


def test_mount_path_dicts_and_strings_union():
    doc = copy.deepcopy(SPEC_MODEL)
    doc["targets"]["ml-onprem"]["overrides"] = {
        "checks": {"mount": {"config": {"paths": ["/data", {"path": "/scratch", "fstype": "xfs", "options": ["rw"]}]}}}
    }
    policy, _unused, _unused = model(doc).effective("ml-onprem")
    assert policy["checks"]["mount"]["paths"] == [
        "/data",
        "/models",
        {"path": "/scratch", "fstype": "xfs", "options": ["rw"]},
    ]


def test_alerting_merges_like_the_rest():
    doc = copy.deepcopy(SPEC_MODEL)
    doc["groups"]["logical:ml-training"]["alerting"] = {"team": "ml", "labels": {"tier": "gold"}}
    policy, trace, _unused = model(doc).effective("no-override")
    assert policy["alerting"] == {"receiver": "oncall-pager", "team": "ml", "labels": {"tier": "gold"}}
    assert trace["alerting.receiver"]["source"] == "environment:production"
    assert trace["alerting.labels.tier"]["source"] == "logical:ml-training"


def test_custom_rule_template_behaves_like_builtin():
    doc = copy.deepcopy(SPEC_MODEL)
    doc["rule_templates"] = {
        "GpuPowerHigh": {
            "expr": "all_smi_gpu_power_consumption_watts{${selector}} > ${watts}",
            "parameters": {"watts": {"type": "number", "default": 650}},
            "for": "10m",
            "severity": "warning",
        }
    }
    doc["groups"]["environment:production"]["alert_rules"]["GpuPowerHigh"] = {"thresholds": {"watts": 600}}
    policy, trace, _unused = model(doc).effective("no-override")
    assert policy["alert_rules"]["GpuPowerHigh"] == {
        "enabled": True,
        "thresholds": {"watts": 600},
        "for": "10m",
        "severity": "warning",
        "labels": {},
    }
    assert trace["alert_rules.GpuPowerHigh.thresholds.watts"]["history"][0] == {
        "source": "default",
        "strategy": "default",
        "value": 650,
    }
    policy, _unused, _unused = model(doc).effective("stg-1")
    assert policy["alert_rules"]["GpuPowerHigh"]["thresholds"]["watts"] == 650


def test_trace_covers_every_leaf_of_the_policy():
    from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_engine import iter_leaves

    policy, trace, _unused = model().effective("i-1234567890")
    leaves = set(".".join(p) for p, _unused in iter_leaves(policy))
    assert leaves == set(trace)
    for path, value in iter_leaves(policy):
        assert trace[".".join(path)]["value"] == value


def test_provider_metadata_root_to_leaf_then_target():
    m = model()
    hv = m.host_vars("i-1234567890")
    assert hv["accelmon_provider"] == "aws"
    assert hv["accelmon_provider_metadata"] == {
        "region": "us-east-1",
        "availability_zone": "us-east-1a",
        "instance_type": "p4d.24xlarge",
    }
    assert hv["accelmon_groups"] == [
        "infrastructure:aws/us-east-1/us-east-1a",
        "logical:ml-training",
        "environment:production",
    ]
    assert hv["accelmon_primary_group"] == "infrastructure:aws/us-east-1/us-east-1a"
    assert hv["ansible_host"] == "10.0.1.50"


def test_results_are_shared_between_targets_with_the_same_groups():
    doc = copy.deepcopy(SPEC_MODEL)
    doc["targets"]["twin"] = dict(doc["targets"]["no-override"])
    m = model(doc)
    assert m.effective("twin")[1] is m.effective("no-override")[1]
