"""The check alert templates over the check runner's real output, in promtool.

The runner (roles/check_runner/files/accelmon_check_runner.py) probes this machine and
the fixtures (tests/fixtures/checks: a down InfiniBand and a down RoCE port, a slow port,
an NVMe with a critical warning, a failing disk, via stand-ins for nvme and smartctl that
print those files), a closed port, a failing command and an expiring licence. Its textfiles
become the input series of node-a; node-b's runner has a crashed probe (nvme-cli missing).
The rules are compiled from a small fleet model by the real compiler with the policy
series as input, and `promtool test rules` proves which alerts fire with which labels.
"""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

from ansible_collections.accelmon.monitoring.plugins.module_utils import policy_series as ps
from ansible_collections.accelmon.monitoring.plugins.module_utils import rule_compiler as rc
from ansible_collections.accelmon.monitoring.plugins.module_utils.fleet_loader import load_fleet

import rule_cases

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "checks")
RUNNER = os.path.join(ROOT, "roles", "check_runner", "files", "accelmon_check_runner.py")
PROMTOOL = shutil.which("promtool")
SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

MODEL = {
    "fleet/model.yml": """
        groups:
          "infrastructure:onprem/lab": {}
          "environment:lab":
            alert_rules:
              ParallelFsSlow: {thresholds: {latency_seconds: 0}}
              LicenseExpiring: {thresholds: {days: 30}}
        targets:
          node-a: {address: 10.0.0.1, primary_group: "infrastructure:onprem/lab", groups: ["environment:lab"]}
          node-b: {address: 10.0.0.2, primary_group: "infrastructure:onprem/lab", groups: ["environment:lab"]}
    """,
    "fleet.accelmon.yml": """
        plugin: accelmon.monitoring.fleet
        model: fleet/
    """,
}
CHECK_TEMPLATES = (
    "MountCheckFailed",
    "ParallelFsSlow",
    "InfinibandLinkDown",
    "RoceLinkDown",
    "InfinibandLinkSlow",
    "NvmeCriticalWarning",
    "SmartDiskUnhealthy",
    "PortUnreachable",
    "LicenseExpiring",
    "CheckCommandFailed",
    "CheckRunnerStale",
)


def fake_tool(path, outputs):
    cases = "\n".join('  *"%s"*) cat "%s"; exit %d ;;' % (k, os.path.join(FIXTURES, f), c) for k, (f, c) in outputs)
    path.write_text('#!/bin/sh\ncase "$*" in\n%s\n  *) exit 64 ;;\nesac\n' % cases)
    path.chmod(0o755)
    return str(path)


def run_runner(tmp_path, name, checks, **extra):
    sys.path.insert(0, os.path.join(ROOT, "plugins", "module_utils"))
    spec = importlib.util.spec_from_file_location("accelmon_check_runner", RUNNER)
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    base = tmp_path / name
    (base / "textfile").mkdir(parents=True)
    (base / "state").mkdir()
    (base / "nvme-class" / "nvme0").mkdir(parents=True)
    config = dict(
        textfile_dir=str(base / "textfile"),
        state_dir=str(base / "state"),
        infiniband_sysfs=os.path.join(FIXTURES, "sysfs-infiniband"),
        nvme_sysfs=str(base / "nvme-class"),
        checks=checks,
    )
    config.update(extra)
    (base / "checks.json").write_text(json.dumps(config))
    runner.main(["--config", str(base / "checks.json"), "--all"])
    samples = []
    for fname in sorted(os.listdir(base / "textfile")):
        for line in (base / "textfile" / fname).read_text().splitlines():
            match = SAMPLE_RE.match(line)
            if match and not line.startswith("#"):
                labels = dict(LABEL_RE.findall(match.group(2) or ""))
                samples.append((match.group(1), labels, float(match.group(3))))
    return samples


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("check-alerts")
    nvme = fake_tool(
        tmp / "nvme",
        [("list", ("nvme-list.json", 0)), ("nvme0n1", ("nvme-smart-log-healthy.json", 0)),
         ("nvme1n1", ("nvme-smart-log-critical.json", 0))],
    )
    smartctl = fake_tool(
        tmp / "smartctl",
        [("--scan-open", ("smartctl-scan-open.json", 0)), ("/dev/sda", ("smartctl-sda-passed.json", 0)),
         ("/dev/sdb", ("smartctl-sdb-failed.json", 8))],
    )
    (tmp / "licence").write_text("1970-01-02\n")  # one day after the epoch, where promtool's clock starts
    node_a = run_runner(
        tmp,
        "node-a",
        {
            "mount": {"enabled": True, "paths": ["/", "/accelmon-absent"]},
            "parallel_fs": {"enabled": True, "paths": ["/"]},
            "infiniband": {"enabled": True, "devices": [], "min_rate_gbps": 200},
            "nvme": {"enabled": True},
            "smart": {"enabled": True},
            "port": {"enabled": True, "timeout_seconds": 1, "ports": [{"host": "127.0.0.1", "port": 1, "name": "closed"}]},
            "license": {"enabled": True, "files": [str(tmp / "licence")]},
            "command": {"enabled": True, "commands": [{"name": "ok", "command": ["true"]}, {"name": "bad", "command": "exit 3"}]},
        },
        nvme=nvme,
        smartctl=smartctl,
    )
    node_b = run_runner(tmp, "node-b", {"nvme": {"enabled": True}}, nvme=str(tmp / "no-such-nvme"))
    return {"node-a": node_a, "node-b": node_b}


