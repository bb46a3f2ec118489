"""The inventory plugin on a real InventoryData (no mocks of Ansible's inventory)."""

from __future__ import annotations

import os
import shutil
import textwrap

import pytest
from ansible.errors import AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import inventory_loader

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
EXAMPLES = os.path.join(ROOT, "inventory", "examples")


def parse(source, inventory=None):
    inventory = inventory or InventoryData()
    plugin = inventory_loader.get("accelmon.monitoring.fleet")
    assert plugin is not None, "the collection is not on the collections path"
    assert plugin.verify_file(source)
    plugin.parse(inventory, DataLoader(), source, cache=False)
    return inventory


def test_verify_file_only_accepts_our_suffixes(tmp_path):
    plugin = inventory_loader.get("accelmon.monitoring.fleet")
    for name, ok in [
        ("prod.accelmon.yml", True),
        ("prod.accelmon.yaml", True),
        ("prod.yml", False),
        ("accelmon.yml.bak", False),
    ]:
        path = tmp_path / name
        path.write_text("plugin: accelmon.monitoring.fleet\n")
        assert plugin.verify_file(str(path)) is ok, name


def test_spec_example_groups_children_and_hostvars():
    inv = parse(os.path.join(EXAMPLES, "spec", "spec.accelmon.yml"))
    assert set(
        [
            "infrastructure",
            "logical",
            "environment",
            "infrastructure__aws",
            "infrastructure__aws__us_east_1",
            "infrastructure__aws__us_east_1__us_east_1a",
            "logical__ml_training",
            "environment__production",
            "environment__staging",
        ]
    ) <= set(inv.groups)
    assert [g.name for g in inv.groups["infrastructure__aws"].child_groups] == ["infrastructure__aws__us_east_1"]
    host = inv.get_host("i-1234567890")
    hv = host.get_vars()
    assert hv["ansible_host"] == "10.0.1.50"
    assert hv["accelmon_primary_group"] == "infrastructure:aws/us-east-1/us-east-1a"
    assert hv["accelmon_groups"][0] == hv["accelmon_primary_group"]
    assert hv["accelmon_effective_policy"]["alert_rules"]["HighCPUUsage"]["thresholds"]["cpu_percent"] == 60
    assert (
        hv["accelmon_policy_trace"]["alert_rules.HighCPUUsage.thresholds.cpu_percent"]["source"]
        == "target:i-1234567890"
    )
    assert hv["accelmon_provider"] == "aws"
    # membership through children: the host is in every ancestor group
    ancestors = set(g.name for g in host.get_groups())
    assert {
        "infrastructure",
        "infrastructure__aws",
        "infrastructure__aws__us_east_1",
        "logical",
        "logical__ml_training",
        "environment",
        "environment__production",
    } <= ancestors
    stg = inv.get_host("stg-gpu-01").get_vars()
    assert stg["accelmon_effective_policy"]["alert_rules"]["NodeDown"]["enabled"] is False
    ml = inv.get_host("ml-onprem-01").get_vars()
    assert ml["accelmon_effective_policy"]["checks"]["mount"]["paths"] == ["/data", "/models"]


def test_policy_does_not_travel_through_group_vars():
    inv = parse(os.path.join(EXAMPLES, "spec", "spec.accelmon.yml"))
    for group in inv.groups.values():
        assert not any(k.startswith("accelmon_") for k in group.get_vars())


def test_hybrid_example_with_registrations_and_custom_namespace():
    inv = parse(os.path.join(EXAMPLES, "hybrid", "hybrid.accelmon.yml"))
    assert "dc1-a01-cpu01" in inv.hosts  # from registrations/
    assert "cost_center__cc_4711" in inv.groups
    assert [h.name for h in inv.groups["cost_center__cc_4711"].get_hosts()] == ["dc1-a01-gpu02", "i-0a1b2c3d4e5f60002"]
    ipv6 = inv.get_host("dc1-a02-npu-01").get_vars()
    assert ipv6["ansible_host"] == "fd00:10::21"


def test_constructed_options(tmp_path):
    shutil.copytree(os.path.join(EXAMPLES, "spec"), str(tmp_path / "spec"))
    source = tmp_path / "spec" / "constructed.accelmon.yml"
    source.write_text(
        textwrap.dedent("""
        plugin: accelmon.monitoring.fleet
        model: fleet.yml
        compose:
          cpu_alert_at: accelmon_effective_policy.alert_rules.HighCPUUsage.thresholds.cpu_percent
        groups:
          strict_cpu: accelmon_effective_policy.alert_rules.HighCPUUsage.thresholds.cpu_percent < 75
        keyed_groups:
          - key: accelmon_provider
            prefix: provider
        """)
    )
    inv = parse(str(source))
    assert inv.get_host("i-1234567890").get_vars()["cpu_alert_at"] == 60
    assert [h.name for h in inv.groups["strict_cpu"].get_hosts()] == ["i-1234567890"]
    assert sorted(h.name for h in inv.groups["provider_aws"].get_hosts()) == ["i-1234567890", "stg-gpu-01"]


