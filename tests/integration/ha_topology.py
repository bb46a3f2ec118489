"""The scale-out topology as loopback processes, started from the files the roles render.

Used by tests/integration/test_ha_topology.py and by `make demo-ha` (run as a script). The
central servers are hosts of a static inventory (their host variables: replica name, shard
index, listen and cluster addresses, remote_write), the fleet is a fleet model whose targets
are exporter emulators (a test double, docs/emulator.md) and real node_exporters on
127.0.0.1. tests/integration/playbooks/render_ha.yml writes every server's files with the
roles' own render tasks and unit templates; each server is then started with the ExecStart
of its rendered unit (Debian's binaries: install_method package), so the flags that run
here are the flags the roles install. Every port is a free ephemeral one; nothing leaves
loopback.

Servers:
- prom-a, prom-b: an HA pair (prometheus_ha), identical but for the replica label, each
  alerting to both Alertmanagers and remote-writing into VictoriaMetrics (vm);
- am-a, am-b: an Alertmanager cluster (--cluster.*), notifying a webhook sink;
- shard-0, shard-1: hashmod shards (prometheus_shard_count 2) writing into vm-global, where
  vmalert evaluates the rules that count over the whole fleet (ManyNodesDown);
- vm, vm-global: VictoriaMetrics single node (victoriametrics role, -dedup.minScrapeInterval).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import urllib.parse

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from helpers import BIN, ROOT, run  # noqa: E402
from test_central_configs import ALERTMANAGER, NODE_EXPORTER, PROMETHEUS, free_port, http, wait_ready  # noqa: E402

EMULATOR = os.path.join(ROOT, "tests", "emulator", "accel_exporter_emulator.py")
WEBHOOK_SINK = os.path.join(ROOT, "tests", "lab", "webhook_sink.py")
VICTORIA_METRICS = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"
VMALERT = shutil.which("vmalert") or "/usr/bin/vmalert"
PLAYBOOK = os.path.join(ROOT, "tests", "integration", "playbooks", "render_ha.yml")

# Short intervals: a fault reaches the webhook in about 35 s (the catalog's 30 s windows).
INTERVAL = "2s"
FLEET_GROUP = "infrastructure:ha"

# gpu-* run an all-smi emulator each; every target has its own node_exporter port. nodes
# "cpu-*" share node_exporter #2, so stopping it takes 2 of the 6 nodes down at once.
TARGETS = {
    "gpu-a": {"gpus": 2, "node": 0},
    "gpu-b": {"gpus": 2, "node": 0},
    "cpu-c": {"gpus": 0, "node": 1},
    "cpu-d": {"gpus": 0, "node": 1},
    "cpu-e": {"gpus": 0, "node": 0},
    "cpu-f": {"gpus": 0, "node": 0},
}
PERCENT_MANY_DOWN = 30
# The rule groups that count over the whole fleet (ManyNodesDown), written by the role on each
# shard (prometheus_global_rules_file) and evaluated where every shard's data meet (vmalert on
# vm-global), docs/scale-out.md.
GLOBAL_RULES = "{base}/{shard}/config/global/accelmon-global.rules.yml"


def _model(target_vars):
    targets = {}
    for name, spec in TARGETS.items():
        entry = {"address": "127.0.0.1", "primary_group": FLEET_GROUP, "vars": target_vars[name]}
        if spec["gpus"]:
            entry["accelerators"] = [{"vendor": "nvidia", "model": "H200", "count": spec["gpus"]}]
        targets[name] = entry
    return {
        "groups": {
            FLEET_GROUP: {
                "provider": "onprem",
                "alert_rules": {
                    "AcceleratorHighTemperature": {"thresholds": {"celsius": 80}},
                    "ManyNodesDown": {"thresholds": {"percent": PERCENT_MANY_DOWN}},
                },
            }
        },
        "targets": targets,
    }


def exec_start(unit_path):
    """The argv of a rendered systemd unit's (last non-empty) ExecStart."""
    text = open(unit_path, encoding="utf-8").read().replace("\\\n", " ")
    lines = [ln.split("=", 1)[1] for ln in text.splitlines() if ln.startswith("ExecStart=")]
    argv = shlex.split([ln for ln in lines if ln.strip()][-1])
    return [a for a in argv if a]


