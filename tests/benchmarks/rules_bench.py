#!/usr/bin/env python
"""Alert-rule benchmark: thresholds as series against one static rule per template, in a
real Prometheus, at 1k and 10k targets (printed figures, not a timed test; docs/performance.md).

For each fleet size, in one run on one Prometheus:

1. builds a synthetic fleet in memory with fleet_model.build_model (all namespaces plus a
   custom one, a 4-level infrastructure tree, group policies on a few dozen groups,
   overrides on 2 % of the targets), computes every target's effective policy, compiles
   the rules and the policy series, and prints the rule count (against templates x
   distinct `for` values), the policy series count, file sizes and compile time;
2. serves the measured series of every target (every template's metrics: node_exporter,
   all-smi, dcgm-exporter, smartmon and check runner names, one local exporter,
   honor_labels), as many per target as the node shape has devices (`--shapes`: minimal =
   each exporter's series once, the worst case for the compiled rules; hgx = an 8-GPU H200
   node, conservative), and the policy series from a real node_exporter (Debian's
   prometheus-node-exporter, textfile collector only, as the prometheus role runs it), and
   compares
     compiled - the rules of rule_compiler, joining the policy series,
     static   - one global rule per template with default thresholds, no join,
   in three ways, each with its median and spread (min-max) per side and the ratio:
   a. rule groups: both rule sets loaded together, so every evaluation cycle runs both under
      the same machine load; each group's evaluationTime from the rules API (= the metric
      prometheus_rule_group_last_duration_seconds) for `--evals` cycles after the first;
      per cycle the sum over the templates per side;
   b. paired queries: the same expressions as queries, compiled and static alternately per
      template, `--evals` rounds, with no rules loaded: the engine's evalTotalTime (wall
      time) and
   c. the Prometheus process' CPU time during those queries (/proc: not inflated by the
      other processes of a shared machine);
   plus the scrape time and sample count of the policy job (scraped every 60s with a 55s
   timeout, the prometheus role's defaults).
The target (issue 7): at 10k targets, ratio <= 1.5 and rules <= templates x distinct `for`.
Loopback only; one Prometheus per shape; every process is stopped at the end. About an hour
on 2 cores. Memory at 10k: minimal 1.3M head series, 6 GB of Prometheus memory; hgx 3.4M head
series, over 18 GB unless held to GOMEMLIMIT (set to 55 % of the machine's memory; on a 23 GB
VM the collector then runs almost continuously and the cycles saturate: `--shapes minimal`, or
a machine with 32 GB or more, for clean hgx figures at 10k).

Usage: python tests/benchmarks/rules_bench.py [--sizes 1000 10000] [--shapes minimal hgx] [--evals 7]
       [--no-prometheus]
"""

import argparse
import http.server
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / ".build" / "collections"))

from ansible_collections.accelmon.monitoring.plugins.module_utils import check_probes as probes  # noqa: E402
from ansible_collections.accelmon.monitoring.plugins.module_utils import policy_series as ps  # noqa: E402
from ansible_collections.accelmon.monitoring.plugins.module_utils import rule_compiler as rc  # noqa: E402
from ansible_collections.accelmon.monitoring.plugins.module_utils.fleet_model import build_model  # noqa: E402
from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_catalog import PLACEHOLDER_RE  # noqa: E402

PROVIDERS = ("onprem", "aws", "gcp")


# ------------------------------------------------------------------------------ fleet


