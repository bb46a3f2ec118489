"""Registrations are untrusted input: a bad file is skipped with a warning, never fatal.

Each case runs the inventory plugin on a real InventoryData over a copy of the hybrid
example, with its own registrations/ directory.
"""

from __future__ import annotations

import os
import shutil
import textwrap

import pytest
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import inventory_loader

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
HYBRID = os.path.join(ROOT, "inventory", "examples", "hybrid")

GOOD = """
name: {name}
address: 192.168.10.{octet}
primary_group: "infrastructure:onprem/dc1/hall-a/rack-a01"
groups: ["environment:staging"]
accelerators: [{{vendor: nvidia, model: H200, count: 8}}]
provider_metadata: {{serial: ABC123}}
description: registered 2026-01-01 with bootstrap token abcdef
"""


def good(name, octet=40):
    return GOOD.format(name=name, octet=octet)


class Fleet:
    """A copy of the hybrid example whose registrations/ a test writes."""

    def __init__(self, tmp_path, monkeypatch):
        self.dir = tmp_path / "hybrid"
        shutil.copytree(HYBRID, str(self.dir))
        self.regs = self.dir / "registrations"
        shutil.rmtree(str(self.regs))
        self.regs.mkdir()
        self.source = str(self.dir / "hybrid.accelmon.yml")
        self.warnings = []
        self.plugin = inventory_loader.get("accelmon.monitoring.fleet")
        monkeypatch.setattr(self.plugin.display, "warning", lambda msg, *a, **k: self.warnings.append(msg))

    def write(self, name, text):
        path = self.regs / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def parse(self):
        inventory = InventoryData()
        self.plugin.parse(inventory, DataLoader(), self.source, cache=False)
        return inventory

    def warning_for(self, filename):
        found = [w for w in self.warnings if filename in w]
        assert len(found) == 1, self.warnings
        assert "registration skipped" in found[0] and "Fix:" in found[0], found[0]
        return found[0]


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    return Fleet(tmp_path, monkeypatch)


def test_the_registrars_fields_load_untouched(fleet):
    fleet.write("reg-ok.yml", good("reg-ok"))
    inv = fleet.parse()
    hv = inv.get_host("reg-ok").get_vars()
    assert hv["ansible_host"] == "192.168.10.40"
    assert hv["accelmon_accelerators"] == [{"vendor": "nvidia", "model": "H200", "count": 8}]
    assert hv["accelmon_provider_metadata"]["serial"] == "ABC123"
    assert fleet.warnings == []


@pytest.mark.parametrize(
    "text,reason",
    [
        ("name: [unclosed\n", "YAML syntax error"),
        ("name: a\nname: b\n", "duplicate key"),
        ("- name: reg-bad\n", "must be a mapping"),
        ("just a string\n", "must be a mapping"),
        ("", "empty file"),
        ("address: 192.168.10.41\nprimary_group: 'infrastructure:onprem/dc1/hall-a/rack-a01'\n", "no name"),
        ("name: 42\nprimary_group: 'infrastructure:onprem/dc1/hall-a/rack-a01'\n", "no name"),
        (good("reg-bad").replace("192.168.10.40", "not an address!"), "neither an IP address"),
        (good("reg-bad").replace("environment:staging", "environment:nowhere"), "is not declared"),
        (good("reg-bad").replace("infrastructure:onprem/dc1/hall-a/rack-a01", "logical:research"), "outside the"),
        (good("reg-bad").replace("vendor: nvidia", "vendor: acme"), "vendor must be one of"),
        (good("reg-bad").replace("name: reg-bad", "name: 'bad name'"), "target names are"),
    ],
)
def test_a_malformed_registration_is_skipped_and_the_rest_loads(fleet, text, reason):
    fleet.write("reg-bad.yml", text)
    fleet.write("reg-ok.yml", good("reg-ok"))
    inv = fleet.parse()
    assert "reg-ok" in inv.hosts and "dc1-a01-gpu01" in inv.hosts
    assert "reg-bad" not in inv.hosts
    warning = fleet.warning_for("reg-bad.yml")
    assert reason in warning, warning


@pytest.mark.parametrize(
    "extra,key",
    [
        ("vars: {ansible_connection: local}\n", "vars"),
        ("overrides: {alert_rules: {NodeDown: {enabled: false}}}\n", "overrides"),
        ("ansible_connection: local\n", "ansible_connection"),
        ("namespaces: {evil: {priority: 1}}\n", "namespaces"),
    ],
)
def test_a_registration_with_a_key_outside_the_allow_list_is_skipped(fleet, extra, key):
    fleet.write("reg-evil.yml", good("reg-evil") + extra)
    inv = fleet.parse()
    assert "reg-evil" not in inv.hosts
    assert "%r" % key in fleet.warning_for("reg-evil.yml")
    for host in inv.hosts.values():
        assert host.get_vars().get("ansible_connection") is None


