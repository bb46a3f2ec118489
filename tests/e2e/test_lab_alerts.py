"""End to end in the lab: faults on emulated accelerator nodes become routed alerts.

The lab (tests/lab/lab.sh, inventory/examples/lab) runs Prometheus and Alertmanager from
playbooks/site.yml in podman systemd containers; Alertmanager sends to a webhook sink on
the lab network's gateway, whose JSON lines these tests read. Every wait is bounded.
Lab settings: scrape and evaluation interval 5s, the catalog's critical templates as they
are (30 s windows, `for: 0s`), group_wait 5s, group_interval 10s, dcgm-exporter's XID window
1 min, all-smi's first collection 6 s after each start (an empty /metrics body until then).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time

import pytest
import yaml

ALERT_TIMEOUT = 120  # s; the expected latency is ~35-45 s (docs/performance.md)

pytestmark = pytest.mark.e2e


def wait_webhook(lab, since, timeout=ALERT_TIMEOUT, status="firing", **labels):
    """The first alert with these labels (and status) received at or after `since`."""

    try:
        return lab.wait_for("webhook alert %s %s" % (status, labels), lambda: lab.webhook_alert(since, status, **labels),
                            timeout, 0.5)
    except TimeoutError as exc:
        firing = [
            (a["labels"].get("alertname"), a["labels"].get("instance"), a["state"])
            for a in lab.prom("/api/v1/alerts")["alerts"]
        ]
        pytest.fail("%s; Prometheus alerts now: %s" % (exc, firing))


def prom_alerts(lab, alertname, instance, state=None):
    return [
        a
        for a in lab.prom("/api/v1/alerts")["alerts"]
        if a["labels"].get("alertname") == alertname
        and a["labels"].get("instance") == instance
        and (state is None or a["state"] == state)
    ]


def assert_routing_labels(lab, alert, host):
    """instance = inventory name, group path, team (and environment) from the fleet model."""
    h = lab.lab_hosts()[host]
    labels = alert["labels"]
    assert labels["instance"] == host
    assert labels["group"] == h["primary_group"]
    assert labels["team"] == h["team"]
    assert labels["environment"] == ",".join(h["environment"])


# ------------------------------------------------------------------------------ the lab
def test_lab_targets_up_with_inventory_names(clean_lab):
    lab = clean_lab
    targets = lab.targets()
    by_job = {}
    for t in targets:
        by_job.setdefault(t["labels"]["job"], set()).add(t["labels"]["instance"])
    assert by_job["node"] == {"lab-monitoring", "lab-h200", "lab-gaudi", "lab-cpu"}
    assert by_job["allsmi"] == {"lab-h200", "lab-gaudi"}
    assert by_job["dcgm"] == {"lab-h200"}
    assert all(t["health"] == "up" for t in targets)
    groups, rules = lab.rules_loaded()
    # one rule per template and `for` value: as many rules as groups here, never per host
    assert groups >= 10 and groups <= rules <= 2 * groups
    assert by_job["accelmon_policy"] and all(
        t["health"] == "up" for t in targets if t["labels"]["job"] == "accelmon_policy"
    )
    cfg = yaml.safe_load(lab.prom("/api/v1/status/config")["yaml"])
    assert cfg["global"]["scrape_interval"] == "5s"
    assert cfg["global"]["evaluation_interval"] == "5s"
    # 8 emulated H200 and 8 Gaudi devices, labelled with the inventory name.
    res = lab.prom("/api/v1/query", query="count by (instance) (all_smi_gpu_info)")["result"]
    assert {r["metric"]["instance"]: r["value"][1] for r in res} == {"lab-h200": "8", "lab-gaudi": "8"}


# ------------------------------------------------------------------------------ faults
def test_overtemp_alert_and_per_group_thresholds(clean_lab):
    """82 C crosses production's 80 (lab-h200) but not research's 85 (lab-gaudi); 87 does."""
    lab = clean_lab
    since = lab.inject("gpu-overtemp", "lab-h200", device=0, celsius=82)
    lab.inject("gpu-overtemp", "lab-gaudi", device=0, celsius=82)

    alert = wait_webhook(lab, since, alertname="AcceleratorHighTemperature", instance="lab-h200")
    assert_routing_labels(lab, alert, "lab-h200")
    assert alert["labels"]["severity"] == "critical"
    assert alert["labels"]["gpu_index"] == "0"
    assert alert["labels"]["job"] == "allsmi"

    # The same live reading on lab-gaudi: scraped, yet no alert, not even pending.
    res = lab.prom("/api/v1/query", query='all_smi_gpu_temperature_celsius{instance="lab-gaudi",gpu_index="0"}')
    assert [float(r["value"][1]) for r in res["result"]] == [82.0]
    assert prom_alerts(lab, "AcceleratorHighTemperature", "lab-gaudi") == []
    assert not [
        a
        for a in lab.webhook_alerts(since)
        if a["labels"].get("instance") == "lab-gaudi" and a["labels"].get("alertname") == "AcceleratorHighTemperature"
    ]

    # Past research's own threshold it alerts, routed with the research team.
    since2 = lab.inject("gpu-overtemp", "lab-gaudi", device=0, celsius=87)
    alert = wait_webhook(lab, since2, alertname="AcceleratorHighTemperature", instance="lab-gaudi")
    assert_routing_labels(lab, alert, "lab-gaudi")
    assert alert["labels"]["severity"] == "critical"
    assert alert["labels"]["team"] == "research"


def device_uuids(lab, host):
    res = lab.prom("/api/v1/query", query='all_smi_gpu_info{instance="%s"}' % host)["result"]
    return {r["metric"]["gpu_index"]: r["metric"]["gpu_uuid"] for r in res}


def test_device_vanished_alert(clean_lab):
    lab = clean_lab
    uuid = device_uuids(lab, "lab-h200")["3"]
    since = lab.inject("gpu-vanish", "lab-h200", device=3)
    alert = wait_webhook(lab, since, alertname="AcceleratorOffline", instance="lab-h200", gpu_uuid=uuid)
    assert_routing_labels(lab, alert, "lab-h200")
    assert alert["labels"]["severity"] == "critical"
    # Only the vanished device (by uuid: all-smi renumbers gpu_index), plus the count alert
    # (7 of the group's expected 8 devices), and the host itself stays up.
    offline = prom_alerts(lab, "AcceleratorOffline", "lab-h200", "firing")
    assert sorted(a["labels"].get("gpu_uuid", "") for a in offline) == ["", uuid]
    assert not prom_alerts(lab, "NodeDown", "lab-h200")


def test_allsmi_restart_raises_no_alert(clean_lab):
    """`systemctl restart all-smi`: the exporter is down for a moment, then answers 200 with
    an empty body until its first collection (6 s here, more than one scrape). Nothing pages."""
    lab = clean_lab
    since = lab.inject("allsmi-restart", "lab-h200")
    # the empty body is seen: up == 1 and no device series for a scrape
    lab.wait_for(
        "a scrape of lab-h200's all-smi with no device series",
        lambda: lab.prom("/api/v1/query", query='up{job="allsmi",instance="lab-h200"} == 1 unless on (instance) '
                         'all_smi_gpu_info{instance="lab-h200"}')["result"],
        30,
        0.5,
    )
    lab.wait_for("all-smi's devices back", lambda: len(device_uuids(lab, "lab-h200")) == 8, 60, 1.0)
    time.sleep(45)  # > the 30 s windows + an evaluation + group_wait
    for name in ("AcceleratorOffline", "AcceleratorExporterDown"):
        assert prom_alerts(lab, name, "lab-h200") == [], name
    paged = [
        a["labels"]["alertname"]
        for a in lab.webhook_alerts(since)
        if a["status"] == "firing" and a["labels"].get("instance") == "lab-h200"
        and a["labels"].get("alertname") in ("AcceleratorOffline", "AcceleratorExporterDown")
    ]
    assert paged == []


def test_allsmi_stopped_raises_exporter_down(clean_lab):
    lab = clean_lab
    since = lab.inject("allsmi-stop", "lab-h200")
    alert = wait_webhook(lab, since, alertname="AcceleratorExporterDown", instance="lab-h200", job="allsmi")
    assert_routing_labels(lab, alert, "lab-h200")
    assert alert["labels"]["severity"] == "critical"
    assert alert["received_at"] - since < 60, alert["received_at"] - since  # the critical target
    # the device alerts stay quiet: the exporter is down, not the devices
    assert prom_alerts(lab, "AcceleratorOffline", "lab-h200") == []


def test_xid_79_pages_and_resolves(clean_lab):
    lab = clean_lab
    since = lab.inject("gpu-xid", "lab-h200", device=0, code=79)
    alert = wait_webhook(lab, since, alertname="NvidiaXidError", instance="lab-h200", xid="79")
    assert_routing_labels(lab, alert, "lab-h200")
    assert alert["labels"]["severity"] == "critical"
    # no new XID: resolved once the exporter's 1 min window has passed (the last-XID gauge
    # stays at 79, sticky, and no longer matters)
    wait_webhook(lab, since, timeout=180, status="resolved", alertname="NvidiaXidError", instance="lab-h200",
                 xid="79")
    res = lab.prom("/api/v1/query", query='DCGM_FI_DEV_XID_ERRORS{instance="lab-h200"}')["result"]
    assert [r["metric"]["err_code"] for r in res] == ["79"]


def test_node_down_alert_inhibits_device_alerts(clean_lab):
    lab = clean_lab
    since = lab.inject("node-down", "lab-gaudi")
    alert = wait_webhook(lab, since, alertname="NodeDown", instance="lab-gaudi")
    assert_routing_labels(lab, alert, "lab-gaudi")
    assert alert["labels"]["severity"] == "critical"
    assert alert["labels"]["job"] == "node"

    # While NodeDown fires, the node's device alert fires in Prometheus, reaches
    # Alertmanager, and is suppressed there: it never reaches the webhook.
    since2 = lab.inject("gpu-overtemp", "lab-gaudi", device=1, celsius=95)
    lab.wait_for(
        "AcceleratorHighTemperature firing for lab-gaudi in Prometheus",
        lambda: prom_alerts(lab, "AcceleratorHighTemperature", "lab-gaudi", "firing"),
        ALERT_TIMEOUT,
        1.0,
    )

    def suppressed():
        for a in lab.am("/api/v2/alerts"):
            lb = a["labels"]
            if lb.get("alertname") == "AcceleratorHighTemperature" and lb.get("instance") == "lab-gaudi":
                return a if a["status"]["state"] == "suppressed" and a["status"]["inhibitedBy"] else None
        return None

    am_alert = lab.wait_for("the device alert in Alertmanager, inhibited", suppressed, 30, 1.0)
    assert am_alert["labels"]["gpu_index"] == "1"
    # group_wait (5s) + group_interval (10s) + an evaluation: it would have arrived by now.
    time.sleep(20)
    assert prom_alerts(lab, "NodeDown", "lab-gaudi", "firing"), "NodeDown must still fire"
    leaked = [
        a
        for a in lab.webhook_alerts(since2)
        if a["status"] == "firing"
        and a["labels"].get("alertname") == "AcceleratorHighTemperature"
        and a["labels"].get("instance") == "lab-gaudi"
    ]
    assert leaked == []


# ------------------------------------------------------------------------------ bad changes
def _server_state(lab):
    runtime = lab.prom("/api/v1/status/runtimeinfo")
    rules = sorted((g["name"], len(g["rules"])) for g in lab.prom("/api/v1/rules")["groups"])
    res = lab.podman(
        "exec",
        lab.MONITORING,
        "cat",
        "/etc/prometheus/rules/accelmon.rules.yml",
        "/etc/prometheus/prometheus.yml",
        "/etc/alertmanager/alertmanager.yml",
        capture=True,
    )
    am_status = lab.am("/api/v2/status")
    return {
        "prom_config": lab.prom("/api/v1/status/config")["yaml"],
        "prom_last_reload": runtime["lastConfigTime"],
        "prom_reload_ok": runtime["reloadConfigSuccess"],
        "rules": rules,
        "files_sha": hashlib.sha256(res.stdout.encode()).hexdigest(),
        "am_config": am_status["config"]["original"],
        "am_uptime": am_status["uptime"],
    }


BROKEN_TEMPLATE = {
    "LabBrokenRule": {
        # Two comparison operators in a row: valid for the model, rejected by promtool.
        "expr": "all_smi_gpu_power_consumption_watts{${selector}} > > ${watts}",
        "parameters": {"watts": {"type": "number", "default": 650}},
        "for": "1m",
        "severity": "warning",
    }
}


def test_malformed_rule_template_fails_before_servers_change(clean_lab, tmp_path):
    lab = clean_lab
    before = _server_state(lab)
    # A copy of the lab model with a model-defined template whose PromQL is broken.
    inv_dir = tmp_path / "lab"
    shutil.copytree(os.path.dirname(lab.INVENTORY), inv_dir)
    (inv_dir / "fleet" / "broken-template.yml").write_text(yaml.safe_dump({"rule_templates": BROKEN_TEMPLATE}))
    # The inventory plugin hands the (validated) template to the alert_rules action.
    rc, out = lab.site_play(
        ["--limit", lab.MONITORING, "--tags", "prometheus"],
        quiet=True,
        logfile=str(tmp_path / "site-broken-rules.log"),
        inventory=str(inv_dir / os.path.basename(lab.INVENTORY)),
    )
    assert rc != 0
    assert "Compile the alert rules" in out and "promtool" in out
    assert "LabBrokenRule" in out or "parse error" in out
    time.sleep(6)  # a reload, had one been sent, would have happened by now
    after = _server_state(lab)
    assert after == before
    assert after["prom_reload_ok"] is True
    assert lab.all_targets_up()


def test_broken_alertmanager_config_fails_before_servers_change(clean_lab, tmp_path):
    lab = clean_lab
    before = _server_state(lab)
    # A route whose matcher regex does not compile: preflight passes, amtool refuses.
    extra = tmp_path / "routes.json"
    extra.write_text(
        json.dumps(
            {
                "alertmanager_no_log": False,
                "alertmanager_routes": [{"receiver": "lab-webhook", "matchers": ['alertname=~"(unclosed"']}],
            }
        )
    )
    rc, out = lab.site_play(
        ["--limit", lab.MONITORING, "--tags", "alertmanager", "-e", "@%s" % extra],
        quiet=True,
        logfile=str(tmp_path / "site-broken-am.log"),
    )
    assert rc != 0
    assert "amtool" in out
    time.sleep(3)
    after = _server_state(lab)
    assert after["am_config"] == before["am_config"]
    assert after["files_sha"] == before["files_sha"]
    assert after["prom_config"] == before["prom_config"]
    # Not restarted: uptime (the process start time) is the same.
    assert after["am_uptime"] == before["am_uptime"]
    assert lab.http("GET", lab.am_url() + "/-/ready") is not None


# ------------------------------------------------------------------------------ thresholds as series
def _reload_timestamp(lab):
    res = lab.prom("/api/v1/query", query="prometheus_config_last_reload_success_timestamp_seconds")["result"]
    assert len(res) == 1, res
    return res[0]["value"][1]


def _threshold(lab, host, template, param):
    query = 'accelmon_alert_threshold{instance="%s",alertname="%s",param="%s"}' % (host, template, param)
    res = lab.prom("/api/v1/query", query=query)["result"]
    return float(res[0]["value"][1]) if res else None


def test_group_threshold_change_applies_without_reload(clean_lab, tmp_path):
    """research's over-temperature threshold 85 -> 81 in the fleet model, play re-run: 83 C on
    lab-gaudi alerts at the new threshold on live data; Prometheus did not reload and its
    rules did not change (the threshold is a series)."""
    lab = clean_lab
    inv_dir = tmp_path / "lab"
    shutil.copytree(os.path.dirname(lab.INVENTORY), inv_dir)
    groups_file = inv_dir / "fleet" / "groups.yml"
    groups = yaml.safe_load(groups_file.read_text())
    assert groups["groups"]["environment:research"]["alert_rules"]["AcceleratorHighTemperature"] == {
        "thresholds": {"celsius": 85}
    }
    groups["groups"]["environment:research"]["alert_rules"]["AcceleratorHighTemperature"]["thresholds"]["celsius"] = 81
    groups_file.write_text(yaml.safe_dump(groups, sort_keys=False))
    inventory = str(inv_dir / os.path.basename(lab.INVENTORY))

    before = _server_state(lab)
    reload_ts = _reload_timestamp(lab)
    assert _threshold(lab, "lab-gaudi", "AcceleratorHighTemperature", "celsius") == 85.0
    # 83 C is under research's 85: scraped, no alert.
    lab.inject("gpu-overtemp", "lab-gaudi", device=0, celsius=83)
    time.sleep(12)
    assert prom_alerts(lab, "AcceleratorHighTemperature", "lab-gaudi") == []
    try:
        rc, out = lab.site_play(
            ["--limit", lab.MONITORING, "--tags", "prometheus"],
            quiet=True,
            logfile=str(tmp_path / "site-threshold.log"),
            inventory=inventory,
        )
        assert rc == 0, out[-3000:]
        since = time.time()
        lab.wait_for(
            "research threshold 81 served",
            lambda: _threshold(lab, "lab-gaudi", "AcceleratorHighTemperature", "celsius") == 81.0,
            60,
            1.0,
        )
        alert = wait_webhook(lab, since, alertname="AcceleratorHighTemperature", instance="lab-gaudi")
        assert_routing_labels(lab, alert, "lab-gaudi")
        assert alert["labels"]["team"] == "research" and alert["labels"]["severity"] == "critical"
        # no reload, no rule change: only the policy series moved
        assert _reload_timestamp(lab) == reload_ts
        after = _server_state(lab)
        assert after["rules"] == before["rules"] and after["prom_last_reload"] == before["prom_last_reload"]
        assert _threshold(lab, "lab-h200", "AcceleratorHighTemperature", "celsius") == 80.0
    finally:
        lab.clear("lab-gaudi")
        rc, out = lab.site_play(
            ["--limit", lab.MONITORING, "--tags", "prometheus"],
            quiet=True,
            logfile=str(tmp_path / "site-threshold-restore.log"),
        )
        assert rc == 0, out[-3000:]
        lab.wait_for(
            "research threshold 85 served again",
            lambda: _threshold(lab, "lab-gaudi", "AcceleratorHighTemperature", "celsius") == 85.0,
            60,
            1.0,
        )
    assert _reload_timestamp(lab) == reload_ts