def synthetic_fleet(n_targets, seed=42):
    """(documents, policy group count) of a synthetic model with n_targets targets."""
    rnd = random.Random(seed)
    groups = {}
    racks = []
    for prov in PROVIDERS:
        groups["infrastructure:%s" % prov] = {"provider": prov}
        for r in range(3):
            region = "%s-r%d" % (prov, r)
            for z in range(3):
                zone = "%s-z%d" % (region, z)
                for k in range(12):
                    path = "infrastructure:%s/%s/%s/rack%02d" % (prov, region, zone, k)
                    groups[path] = {}
                    racks.append(path)
    policy = {
        "infrastructure:onprem": {"alert_rules": {"HighCPUUsage": {"thresholds": {"cpu_percent": 75}}}},
        "infrastructure:aws": {"alert_rules": {"HighCPUUsage": {"thresholds": {"cpu_percent": 90}}}},
        "infrastructure:gcp": {"alert_rules": {"HighCPUUsage": {"thresholds": {"cpu_percent": 85}}}},
        "infrastructure:onprem/onprem-r0": {"alert_rules": {"AcceleratorHighTemperature": {"thresholds": {"celsius": 80}}}},
        "infrastructure:onprem/onprem-r1": {"alert_rules": {"AcceleratorHighTemperature": {"thresholds": {"celsius": 82}}}},
        "infrastructure:aws/aws-r0": {"alert_rules": {"DiskSpaceLow": {"thresholds": {"free_percent": 15}}}},
        "infrastructure:gcp/gcp-r2": {"alert_rules": {"HighMemoryUsage": {"thresholds": {"memory_percent": 85}}}},
        "logical:ml-training": {"alert_rules": {"AcceleratorHighUtilization": {"enabled": False},
                                                "HighCPUUsage": {"thresholds": {"cpu_percent": 95}}},
                                "alerting": {"team": "ml-training"}},
        "logical:ml-training/llm": {"alert_rules": {"AcceleratorMemoryHigh": {"thresholds": {"memory_percent": 98}}}},
        "logical:inference": {"alert_rules": {"AcceleratorHighUtilization": {
            "thresholds": {"utilization_percent": 90}, "for": "15m", "severity": "warning"}},
            "alerting": {"team": "inference"}},
        "logical:research": {"alert_rules": {"HighCPUUsage": {"thresholds": {"cpu_percent": 99}}},
                             "alerting": {"team": "research"}},
        "logical:batch": {"alerting": {"team": "batch"}},
        "environment:production": {"alert_rules": {"HighCPUUsage": {"thresholds": {"cpu_percent": 70},
                                                                    "strategy": "override"}},
                                   "alerting": {"receiver": "oncall-pager"}},
        "environment:staging": {"alert_rules": {"NodeDown": {"enabled": False}},
                                "alerting": {"receiver": "staging-chat"}},
        "environment:dev": {"alert_rules": dict((r, {"enabled": False}) for r in (
            "NodeDown", "ManyNodesDown", "AcceleratorHighUtilization", "CheckRunnerStale")),
            "alerting": {"receiver": "dev-null"}},
        "cost_center:cc-1": {"alerting": {"labels": {"cost_center": "cc-1"}}},
        "cost_center:cc-2": {"alerting": {"labels": {"cost_center": "cc-2"}}},
    }
    hot = rnd.sample([r for r in racks if r.startswith("infrastructure:onprem")], 8)
    for path in hot:
        policy[path] = {"alert_rules": {"AcceleratorHighTemperature": {
            "thresholds": {"celsius": 78}, "labels": {"facility": "hot-aisle"}}}}
    for i in range(3, 9):
        policy["cost_center:cc-%d" % i] = {}
    for path, spec in policy.items():
        groups[path] = dict(groups.get(path, {}), **spec)
    policy_groups = sum(1 for spec in groups.values() if set(spec) & {"alert_rules", "alerting", "checks"})
    logical = ["logical:ml-training", "logical:ml-training/llm", "logical:inference", "logical:research",
               "logical:batch"]
    targets = {}
    for i in range(n_targets):
        rack = racks[i % len(racks)]
        prov = rack.split(":")[1].split("/")[0]
        env = rnd.choices(["environment:production", "environment:staging", "environment:dev"], [60, 25, 15])[0]
        member = [rnd.choice(logical), env]
        if rnd.random() < 0.5:
            member.append("cost_center:cc-%d" % rnd.randint(1, 8))
        spec = {"address": "10.%d.%d.%d" % (i // 65536, (i // 256) % 256, i % 256), "primary_group": rack,
                "groups": member}
        if rnd.random() < 0.02:
            spec["overrides"] = {"alert_rules": rnd.choice([
                {"HighCPUUsage": {"thresholds": {"cpu_percent": rnd.choice([60, 65, 80])}}},
                {"AcceleratorHighTemperature": {"thresholds": {"celsius": rnd.choice([75, 88])}}},
                {"DiskSpaceLow": {"thresholds": {"free_percent": 5}}},
            ])}
        targets["node%05d.%s.example" % (i, prov)] = spec
    model = {
        "namespaces": {"environment": {"priority": 10}, "logical": {"priority": 50},
                       "cost_center": {"priority": 70}, "infrastructure": {"priority": 100}},
        "groups": groups,
        "targets": targets,
    }
    return [(model, "synthetic.yml")], policy_groups


# ------------------------------------------------------------------------------ exporter


# What one target serves, per node shape. "minimal": every exporter's series once (one GPU,
# one CPU, one filesystem, one InfiniBand port, one disk), the figures of earlier runs, and
# the worst case for the compiled rules (each rule reads one policy series per target; the
# fewer measured series a target has, the larger that share). "hgx": the 8 GPUs of an HGX/DGX
# H200 node, as the fleets this collection is for run them, with far fewer of everything else
# than the real node (a DGX H200 has 224 logical CPUs, 18 NVLinks per GPU, 8 InfiniBand and 2
# storage ports, 10 NVMe drives), to fit 10k targets in a 23 GB VM: fewer measured series make
# the static rules cheaper, so the ratio is overstated, not flattered.
SHAPES = {
    "minimal": {"gpus": 1, "nvlinks": 2, "cpus": 1, "ib_ports": 1, "roce_ports": 0, "nvme": 1,
                "filesystems": (("/", "/dev/nvme0n1p1", "ext4"),)},
    "hgx": {"gpus": 8, "nvlinks": 2, "cpus": 8, "ib_ports": 4, "roce_ports": 1, "nvme": 4,
            "filesystems": (("/", "/dev/md0", "ext4"), ("/boot/efi", "/dev/nvme8n1p1", "vfat"),
                            ("/raid", "/dev/md1", "ext4"))},
}


class Exporter(http.server.ThreadingHTTPServer):
    """Serves the series of every synthetic instance (one scrape = every host).

    A healthy fleet: every reading is below the lowest threshold of the synthetic policies
    (CPU 10-46 %, memory 20-70 %, disk 20-68 % free, GPU 40-69 C, utilization and device
    memory below 80 %), so no threshold alert fires in either rule set and the figures
    compare the rules, not the alerts (each active alert costs its own bookkeeping per
    evaluation, the same in both designs); 1 % of the nodes are down (NodeDown fires).
    Every exporter a GPU node runs is there (node_exporter with its textfile collector,
    all-smi, dcgm-exporter, smartmon, the check runner with one item per check type and
    every status series, check_probes' own names), healthy, so every template's rules read
    real series in both sets, as many per target as the node shape (SHAPES) has devices;
    DCGM_EXP_XID_ERRORS_COUNT has no series (no XID in the window, as on a healthy GPU).
    The constant lines are built once per fleet, the time-dependent ones per scrape.
    """

    daemon_threads = True

    def __init__(self, hosts, shape="minimal"):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.started = time.time()
        self.shape = SHAPES[shape]
        self.set_hosts(hosts)

    def set_hosts(self, hosts):
        self.cpu_busy = [0.1 + 0.4 * (i % 7) / 7.0 for i in range(len(hosts))]
        self.hosts = hosts
        self.constant = "".join(self._constant(i, h, self.shape) for i, h in enumerate(hosts))

    @staticmethod
    def _constant(i, h, shape):
        out = []
        add = out.append
        lab = 'instance="%s"' % h
        add('node_memory_MemTotal_bytes{%s,job="node"} 1.0e12' % lab)
        add('node_memory_MemAvailable_bytes{%s,job="node"} %d' % (lab, 3e11 + (i % 11) * 5e10))
        for mountpoint, device, fstype in shape["filesystems"]:
            fs = '%s,job="node",device="%s",fstype="%s",mountpoint="%s"' % (lab, device, fstype, mountpoint)
            add('node_filesystem_size_bytes{%s} 1.0e12' % fs)
            add('node_filesystem_avail_bytes{%s} %d' % (fs, 2e11 + (i % 13) * 4e10))
            add('node_filesystem_files{%s} 6.4e7' % fs)
            add('node_filesystem_files_free{%s} %d' % (fs, 3e7 + (i % 13) * 1e6))
            add('node_filesystem_readonly{%s} 0' % fs)
        add('node_textfile_scrape_error{%s,job="node"} 0' % lab)
        for g in range(shape["gpus"]):
            uuid = "GPU-%08d-%d" % (i, g) if shape["gpus"] > 1 else "GPU-%08d" % i
            gpu = '%s,job="allsmi",gpu="NVIDIA H200",gpu_index="%d",gpu_uuid="%s"' % (lab, g, uuid)
            add('all_smi_gpu_temperature_celsius{%s} %d' % (gpu, 40 + (i + g) % 30))
            add('all_smi_gpu_temperature_threshold_slowdown_celsius{%s} 90' % gpu)
            add('all_smi_gpu_utilization{%s} %d' % (gpu, (i + g) % 80))
            add('all_smi_gpu_memory_used_bytes{%s} %d' % (gpu, ((i + g) % 80) * 1.4e9))
            add('all_smi_gpu_memory_total_bytes{%s} 1.41e11' % gpu)
            add('all_smi_gpu_info{%s,type="GPU"} 1' % gpu)
            for link in range(shape["nvlinks"]):
                add('all_smi_nvlink_remote_device_type{%s,link_index="%d",remote_type="switch"} 2' % (gpu, link))
            dcgm = '%s,job="dcgm",gpu="%d",UUID="%s"' % (lab, g, uuid)
            for name, value in (("XID_ERRORS", 0), ("ECC_DBE_VOL_TOTAL", 0), ("PCIE_LINK_WIDTH", 16),
                                ("PCIE_REPLAY_COUNTER", 3), ("ROW_REMAP_FAILURE", 0), ("ROW_REMAP_PENDING", 0),
                                ("THERMAL_VIOLATION", 0), ("UNCORRECTABLE_REMAPPED_ROWS", 0)):
                add('DCGM_FI_DEV_%s{%s} %d' % (name, dcgm, value))
            for kind in ("CRC_FLIT", "REPLAY", "RECOVERY"):
                add('DCGM_FI_DEV_NVLINK_%s_ERROR_COUNT_TOTAL{%s} 0' % (kind, dcgm))
        for n in range(shape["nvme"]):
            add('nvme_critical_warning{%s,job="node",device="nvme%d"} 0' % (lab, n))
            disk = "/dev/nvme%dn1" % n if shape["nvme"] > 1 else "/dev/sda"
            add('smartmon_device_smart_healthy{%s,job="node",device="%s",disk="%s"} 1' % (lab, disk, disk))
        node = {"instance": h, "job": "node"}
        checks = [
            ("mount", "/models", "responsive", None, {}),
            ("parallel_fs", "/lustre", "responsive", 0.05, {}),
            ("port", "10.0.0.1:443", "open", None, {}),
            ("license", "flexlm", "valid", None, {}),
            ("command", "nccl-smoke", "ok", None, {}),
        ]
        ports = [("InfiniBand", 400, 200)] * shape["ib_ports"] + [("Ethernet", 200, 100)] * shape["roce_ports"]
        for n, (layer, rate, min_rate) in enumerate(ports):
            port = {"device": "mlx5_%d" % n, "port": "1", "link_layer": layer}
            if layer == "InfiniBand":
                ib = '%s,job="node",device="mlx5_%d",port="1"' % (lab, n)
                add('node_infiniband_state_id{%s} 4' % ib)
                add('node_infiniband_physical_state_id{%s} 5' % ib)
            for name, value in (("state_id", 4), ("physical_state_id", 5), ("rate_gbps", rate),
                                ("min_rate_gbps", min_rate)):
                add(_sample_line(probes.Sample("accelmon_check_infiniband_" + name, dict(node, **port), value)))
            checks.append(("infiniband", "mlx5_%d/1" % n, "active", None, port))
        for check, item, status, duration, extra in checks:
            for sample in probes.item_samples(check, item, status, duration, dict(node, **extra)):
                add(_sample_line(sample))
        add(_sample_line(probes.Sample("accelmon_check_license_expiry_timestamp_seconds",
                                       dict(node, check="license", item="flexlm"), 4.1e9)))
        for check in ("mount", "parallel_fs", "port", "license", "command", "infiniband"):
            add('accelmon_check_runner_success{%s,job="node",check="%s"} 1' % (lab, check))
        add('up{%s,job="node"} %d' % (lab, 0 if i % 97 == 0 else 1))
        add('up{%s,job="allsmi"} 1' % lab)
        add('up{%s,job="dcgm"} 1' % lab)
        return "\n".join(out) + "\n"

    def body(self):
        t = time.time() - self.started
        now = time.time()
        out = [self.constant]
        add = out.append
        cpus = self.shape["cpus"]
        for i, h in enumerate(self.hosts):
            lab = 'instance="%s"' % h
            busy = self.cpu_busy[i]
            idle, user = 1e5 + t * (1 - busy), 1e5 + t * busy
            for cpu in range(cpus):
                add('node_cpu_seconds_total{%s,job="node",cpu="%d",mode="idle"} %.3f\n'
                    'node_cpu_seconds_total{%s,job="node",cpu="%d",mode="user"} %.3f\n' % (lab, cpu, idle, lab, cpu, user))
            add('accelmon_check_last_run_timestamp_seconds{%s,job="node"} %d\n' % (lab, now - 30))
            add('node_textfile_mtime_seconds{%s,job="node",file="/var/lib/accelmon/accelmon_check_mount.prom"} %d\n'
                % (lab, now - 30))
        return "".join(out).encode()


def _sample_line(sample):
    return "%s %s" % (ps.series_text(sample.name, sample.labels), ps.format_value(sample.value))


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server API
        data = self.server.body()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # Prometheus gave up (scrape timeout) or stopped

    def log_message(self, *args):
        pass


# ------------------------------------------------------------------------------ prometheus


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url):
    with urllib.request.urlopen(url, timeout=300) as resp:
        return json.loads(resp.read().decode())