def test_check_alerts_fire_on_the_runners_series(measured, tmp_path):
    if PROMTOOL is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool missing (tests/tools/install_system_deps.sh)")
        pytest.skip("promtool missing")
    for name, text in MODEL.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    model = load_fleet(str(tmp_path / "fleet.accelmon.yml"))
    hosts = {n: ps.host_entry(model.host_vars(n)) for n in model.targets}
    plan, series = rc.plan_rules(model.catalog, hosts)
    rules = rc.render_plan(model.catalog, plan)
    (tmp_path / "rules.yml").write_text(rc.dump_rules_yaml(rules))
    (tmp_path / "under_test.yml").write_text(rc.dump_rules_yaml(rule_cases.strip_annotations(rules)))
    check = subprocess.run([PROMTOOL, "check", "rules", "rules.yml"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr

    policy = rule_cases._Policy(plan, series)  # pylint: disable=protected-access
    samples = 40
    inputs = []
    for host, host_samples in sorted(measured.items()):
        for metric, labels, value in host_samples:
            labels = dict(labels, instance=host, job="node")
            inputs.append({"series": ps.series_text(metric, labels), "values": "%sx%d" % (ps.format_value(value), samples)})
        for template in CHECK_TEMPLATES:
            inputs.extend(policy.input_series(template, host, samples))

    def alert(template, host, **labels):
        return {"exp_labels": policy.alert_labels(template, host, dict(labels, instance=host, job="node"))}

    ib = {"check": "infiniband", "port": "1"}
    expected = {
        "MountCheckFailed": [alert("MountCheckFailed", "node-a", check="mount", item="/accelmon-absent")],
        "ParallelFsSlow": [alert("ParallelFsSlow", "node-a", check="parallel_fs", item="/")],
        "InfinibandLinkDown": [
            alert("InfinibandLinkDown", "node-a", device="mlx5_1", link_layer="InfiniBand", port="1")
        ],
        "RoceLinkDown": [alert("RoceLinkDown", "node-a", device="mlx5_4", link_layer="Ethernet", port="1")],
        "InfinibandLinkSlow": [alert("InfinibandLinkSlow", "node-a", device="mlx5_2", link_layer="InfiniBand", port="1")],
        "NvmeCriticalWarning": [alert("NvmeCriticalWarning", "node-a", device="/dev/nvme1n1")],
        "SmartDiskUnhealthy": [alert("SmartDiskUnhealthy", "node-a", disk="/dev/sdb", type="sat")],
        "PortUnreachable": [alert("PortUnreachable", "node-a", check="port", item="closed")],
        "LicenseExpiring": [alert("LicenseExpiring", "node-a", check="license", item=str(measured_licence(measured)))],
        "CheckCommandFailed": [alert("CheckCommandFailed", "node-a", check="command", item="bad")],
        "CheckRunnerStale": [alert("CheckRunnerStale", "node-b", check="nvme")],
    }
    assert ib  # labels of the IB series are the sysfs ones: device, port, link_layer
    tests = {
        "rule_files": ["under_test.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "name": "check alerts on the runner's series",
                "interval": "1m",
                "input_series": inputs,
                "alert_rule_test": [
                    {"eval_time": "25m", "alertname": name, "exp_alerts": sorted(exp, key=lambda a: sorted(a["exp_labels"].items()))}
                    for name, exp in sorted(expected.items())
                ],
            }
        ],
    }
    (tmp_path / "tests.yml").write_text(rc.dump_rules_yaml(tests, header=""))
    proc = subprocess.run([PROMTOOL, "test", "rules", "tests.yml"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def measured_licence(measured):
    items = {lab["item"] for m, lab, _v in measured["node-a"] if m == "accelmon_check_license_expiry_timestamp_seconds"}
    (item,) = items
    return item