class Topology:
    def __init__(self, base, vm_dedup="1s"):
        self.base = base
        self.procs = {}
        self.started = {}
        self.logs = {}
        self.ports = {}
        for name in ("sink", "prom-a", "prom-b", "shard-0", "shard-1", "am-a", "am-b", "vm", "vm-global", "vmalert"):
            self.ports[name] = free_port()
        for name in (
            "policy-prom-a",
            "policy-prom-b",
            "policy-shard-0",
            "policy-shard-1",
            "cluster-am-a",
            "cluster-am-b",
        ):
            self.ports[name] = free_port()
        self.node_ports = [free_port(), free_port()]
        self.emulator_ports = {n: free_port() for n, s in TARGETS.items() if s["gpus"]}
        self.vm_dedup = vm_dedup
        self.sink_file = base / "webhook.jsonl"
        self.sink_file.write_text("")

    def url(self, name):
        return "http://127.0.0.1:%d" % self.ports[name]

    # ------------------------------------------------------------------ inventory, render
    def write_inventory(self):
        target_vars = {}
        for name, spec in TARGETS.items():
            v = {"node_exporter_web_listen_address": "127.0.0.1:%d" % self.node_ports[spec["node"]]}
            if spec["gpus"]:
                v["all_smi_port"] = self.emulator_ports[name]
            target_vars[name] = v
        fleet = self.base / "fleet"
        fleet.mkdir(exist_ok=True)
        (fleet / "model.yml").write_text(yaml.safe_dump(_model(target_vars)))
        (self.base / "fleet.accelmon.yml").write_text(
            "plugin: accelmon.monitoring.fleet\nmodel: fleet/\nstrict: true\n"
        )

        ams = ["am-a", "am-b"]
        common = {
            "ha_dir": str(self.base),
            "prometheus_install_method": "package",
            "alertmanager_install_method": "package",
            "prometheus_reload_method": "none",
            "alertmanager_reload_method": "none",
            "prometheus_render_promtool": "promtool",
            "alertmanager_render_amtool": "amtool",
            "prometheus_monitored_hosts": "{{ groups['%s'] }}" % FLEET_GROUP.replace(":", "__"),
            "prometheus_exporter_jobs": ["node", "allsmi"],
            "prometheus_alertmanager_hosts": ams,
            "prometheus_scrape_interval": INTERVAL,
            "prometheus_scrape_timeout": INTERVAL,
            "prometheus_evaluation_interval": INTERVAL,
            "prometheus_policy_scrape_interval": INTERVAL,
            "prometheus_policy_scrape_timeout": INTERVAL,
            "alertmanager_group_wait": "1s",
            "alertmanager_group_interval": "5s",
            "alertmanager_receivers": [
                {"name": "default", "webhook_configs": [{"url": self.url("sink") + "/alerts"}]},
            ],
            "alertmanager_no_log": False,
        }
        hosts = {}
        for name in ("prom-a", "prom-b", "shard-0", "shard-1"):
            d = self.base / name
            h = {
                "ansible_host": "127.0.0.1",
                "prometheus_config_dir": str(d / "config"),
                "prometheus_db_dir": str(d / "data"),
                "prometheus_web_listen_address": "127.0.0.1:%d" % self.ports[name],
                "prometheus_policy_exporter_listen_address": "127.0.0.1:%d" % self.ports["policy-" + name],
            }
            if name.startswith("prom-"):
                h.update(
                    prometheus_remote_write_queue_config={"max_samples_per_send": 500, "batch_send_deadline": "1s"},
                    prometheus_ha=True,
                    prometheus_replica_name=name,
                    prometheus_server_hosts=["prom-a", "prom-b"],
                    prometheus_remote_write=[{"url": self.url("vm") + "/api/v1/write"}],
                )
            else:
                h.update(
                    prometheus_shard_count=2,
                    prometheus_shard_index=int(name[-1]),
                    prometheus_server_hosts=["shard-0", "shard-1"],
                    prometheus_remote_write=[{"url": self.url("vm-global") + "/api/v1/write"}],
                )
            hosts[name] = h
        for name in ams:
            d = self.base / name
            other = [a for a in ams if a != name][0]
            hosts[name] = {
                "ansible_host": "127.0.0.1",
                "alertmanager_config_dir": str(d / "config"),
                "alertmanager_storage_path": str(d / "data"),
                "alertmanager_web_listen_address": "127.0.0.1:%d" % self.ports[name],
                "alertmanager_cluster_listen_address": "127.0.0.1:%d" % self.ports["cluster-" + name],
                "alertmanager_cluster_peers": ["127.0.0.1:%d" % self.ports["cluster-" + other]],
            }
        for name in ("vm", "vm-global"):
            d = self.base / name
            hosts[name] = {
                "victoriametrics_args_file": str(d / "victoria-metrics.default"),
                "victoriametrics_storage_path": str(d / "data"),
                "victoriametrics_http_listen_address": "127.0.0.1:%d" % self.ports[name],
                "victoriametrics_retention_period": "1",
                # the HA pair's scrape interval: its two copies of a sample stored once
                "victoriametrics_dedup_min_scrape_interval": INTERVAL,
                # a test reads what was written a second ago, uncached
                "victoriametrics_extra_args": ["-search.latencyOffset=1s", "-search.disableCache"],
            }
        central = {
            "all": {
                "vars": common,
                "children": {
                    "ha_prometheus": {"hosts": {n: hosts[n] for n in ("prom-a", "prom-b", "shard-0", "shard-1")}},
                    "ha_alertmanagers": {"hosts": {n: hosts[n] for n in ams}},
                    "ha_victoriametrics": {"hosts": {n: hosts[n] for n in ("vm", "vm-global")}},
                },
            }
        }
        (self.base / "central.yml").write_text(yaml.safe_dump(central))

    def render(self):
        self.write_inventory()
        for name in ("vm", "vm-global"):
            (self.base / name).mkdir(exist_ok=True)
        run(
            [
                os.path.join(BIN, "ansible-playbook"),
                PLAYBOOK,
                "-i",
                str(self.base / "fleet.accelmon.yml"),
                "-i",
                str(self.base / "central.yml"),
                "-f",
                "8",
            ],
            timeout=600,
        )

    # ------------------------------------------------------------------ processes
    def _spawn(self, name, argv):
        log = open(self.base / ("%s.log" % name), "a", encoding="utf-8")
        self.logs[name] = log
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=str(self.base))
        return self.procs[name]

    def _unit_argv(self, name, unit, binary):
        argv = exec_start(self.base / name / unit)
        argv[0] = binary
        return argv

    def start_fleet(self):
        self._spawn(
            "sink", [sys.executable, WEBHOOK_SINK, "--port", str(self.ports["sink"]), "--out", str(self.sink_file)]
        )
        for i in range(len(self.node_ports)):
            self.start_node_exporter(i)
        for name, port in self.emulator_ports.items():
            self._spawn(
                "emulator-" + name,
                [
                    sys.executable,
                    EMULATOR,
                    "api",
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--interval",
                    "1",
                    "--devices",
                    "nvidia:%d" % TARGETS[name]["gpus"],
                    "--hostname",
                    name,
                    "--seed",
                    "1",
                    "--control-file",
                    str(self.base / "no-control.json"),
                ],
            )

    def start_node_exporter(self, i):
        return self._spawn(
            "node-%d" % i,
            [
                NODE_EXPORTER,
                "--collector.disable-defaults",
                "--collector.loadavg",
                "--web.listen-address=127.0.0.1:%d" % self.node_ports[i],
            ],
        )

    def start_victoriametrics(self, name):
        args_file = self.base / name / "victoria-metrics.default"
        text = args_file.read_text()
        args = shlex.split([ln for ln in text.splitlines() if ln.startswith("ARGS=")][0].split("=", 1)[1])[0]
        proc = self._spawn(name, [VICTORIA_METRICS] + shlex.split(args))
        wait_ready(self.url(name) + "/health", proc, name)

    def start_vmalert(self, rule_file, datasource, notifiers):
        argv = [
            VMALERT,
            "-rule=%s" % rule_file,
            "-datasource.url=%s" % self.url(datasource),
            "-evaluationInterval=%s" % INTERVAL,
            "-httpListenAddr=127.0.0.1:%d" % self.ports["vmalert"],
        ] + ["-notifier.url=%s" % self.url(n) for n in notifiers]
        proc = self._spawn("vmalert", argv)
        wait_ready(self.url("vmalert") + "/health", proc, "vmalert")

    def start_alertmanagers(self):
        for name in ("am-a", "am-b"):
            self._spawn(
                name, self._unit_argv(name, "alertmanager.service", ALERTMANAGER) + ["--cluster.peer-timeout=5s"]
            )
        for name in ("am-a", "am-b"):
            wait_ready(self.url(name) + "/-/ready", self.procs[name], name)

    def start_prometheus(self, names):
        for name in names:
            config = self.base / name / "config"
            self._spawn(
                "policy-" + name,
                [
                    NODE_EXPORTER,
                    "--collector.disable-defaults",
                    "--collector.textfile",
                    "--collector.textfile.directory=%s" % (config / "policy"),
                    "--web.disable-exporter-metrics",
                    "--web.listen-address=127.0.0.1:%d" % self.ports["policy-" + name],
                ],
            )
            self._spawn(name, self._unit_argv(name, "prometheus.service", PROMETHEUS))
        for name in names:
            wait_ready(self.url(name) + "/-/ready", self.procs[name], name)
            self.started[name] = time.time()

    def stop(self, name, timeout=20):
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def stop_all(self):
        for name in reversed(list(self.procs)):
            self.stop(name)
        for log in self.logs.values():
            log.close()

    # ------------------------------------------------------------------ observe, act
    def query(self, name, expr, path="/api/v1/query"):
        url = self.url(name) + path + "?" + urllib.parse.urlencode({"query": expr})
        return http(url, timeout=10)[1]["data"]["result"]

    def fault(self, target, doc):
        return http("http://127.0.0.1:%d/-/fault" % self.emulator_ports[target], method="POST", data=doc)[1]

    def notifications(self):
        """Every webhook POST (one notification of one alert group): when it came, which
        Alertmanager sent it (externalURL), its status, group labels and alerts' labels."""
        out = []
        for line in self.sink_file.read_text().splitlines():
            rec = json.loads(line)
            payload = rec["payload"]
            out.append(
                {
                    "at": rec["received_at"],
                    "sender": payload.get("externalURL", ""),
                    "status": payload.get("status"),
                    "group": payload.get("groupLabels", {}),
                    "alerts": [a.get("labels", {}) for a in payload.get("alerts", []) if a.get("status") == "firing"],
                }
            )
        return out

    def firing(self, alertname, instance=None):
        """Notifications that carry a firing alertname (on instance)."""
        return [
            n
            for n in self.notifications()
            if any(
                a.get("alertname") == alertname and (instance is None or a.get("instance") == instance)
                for a in n["alerts"]
            )
        ]

    def record(self, **figures):
        """Measured figures: printed, and merged into <base>/figures.json (docs/scale-out.md)."""
        path = self.base / "figures.json"
        data = json.loads(path.read_text()) if path.exists() else {}
        data.update(figures)
        path.write_text(json.dumps(data, indent=2, sort_keys=True))
        print("figures: %s" % json.dumps(figures, sort_keys=True))

    def wait_for(self, what, fn, timeout=120, interval=1.0):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                last = fn()
                if last:
                    return last
            except (OSError, KeyError, ValueError) as exc:
                last = exc
            time.sleep(interval)
        raise AssertionError("%s: not within %ds (last: %r)" % (what, timeout, last))