def static_rules(catalog, templates):
    """One global rule per template: default thresholds, no join, no host selector."""
    groups = []
    for name in templates:
        spec = catalog.rule_templates[name]
        values = dict((k, ps.format_value(p["default"])) for k, p in spec["parameters"].items())
        expr = spec["expr"].replace(" by (${by})", "").replace(" ${route}", "")
        expr = PLACEHOLDER_RE.sub(lambda m, v=values: v[m.group(1)], expr)
        groups.append({"name": "static.%s" % name, "rules": [
            {"alert": name, "expr": expr, "for": spec["for"], "labels": {"severity": spec["severity"]}}]})
    return {"groups": groups}


def _query(base, expr):
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    return get_json(url)["data"]["result"]


def _scalar(base, expr):
    res = _query(base, expr)
    return float(res[0]["value"][1]) if res else float("nan")


def reload(base):
    req = urllib.request.Request(base + "/-/reload", method="POST")
    urllib.request.urlopen(req, timeout=300).read()


def measure(base, rule_file, rules, evals, interval):
    """Load `rules`, wait for `evals` evaluations of each group after the first, return
    {group: [seconds of each evaluation, in order]}.

    Reads the rules API (each group's `lastEvaluation` and `evaluationTime`, the same figure
    as prometheus_rule_group_last_duration_seconds) every few seconds. The first evaluation
    after the reload is left out (it reads every series cold)."""
    Path(rule_file).write_text(rc.dump_rules_yaml(rules))
    reload(base)
    loaded = time.time()
    wanted = {g["name"] for g in rules["groups"]}
    samples = {name: {} for name in wanted}
    deadline = loaded + interval * (evals + 3) + 120
    while time.time() < deadline and min(len(v) for v in samples.values()) < evals + 1:
        time.sleep(min(3, interval / 4.0))
        for group in get_json(base + "/api/v1/rules")["data"]["groups"]:
            stamp = group.get("lastEvaluation") or ""
            if group["name"] in wanted and not stamp.startswith("0001") and group.get("evaluationTime"):
                samples[group["name"]][stamp] = float(group["evaluationTime"])
    out = {}
    for name, by_stamp in samples.items():
        stamps = sorted(by_stamp, key=_rfc3339)
        stamps = [st for st in stamps if _rfc3339(st) > loaded + 1][1 : evals + 1]
        out[name] = [by_stamp[st] for st in stamps]
    return out