def test_policy_trace_option_off(tmp_path):
    shutil.copytree(os.path.join(EXAMPLES, "spec"), str(tmp_path / "spec"))
    source = tmp_path / "spec" / "notrace.accelmon.yml"
    source.write_text("plugin: accelmon.monitoring.fleet\nmodel: fleet.yml\npolicy_trace: false\n")
    hv = parse(str(source)).get_host("i-1234567890").get_vars()
    assert "accelmon_policy_trace" not in hv
    assert hv["accelmon_effective_policy"]["alert_rules"]["HighCPUUsage"]["thresholds"]["cpu_percent"] == 60


def test_bad_model_raises_parser_error_and_adds_nothing(tmp_path):
    (tmp_path / "fleet.yml").write_text(
        textwrap.dedent("""
        groups:
          "infrastructure:dc1": {}
          "logical:a": {alert_rules: {HighCPUUsage: {thresholds: {cpu_percent: 70}}}}
          "logical:b": {alert_rules: {HighCPUUsage: {thresholds: {cpu_percent: 80}}}}
        targets:
          ok-host: {primary_group: "infrastructure:dc1"}
          bad-host: {primary_group: "infrastructure:dc1", groups: ["logical:a", "logical:b"]}
        """)
    )
    source = tmp_path / "bad.accelmon.yml"
    source.write_text("plugin: accelmon.monitoring.fleet\nmodel: fleet.yml\nstrict: true\n")
    inv = InventoryData()
    with pytest.raises(AnsibleParserError) as err:
        parse(str(source), inv)
    assert "conflicting values" in str(err.value) and "bad-host" in str(err.value)
    assert "ok-host" not in inv.hosts and "logical__a" not in inv.groups


def test_cache_rereads_changed_files(tmp_path):
    from ansible.plugins.loader import cache_loader  # noqa: F401  (jsonfile cache plugin)

    shutil.copytree(os.path.join(EXAMPLES, "spec"), str(tmp_path / "spec"))
    cache_dir = tmp_path / "cache"
    source = tmp_path / "spec" / "cached.accelmon.yml"
    source.write_text(
        textwrap.dedent(
            """
        plugin: accelmon.monitoring.fleet
        model: fleet.yml
        cache: true
        cache_plugin: ansible.builtin.jsonfile
        cache_connection: %s
        """
            % cache_dir
        )
    )
    plugin = inventory_loader.get("accelmon.monitoring.fleet")
    inv = InventoryData()
    plugin.parse(inv, DataLoader(), str(source), cache=True)
    plugin.update_cache_if_changed()
    assert "ml-onprem-01" in inv.hosts
    fleet = tmp_path / "spec" / "fleet.yml"
    fleet.write_text(fleet.read_text().replace("ml-onprem-01", "ml-onprem-99"))
    os.utime(str(fleet), (1, 1))
    plugin = inventory_loader.get("accelmon.monitoring.fleet")
    inv = InventoryData()
    plugin.parse(inv, DataLoader(), str(source), cache=True)
    assert "ml-onprem-99" in inv.hosts and "ml-onprem-01" not in inv.hosts


def test_model_rule_templates_reach_the_alert_rules_action(tmp_path):
    (tmp_path / "fleet.yml").write_text(
        textwrap.dedent("""
        rule_templates:
          GpuPowerHigh:
            expr: all_smi_gpu_power_consumption_watts{${selector}} > ${watts}
            parameters: {watts: {type: number, default: 650}}
        groups:
          "infrastructure:dc1": {alert_rules: {GpuPowerHigh: {thresholds: {watts: 600}}}}
        targets:
          gpu01: {primary_group: "infrastructure:dc1"}
        """)
    )
    source = tmp_path / "t.accelmon.yml"
    source.write_text("plugin: accelmon.monitoring.fleet\nmodel: fleet.yml\n")
    inv = parse(str(source))
    # the validated catalog form, which the alert_rules action uses without validating again
    template = inv.groups["all"].get_vars()["accelmon_rule_templates"]["GpuPowerHigh"]
    assert template["parameters"] == {"watts": {"type": "number", "default": 650, "description": ""}}
    assert template["for"] == "5m" and template["severity"] == "warning" and template["metrics_source"] == "model"
    hv = inv.get_host("gpu01").get_vars()
    assert hv["accelmon_effective_policy"]["alert_rules"]["GpuPowerHigh"]["thresholds"] == {"watts": 600}