@pytest.mark.parametrize("name", ["dc1-a01-gpu01", "DC1-A01-GPU01", "Dc1-A01-Gpu01"])
def test_a_registration_taking_a_model_targets_name_is_skipped_and_the_target_kept(fleet, name):
    fleet.write("imposter.yml", good(name, octet=99))
    inv = fleet.parse()
    assert set(h for h in inv.hosts if h.lower() == "dc1-a01-gpu01") == {"dc1-a01-gpu01"}
    hv = inv.get_host("dc1-a01-gpu01").get_vars()
    assert hv["ansible_host"] == "192.168.10.11"
    assert "environment:production" in hv["accelmon_groups"]
    warning = fleet.warning_for("imposter.yml")
    assert "taken by the model target dc1-a01-gpu01" in warning, warning


def test_two_registrations_of_one_name_keep_the_first(fleet):
    fleet.write("a-first.yml", good("reg-twice", octet=50))
    fleet.write("b-second.yml", good("REG-Twice", octet=51))
    inv = fleet.parse()
    assert inv.get_host("reg-twice").get_vars()["ansible_host"] == "192.168.10.50"
    assert "REG-Twice" not in inv.hosts
    assert "a-first.yml" in fleet.warning_for("b-second.yml")


def test_the_targets_form_is_refused(fleet):
    fleet.write(
        "many.yml",
        """
        targets:
          reg-m1: {primary_group: "infrastructure:onprem/dc1/hall-a/rack-a01"}
          reg-m2: {primary_group: "infrastructure:onprem/dc1/hall-a/rack-a01"}
        """,
    )
    fleet.write("reg-ok.yml", good("reg-ok"))
    inv = fleet.parse()
    assert "reg-m1" not in inv.hosts and "reg-m2" not in inv.hosts and "reg-ok" in inv.hosts
    assert "one host" in fleet.warning_for("many.yml")


def test_a_trailing_newline_in_a_name_is_refused(fleet):
    fleet.write("nl.yml", good("reg-nl").replace("name: reg-nl", 'name: "reg-nl\\n"'))
    inv = fleet.parse()
    assert not [h for h in inv.hosts if h.startswith("reg-nl")]
    assert "target names are" in fleet.warning_for("nl.yml")


def test_only_yaml_files_directly_in_the_directory_are_read(fleet):
    fleet.write("sub/reg-deep.yml", good("reg-deep"))
    fleet.write("reg-json.json", '{"name": "reg-json", "primary_group": "infrastructure:onprem/dc1/hall-a/rack-a01"}')
    fleet.write(".registering-x.tmp", "half written")
    fleet.write("reg-ok.yaml", good("reg-ok"))
    inv = fleet.parse()
    assert "reg-ok" in inv.hosts
    assert "reg-deep" not in inv.hosts and "reg-json" not in inv.hosts
    not_read = [w for w in fleet.warnings if "is not read" in w]
    assert len(not_read) == 2, fleet.warnings
    assert any("sub" in w and "subdirectory" in w for w in not_read)
    assert any("reg-json.json" in w for w in not_read)


def test_a_registration_that_makes_a_strict_conflict_is_skipped(tmp_path, monkeypatch):
    fleet = Fleet(tmp_path, monkeypatch)
    (fleet.dir / "fleet" / "zz-conflict.yml").write_text(
        textwrap.dedent("""
        groups:
          "logical:conflict-a": {alert_rules: {HighCPUUsage: {thresholds: {cpu_percent: 81}}}}
          "logical:conflict-b": {alert_rules: {HighCPUUsage: {thresholds: {cpu_percent: 82}}}}
        """)
    )
    fleet.write(
        "reg-conflict.yml",
        good("reg-conflict").replace('"environment:staging"', '"logical:conflict-a", "logical:conflict-b"'),
    )
    inv = fleet.parse()  # the hybrid example is strict: true
    assert "reg-conflict" not in inv.hosts and "dc1-a01-gpu01" in inv.hosts
    assert "conflicting values" in fleet.warning_for("reg-conflict.yml")


def test_registration_values_stay_untrusted(fleet):
    trust = pytest.importorskip("ansible.template")
    if not hasattr(trust, "is_trusted_as_template"):
        pytest.skip("template trust exists from ansible-core 2.19")
    fleet.write("reg-ok.yml", good("reg-ok"))
    hv = fleet.parse().get_host("reg-ok").get_vars()
    assert not trust.is_trusted_as_template(hv["ansible_host"])
    assert not trust.is_trusted_as_template(hv["accelmon_provider_metadata"]["serial"])
