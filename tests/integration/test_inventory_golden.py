"""Golden `ansible-inventory --list` (and `--list --export`, what AWX stores) output for the
example fleets.

Regenerate after an intended change with: UPDATE_GOLDEN=1 make test-integration
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from helpers import ROOT, inventory_list, run, BIN

EXAMPLES = {
    "spec": "inventory/examples/spec/spec.accelmon.yml",
    "hybrid": "inventory/examples/hybrid/hybrid.accelmon.yml",
}


@pytest.mark.parametrize("name,export", [(n, False) for n in sorted(EXAMPLES)] + [("hybrid", True)])
def test_inventory_list_matches_golden(name, export):
    got = inventory_list(EXAMPLES[name], raw=True, export=export)
    # ansible-core 2.19 names its JSON profile here; 2.16-2.18 do not: not part of the output's content
    got["_meta"].pop("profile", None)
    golden = os.path.join(ROOT, "tests", "golden", "%s.%s.json" % (name, "export" if export else "inventory"))
    if os.environ.get("UPDATE_GOLDEN"):
        with open(golden, "w") as handle:
            json.dump(got, handle, indent=1, sort_keys=True)
            handle.write("\n")
    with open(golden) as handle:
        want = json.load(handle)
    assert got == want, "ansible-inventory output changed; if intended, regenerate with UPDATE_GOLDEN=1"


def test_export_stores_each_policy_once_and_plain_values():
    data = inventory_list(EXAMPLES["hybrid"], raw=True, export=True)
    hostvars = data["_meta"]["hostvars"]
    for name, hv in hostvars.items():
        assert "accelmon_effective_policy" not in hv and "accelmon_policy_trace" not in hv, name
        group = data["_accelmon_policy_%s" % hv["accelmon_policy_id"]]
        assert name in group["hosts"] and "accelmon_effective_policy" in group["vars"]
    # model values are plain; only what a managed host registered stays marked untrusted
    unsafe = set(n for n, hv in hostvars.items() if "__ansible_unsafe" in json.dumps(hv))
    assert unsafe == {"dc1-a01-cpu01"}
    policies = json.dumps([v for k, v in data.items() if k.startswith("_accelmon_policy_")])
    assert "__ansible_unsafe" not in policies


def test_spec_outcomes_through_the_cli():
    hostvars = inventory_list(EXAMPLES["spec"])["_meta"]["hostvars"]
    trace = hostvars["i-1234567890"]["accelmon_policy_trace"]["alert_rules.HighCPUUsage.thresholds.cpu_percent"]
    assert (trace["value"], trace["source"]) == (60, "target:i-1234567890")
    assert [h["value"] for h in trace["history"]] == [90, 90, 95, 70, 60]
    assert hostvars["stg-gpu-01"]["accelmon_effective_policy"]["alert_rules"]["NodeDown"]["enabled"] is False
    assert hostvars["ml-onprem-01"]["accelmon_effective_policy"]["checks"]["mount"]["paths"] == ["/data", "/models"]


def test_limit_patterns_work_as_operators_expect():
    out = run(
        [
            os.path.join(BIN, "ansible"),
            "-i",
            EXAMPLES["hybrid"],
            "--list-hosts",
            "environment__production:&infrastructure__aws",
        ]
    ).stdout
    hosts = sorted(line.strip() for line in out.splitlines()[1:])
    assert hosts == ["i-0a1b2c3d4e5f60002", "i-1234567890"]
    out = run([os.path.join(BIN, "ansible"), "-i", EXAMPLES["hybrid"], "--list-hosts", "logical__ml_training"]).stdout
    assert sorted(line.strip() for line in out.splitlines()[1:]) == [
        "dc1-a01-gpu01",
        "dc1-a01-gpu02",
        "i-0a1b2c3d4e5f60002",
        "i-1234567890",
    ]


def test_bad_model_gives_clear_error_without_traceback(tmp_path):
    (tmp_path / "fleet.yml").write_text(
        'groups:\n  "infrastructure:dc1": {}\ntargets:\n  gpu01: {primary_group: "logical:a"}\n'
    )
    source = tmp_path / "bad.accelmon.yml"
    source.write_text("plugin: accelmon.monitoring.fleet\nmodel: fleet.yml\n")
    proc = run(
        [os.path.join(BIN, "ansible-inventory"), "-i", str(source), "--list"],
        check=False,
        ANSIBLE_INVENTORY_UNPARSED_FAILED="true",
    )
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "fleet.yml:4" in text and "target gpu01" in text and "Fix:" in text
    assert "Traceback" not in text


def test_bad_registrations_are_skipped_with_a_warning_through_the_cli(tmp_path):
    shutil.copytree(os.path.join(ROOT, "inventory", "examples", "hybrid"), str(tmp_path / "hybrid"))
    regs = tmp_path / "hybrid" / "registrations"
    rack = "primary_group: 'infrastructure:onprem/dc1/hall-a/rack-a01'\n"
    (regs / "broken.yml").write_text("name: [unclosed\n")
    (regs / "connection.yml").write_text("name: reg-local\n" + rack + "vars: {ansible_connection: local}\n")
    (regs / "quiet.yml").write_text(
        "name: reg-quiet\n" + rack + "overrides: {alert_rules: {NodeDown: {enabled: false}}}\n"
    )
    (regs / "imposter.yml").write_text("name: I-1234567890\n" + rack)
    (regs / "many.yml").write_text("targets: {reg-m1: {%s}}\n" % rack.strip())
    (regs / "deep").mkdir()
    (regs / "deep" / "reg-deep.yml").write_text("name: reg-deep\n" + rack)
    source = str(tmp_path / "hybrid" / "hybrid.accelmon.yml")
    proc = run([os.path.join(BIN, "ansible-inventory"), "-i", source, "--list"])
    hostvars = json.loads(proc.stdout)["_meta"]["hostvars"]
    assert "dc1-a01-cpu01" in hostvars and "i-1234567890" in hostvars  # the rest loads
    for name in ("reg-local", "reg-quiet", "I-1234567890", "reg-m1", "reg-deep"):
        assert name not in hostvars, name
    assert all("ansible_connection" not in hv for hv in hostvars.values())
    warnings = " ".join(proc.stderr.split())  # ansible wraps long warnings
    for fragment in ("broken.yml", "'vars'", "'overrides'", "imposter.yml", "many.yml", "deep"):
        assert fragment in warnings, (fragment, proc.stderr)
    assert warnings.count("registration skipped") == 5, proc.stderr
