"""The monitoring-stack alerts (roles/prometheus/files/accelmon-stack.rules.yml) under promtool.

`promtool check rules` on the shipped file, then one `promtool test rules` case per alert:
the alert fires on a broken stack with the expected labels after its `for`, and stays quiet
on a healthy one. Series names and labels are Prometheus 2.42's and Alertmanager 0.25's own
(prometheus_remote_storage_samples_failed_total, rule_group, integration/reason, ...). The
annotations are checked by `promtool check rules` (template syntax) and left out of the
comparison, so a case states only when and on what an alert fires.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RULES = os.path.join(ROOT, "roles", "prometheus", "files", "accelmon-stack.rules.yml")
PROMTOOL = shutil.which("promtool") or ("/usr/bin/promtool" if os.path.exists("/usr/bin/promtool") else None)
if PROMTOOL is None and os.environ.get("CI"):
    raise RuntimeError("promtool is required in CI (apt-get install prometheus)")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (apt-get install prometheus)")

P = 'instance="prom-a",job="prometheus"'
P_LABELS = {"instance": "prom-a", "job": "prometheus"}
RW = P + ',remote_name="vm",url="http://vm:8428/api/v1/write"'
RW_LABELS = dict(P_LABELS, remote_name="vm", url="http://vm:8428/api/v1/write")
AM = 'instance="am-a",job="alertmanager"'
AM_LABELS = {"instance": "am-a", "job": "alertmanager"}

# alert -> (interval, eval_time, broken input series, healthy input series, expected labels)
CASES = {
    "PrometheusBadConfig": (
        "1m",
        "20m",
        [("prometheus_config_last_reload_successful{%s}" % P, "0x30")],
        [("prometheus_config_last_reload_successful{%s}" % P, "1x30")],
        [dict(P_LABELS, severity="critical")],
    ),
    "PrometheusRuleFailures": (
        "1m",
        "30m",
        [('prometheus_rule_evaluation_failures_total{%s,rule_group="g"}' % P, "0+1x40")],
        [('prometheus_rule_evaluation_failures_total{%s,rule_group="g"}' % P, "0x40")],
        [dict(P_LABELS, rule_group="g", severity="critical")],
    ),
    "PrometheusMissingRuleEvaluations": (
        "1m",
        "30m",
        [('prometheus_rule_group_iterations_missed_total{%s,rule_group="g"}' % P, "0+1x40")],
        [('prometheus_rule_group_iterations_missed_total{%s,rule_group="g"}' % P, "0x40")],
        [dict(P_LABELS, rule_group="g", severity="warning")],
    ),
    "PrometheusTSDBCompactionsFailing": (
        "10m",
        "8h",
        [("prometheus_tsdb_compactions_failed_total{%s}" % P, "0+1x60")],
        [("prometheus_tsdb_compactions_failed_total{%s}" % P, "0x60")],
        [dict(P_LABELS, severity="warning")],
    ),
    "PrometheusTSDBReloadsFailing": (
        "10m",
        "8h",
        [("prometheus_tsdb_reloads_failures_total{%s}" % P, "0+1x60")],
        [("prometheus_tsdb_reloads_failures_total{%s}" % P, "0x60")],
        [dict(P_LABELS, severity="warning")],
    ),
    "PrometheusNotConnectedToAlertmanagers": (
        "1m",
        "20m",
        [("prometheus_notifications_alertmanagers_discovered{%s}" % P, "0x30")],
        [("prometheus_notifications_alertmanagers_discovered{%s}" % P, "2x30")],
        [dict(P_LABELS, severity="warning")],
    ),
    "PrometheusErrorSendingAlertsToSomeAlertmanagers": (
        "1m",
        "30m",
        [
            ('prometheus_notifications_errors_total{%s,alertmanager="http://am-a:9093/api/v2/alerts"}' % P, "0+10x40"),
            ('prometheus_notifications_sent_total{%s,alertmanager="http://am-a:9093/api/v2/alerts"}' % P, "0+100x40"),
        ],
        [
            ('prometheus_notifications_errors_total{%s,alertmanager="http://am-a:9093/api/v2/alerts"}' % P, "0x40"),
            ('prometheus_notifications_sent_total{%s,alertmanager="http://am-a:9093/api/v2/alerts"}' % P, "0+100x40"),
        ],
        [dict(P_LABELS, alertmanager="http://am-a:9093/api/v2/alerts", severity="warning")],
    ),
    "PrometheusJobScrapeFailures": (
        "1m",
        "30m",
        [('up{job="node",instance="n%d"}' % i, "0x40" if i < 2 else "1x40") for i in range(10)],
        [('up{job="node",instance="n%d"}' % i, "0x40" if i < 1 else "1x40") for i in range(10)],
        [{"job": "node", "severity": "warning"}],
    ),
    "PrometheusRemoteStorageFailures": (
        "1m",
        "30m",
        [
            ("prometheus_remote_storage_samples_failed_total{%s}" % RW, "0+5x40"),
            ("prometheus_remote_storage_samples_total{%s}" % RW, "0+100x40"),
        ],
        [
            ("prometheus_remote_storage_samples_failed_total{%s}" % RW, "0x40"),
            ("prometheus_remote_storage_samples_total{%s}" % RW, "0+100x40"),
        ],
        [dict(RW_LABELS, severity="critical")],
    ),
    "PrometheusRemoteWriteBehind": (
        "1m",
        "30m",
        [
            ("prometheus_remote_storage_highest_timestamp_in_seconds{%s}" % P, "0+60x40"),
            ("prometheus_remote_storage_queue_highest_sent_timestamp_seconds{%s}" % RW, "0+30x40"),
        ],
        [
            ("prometheus_remote_storage_highest_timestamp_in_seconds{%s}" % P, "0+60x40"),
            ("prometheus_remote_storage_queue_highest_sent_timestamp_seconds{%s}" % RW, "0+60x40"),
        ],
        [dict(RW_LABELS, severity="critical")],
    ),
    "PrometheusRemoteWriteDesiredShards": (
        "1m",
        "30m",
        [
            ("prometheus_remote_storage_shards_desired{%s}" % RW, "10x40"),
            ("prometheus_remote_storage_shards_max{%s}" % RW, "5x40"),
        ],
        [
            ("prometheus_remote_storage_shards_desired{%s}" % RW, "3x40"),
            ("prometheus_remote_storage_shards_max{%s}" % RW, "5x40"),
        ],
        [dict(RW_LABELS, severity="warning")],
    ),
    "AlertmanagerFailedReload": (
        "1m",
        "20m",
        [("alertmanager_config_last_reload_successful{%s}" % AM, "0x30")],
        [("alertmanager_config_last_reload_successful{%s}" % AM, "1x30")],
        [dict(AM_LABELS, severity="critical")],
    ),
    "AlertmanagerFailedToSendAlerts": (
        "1m",
        "15m",
        [
            ('alertmanager_notifications_failed_total{%s,integration="webhook",reason="other"}' % AM, "0+1x30"),
            ('alertmanager_notifications_total{%s,integration="webhook"}' % AM, "0+2x30"),
        ],
        [
            ('alertmanager_notifications_failed_total{%s,integration="webhook",reason="other"}' % AM, "0x30"),
            ('alertmanager_notifications_total{%s,integration="webhook"}' % AM, "0+2x30"),
        ],
        [dict(AM_LABELS, integration="webhook", reason="other", severity="warning")],
    ),
    "AlertmanagerMembersInconsistent": (
        "1m",
        "30m",
        [
            ('alertmanager_cluster_members{instance="am-a",job="alertmanager"}', "1x40"),
            ('alertmanager_cluster_members{instance="am-b",job="alertmanager"}', "2x40"),
        ],
        [
            ('alertmanager_cluster_members{instance="am-a",job="alertmanager"}', "2x40"),
            ('alertmanager_cluster_members{instance="am-b",job="alertmanager"}', "2x40"),
        ],
        [dict(AM_LABELS, severity="critical")],
    ),
}


def _shipped():
    with open(RULES, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def test_the_shipped_file_passes_promtool_check_rules():
    proc = subprocess.run([PROMTOOL, "check", "rules", RULES], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_alert_has_a_case():
    alerts = {r["alert"] for g in _shipped()["groups"] for r in g["rules"]}
    assert alerts == set(CASES)


@pytest.mark.parametrize("alert", sorted(CASES))
def test_alert_fires_on_a_broken_stack_and_not_on_a_healthy_one(alert, tmp_path):
    rules = _shipped()
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "stack.yml").write_text(yaml.safe_dump(rules))
    interval, eval_time, broken, healthy, expected = CASES[alert]
    tests = []
    for series, exp in ((broken, expected), (healthy, [])):
        tests.append(
            {
                "interval": interval,
                "input_series": [{"series": s, "values": v} for s, v in series],
                "alert_rule_test": [
                    {"eval_time": eval_time, "alertname": alert, "exp_alerts": [{"exp_labels": e} for e in exp]}
                ],
            }
        )
    (tmp_path / "test.yml").write_text(
        yaml.safe_dump({"rule_files": ["stack.yml"], "evaluation_interval": "1m", "tests": tests})
    )
    proc = subprocess.run(
        [PROMTOOL, "test", "rules", str(tmp_path / "test.yml")], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
