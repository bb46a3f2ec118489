"""HA pair, Alertmanager cluster, remote_write into VictoriaMetrics and hashmod shards, end to end.

Runs the rendered configs as loopback processes (tests/integration/ha_topology.py: the
roles' render tasks and unit templates, Debian's prometheus 2.42, prometheus-alertmanager
0.25, prometheus-node-exporter and victoria-metrics 1.79; the accelerators are the exporter
emulator) rather than as systemd containers of the podman lab: the lab is one serialized
bring-up shared by every e2e test, and two Prometheus, two Alertmanagers, two shards and
VictoriaMetrics as containers would add minutes of CI time for no extra coverage of the
configuration (the prometheus and alertmanager roles' install path is covered by molecule
and the lab e2e).

Claims proved here (docs/scale-out.md):
- the HA pair's configs differ only in the replica label; both replicas send to every
  Alertmanager, without the replica label;
- a silence created with the alertmanager_silence module on one peer is on the other;
- a fault gives exactly one notification; with one Prometheus and one Alertmanager (the one
  that notified) stopped during the fault there is no second notification of it, and a new
  fault is still notified exactly once by the survivors.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from types import SimpleNamespace

import pytest
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ha_topology as ht  # noqa: E402
from test_central_configs import http, module_run  # noqa: E402

from ansible_collections.accelmon.monitoring.plugins.module_utils import policy_series as ps

NEEDED = [
    ht.PROMETHEUS,
    ht.ALERTMANAGER,
    ht.NODE_EXPORTER,
    ht.VICTORIA_METRICS,
    ht.VMALERT,
    shutil.which("promtool"),
    shutil.which("amtool"),
]
pytestmark = pytest.mark.skipif(
    not all(p and os.path.exists(p) for p in NEEDED),
    reason="needs prometheus, promtool, prometheus-alertmanager, amtool, prometheus-node-exporter, "
    "victoria-metrics (apt-get install prometheus prometheus-alertmanager prometheus-node-exporter victoria-metrics)",
)

ALERT = "AcceleratorHighTemperature"


@pytest.fixture(scope="module")
def topo(tmp_path_factory):
    topo = ht.Topology(tmp_path_factory.mktemp("ha"))
    topo.render()
    try:
        topo.start_fleet()
        topo.start_victoriametrics("vm")
        topo.start_alertmanagers()
        topo.start_prometheus(["prom-a", "prom-b"])
        yield topo
    finally:
        topo.stop_all()


def _config(topo, name):
    return yaml.safe_load((topo.base / name / "config" / "prometheus.yml").read_text())


def test_replicas_differ_only_in_the_replica_label_and_alert_every_peer(topo):
    a, b = _config(topo, "prom-a"), _config(topo, "prom-b")
    assert a["global"]["external_labels"] == {"replica": "prom-a"}
    assert b["global"]["external_labels"] == {"replica": "prom-b"}
    assert a["alerting"]["alert_relabel_configs"] == [{"action": "labeldrop", "regex": "replica"}]
    # remote_write: the role's queue settings, and the replica label dropped from the samples
    assert a["remote_write"] == [
        {
            "url": topo.url("vm") + "/api/v1/write",
            "queue_config": {"max_samples_per_send": 500, "batch_send_deadline": "1s"},
            "write_relabel_configs": [{"action": "labeldrop", "regex": "replica"}],
        }
    ]
    for cfg in (a, b):
        # each server's own policy exporter listens on its own port here (one machine)
        cfg["global"].pop("external_labels")
        cfg["scrape_configs"] = [j for j in cfg["scrape_configs"] if j["job_name"] != "accelmon_policy"]
    assert a == b
    for name in ("prom-a", "prom-b"):
        active = topo.wait_for(
            name + " sends to both Alertmanagers",
            lambda n=name: len(http(topo.url(n) + "/api/v1/alertmanagers")[1]["data"]["activeAlertmanagers"]) == 2,
            timeout=30,
        )
        assert active


def _sum(result):
    return sum(float(r["value"][1]) for r in result)


def test_victoriametrics_stores_the_pairs_series_once(topo):
    fleet = sorted((n, "node") for n in ht.TARGETS) + sorted((n, "allsmi") for n in topo.emulator_ports)
    selector = '{job=~"node|allsmi",__name__="up"}'

    def stored():
        got = topo.query("vm", selector)
        return got if len(got) == len(fleet) else None

    series = topo.wait_for("the fleet's up series in VictoriaMetrics", stored, timeout=60)
    assert sorted((s["metric"]["instance"], s["metric"]["job"]) for s in series) == sorted(fleet)
    assert all("replica" not in s["metric"] for s in series), series
    # every fleet series once: none carries a replica label, and VictoriaMetrics holds as many
    # as one replica scrapes
    assert topo.query("vm", 'count({job=~"node|allsmi",replica!=""})') == []
    fleet_series = 'count({job=~"node|allsmi"})'
    topo.wait_for(
        "as many series in VictoriaMetrics as in one replica",
        lambda: _sum(topo.query("vm", fleet_series)) == _sum(topo.query("prom-a", fleet_series)) > 0,
        timeout=30,
    )

    # both replicas wrote; VictoriaMetrics kept one sample per series and scrape interval
    window = "20s"
    time.sleep(max(0.0, 22 - (time.time() - topo.started["prom-b"])))
    for name in ("prom-a", "prom-b"):
        assert _sum(topo.query(name, "prometheus_remote_storage_samples_total")) > 0
    samples = [
        'sum(count_over_time(%s{job=~"node|allsmi"}[%s]))' % (metric, window)
        for metric in ("up", "node_load1", "all_smi_gpu_temperature_celsius", "all_smi_gpu_info")
    ]
    written = sum(_sum(topo.query(n, e)) for n in ("prom-a", "prom-b") for e in samples)
    kept = sum(_sum(topo.query("vm", e)) for e in samples)
    ratio = written / kept
    throughput = [
        _sum(topo.query(n, "rate(prometheus_remote_storage_samples_total[%s])" % window)) for n in ("prom-a", "prom-b")
    ]
    series_count = _sum(topo.query("vm", 'count({job=~"node|allsmi|accelmon_policy"})'))
    topo.record(
        ha_dedup_ratio=round(ratio, 2),
        ha_samples_written_per_window=written,
        ha_samples_kept_per_window=kept,
        remote_write_samples_per_second=[round(t, 1) for t in throughput],
        vm_fleet_series=series_count,
    )
    assert 1.6 <= ratio <= 2.4, (written, kept)


def test_silence_created_on_one_peer_is_on_the_other(topo, tmp_path):
    def clustered(name):
        cluster = http(topo.url(name) + "/api/v2/status")[1]["cluster"]
        return cluster["status"] == "ready" and len(cluster["peers"]) == 2

    for name in ("am-a", "am-b"):
        assert topo.wait_for(name + " in a 2-peer cluster", lambda n=name: clustered(n), timeout=60)
    result = module_run(
        SimpleNamespace(am_url=topo.url("am-a")),
        tmp_path,
        matchers=['instance="cpu-c"', 'alertname="HighCPUUsage"'],
        duration="1h",
        comment="HA test: replicated silence",
    )
    assert result.get("changed") is True, result
    sid = result["silence_id"]
    replicated = topo.wait_for(
        "the silence on am-b",
        lambda: [
            s
            for s in http(topo.url("am-b") + "/api/v2/silences")[1]
            if s["id"] == sid and s["status"]["state"] == "active"
        ],
        timeout=30,
    )
    assert replicated[0]["comment"] == "HA test: replicated silence"
    # expired on am-b (the other peer): gone on am-a too
    expired = module_run(SimpleNamespace(am_url=topo.url("am-b")), tmp_path, silence_id=sid, state="absent")
    assert expired.get("changed") is True, expired
    topo.wait_for(
        "the expiry on am-a",
        lambda: [
            s
            for s in http(topo.url("am-a") + "/api/v2/silences")[1]
            if s["id"] == sid and s["status"]["state"] == "expired"
        ],
        timeout=30,
    )


def test_fault_notifies_once_and_losing_one_prometheus_and_one_alertmanager_loses_nothing(topo):
    # the accelerator series are in both replicas before the fault
    for name in ("prom-a", "prom-b"):
        topo.wait_for(
            name + " scrapes gpu-a",
            lambda n=name: topo.query(n, 'all_smi_gpu_temperature_celsius{instance="gpu-a"}'),
            60,
        )
    topo.fault("gpu-a", {"type": "temperature", "celsius": 95, "device": 0})
    first = topo.wait_for("the notification of gpu-a", lambda: topo.firing(ALERT, "gpu-a"), timeout=90)
    # both replicas fire it; Alertmanager holds one alert without the replica label
    expr = 'ALERTS{alertname="%s",instance="gpu-a",alertstate="firing"}' % ALERT
    for name in ("prom-a", "prom-b"):
        topo.wait_for(name + " fires", lambda n=name: topo.query(n, expr), timeout=20)
    for name in ("am-a", "am-b"):
        alerts = [a for a in http(topo.url(name) + "/api/v2/alerts")[1] if a["labels"]["alertname"] == ALERT]
        assert len(alerts) == 1 and "replica" not in alerts[0]["labels"], alerts
    # several group intervals (5 s) and the peer timeout pass: still one notification
    time.sleep(8)
    assert len(topo.firing(ALERT, "gpu-a")) == 1, topo.firing(ALERT, "gpu-a")

    # stop the Alertmanager that notified and one Prometheus, while gpu-a still burns
    sender = first[0]["sender"].rsplit(":", 1)[1]
    notified_by = [n for n in ("am-a", "am-b") if str(topo.ports[n]) == sender]
    assert notified_by, (first, topo.ports)
    survivor_am = "am-b" if notified_by[0] == "am-a" else "am-a"
    topo.stop(notified_by[0])
    topo.stop("prom-a")
    topo.fault("gpu-b", {"type": "temperature", "celsius": 95, "device": 0})
    second = topo.wait_for(
        "the notification of gpu-b from the survivors", lambda: topo.firing(ALERT, "gpu-b"), timeout=90
    )
    assert second[0]["sender"].endswith(":%d" % topo.ports[survivor_am])
    time.sleep(8)
    assert len(topo.firing(ALERT, "gpu-b")) == 1, topo.firing(ALERT, "gpu-b")
    # the survivor knew (gossiped notification log) that gpu-a was notified: no repeat
    assert len(topo.firing(ALERT, "gpu-a")) == 1, topo.firing(ALERT, "gpu-a")


def _scraped(topo, name):
    targets = http(topo.url(name) + "/api/v1/targets?state=active")[1]["data"]["activeTargets"]
    return {(t["labels"]["instance"], t["labels"]["job"]) for t in targets if t["labels"]["job"] in ("node", "allsmi")}


def test_shards_scrape_every_target_once_and_many_nodes_down_counts_the_whole_fleet(topo):
    shards = ("shard-0", "shard-1")
    topo.start_victoriametrics("vm-global")
    topo.start_prometheus(list(shards))
    fleet = {(n, "node") for n in ht.TARGETS} | {(n, "allsmi") for n in topo.emulator_ports}
    owned = [{t for t in fleet if ps.shard_of(t[0], 2) == i} for i in range(2)]
    assert owned[0] and owned[1], "the topology's names must spread over both shards"

    # every target scraped by exactly one shard: its hashmod share
    try:
        topo.wait_for("both shards' targets", lambda: [_scraped(topo, name) for name in shards] == owned, timeout=60)
    except AssertionError:
        pass  # the assertions below say what differs
    scraped = [_scraped(topo, name) for name in shards]
    assert scraped[0] | scraped[1] == fleet
    assert not scraped[0] & scraped[1]
    assert scraped == owned
    # each shard serves the policy series of its own targets only
    for i, name in enumerate(shards):
        got = topo.wait_for(
            name + " policy series",
            lambda n=name: {r["metric"]["instance"] for r in topo.query(n, "accelmon_alert_route")},
            timeout=30,
        )
        assert got == {target[0] for target in owned[i]}
    counts = [len(topo.query(name, '{job=~"node|allsmi|accelmon_policy"}')) for name in shards]

    # ManyNodesDown where all shards' data meet: vmalert on vm-global, the compiled rule as is
    # (the role's global rule file: the groups that count over targets, the same on every shard)
    global_file = [topo.base / name / "config" / "global" / "accelmon-global.rules.yml" for name in shards]
    assert global_file[0].read_text() == global_file[1].read_text()
    global_rules = yaml.safe_load(global_file[0].read_text())
    assert [g["name"] for g in global_rules["groups"]] == ["accelmon.ManyNodesDown"]
    assert not (topo.base / "prom-a" / "config" / "global").exists()  # unsharded: none
    topo.wait_for(
        "every policy series in vm-global",
        lambda: len(topo.query("vm-global", 'accelmon_alert_route{alertname="ManyNodesDown"}')) == len(ht.TARGETS),
        timeout=30,
    )
    topo.start_vmalert(global_file[0], "vm-global", ["am-b"])

    # cpu-c and cpu-d (node_exporter #1) go down: 2 of 6 nodes, 33 % > 30 %
    down = {n for n, spec in ht.TARGETS.items() if spec["node"] == 1}
    topo.stop("node-1")
    expected = 100.0 * len(down) / len(ht.TARGETS)

    def fired():
        alerts = http(topo.url("vmalert") + "/api/v1/alerts")[1]["data"]["alerts"] or []
        return [a for a in alerts if a["name"] == "ManyNodesDown" and a["state"] == "firing"]

    alerts = topo.wait_for("ManyNodesDown on the global view", fired, timeout=60)
    assert len(alerts) == 1 and abs(float(alerts[0]["value"]) - expected) < 0.01, alerts

    # on each shard the same rule counts that shard's nodes only (docs/scale-out.md)
    firing_expr = 'ALERTS{alertname="ManyNodesDown",alertstate="firing"}'
    for i, name in enumerate(shards):
        nodes = [n for n, job in owned[i] if job == "node"]
        percent = 100.0 * len([n for n in nodes if n in down]) / len(nodes)
        value = topo.query(
            name, '100 * count(((max_over_time(up{job="node"}[30s]) or up{job="node"}) == 0)) / count(up{job="node"})'
        )
        assert abs((_sum(value) if value else 0.0) - percent) < 0.01, (name, value, percent)
        if percent > ht.PERCENT_MANY_DOWN:
            topo.wait_for(name + " fires its own ManyNodesDown", lambda n=name: topo.query(n, firing_expr), timeout=20)
        else:
            assert topo.query(name, firing_expr) == [], (name, percent)
    topo.record(
        series_per_shard=counts, fleet_series_total=sum(counts), many_nodes_down_global_percent=round(expected, 1)
    )
