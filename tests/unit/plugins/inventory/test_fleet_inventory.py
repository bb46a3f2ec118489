"""The inventory plugin on a real InventoryData (no mocks of Ansible's inventory)."""

from __future__ import annotations

import os
import shutil
import textwrap

import pytest
from ansible.errors import AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.inventory.helpers import get_group_vars
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import inventory_loader
from ansible.utils.vars import combine_vars

from ansible_collections.accelmon.monitoring.plugins.plugin_utils.trust import HAS_DATA_TAGGING

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
EXAMPLES = os.path.join(ROOT, "inventory", "examples")


def parse(source, inventory=None):
    inventory = inventory or InventoryData()
    plugin = inventory_loader.get("accelmon.monitoring.fleet")
    assert plugin is not None, "the collection is not on the collections path"
    assert plugin.verify_file(source)
    plugin.parse(inventory, DataLoader(), source, cache=False)
    return inventory


def hostvars(inv, name):
    """A host's inventory variables as a play sees them: its groups' variables, then its own."""
    host = inv.get_host(name)
    return combine_vars(get_group_vars(host.get_groups()), host.get_vars())


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
    hv = hostvars(inv, "i-1234567890")
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
    stg = hostvars(inv, "stg-gpu-01")
    assert stg["accelmon_effective_policy"]["alert_rules"]["NodeDown"]["enabled"] is False
    ml = hostvars(inv, "ml-onprem-01")
    assert ml["accelmon_effective_policy"]["checks"]["mount"]["paths"] == ["/data", "/models"]


def test_one_policy_class_group_per_distinct_effective_policy():
    inv = parse(os.path.join(EXAMPLES, "hybrid", "hybrid.accelmon.yml"))
    classes = dict((n, g) for n, g in inv.groups.items() if n.startswith("_accelmon_policy_"))
    policies = [g.get_vars()["accelmon_effective_policy"] for g in classes.values()]
    # distinct: no two classes hold an equal policy
    assert all(a != b for i, a in enumerate(policies) for b in policies[i + 1 :])
    for name, host in inv.hosts.items():
        own = host.get_vars()
        assert "accelmon_effective_policy" not in own and "accelmon_policy_trace" not in own
        member = [g.name for g in host.get_groups() if g.name.startswith("_accelmon_policy_")]
        assert member == ["_accelmon_policy_" + own["accelmon_policy_id"]], name
    # model groups carry no policy: it travels only through the class groups
    for name, group in inv.groups.items():
        if not name.startswith("_accelmon_"):
            assert not any(k.startswith("accelmon_") for k in group.get_vars()), name


def test_hosts_with_equal_policies_share_one_class(tmp_path):
    (tmp_path / "fleet.yml").write_text(
        textwrap.dedent("""
        groups:
          "infrastructure:dc1": {alert_rules: {HighCPUUsage: {thresholds: {cpu_percent: 70}}}}
          "infrastructure:dc2": {}
          "logical:a": {alert_rules: {HighCPUUsage: {thresholds: {cpu_percent: 70}}}}
        targets:
          a: {primary_group: "infrastructure:dc1"}
          b: {primary_group: "infrastructure:dc1"}
          c: {primary_group: "infrastructure:dc2", groups: ["logical:a"]}
          d: {primary_group: "infrastructure:dc2"}
          e: {primary_group: "infrastructure:dc2", overrides: {alert_rules: {HighCPUUsage: {thresholds: {cpu_percent: 70}}}}}
        """)
    )
    source = tmp_path / "t.accelmon.yml"
    source.write_text("plugin: accelmon.monitoring.fleet\nmodel: fleet.yml\n")
    inv = parse(str(source))
    ids = dict((h, inv.get_host(h).get_vars()["accelmon_policy_id"]) for h in "abcde")
    # a, b (same groups), c (other groups, equal policy) and e (override to the same value)
    assert ids["a"] == ids["b"] == ids["c"] == ids["e"] != ids["d"]
    assert sorted(n for n in inv.groups if n.startswith("_accelmon_policy_")) == sorted(
        "_accelmon_policy_" + i for i in set(ids.values())
    )


def test_trace_is_off_by_default_and_shared_per_class_when_on(tmp_path):
    shutil.copytree(os.path.join(EXAMPLES, "spec"), str(tmp_path / "spec"))
    source = tmp_path / "spec" / "default.accelmon.yml"
    source.write_text("plugin: accelmon.monitoring.fleet\nmodel: fleet.yml\n")
    inv = parse(str(source))
    assert not any(n.startswith("_accelmon_trace_") for n in inv.groups)
    assert all("accelmon_policy_trace" not in hostvars(inv, h) for h in inv.hosts)
    traced = parse(os.path.join(EXAMPLES, "spec", "spec.accelmon.yml"))  # policy_trace: true
    for name in traced.hosts:
        groups = [g.name for g in traced.get_host(name).get_groups() if g.name.startswith("_accelmon_trace_")]
        assert len(groups) == 1 and "accelmon_policy_trace" in traced.groups[groups[0]].get_vars()


@pytest.mark.skipif(not HAS_DATA_TAGGING, reason="template trust exists from ansible-core 2.19")
def test_model_values_trusted_registration_values_not():
    from ansible.template import is_trusted_as_template

    inv = parse(os.path.join(EXAMPLES, "hybrid", "hybrid.accelmon.yml"))
    model_host = inv.get_host("i-1234567890").get_vars()
    assert is_trusted_as_template(model_host["accelmon_primary_group"])
    assert is_trusted_as_template(model_host["ansible_host"])
    policy = hostvars(inv, "i-1234567890")["accelmon_effective_policy"]
    assert is_trusted_as_template(policy["alert_rules"]["HighCPUUsage"]["severity"])
    registered = inv.get_host("dc1-a01-cpu01").get_vars()  # from registrations/
    assert not is_trusted_as_template(registered["ansible_host"])
    assert not is_trusted_as_template(registered["accelmon_primary_group"])


def test_plugin_uses_public_inventory_api_only():
    with open(os.path.join(ROOT, "plugins", "inventory", "fleet.py")) as handle:
        code = handle.read()
    assert "__wrapped__" not in code and "_inspector" not in code


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
    # ansible-core < 2.19 templates compose values to text unless jinja2_native is on
    assert int(inv.get_host("i-1234567890").get_vars()["cpu_alert_at"]) == 60
    assert [h.name for h in inv.groups["strict_cpu"].get_hosts()] == ["i-1234567890"]
    assert sorted(h.name for h in inv.groups["provider_aws"].get_hosts()) == ["i-1234567890", "stg-gpu-01"]


def test_policy_trace_option_off(tmp_path):
    shutil.copytree(os.path.join(EXAMPLES, "spec"), str(tmp_path / "spec"))
    source = tmp_path / "spec" / "notrace.accelmon.yml"
    source.write_text("plugin: accelmon.monitoring.fleet\nmodel: fleet.yml\npolicy_trace: false\n")
    hv = hostvars(parse(str(source)), "i-1234567890")
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
            summary: "GPU power high on {{ $labels.instance }}"
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
    # Prometheus's own {{ $labels.x }} templates: never templated by Ansible
    summary = template["summary"]
    if HAS_DATA_TAGGING:
        from ansible.template import is_trusted_as_template

        assert not is_trusted_as_template(summary)
    else:
        from ansible.utils.unsafe_proxy import AnsibleUnsafe

        assert isinstance(summary, AnsibleUnsafe)
    hv = hostvars(inv, "gpu01")
    assert hv["accelmon_effective_policy"]["alert_rules"]["GpuPowerHigh"]["thresholds"] == {"watts": 600}
