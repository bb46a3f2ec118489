"""playbooks/render.yml over the hybrid example fleet: every central file, checked.

Runs `ansible-playbook playbooks/render.yml -i inventory/examples/hybrid/hybrid.accelmon.yml
-e render_dir=TMP` and asserts that the output passes promtool/amtool, that every target in
file_sd carries instance = its inventory name and the group/provider/environment/team labels
of its host, and that each job's membership follows the hardware (node: every host; allsmi:
hosts with accelerators; dcgm: NVIDIA hosts). Needs promtool and amtool (Debian packages
prometheus and prometheus-alertmanager); without them these tests skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from helpers import BIN, ROOT, inventory_list, run  # noqa: E402

from ansible_collections.accelmon.monitoring.plugins.module_utils import policy_series as ps  # noqa: E402

HYBRID = os.path.join(ROOT, "inventory", "examples", "hybrid", "hybrid.accelmon.yml")
PLAYBOOK = os.path.join(ROOT, "playbooks", "render.yml")
PROMTOOL = shutil.which("promtool")
# The receivers the hybrid model names (alerting.receiver): each must be defined.
MODEL_RECEIVERS = [{"name": "oncall-pager"}, {"name": "staging-chat"}]
AMTOOL = shutil.which("amtool")

pytestmark = pytest.mark.skipif(
    PROMTOOL is None or AMTOOL is None,
    reason="promtool/amtool not installed (apt-get install prometheus prometheus-alertmanager)",
)


# The receivers the hybrid model names (alertmanager preflight refuses undefined ones).
RECEIVERS = os.path.join(ROOT, "inventory", "examples", "hybrid", "alertmanager-receivers.yml")


def render(dest, *extra, check=True):
    args = [os.path.join(BIN, "ansible-playbook"), PLAYBOOK, "-i", HYBRID, "-e", f"@{RECEIVERS}", "-e", f"render_dir={dest}"]
    for e in extra:
        args += ["-e", e]
    return run(args, check=check)


@pytest.fixture(scope="module")
def fleet():
    return inventory_list(HYBRID)["_meta"]["hostvars"]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    dest = tmp_path_factory.mktemp("rendered")
    render(dest)
    return Path(dest)


def file_sd(rendered, job):
    return json.loads((rendered / "prometheus" / "file_sd" / f"{job}.json").read_text())


def by_instance(groups):
    out = {}
    for tg in groups:
        assert len(tg["targets"]) == 1, tg
        out[tg["labels"]["instance"]] = tg
    return out


def test_output_tree(rendered):
    names = sorted(str(p.relative_to(rendered)) for p in rendered.rglob("*") if p.is_file())
    assert names == [
        "alertmanager/alertmanager.yml",
        "alertmanager/templates/accelmon.tmpl",
        "grafana/etc/grafana/provisioning/dashboards/accelmon.yml",
        "grafana/etc/grafana/provisioning/datasources/accelmon.yml",
        "grafana/var/lib/grafana/accelmon-dashboards/accelerators/accelmon-accelerator-detail.json",
        "grafana/var/lib/grafana/accelmon-dashboards/alerts/accelmon-alerts.json",
        "grafana/var/lib/grafana/accelmon-dashboards/fleet/accelmon-fleet-overview.json",
        "grafana/var/lib/grafana/accelmon-dashboards/nodes/accelmon-node.json",
        "grafana/var/lib/grafana/accelmon-dashboards/storage/accelmon-storage-checks.json",
        "prometheus/file_sd/alertmanager.json",
        "prometheus/file_sd/allsmi.json",
        "prometheus/file_sd/dcgm.json",
        "prometheus/file_sd/node.json",
        "prometheus/file_sd/prometheus.json",
        "prometheus/policy/accelmon_policy.prom",
        "prometheus/prometheus.yml",
        "prometheus/rules/accelmon-stack.yml",
        "prometheus/rules/accelmon.rules.yml",
    ]


def test_promtool_and_amtool_accept_the_output(rendered):
    for cmd in (
        [PROMTOOL, "check", "config", str(rendered / "prometheus" / "prometheus.yml")],
        [PROMTOOL, "check", "rules", str(rendered / "prometheus" / "rules" / "accelmon.rules.yml")],
        [AMTOOL, "check-config", str(rendered / "alertmanager" / "alertmanager.yml")],
    ):
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, (cmd, proc.stdout, proc.stderr)
    out = subprocess.run(
        [PROMTOOL, "check", "config", str(rendered / "prometheus" / "prometheus.yml")], capture_output=True, text=True, check=False
    ).stdout
    # promtool saw the rule file through the relative rule_files glob, i.e. the complete config.
    assert "SUCCESS" in out and "rules found" in out


def test_jobs_and_relabeling(rendered):
    cfg = yaml.safe_load((rendered / "prometheus" / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    assert set(jobs) == {"node", "allsmi", "dcgm", "prometheus", "alertmanager", "accelmon_policy"}
    policy = jobs.pop("accelmon_policy")
    assert policy["honor_labels"] is True
    assert policy["static_configs"] == [{"targets": ["127.0.0.1:9109"]}]
    for name, job in jobs.items():
        assert job["file_sd_configs"] == [{"files": [f"file_sd/{name}.json"]}]
        relabel = job["relabel_configs"][0]
        assert relabel["source_labels"] == ["instance", "__address__"]
        assert relabel["target_label"] == "instance"
    assert cfg["rule_files"] == ["rules/*.yml"]
    assert cfg["alerting"]["alertmanagers"][0]["file_sd_configs"] == [{"files": ["file_sd/alertmanager.json"]}]
    # no sharding, no HA by default
    assert "external_labels" not in cfg["global"]
    assert not any(r.get("action") == "hashmod" for j in jobs.values() for r in j["relabel_configs"])


def test_membership_follows_hardware(rendered, fleet):
    def has_accel(hv):
        acc = hv.get("accelmon_accelerators") or []
        return any(a.get("count", 1) > 0 for a in acc)

    def nvidia(hv):
        return any(str(a.get("vendor", "")).lower() == "nvidia" for a in hv.get("accelmon_accelerators") or [])

    node = set(by_instance(file_sd(rendered, "node")))
    allsmi = set(by_instance(file_sd(rendered, "allsmi")))
    dcgm = set(by_instance(file_sd(rendered, "dcgm")))
    assert node == set(fleet)
    assert allsmi == {h for h, hv in fleet.items() if has_accel(hv)}
    assert dcgm == {h for h, hv in fleet.items() if nvidia(hv)}
    # the example has a CPU-only host, AMD/Gaudi/TPU/NPU hosts and NVIDIA hosts
    assert "dc1-a01-cpu01" in node - allsmi
    assert "dc1-a02-mi300-01" in allsmi - dcgm
    assert "dc1-a01-gpu01" in dcgm


def test_labels_per_target(rendered, fleet):
    ports = {"node": 9100, "allsmi": 9401, "dcgm": 9400}
    for job, port in ports.items():
        for name, tg in by_instance(file_sd(rendered, job)).items():
            hv = fleet[name]
            labels = tg["labels"]
            assert labels["instance"] == name
            assert labels["group"] == hv["accelmon_primary_group"]
            assert labels["provider"] == hv["accelmon_provider"]
            envs = [g.split(":", 1)[1] for g in hv["accelmon_groups"] if g.startswith("environment:")]
            assert labels.get("environment") == (",".join(envs) if envs else None)
            team = (hv["accelmon_effective_policy"].get("alerting") or {}).get("team")
            assert labels.get("team") == team
            address = hv["ansible_host"]
            if ":" in address:
                address = f"[{address}]"
            assert tg["targets"] == [f"{address}:{port}"]
    # the IPv6 NPU host is bracketed; the registered CPU host has no team
    assert by_instance(file_sd(rendered, "node"))["dc1-a02-npu-01"]["targets"] == ["[fd00:10::21]:9100"]
    assert "team" not in by_instance(file_sd(rendered, "node"))["dc1-a01-cpu01"]["labels"]


def test_rules_cover_the_fleet(rendered):
    rules = yaml.safe_load((rendered / "prometheus" / "rules" / "accelmon.rules.yml").read_text())
    names = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    assert {"NodeDown", "HighCPUUsage"} <= names


def test_policy_series_file(rendered, fleet):
    path = rendered / "prometheus" / "policy" / "accelmon_policy.prom"
    with path.open() as fh:
        proc = subprocess.run([PROMTOOL, "check", "metrics"], stdin=fh, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = path.read_text().splitlines()

    # one line per target, template and threshold: the production override and group values
    def cpu(host):
        return [
            ln.rsplit(" ", 1)[1]
            for ln in lines
            if ln.startswith("accelmon_alert_threshold{")
            and 'alertname="HighCPUUsage"' in ln
            and 'instance="%s"' % host in ln
            and 'param="cpu_percent"' in ln
        ]

    assert cpu("i-1234567890") == ["60"] and cpu("dc1-a01-gpu01") == ["70"]
    routes = [ln for ln in lines if ln.startswith("accelmon_alert_route{") and 'alertname="NodeDown"' in ln]
    staging = {h for h, hv in fleet.items() if hv["accelmon_effective_policy"]["alerting"]["receiver"] == "staging-chat"}
    assert staging and not [ln for ln in routes if any('instance="%s"' % h in ln for h in staging)]


def test_threshold_change_is_one_line_per_target(tmp_path):
    """A GitOps review of a group threshold change: the rules do not change, the policy file
    changes one line per target of the group."""
    model = tmp_path / "hybrid"
    shutil.copytree(os.path.dirname(HYBRID), model)
    env_file = model / "fleet" / "groups-environment.yml"
    data = yaml.safe_load(env_file.read_text())
    before = tmp_path / "before"
    after = tmp_path / "after"
    inv = str(model / os.path.basename(HYBRID))

    def render_model(dest):
        run([os.path.join(BIN, "ansible-playbook"), PLAYBOOK, "-i", inv, "-e", f"render_dir={dest}",
             "-e", "render_alertmanager=false"])

    render_model(before)
    prod = data["groups"]["environment:production"]
    prod["alert_rules"]["HighCPUUsage"]["thresholds"]["cpu_percent"] = 72
    env_file.write_text(yaml.safe_dump(data))
    render_model(after)
    rules = "prometheus/rules/accelmon.rules.yml"
    assert (before / rules).read_text() == (after / rules).read_text()
    policy = "prometheus/policy/accelmon_policy.prom"
    old = set((before / policy).read_text().splitlines())
    new = set((after / policy).read_text().splitlines())
    assert old - new and len(old - new) == len(new - old)
    assert all('alertname="HighCPUUsage"' in ln and ln.endswith(" 70") for ln in old - new)
    assert all('alertname="HighCPUUsage"' in ln and ln.endswith(" 72") for ln in new - old)


def test_alertmanager_routes_policy_receivers_and_inhibits(tmp_path):
    extra = tmp_path / "am.yml"
    extra.write_text(
        yaml.safe_dump(
            {
                "alertmanager_receivers": [
                    {"name": "default", "webhook_configs": [{"url": "http://127.0.0.1:9/hook"}]},
                    {"name": "oncall-pager", "pagerduty_configs": [{"routing_key": "not-a-real-key"}]},
                    {"name": "ml-mail", "email_configs": [{"to": "ml@example.com"}]},
                    {"name": "chat", "slack_configs": [{"channel": "#alerts"}]},
                    {"name": "staging-chat", "slack_configs": [{"channel": "#staging"}]},
                    {"name": "genie", "opsgenie_configs": [{"api_key": "not-a-real-key"}]},
                ],
                "alertmanager_smtp": {"smarthost": "smtp.example.com:587", "from": "am@example.com"},
                "alertmanager_slack_api_url": "https://hooks.slack.com/services/T0/B0/X",
                "alertmanager_escalation_receiver": "oncall-pager",
                "alertmanager_time_intervals": [
                    {
                        "name": "office",
                        "time_intervals": [
                            {"weekdays": ["monday:friday"], "times": [{"start_time": "09:00", "end_time": "18:00"}]}
                        ],
                    }
                ],
                "alertmanager_team_routes": {
                    "ml-training": {"receiver": "ml-mail", "severity_receivers": {"critical": "oncall-pager"}}
                },
                "alertmanager_severity_routes": {
                    "critical": "genie",
                    "warning": {"receiver": "chat", "active_time_intervals": ["office"]},
                },
            }
        )
    )
    out = tmp_path / "out"
    render(out, f"@{extra}", "render_prometheus=false")
    cfg = out / "alertmanager" / "alertmanager.yml"

    def route(*labels):
        proc = subprocess.run(
            [AMTOOL, "config", "routes", "test", f"--config.file={cfg}", *labels], capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    assert route("team=ml-training", "severity=critical", "alertname=X") == "oncall-pager"
    assert route("team=ml-training", "severity=warning", "alertname=X") == "ml-mail"
    # the policy's receiver (accelmon_receiver label from the rule compiler) routes
    assert route("accelmon_receiver=oncall-pager", "severity=warning") == "oncall-pager"
    assert route("accelmon_receiver=staging-chat", "severity=warning") == "staging-chat"
    assert route("severity=critical") == "genie"
    assert route("alertname=ManyNodesDown", "severity=critical") == "oncall-pager,genie"
    assert route("severity=info") == "default"
    data = yaml.safe_load(cfg.read_text())
    node_down = data["inhibit_rules"][0]
    assert node_down["source_matchers"] == ['alertname="NodeDown"']
    assert node_down["equal"] == ["instance"]
    for name in ("AcceleratorOffline", "NvidiaXidError", "DiskSpaceLow", "CheckRunnerStale"):
        assert name in node_down["target_matchers"][0]
    assert data["time_intervals"][0]["name"] == "office"
    assert data["global"]["smtp_smarthost"] == "smtp.example.com:587"


def test_undefined_model_receiver_is_a_preflight_error(tmp_path):
    extra = tmp_path / "am.yml"
    extra.write_text(yaml.safe_dump({"alertmanager_receivers": [{"name": "default"}, {"name": "oncall-pager"}]}))
    proc = render(tmp_path / "out", f"@{extra}", "render_prometheus=false", check=False)
    assert proc.returncode != 0
    # without a trace in the inventory (the default) the targets are named, with the way to the group
    assert "staging-chat (alerting.receiver of target dc1-a01-cpu01" in proc.stdout
    assert "set policy_trace: true" in proc.stdout
    assert "Add each as a receiver to alertmanager_receivers" in proc.stdout
    assert not (tmp_path / "out" / "alertmanager" / "alertmanager.yml").exists()
    # with the trace, the group that sets the receiver
    traced = Path(HYBRID).parent / ".traced.accelmon.yml"
    traced.write_text(Path(HYBRID).read_text() + "policy_trace: true\n")
    try:
        args = [os.path.join(BIN, "ansible-playbook"), PLAYBOOK, "-i", str(traced), "-e", f"@{extra}",
                "-e", f"render_dir={tmp_path / 'out2'}", "-e", "render_prometheus=false"]
        proc = run(args, check=False)
    finally:
        traced.unlink()
    assert proc.returncode != 0
    assert "staging-chat (alerting.receiver of environment:staging)" in proc.stdout
    assert "set policy_trace: true" not in proc.stdout


def test_alertmanager_secrets_stay_out_of_the_output(tmp_path):
    extra = tmp_path / "am.yml"
    extra.write_text(
        yaml.safe_dump(
            {
                "alertmanager_receivers": [
                    {"name": "default", "pagerduty_configs": [{"routing_key": "SECRET-ROUTING-KEY-123"}]},
                    *MODEL_RECEIVERS,
                ]
            }
        )
    )
    proc = render(tmp_path / "out", f"@{extra}", "render_prometheus=false")
    assert "SECRET-ROUTING-KEY-123" not in proc.stdout + proc.stderr
    assert "SECRET-ROUTING-KEY-123" in (tmp_path / "out" / "alertmanager" / "alertmanager.yml").read_text()


def _render_with_vaulted(tmp_path, name, secret, extra_yaml, *render_off):
    """render.yml with `name` encrypted by ansible-vault (value `secret`) and extra vars that
    use it; returns the play and the output directory. The secret must not be logged."""
    password = tmp_path / "vault-pass"
    password.write_text("not-a-real-password\n")
    vaulted = run(
        [os.path.join(BIN, "ansible-vault"), "encrypt_string", "--vault-password-file", str(password),
         "--name", name, secret]
    ).stdout
    secrets = tmp_path / "vault.yml"
    secrets.write_text(vaulted)
    extra = tmp_path / "extra.yml"
    extra.write_text(extra_yaml)
    out = tmp_path / "out"
    args = [os.path.join(BIN, "ansible-playbook"), PLAYBOOK, "-i", HYBRID, "--vault-password-file", str(password)]
    for e in (f"@{secrets}", f"@{extra}", f"render_dir={out}", *render_off):
        args += ["-e", e]
    proc = run(args)
    assert secret not in proc.stdout + proc.stderr
    return proc, out


def test_alertmanager_receiver_secret_from_ansible_vault(tmp_path):
    """A receiver's secret kept in ansible-vault (docs/getting-started.md) is written
    decrypted, not as the `!vault` ciphertext ansible-core 2.19's to_nice_yaml emits."""
    _proc, out = _render_with_vaulted(
        tmp_path,
        "vault_routing_key",
        "SECRET-VAULTED-KEY-456",
        "alertmanager_receivers:\n"
        "  - name: default\n"
        "    pagerduty_configs:\n"
        "      - routing_key: '{{ vault_routing_key }}'\n"
        + "".join("  - name: %s\n" % r["name"] for r in MODEL_RECEIVERS),
        "render_prometheus=false",
        "render_grafana=false",
    )
    am = yaml.safe_load((out / "alertmanager" / "alertmanager.yml").read_text())
    assert am["receivers"][0]["pagerduty_configs"] == [{"routing_key": "SECRET-VAULTED-KEY-456"}]