def _rfc3339(text):
    """Seconds since the epoch of the rules API's timestamps (nanoseconds cut to micro)."""
    import datetime

    head, _sep, frac = text.rstrip("Z").partition(".")
    zone = ""
    for sign in ("+", "-"):
        if sign in frac:
            frac, zone = frac.split(sign, 1)
            zone = sign + zone
    stamp = datetime.datetime.fromisoformat(head + ("." + frac[:6] if frac else "") + (zone or "+00:00"))
    return stamp.timestamp()


def spread(values):
    """'median (min-max)' of a list of seconds, in ms."""
    if not values:
        return "n/a"
    return "%.0f (%.0f-%.0f)" % (statistics.median(values) * 1e3, min(values) * 1e3, max(values) * 1e3)


def cycle_totals(durations, names):
    """Per evaluation cycle k, the sum over `names` of each group's k-th evaluation (all
    groups run every interval, so the k-th evaluations share one time window)."""
    count = min(len(durations[n]) for n in names)
    return [sum(durations[n][k] for n in names) for k in range(count)]


def process_cpu_seconds(pid):
    """User + system CPU time of a process, all its threads (/proc/<pid>/stat, clock ticks)."""
    with open("/proc/%d/stat" % pid) as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / float(os.sysconf("SC_CLK_TCK"))