def main():
    import argparse
    import tempfile
    from pathlib import Path

    ap = argparse.ArgumentParser(description="Run the scale-out topology on loopback until Ctrl-C (make demo-ha).")
    ap.add_argument("--dir", default=None, help="work directory (default: a new temporary one)")
    args = ap.parse_args()
    base = Path(args.dir or tempfile.mkdtemp(prefix="accelmon-ha-"))
    base.mkdir(parents=True, exist_ok=True)
    topo = Topology(base)
    print("rendering the central files into %s ..." % base, flush=True)
    topo.render()
    try:
        topo.start_fleet()
        topo.start_victoriametrics("vm")
        topo.start_victoriametrics("vm-global")
        topo.start_alertmanagers()
        topo.start_prometheus(["prom-a", "prom-b", "shard-0", "shard-1"])
        topo.start_vmalert(GLOBAL_RULES.format(base=base, shard="shard-0"), "vm-global", ["am-a", "am-b"])
        print("\nScale-out topology running (files and logs under %s):" % base)
        for name, what in (
            ("prom-a", "HA pair, replica prom-a -> vm"),
            ("prom-b", "HA pair, replica prom-b -> vm"),
            ("am-a", "Alertmanager cluster peer"),
            ("am-b", "Alertmanager cluster peer"),
            ("vm", "VictoriaMetrics (HA pair, deduplicated): /vmui"),
            ("shard-0", "hashmod shard 0 of 2 -> vm-global"),
            ("shard-1", "hashmod shard 1 of 2 -> vm-global"),
            ("vm-global", "VictoriaMetrics (the shards' global view): /vmui"),
            ("vmalert", "vmalert: ManyNodesDown over vm-global"),
            ("sink", "webhook sink"),
        ):
            print("  %-9s %-28s %s" % (name, topo.url(name), what))
        print("  notifications: %s" % topo.sink_file)
        for name, port in topo.emulator_ports.items():
            print(
                '  fault: curl -XPOST -d \'{"type": "temperature", "celsius": 95, "device": 0}\' '
                "http://127.0.0.1:%d/-/fault   # %s overheats" % (port, name)
            )
        print("Ctrl-C stops everything.", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        topo.stop_all()


if __name__ == "__main__":
    main()
