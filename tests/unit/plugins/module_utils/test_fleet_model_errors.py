"""Bad input: every error names the file (and line), the item and the fix."""

from __future__ import annotations

import textwrap

import pytest

from ansible_collections.accelmon.monitoring.plugins.module_utils.fleet_loader import load_fleet
from ansible_collections.accelmon.monitoring.plugins.module_utils.fleet_model import build_model
from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_errors import (
    FleetModelError,
    FleetModelErrors,
)

GOOD_GROUPS = """
groups:
  "infrastructure:onprem/dc1": {}
  "logical:ml-training": {}
"""


def write_source(tmp_path, files, registrations=None):
    fleet = tmp_path / "fleet"
    fleet.mkdir()
    for name, text in files.items():
        (fleet / name).write_text(textwrap.dedent(text))
    source = tmp_path / "lab.accelmon.yml"
    body = "plugin: accelmon.monitoring.fleet\nmodel: fleet/\n"
    if registrations is not None:
        reg = tmp_path / "registrations"
        reg.mkdir()
        for name, text in registrations.items():
            (reg / name).write_text(textwrap.dedent(text))
        body += "registrations: registrations/\n"
    source.write_text(body)
    return str(source)


def error_of(tmp_path, files, registrations=None, strict=False):
    with pytest.raises(FleetModelError) as err:
        m = load_fleet(write_source(tmp_path, files, registrations), strict=strict)
        for name in m.targets:
            m.effective(name)
    text = str(err.value)
    assert "Traceback" not in text
    return err.value, text


def assert_located(exc, text, filename, line, *fragments):
    assert filename in text, text
    assert exc.line == line, text
    assert ("%s:%d" % (filename, line)) in text, text
    assert "Fix:" in text, text
    for fragment in fragments:
        assert fragment in text, text


def test_unknown_namespace(tmp_path):
    exc, text = error_of(
        tmp_path,
        {
            "groups.yml": """
        groups:
          "infrastucture:onprem/dc1": {}
        """
        },
    )
    assert_located(
        exc,
        text,
        "groups.yml",
        3,
        "unknown namespace 'infrastucture'",
        "did you mean infrastructure?",
        "group infrastucture:onprem/dc1",
    )


def test_undeclared_group_referenced_by_target(tmp_path):
    exc, text = error_of(
        tmp_path,
        {
            "groups.yml": GOOD_GROUPS,
            "targets.yml": """
        targets:
          gpu01:
            primary_group: "infrastructure:onprem/dc1"
            groups: ["logical:ml-trainig"]
        """,
        },
    )
    assert_located(
        exc,
        text,
        "targets.yml",
        5,
        "target gpu01",
        "'logical:ml-trainig' is not declared",
        "did you mean logical:ml-training?",
    )


def test_bad_strategy_name(tmp_path):
    exc, text = error_of(
        tmp_path,
        {
            "groups.yml": """
        groups:
          "environment:production":
            alert_rules:
              HighCPUUsage: {thresholds: {cpu_percent: 70}, strategy: replace}
        """
        },
    )
    assert_located(
        exc, text, "groups.yml", 5, "strategy 'replace' is not valid", "use merge", "group environment:production"
    )


def test_threshold_of_wrong_type(tmp_path):
    exc, text = error_of(
        tmp_path,
        {
            "groups.yml": """
        groups:
          "environment:production":
            alert_rules:
              HighCPUUsage:
                thresholds:
                  cpu_percent: "seventy"
        """
        },
    )
    assert_located(exc, text, "groups.yml", 7, "threshold cpu_percent of HighCPUUsage", "expected a number")


def test_unknown_rule_template(tmp_path):
    exc, text = error_of(
        tmp_path,
        {
            "groups.yml": """
        groups:
          "environment:production":
            alert_rules:
              HighCpuUsage: {thresholds: {cpu_percent: 70}}
        """
        },
    )
    assert_located(
        exc, text, "groups.yml", 5, "unknown alert rule template 'HighCpuUsage'", "did you mean HighCPUUsage?"
    )


def test_unknown_check_type(tmp_path):
    exc, text = error_of(
        tmp_path,
        {
            "groups.yml": """
        groups:
          "logical:ml-training":
            checks:
              mounts: {config: {paths: [/models]}}
        """
        },
    )
    assert_located(exc, text, "groups.yml", 5, "unknown check type 'mounts'", "did you mean mount?")


def test_target_defined_in_two_files(tmp_path):
    target = """
        targets:
          gpu01:
            primary_group: "infrastructure:onprem/dc1"
        """
    exc, text = error_of(tmp_path, {"a.yml": GOOD_GROUPS + textwrap.dedent(target), "b.yml": target})
    assert_located(exc, text, "b.yml", 3, "target gpu01", "defined twice", "a.yml")