def paired(base, compiled, static, reps, pid):
    """The compiled and static expressions of every template as queries, alternately per
    template, `reps` rounds: the engine's own evalTotalTime (`stats=all`, wall time) and the
    CPU time the Prometheus process spent on each query (/proc, clock ticks: what other
    processes' load does not inflate; Prometheus' own scrapes and GC land on either side).

    Returns ({template: (compiled median, static median)} of the wall times, and per side
    the wall and CPU totals of each round): in each round every pair runs under the load
    of its moment."""
    static_expr = {g["name"].split(".", 1)[1]: [r["expr"] for r in g["rules"]] for g in static["groups"]}
    per = {}
    rounds = {key: [0.0] * reps for key in ("compiled", "static", "compiled_cpu", "static_cpu")}
    for rep in range(reps):
        for group in compiled["groups"]:
            name = group["name"].split(".", 1)[1]
            if name not in static_expr:
                continue
            times = per.setdefault(name, {"compiled": [], "static": []})
            for kind, exprs in (("compiled", [r["expr"] for r in group["rules"]]), ("static", static_expr[name])):
                total = 0.0
                cpu = process_cpu_seconds(pid)
                for expr in exprs:
                    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr, "stats": "all"})
                    total += get_json(url)["data"]["stats"]["timings"]["evalTotalTime"]
                rounds[kind + "_cpu"][rep] += process_cpu_seconds(pid) - cpu
                times[kind].append(total)
                rounds[kind][rep] += total
    medians = {n: (statistics.median(t["compiled"]), statistics.median(t["static"])) for n, t in per.items()}
    return medians, rounds