def test_prometheus_remote_write_password_from_ansible_vault(tmp_path):
    """A remote_write password kept in ansible-vault is written decrypted into prometheus.yml
    (which render.yml checks with promtool), not as the `!vault` ciphertext."""
    _proc, out = _render_with_vaulted(
        tmp_path,
        "vault_remote_write_password",
        "SECRET-VAULTED-PW-789",
        "prometheus_remote_write:\n"
        "  - url: https://vm.example.com/api/v1/write\n"
        "    basic_auth: {username: prom, password: '{{ vault_remote_write_password }}'}\n",
        "render_alertmanager=false",
        "render_grafana=false",
    )
    cfg = yaml.safe_load((out / "prometheus" / "prometheus.yml").read_text())
    assert cfg["remote_write"][0]["basic_auth"] == {"username": "prom", "password": "SECRET-VAULTED-PW-789"}


def test_msteams_needs_alertmanager_026(tmp_path):
    extra = tmp_path / "am.yml"
    extra.write_text(
        yaml.safe_dump(
            {
                "alertmanager_receivers": [
                    {"name": "default", "msteams_configs": [{"webhook_url": "https://example.webhook.office.com/x"}]},
                    *MODEL_RECEIVERS,
                ]
            }
        )
    )
    proc = render(tmp_path / "out", f"@{extra}", "render_prometheus=false", check=False)
    assert proc.returncode != 0
    assert "0.26.0" in proc.stdout and "msteams_configs" in proc.stdout
    assert not (tmp_path / "out" / "alertmanager" / "alertmanager.yml").exists()