def test_registered_host_also_in_model_is_skipped_not_fatal(tmp_path):
    model = load_fleet(
        write_source(
            tmp_path,
            {
                "a.yml": GOOD_GROUPS
                + """
targets:
  gpu01: {primary_group: "infrastructure:onprem/dc1"}
"""
            },
            registrations={"gpu01.yml": "name: GPU01\nprimary_group: 'infrastructure:onprem/dc1'\n"},
        )
    )
    assert list(model.targets) == ["gpu01"] and not model.targets["gpu01"].registered
    [skipped] = model.skipped
    text = str(skipped)
    assert "gpu01.yml:1" in text and "taken by the model target gpu01" in text and "a.yml" in text
    assert "Fix:" in text


@pytest.mark.parametrize(
    "doc,fragment",
    [
        ({"namespaces": {"tenant\n": {"priority": 20}}}, "namespace names"),
        ({"rule_templates": {"GpuHot\n": {"expr": "up == 0", "severity": "warning"}}}, "CamelCase"),
        ({"groups": {"infrastructure:dc1\n": {}}}, "invalid segment"),
        (
            {"groups": {"infrastructure:dc1": {}}, "targets": {"t1\n": {"primary_group": "infrastructure:dc1"}}},
            "target names",
        ),
        (
            {
                "groups": {"infrastructure:dc1": {}},
                "targets": {"t1": {"primary_group": "infrastructure:dc1", "address": "host.example\n"}},
            },
            "neither an IP address",
        ),
        (
            {
                "groups": {"infrastructure:dc1": {}},
                "targets": {"t1": {"primary_group": "infrastructure:dc1", "address": "10.0.0.1\n"}},
            },
            "address",
        ),
    ],
)
def test_model_names_with_a_trailing_newline_are_refused(doc, fragment):
    with pytest.raises(FleetModelError) as err:
        build_model([(doc, "m.yml")])
    assert fragment in str(err.value), str(err.value)


def test_registrations_are_checked_through_an_allow_list_in_build_model():
    docs = [
        ({"groups": {"infrastructure:dc1": {}}, "targets": {"t1": {"primary_group": "infrastructure:dc1"}}}, "m.yml")
    ]
    regs = [
        ({"name": "r1", "primary_group": "infrastructure:dc1", "vars": {"ansible_connection": "local"}}, "r1.yml"),
        ({"name": "r2", "primary_group": "infrastructure:dc1", "overrides": {}}, "r2.yml"),
        ({"targets": {"r3": {"primary_group": "infrastructure:dc1"}}}, "r3.yml"),
        (None, "r4.yml", {"message": "YAML syntax error: x", "line": 2, "fix": "correct the YAML"}),
        ({"name": "T1", "primary_group": "infrastructure:dc1"}, "r5.yml"),
        ({"name": "r6", "primary_group": "infrastructure:dc1", "description": "ok"}, "r6.yml"),
    ]
    model = build_model(docs, regs)
    assert sorted(model.targets) == ["r6", "t1"] and model.targets["r6"].registered
    assert [e.source_file for e in model.skipped] == ["r1.yml", "r2.yml", "r3.yml", "r4.yml", "r5.yml"]
    assert "'vars'" in str(model.skipped[0]) and "'overrides'" in str(model.skipped[1])


def test_group_defined_in_two_files(tmp_path):
    exc, text = error_of(
        tmp_path,
        {
            "a.yml": GOOD_GROUPS,
            "b.yml": """
        groups:
          "logical:ml-training": {}
        """,
        },
    )
    assert_located(exc, text, "b.yml", 3, "group logical:ml-training", "defined twice", "a.yml")


def test_yaml_syntax_error(tmp_path):
    exc, text = error_of(
        tmp_path,
        {
            "broken.yml": """
        groups:
          "logical:a": {alert_rules: {HighCPUUsage: {thresholds: {cpu_percent: 70}}
          "logical:b": {}
        """
        },
    )
    assert "broken.yml:" in text and "YAML syntax error" in text and "Fix:" in text
    assert exc.line in (3, 4)


def test_duplicate_key_in_one_file(tmp_path):
    exc, text = error_of(
        tmp_path,
        {
            "dup.yml": GOOD_GROUPS
            + """
targets:
  gpu01: {primary_group: "infrastructure:onprem/dc1"}
  gpu01: {primary_group: "infrastructure:onprem/dc1"}
"""
        },
    )
    assert "dup.yml:8" in text and "duplicate key 'gpu01'" in text


