"""Compiled alert rules against the real promtool, and the alert_rules action in ansible-playbook.

For the hybrid example fleet and the fleet-model.md example: `promtool check rules` on the
compiled file, and `promtool test rules` on generated cases proving per-parameter-set
thresholds (a production host at 72 % CPU alerts on its 70, a research host at the same
load does not on its 99) and AcceleratorOffline (a device's series vanishing while up == 1
fires, while up == 0 it does not). promtool comes from Debian's prometheus package
(2.42); without it these tests skip, CI installs it.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ansible_collections.accelmon.monitoring.plugins.module_utils import rule_compiler as rc
from ansible_collections.accelmon.monitoring.plugins.module_utils.fleet_loader import load_fleet

ROOT = Path(__file__).resolve().parents[2]
HYBRID = ROOT / "inventory" / "examples" / "hybrid" / "hybrid.accelmon.yml"
PLAYBOOK = ROOT / "tests" / "integration" / "playbooks" / "alert_rules_write.yml"
PROMTOOL = shutil.which("promtool") or ("/usr/bin/promtool" if os.path.exists("/usr/bin/promtool") else None)

needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (apt-get install prometheus; CI installs it)")

# The model of shared/design/fleet-model.md, plus a staging target (NodeDown disabled) and
# a host name with dots to exercise selector escaping.
FLEET_MODEL_MD = {
    "fleet/model.yml": """
        groups:
          "infrastructure:aws/us-east-1":
            provider: aws
            metadata: {region: us-east-1}
            alert_rules:
              HighCPUUsage: {thresholds: {cpu_percent: 90}}
          "infrastructure:aws/us-east-1/us-east-1a":
            metadata: {availability_zone: us-east-1a}
          "logical:ml-training":
            checks:
              mount: {config: {paths: ["/models"]}}
            alert_rules:
              HighCPUUsage: {thresholds: {cpu_percent: 95}, strategy: merge}
          "environment:production":
            alert_rules:
              HighCPUUsage: {thresholds: {cpu_percent: 70}, strategy: override}
            alerting: {receiver: oncall-pager}
          "environment:staging":
            alert_rules:
              NodeDown: {enabled: false}
        targets:
          i-1234567890:
            address: 10.0.1.50
            primary_group: "infrastructure:aws/us-east-1/us-east-1a"
            groups: ["logical:ml-training", "environment:production"]
            provider_metadata: {instance_type: p4d.24xlarge}
            accelerators: [{vendor: nvidia, model: A100, count: 8}]
            overrides:
              alert_rules:
                HighCPUUsage: {thresholds: {cpu_percent: 60}}
          gpu-7.us-east-1.example.com:
            address: 10.0.1.51
            primary_group: "infrastructure:aws/us-east-1/us-east-1a"
            groups: ["logical:ml-training", "environment:production"]
          stage-1.example.com:
            address: 10.0.1.60
            primary_group: "infrastructure:aws/us-east-1/us-east-1a"
            groups: ["environment:staging"]
    """,
    "fleet-model.accelmon.yml": """
        plugin: accelmon.monitoring.fleet
        model: fleet/
        strict: true
    """,
}


def write_fleet(tmp_path, files):
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path / [n for n in files if n.endswith("accelmon.yml")][0]


def compile_fleet(source):
    model = load_fleet(str(source))
    hosts = {n: rc.host_entry(model.host_vars(n)) for n in model.targets}
    plan = rc.plan_rules(model.catalog, hosts)
    return plan, rc.render_plan(model.catalog, plan)


def promtool(*args, cwd=None):
    res = subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    return res.returncode, res.stdout + res.stderr


def write_and_test(tmp_path, plan, rules):
    (tmp_path / "rules.yml").write_text(rc.dump_rules_yaml(rules))
    (tmp_path / "rules_under_test.yml").write_text(rc.dump_rules_yaml(rc.strip_annotations(rules)))
    tests = rc.generate_tests(plan, ["rules_under_test.yml"])
    (tmp_path / "tests.yml").write_text(rc.dump_rules_yaml(tests, header=""))
    rc_check, out_check = promtool("check", "rules", "rules.yml", cwd=tmp_path)
    assert rc_check == 0, out_check
    rc_test, out_test = promtool("test", "rules", "tests.yml", cwd=tmp_path)
    assert rc_test == 0, out_test
    assert "SUCCESS" in out_test
    return tests


@needs_promtool
def test_hybrid_rules_pass_promtool_check_and_threshold_tests(tmp_path):
    plan, rules = compile_fleet(HYBRID)
    tests = write_and_test(tmp_path, plan, rules)
    names = [t["name"] for t in tests["tests"]]
    prod = [n for n in names if n.startswith("HighCPUUsage: reading 72 (just past threshold 70)")]
    assert prod and "dc1-a02-mi300-01" not in prod[0], names
    assert any(n.startswith("HighCPUUsage: reading 99.5 (just past threshold 99)") for n in names)
    assert any("AcceleratorOffline" in n and "up == 0" in n for n in names)
    for template in ("HighMemoryUsage", "DiskSpaceLow", "AcceleratorHighTemperature"):
        assert any(n.startswith(template) for n in names), template


@needs_promtool
def test_fleet_model_md_example_passes_promtool(tmp_path):
    source = write_fleet(tmp_path, FLEET_MODEL_MD)
    plan, rules = compile_fleet(source)
    cpu = {tuple(rs.hosts): rs.thresholds["cpu_percent"] for rs in plan["HighCPUUsage"]}
    assert cpu == {("i-1234567890",): 60, ("gpu-7.us-east-1.example.com",): 70, ("stage-1.example.com",): 90}
    assert [rs.hosts for rs in plan["NodeDown"]] == [["gpu-7.us-east-1.example.com", "i-1234567890"]]
    text = rc.dump_rules_yaml(rules)
    assert r'instance=~"gpu-7\\.us-east-1\\.example\\.com|i-1234567890"' in text
    out = tmp_path / "out"
    out.mkdir()
    write_and_test(out, plan, rules)


@needs_promtool
def test_promtool_rejects_a_broken_model_template(tmp_path):
    files = dict(FLEET_MODEL_MD)
    files["fleet/templates.yml"] = """
        rule_templates:
          BrokenRule:
            expr: "rate(all_smi_gpu_utilization{${selector}}[5m] > ${limit}"
            parameters: {limit: {type: number, default: 1}}
    """
    plan, rules = compile_fleet(write_fleet(tmp_path, files))
    (tmp_path / "rules.yml").write_text(rc.dump_rules_yaml(rules))
    code, out = promtool("check", "rules", "rules.yml", cwd=tmp_path)
    assert code != 0 and ("BrokenRule" in out or "parse error" in out), out


def run_playbook(dest, *extra, validate=None):
    env = dict(os.environ)
    bindir = os.path.dirname(sys.executable)
    env["PATH"] = bindir + os.pathsep + os.path.dirname(PROMTOOL or "/usr/bin/promtool") + os.pathsep + env["PATH"]
    env["ANSIBLE_COLLECTIONS_PATH"] = str(ROOT / ".build" / "collections")
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.builtin.json"
    env["ANSIBLE_LOCALHOST_WARNING"] = "0"
    env["ACCELMON_RULES_DEST"] = str(dest)
    if validate is not None:
        env["ACCELMON_VALIDATE"] = validate
    cmd = [os.path.join(bindir, "ansible-playbook"), "-i", str(HYBRID), str(PLAYBOOK), *extra]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)
    try:
        data = json.loads(res.stdout[res.stdout.index("{"):])
    except ValueError:
        pytest.fail("ansible-playbook output is not JSON:\n%s\n%s" % (res.stdout, res.stderr))
    task = data["plays"][0]["tasks"][0]["hosts"]["localhost"]
    return res.returncode, task, res.stdout + res.stderr


@needs_promtool
def test_action_in_ansible_playbook(tmp_path):
    dest = tmp_path / "rules" / "accelmon.yml"
    dest.parent.mkdir()
    # check mode on a missing file: reports a change, writes nothing
    code, task, out = run_playbook(dest, "--check", "--diff")
    assert code == 0, out
    assert task["changed"] and not dest.exists()
    # real run: written, validated by promtool, equal to what the compiler gives
    code, task, out = run_playbook(dest)
    assert code == 0, out
    assert task["changed"] and task["rule_count"] == 86 and task["host_count"] == 10
    _plan, rules = compile_fleet(HYBRID)
    assert dest.read_text() == rc.dump_rules_yaml(rules)
    assert promtool("check", "rules", str(dest))[0] == 0
    # idempotent
    code, task, out = run_playbook(dest)
    assert code == 0 and not task["changed"], out
    # a failing validation leaves the previous file in place
    dest.write_text("# previous good file\ngroups: []\n")
    code, task, out = run_playbook(dest, validate="/bin/false %s")
    assert code != 0 and task.get("failed"), out
    assert "validation" in task["msg"]
    assert dest.read_text() == "# previous good file\ngroups: []\n"