def test_sharding_and_ha(tmp_path):
    out = tmp_path / "out"
    render(
        out,
        "prometheus_shard_count=3",
        "prometheus_shard_index=2",
        "prometheus_ha=true",
        "prometheus_replica_name=prom-a",
        "render_alertmanager=false",
        '{"prometheus_remote_write": [{"url": "https://mimir.example.com/api/v1/push"}]}',
    )
    cfg = yaml.safe_load((out / "prometheus" / "prometheus.yml").read_text())
    assert cfg["global"]["external_labels"] == {"replica": "prom-a", "shard": "2"}
    assert cfg["alerting"]["alert_relabel_configs"] == [{"action": "labeldrop", "regex": "replica"}]
    # an HA pair drops its replica label from the samples written (prometheus_remote_write_drop_replica_label)
    assert cfg["remote_write"] == [
        {
            "url": "https://mimir.example.com/api/v1/push",
            "write_relabel_configs": [{"action": "labeldrop", "regex": "replica"}],
        }
    ]
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    for name in ("node", "allsmi", "dcgm"):
        hashmod = [r for r in jobs[name]["relabel_configs"] if r.get("action") == "hashmod"]
        keep = [r for r in jobs[name]["relabel_configs"] if r.get("action") == "keep"]
        assert hashmod == [
            {
                "source_labels": ["instance"],
                "modulus": 3,
                "target_label": "__tmp_accelmon_shard",
                "action": "hashmod",
            }
        ]
        assert keep[0]["regex"] == "2"
    for name in ("prometheus", "alertmanager"):
        assert not any(r.get("action") == "hashmod" for r in jobs[name]["relabel_configs"])
    # the policy series of this shard's targets only, split by the same hash of the inventory name
    policy = (out / "prometheus" / "policy" / "accelmon_policy.prom").read_text()
    served = set(re.findall(r'instance="([^"]+)"', policy))
    fleet = inventory_list(HYBRID)["_meta"]["hostvars"]
    assert served == {h for h in fleet if ps.shard_of(h, 3) == 2}


def test_preflight_refuses_a_bad_shard_index(tmp_path):
    proc = render(
        tmp_path / "out",
        "prometheus_shard_count=2",
        "prometheus_shard_index=2",
        "render_alertmanager=false",
        check=False,
    )
    assert proc.returncode != 0
    assert "prometheus_shard_index (2) must lie in 0..prometheus_shard_count-1" in proc.stdout
    assert not (tmp_path / "out" / "prometheus").exists()


def test_rerender_is_idempotent(rendered):
    proc = render(rendered)
    assert "changed=0" in proc.stdout, proc.stdout[-2000:]