def test_primary_group_outside_infrastructure(tmp_path):
    exc, text = error_of(
        tmp_path,
        {
            "a.yml": GOOD_GROUPS
            + """
targets:
  gpu01:
    primary_group: "logical:ml-training"
"""
        },
    )
    assert_located(exc, text, "a.yml", 8, "outside the infrastructure namespace", "target gpu01")


@pytest.mark.parametrize("address", ["10.0.1.500", "10.0.1", "fd00::1::2", "bad_host!", "-lead.example"])
def test_invalid_address(tmp_path, address):
    exc, text = error_of(
        tmp_path,
        {
            "a.yml": GOOD_GROUPS
            + """
targets:
  gpu01:
    address: "%s"
    primary_group: "infrastructure:onprem/dc1"
"""
            % address
        },
    )
    assert_located(exc, text, "a.yml", 8, "address %r" % address, "target gpu01")


@pytest.mark.parametrize("address", ["10.0.1.50", "fd00:10::21", "gpu01.dc1.example.com", "gpu01"])
def test_valid_addresses(tmp_path, address):
    m = load_fleet(
        write_source(
            tmp_path,
            {
                "a.yml": GOOD_GROUPS
                + """
targets:
  gpu01: {address: "%s", primary_group: "infrastructure:onprem/dc1"}
"""
                % address
            },
        )
    )
    assert m.host_vars("gpu01")["ansible_host"] == address


def test_safe_name_collision(tmp_path):
    exc, text = error_of(
        tmp_path,
        {
            "a.yml": """
        groups:
          "logical:ml-training": {}
          "logical:ml_training": {}
        """
        },
    )
    assert "logical__ml_training" in text and "collides" in text and "a.yml:" in text and "Fix:" in text


def test_non_integer_priority(tmp_path):
    exc, text = error_of(
        tmp_path,
        {
            "ns.yml": """
        namespaces:
          tenant: {priority: high}
        """
        },
    )
    assert_located(exc, text, "ns.yml", 3, "priority 'high' is not an integer", "namespace tenant")


def test_equal_priorities(tmp_path):
    exc, text = error_of(
        tmp_path,
        {
            "ns.yml": """
        namespaces:
          tenant: {priority: 50}
        """
        },
    )
    assert "share priority 50" in text and "Fix:" in text


def test_same_depth_conflict_under_strict(tmp_path):
    exc, text = error_of(
        tmp_path,
        {
            "a.yml": """
        groups:
          "infrastructure:onprem/dc1": {}
          "logical:a": {alert_rules: {HighCPUUsage: {thresholds: {cpu_percent: 70}}}}
          "logical:b": {alert_rules: {HighCPUUsage: {thresholds: {cpu_percent: 80}}}}
        targets:
          gpu01: {primary_group: "infrastructure:onprem/dc1", groups: ["logical:a", "logical:b"]}
        """
        },
        strict=True,
    )
    assert "target gpu01" in text and "conflicting values" in text and "a.yml" in text
    assert "logical:a" in text and "logical:b" in text and "Fix:" in text


def test_several_problems_reported_together(tmp_path):
    with pytest.raises(FleetModelErrors) as err:
        load_fleet(
            write_source(
                tmp_path,
                {
                    "a.yml": GOOD_GROUPS
                    + """
targets:
  gpu01: {primary_group: "infrastructure:onprem/dc9"}
  gpu02: {primary_group: "infrastructure:onprem/dc1", address: "999.1.1.1"}
"""
                },
            )
        )
    assert len(err.value.errors) == 2
    assert "a.yml:7" in str(err.value) and "a.yml:8" in str(err.value)


def test_unknown_key_suggests(tmp_path):
    exc, text = error_of(
        tmp_path,
        {
            "a.yml": GOOD_GROUPS
            + """
targets:
  gpu01: {primary_grop: "infrastructure:onprem/dc1"}
"""
        },
    )
    assert "unknown key 'primary_grop'" in text and "did you mean primary_group?" in text


def test_provider_outside_infrastructure(tmp_path):
    exc, text = error_of(
        tmp_path,
        {
            "a.yml": """
        groups:
          "logical:a": {provider: aws}
        """
        },
    )
    assert "provider is only allowed on infrastructure groups" in text and "a.yml:3" in text


def test_vars_cannot_set_contract_variables():
    with pytest.raises(FleetModelError) as err:
        build_model(
            [
                (
                    {
                        "groups": {"infrastructure:dc1": {"vars": {"accelmon_effective_policy": {}}}},
                        "targets": {"t": {"primary_group": "infrastructure:dc1"}},
                    },
                    "fleet.yml",
                )
            ]
        )
    assert "accelmon_effective_policy" in str(err.value) and "group infrastructure:dc1" in str(err.value)