class Bench:
    """One Prometheus, one measured-series exporter, one policy node_exporter; sizes in turn."""

    def __init__(self, interval, shape="minimal"):
        self.interval = interval
        self.binary = shutil.which("prometheus") or "/usr/bin/prometheus"
        self.node_exporter = shutil.which("prometheus-node-exporter") or "/usr/bin/prometheus-node-exporter"
        for path, pkg in ((self.binary, "prometheus"), (self.node_exporter, "prometheus-node-exporter")):
            if not os.path.exists(path):
                raise SystemExit("%s not installed (apt-get install %s)" % (path, pkg))
        self.tmp = tempfile.mkdtemp(prefix="accelmon-rules-bench-")
        self.policy_dir = os.path.join(self.tmp, "policy")
        os.makedirs(self.policy_dir)
        self.exporter = Exporter([], shape)
        threading.Thread(target=self.exporter.serve_forever, daemon=True).start()
        self.port = free_port()
        self.policy_port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.rule_file = os.path.join(self.tmp, "rules.yml")
        Path(self.rule_file).write_text("groups: []\n")
        self.procs = []

    def _write_config(self):
        Path(self.tmp, "prometheus.yml").write_text(
            "global: {scrape_interval: %ds, evaluation_interval: %ds, scrape_timeout: %ds}\n"
            "rule_files: [%s]\n"
            "scrape_configs:\n"
            "  - job_name: synthetic\n"
            "    honor_labels: true\n"
            "    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
            "  - job_name: accelmon_policy\n"
            "    honor_labels: true\n"
            "    scrape_interval: 60s\n"
            "    scrape_timeout: 55s\n"
            "    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
            "    metric_relabel_configs: [{source_labels: [__name__], regex: 'accelmon_alert_.*',"
            " action: keep}]\n"
            "  - job_name: prometheus\n"
            "    scrape_interval: 5s\n"
            "    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
            % (self.interval, self.interval, self.interval - 5, self.rule_file,
               self.exporter.server_address[1], self.policy_port, self.port))

    def set_interval(self, interval):
        """Scrape and evaluation interval of the measured series (reload when it changes)."""
        if interval != self.interval:
            self.interval = interval
            self._write_config()
            reload(self.base)

    def start(self):
        self._write_config()
        log = open(os.path.join(self.tmp, "processes.log"), "w")  # noqa: SIM115
        self.procs.append(subprocess.Popen(
            [self.node_exporter, "--collector.disable-defaults", "--collector.textfile",
             "--collector.textfile.directory=%s" % self.policy_dir, "--web.disable-exporter-metrics",
             "--web.listen-address=127.0.0.1:%d" % self.policy_port],
            stdout=log, stderr=subprocess.STDOUT))
        # Go's heap may grow to twice the live heap before a collection: 10k targets of the
        # hgx shape (3.4M head series) passed 18 GB. A soft limit at 55 % of the machine's
        # memory keeps it in a 23 GB VM; near it the collector runs more often, for both rule
        # sets alike. GOMEMLIMIT in the environment wins.
        env = dict(os.environ)
        env.setdefault("GOMEMLIMIT", "%dMiB" % (os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") * 0.55 / 2**20))
        self.procs.append(subprocess.Popen(
            [self.binary, "--config.file=%s" % os.path.join(self.tmp, "prometheus.yml"),
             "--storage.tsdb.path=%s" % os.path.join(self.tmp, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port, "--web.enable-lifecycle",
             "--storage.tsdb.retention.time=1h"],
            stdout=log, stderr=subprocess.STDOUT, env=env))
        for _unused in range(120):
            try:
                urllib.request.urlopen(self.base + "/-/ready", timeout=2).read()
                break
            except OSError:
                time.sleep(0.5)
        print("prometheus %s on 127.0.0.1:%d (GOMEMLIMIT=%s); policy series from %s on 127.0.0.1:%d; interval %ds" % (
            subprocess.run([self.binary, "--version"], capture_output=True, text=True, check=False).stdout.split("\n")[0],
            self.port, env["GOMEMLIMIT"], os.path.basename(self.node_exporter), self.policy_port, self.interval))

    def load_fleet(self, hosts, series):
        """Serve the measured series of `hosts` and their policy series (atomic rename, as the role)."""
        Path(self.rule_file).write_text("groups: []\n")
        reload(self.base)
        self.exporter.set_hosts(sorted(hosts))
        tmp = os.path.join(self.policy_dir, ".accelmon_policy.tmp")
        Path(tmp).write_text(ps.exposition(series))
        os.rename(tmp, os.path.join(self.policy_dir, "accelmon_policy.prom"))
        want_routes = sum(1 for s in series if s[0] == ps.ROUTE_METRIC)
        t0 = time.time()
        while time.time() - t0 < 600:
            up = _scalar(self.base, 'count(count_over_time(up{job="node"}[%ds]) >= 2)' % (self.interval * 3))
            routes = _scalar(self.base, "count(accelmon_alert_route)")
            if up == len(hosts) and routes == want_routes:
                break
            time.sleep(2)
        time.sleep(self.interval * 2)  # old sizes' series go stale
        return _scalar(self.base, "prometheus_tsdb_head_series")

    def policy_scrape(self):
        return (_scalar(self.base, 'scrape_duration_seconds{job="accelmon_policy"}'),
                _scalar(self.base, 'scrape_samples_post_metric_relabeling{job="accelmon_policy"}'))

    def stop(self):
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.exporter.shutdown()
        shutil.rmtree(self.tmp, ignore_errors=True)


# ------------------------------------------------------------------------------ main


def compile_size(n):
    t = time.perf_counter()
    documents, policy_groups = synthetic_fleet(n)
    model = build_model(documents)
    hosts = dict((name, ps.host_entry(model.host_vars(name))) for name in model.targets)
    t_model = time.perf_counter() - t
    t = time.perf_counter()
    plan, series = rc.plan_rules(model.catalog, hosts)
    compiled = rc.render_plan(model.catalog, plan)
    text = rc.dump_rules_yaml(compiled)
    policy = ps.exposition(series)
    t_compile = time.perf_counter() - t
    summary = rc.summarize(plan)
    n_rules = sum(s["rules"] for s in summary.values())
    fors = sorted({f for tp in plan.values() for f in tp.for_values}, key=rc.duration_seconds)
    n_overrides = sum(1 for s in documents[0][0]["targets"].values() if "overrides" in s)
    print("\n== %d targets ==" % n)
    print("synthetic fleet: %d targets, %d groups (%d with policies), %d targets with overrides"
          % (len(hosts), len(model.groups), policy_groups, n_overrides))
    print("model + effective policies: %.2fs; compile rules + policy series: %.2fs" % (t_model, t_compile))
    print("rules: %d in %d templates; distinct `for` values %d (%s); bound templates x for = %d"
          % (n_rules, len(plan), len(fors), ", ".join(fors), len(plan) * len(fors)))
    print("rule file %.1f KiB; policy series %d (%d thresholds, %d routes), file %.1f MiB"
          % (len(text) / 1024.0, len(series), sum(1 for s in series if s[0] == ps.THRESHOLD_METRIC),
             sum(1 for s in series if s[0] == ps.ROUTE_METRIC), len(policy) / 1048576.0))
    print("%-28s %6s %7s" % ("template", "rules", "hosts"))
    for name, s in summary.items():
        print("%-28s %6d %7d" % (name, s["rules"], s["hosts"]))
    return model, hosts, compiled, series


def interval_for(opts, n):
    """Scrape and evaluation interval for n targets: --interval, else 20s below 5k, 60s above."""
    return opts.interval or (20 if n < 5000 else 60)


def run_size(bench, opts, shape, n, model, hosts, compiled, series):
    """Measure one fleet size on `bench` and print the figures (the labels carry the shape)."""
    tag = "%d targets, %s" % (n, shape)
    bench.set_interval(interval_for(opts, n))
    head = bench.load_fleet(hosts, series)
    scrape_s, samples = bench.policy_scrape()
    static = static_rules(
        model.catalog,
        [g["name"].split(".", 1)[1] for g in compiled["groups"] if g["name"].split(".", 1)[1] in model.catalog.rule_templates],
    )
    # Both rule sets loaded together: every evaluation cycle runs the compiled and the
    # static group of each template in the same interval, under the same machine load
    # (a shared 2-core VM makes sequential phases incomparable).
    t = time.time()
    load_before = os.getloadavg()[0]
    both = {"groups": compiled["groups"] + static["groups"]}
    durations = measure(bench.base, bench.rule_file, both, opts.evals, bench.interval)
    print("\n%s: %d head series; policy job scrape %.1f ms for %d samples; measured in %.0fs, "
          "load average %.1f -> %.1f" % (tag, head, scrape_s * 1e3, samples, time.time() - t, load_before,
                                         os.getloadavg()[0]))
    window = "%ds" % (time.time() - t + 60)
    policy_up = _scalar(bench.base, 'min_over_time(up{job="accelmon_policy"}[%s])' % window)
    print("policy job while measured: up min %s, scrape duration max %.1f s%s" % (
        policy_up, _scalar(bench.base, 'max_over_time(scrape_duration_seconds{job="accelmon_policy"}[%s])'
                           % window),
        "" if policy_up == 1 else " -- A POLICY SCRAPE FAILED: the compiled rules read no policy series for a"
        " while, their figures are too low"))
    names = [g["name"].split(".", 1)[1] for g in compiled["groups"]]
    templates = [name for name in names if "static." + name in durations]
    print("rule-group evaluation time per template, median (min-max) of %d evaluations, ms" % opts.evals)
    print("%-34s %5s %22s %22s %6s" % ("template", "rules", "compiled", "static", "ratio"))
    for group in compiled["groups"]:
        name = group["name"].split(".", 1)[1]
        c = durations[group["name"]]
        if name not in templates:
            print("%-34s %5d %22s  (policy health, no static counterpart)" % (name, len(group["rules"]), spread(c)))
            continue
        st = durations["static." + name]
        ratio = statistics.median(c) / statistics.median(st) if c and st and statistics.median(st) else float("nan")
        print("%-34s %5d %22s %22s %6.2f" % (name, len(group["rules"]), spread(c), spread(st), ratio))
    cyc_c = cycle_totals(durations, [g["name"] for g in compiled["groups"]])
    cyc_s = cycle_totals(durations, ["static." + name for name in templates])
    ratios = [c / st for c, st in zip(cyc_c, cyc_s)]
    print("%s, rule groups, total per evaluation cycle (%d cycles; compiled includes the policy "
          "health rule): compiled %s ms, static %s ms" % (tag, len(ratios), spread(cyc_c), spread(cyc_s)))
    print("%s: RATIO rule groups compiled/static: %.2f (ratio of the medians); per cycle median %.2f, "
          "range %.2f-%.2f" % (tag, statistics.median(cyc_c) / statistics.median(cyc_s),
                               statistics.median(ratios), min(ratios), max(ratios)))
    # The queries run with no rules loaded: they do not queue behind the rule groups.
    Path(bench.rule_file).write_text("groups: []\n")
    reload(bench.base)
    pairs, rounds = paired(bench.base, compiled, static, opts.evals, bench.procs[-1].pid)
    print("\n%s: the same expressions as queries, compiled and static alternately per template, "
          "median of %d rounds (ms)" % (tag, opts.evals))
    print("%-34s %10s %10s %6s" % ("template", "compiled", "static", "ratio"))
    for name, (c, st) in pairs.items():
        print("%-34s %10.2f %10.2f %6.2f" % (name, c * 1e3, st * 1e3, c / st if st else float("nan")))
    for label, key in (("engine evalTotalTime (wall)", ""), ("Prometheus CPU time", "_cpu")):
        rc_, rs_ = rounds["compiled" + key], rounds["static" + key]
        ratios = [c / st for c, st in zip(rc_, rs_) if st]
        print("%s, paired queries, %s per round: compiled %s ms, static %s ms"
              % (tag, label, spread(rc_), spread(rs_)))
        print("%s: RATIO paired queries (%s) compiled/static: %.2f (ratio of the medians); per round "
              "median %.2f, range %.2f-%.2f" % (tag, label, statistics.median(rc_) / statistics.median(rs_),
                                                statistics.median(ratios), min(ratios), max(ratios)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--shapes", nargs="+", choices=sorted(SHAPES), default=["minimal", "hgx"],
                        help="node shapes (SHAPES), each in its own Prometheus: minimal = every exporter's series "
                        "once per target (the worst case for the compiled rules), hgx = an 8-GPU H200 node")
    parser.add_argument("--evals", type=int, default=7, help="evaluation cycles (and query rounds) measured per size")
    parser.add_argument("--interval", type=int, default=0,
                        help="scrape and evaluation interval, seconds (default 20 below 5k targets, else 60: at 10k "
                             "both rule sets together take longer than 20s per cycle on a 2-core VM)")
    parser.add_argument("--no-prometheus", action="store_true", help="only compile and count")
    opts = parser.parse_args()
    fleets = [(n, *compile_size(n)) for n in opts.sizes]
    if opts.no_prometheus:
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers on kill too
    for shape in opts.shapes:
        # One Prometheus per shape: the series of an earlier shape stay in its head (up to
        # two hours), and 10k targets of both shapes together do not fit this VM's memory.
        counts = ", ".join("%s %s" % (k, len(v) if isinstance(v, tuple) else v) for k, v in SHAPES[shape].items())
        print("\n==== node shape %s: %s ====" % (shape, counts))
        bench = Bench(interval_for(opts, min(opts.sizes)), shape)
        try:
            bench.start()
            for n, model, hosts, compiled, series in fleets:
                run_size(bench, opts, shape, n, model, hosts, compiled, series)
        finally:
            bench.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
