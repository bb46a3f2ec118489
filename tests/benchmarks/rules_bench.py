#!/usr/bin/env python
"""Alert-rule benchmark: a 10k-target synthetic fleet, compiled rules in a real Prometheus.

Printed figures, not a timed test (docs/performance.md records a run):

1. builds a synthetic fleet in memory with fleet_model.build_model (all namespaces plus a
   custom one, a 4-level infrastructure tree, group policies on a few dozen groups,
   overrides on 2 % of the targets), computes every target's effective policy, compiles
   the rules and prints the rule count, per-template counts, file size and compile time;
2. starts /usr/bin/prometheus on 127.0.0.1 (temp data dir) scraping a local exporter that
   serves the node_exporter / all-smi series of all 10k instances (honor_labels keeps each
   series' `instance`), and measures rule-group evaluation time (`/api/v1/rules`
   prometheus_rule_group_last_duration_seconds, median over several evaluations) in
   phases, one rule file each:
     compiled  - our per-parameter-set rules (instance=~"a|b|..." selectors),
     static    - one global rule per template, default thresholds, no host selector,
     anchored  - (--anchored) the compiled rules with explicit ^(?:...)$ selectors;
   and prints the compiled/static ratio. Loopback only; Prometheus is stopped at the end.
   About 5 minutes on 2 cores with the defaults (30 s evaluation interval, 3 evaluations).

Usage: python tests/benchmarks/rules_bench.py [--targets 10000] [--evals 6] [--no-prometheus]
"""

import argparse
import http.server
import json
import os
import random
import re
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / ".build" / "collections"))

from ansible_collections.accelmon.monitoring.plugins.module_utils import rule_compiler as rc  # noqa: E402
from ansible_collections.accelmon.monitoring.plugins.module_utils.fleet_model import build_model  # noqa: E402

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


class Exporter(http.server.ThreadingHTTPServer):
    """Serves the series of every synthetic instance (one scrape = every host)."""

    daemon_threads = True

    def __init__(self, hosts):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hosts = hosts
        self.started = time.time()
        self.cpu_busy = dict((h, 0.3 + 0.6 * (i % 7) / 7.0) for i, h in enumerate(hosts))

    def body(self):
        t = time.time() - self.started
        out = []
        add = out.append
        for i, h in enumerate(self.hosts):
            lab = 'instance="%s"' % h
            busy = self.cpu_busy[h]
            add('node_cpu_seconds_total{%s,job="node",cpu="0",mode="idle"} %.3f' % (lab, 1e5 + t * (1 - busy)))
            add('node_cpu_seconds_total{%s,job="node",cpu="0",mode="user"} %.3f' % (lab, 1e5 + t * busy))
            add('node_memory_MemTotal_bytes{%s,job="node"} 1.0e12' % lab)
            add('node_memory_MemAvailable_bytes{%s,job="node"} %d' % (lab, 3e11 + (i % 11) * 5e10))
            fs = '%s,job="node",device="/dev/nvme0n1p1",fstype="ext4",mountpoint="/"' % lab
            add('node_filesystem_size_bytes{%s} 1.0e12' % fs)
            add('node_filesystem_avail_bytes{%s} %d' % (fs, 5e10 + (i % 13) * 4e10))
            gpu = '%s,job="allsmi",gpu="NVIDIA H200",gpu_index="0",gpu_uuid="GPU-%08d"' % (lab, i)
            add('all_smi_gpu_temperature_celsius{%s} %d' % (gpu, 60 + i % 30))
            add('all_smi_gpu_utilization{%s} %d' % (gpu, i % 100))
            add('all_smi_gpu_memory_used_bytes{%s} %d' % (gpu, (i % 100) * 1.4e9))
            add('all_smi_gpu_memory_total_bytes{%s} 1.41e11' % gpu)
            add('all_smi_gpu_info{%s,type="GPU"} 1' % gpu)
            add('up{%s,job="node"} %d' % (lab, 0 if i % 97 == 0 else 1))
            add('up{%s,job="allsmi"} 1' % lab)
        add("")
        return "\n".join(out).encode()


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server API
        data = self.server.body()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


# ------------------------------------------------------------------------------ prometheus


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url):
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read().decode())


def static_rules(catalog, templates):
    """One global rule per template: default thresholds, no host selector."""
    groups = []
    for name in templates:
        spec = catalog.rule_templates[name]
        values = dict((k, rc.format_value(p["default"])) for k, p in spec["parameters"].items())
        expr = spec["expr"].replace(",${selector}", "").replace("${selector}", "")
        expr = rc.PLACEHOLDER_RE.sub(lambda m, v=values: v[m.group(1)], expr)
        groups.append({"name": "static.%s" % name, "rules": [
            {"alert": name, "expr": expr, "for": spec["for"], "labels": {"severity": spec["severity"]}}]})
    return {"groups": groups}


def anchored(rules):
    pattern = re.compile(r'instance=~"((?:[^"\\]|\\.)*)"')
    out = {"groups": []}
    for group in rules["groups"]:
        g = dict(group, name=group["name"].replace("accelmon.", "anchored."))
        g["rules"] = [dict(r, expr=pattern.sub(r'instance=~"^(?:\1)$"', r["expr"])) for r in group["rules"]]
        out["groups"].append(g)
    return out


def _query(base, expr):
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    return get_json(url)["data"]["result"]


def measure(base, rule_file, rules, evals, interval):
    """Load `rules`, wait for `evals` evaluations of each group, return {group: median seconds}.

    Reads prometheus_rule_group_last_duration_seconds (Prometheus scrapes itself every 5s)
    rather than /api/v1/rules, whose answer carries every expression (megabytes here).
    """
    Path(rule_file).write_text(rc.dump_rules_yaml(rules))
    req = urllib.request.Request(base + "/-/reload", method="POST")
    urllib.request.urlopen(req, timeout=300).read()
    loaded = time.time()
    wanted = {g["name"] for g in rules["groups"]}
    samples = {name: {} for name in wanted}
    deadline = loaded + interval * (evals + 3) + 120
    while time.time() < deadline and min(len(v) for v in samples.values()) < evals:
        time.sleep(5)
        stamps = {}
        for item in _query(base, "prometheus_rule_group_last_evaluation_timestamp_seconds"):
            stamps[item["metric"]["rule_group"]] = float(item["value"][1])
        for item in _query(base, "prometheus_rule_group_last_duration_seconds"):
            key = item["metric"]["rule_group"]
            name = key.split(";", 1)[-1]
            stamp = stamps.get(key, 0)
            if name in wanted and stamp > loaded:
                samples[name][stamp] = float(item["value"][1])
    return {name: statistics.median(v.values()) if v else float("nan") for name, v in samples.items()}


def run_prometheus(catalog, compiled, hosts, evals, interval, with_anchored=False):
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    if not os.path.exists(binary):
        print("prometheus not installed: skipping the evaluation part (apt-get install prometheus)")
        return None
    exporter = Exporter(sorted(hosts))
    threading.Thread(target=exporter.serve_forever, daemon=True).start()
    tmp = tempfile.mkdtemp(prefix="accelmon-rules-bench-")
    port = free_port()
    rule_file = os.path.join(tmp, "rules.yml")
    Path(rule_file).write_text("groups: []\n")
    Path(tmp, "prometheus.yml").write_text(
        "global: {scrape_interval: %ds, evaluation_interval: %ds, scrape_timeout: %ds}\n"
        "rule_files: [%s]\n"
        "scrape_configs:\n"
        "  - job_name: synthetic\n"
        "    honor_labels: true\n"
        "    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
        "  - job_name: prometheus\n"
        "    scrape_interval: 5s\n"
        "    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
        % (interval, interval, min(interval, 10), rule_file, exporter.server_address[1], port))
    log = open(os.path.join(tmp, "prometheus.log"), "w")
    proc = subprocess.Popen(
        [binary, "--config.file=%s" % os.path.join(tmp, "prometheus.yml"),
         "--storage.tsdb.path=%s" % os.path.join(tmp, "data"),
         "--web.listen-address=127.0.0.1:%d" % port, "--web.enable-lifecycle",
         "--storage.tsdb.retention.time=1h"],
        stdout=log, stderr=subprocess.STDOUT)
    base = "http://127.0.0.1:%d" % port
    try:
        for _unused in range(120):
            try:
                urllib.request.urlopen(base + "/-/ready", timeout=2).read()
                break
            except OSError:
                time.sleep(0.5)
        # wait until two scrapes are in (rate() needs two samples)
        t0 = time.time()
        while time.time() - t0 < 120:
            res = get_json(base + "/api/v1/query?query=count(count_over_time(up%7Bjob%3D%22node%22%7D%5B5m%5D)%3E%3D2)")
            if res["data"]["result"] and int(float(res["data"]["result"][0]["value"][1])) >= len(hosts):
                break
            time.sleep(2)
        series = get_json(base + "/api/v1/status/tsdb")["data"]["headStats"]["numSeries"]
        print("prometheus %s on 127.0.0.1:%d, %s head series, scrape/eval interval %ds"
              % (subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout.split("\n")[0],
                 port, series, interval))
        phases = [("compiled", compiled),
                  ("static", static_rules(catalog, [g["name"].split(".", 1)[1] for g in compiled["groups"]]))]
        if with_anchored:
            phases.insert(1, ("anchored", anchored(compiled)))
        results = {}
        for phase, rules in phases:
            t = time.time()
            results[phase] = measure(base, rule_file, rules, evals, interval)
            print("  phase %-8s measured in %.0fs" % (phase, time.time() - t))
        return results
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        exporter.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------------------ main


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--targets", type=int, default=10000)
    parser.add_argument("--evals", type=int, default=3, help="evaluations measured per phase")
    parser.add_argument("--interval", type=int, default=30, help="scrape and evaluation interval, seconds")
    parser.add_argument("--anchored", action="store_true",
                        help="also measure explicit ^(?:...)$ selectors (one more phase)")
    parser.add_argument("--no-prometheus", action="store_true", help="only compile and count")
    opts = parser.parse_args()

    t = time.perf_counter()
    documents, policy_groups = synthetic_fleet(opts.targets)
    model = build_model(documents)
    hosts = dict((n, rc.host_entry(model.host_vars(n))) for n in model.targets)
    t_model = time.perf_counter() - t
    t = time.perf_counter()
    plan = rc.plan_rules(model.catalog, hosts)
    compiled = rc.render_plan(model.catalog, plan)
    text = rc.dump_rules_yaml(compiled)
    t_compile = time.perf_counter() - t
    summary = rc.summarize(plan)
    n_rules = sum(s["rules"] for s in summary.values())
    n_overrides = sum(1 for s in documents[0][0]["targets"].values() if "overrides" in s)
    print("synthetic fleet: %d targets, %d groups (%d with policies), %d targets with overrides"
          % (len(hosts), len(model.groups), policy_groups, n_overrides))
    print("model + effective policies: %.2fs; compile + YAML: %.2fs; rule file %.1f MiB"
          % (t_model, t_compile, len(text) / 1048576.0))
    print("compiled rules: %d (host x template pairs: %d)" % (n_rules, sum(s["hosts"] for s in summary.values())))
    print("%-28s %6s %7s" % ("template", "rules", "hosts"))
    for name, s in summary.items():
        print("%-28s %6d %7d" % (name, s["rules"], s["hosts"]))
    if opts.no_prometheus:
        return 0
    results = run_prometheus(model.catalog, compiled, hosts, opts.evals, opts.interval, opts.anchored)
    if not results:
        return 0
    print("\nrule-group evaluation time, median of %d evaluations (ms)" % opts.evals)
    print("%-28s %10s %10s %10s %8s" % ("template", "compiled", "anchored", "static", "ratio"))
    totals = {"compiled": 0.0, "anchored": 0.0, "static": 0.0}
    for group in compiled["groups"]:
        name = group["name"].split(".", 1)[1]
        row = {"compiled": results["compiled"]["accelmon." + name],
               "anchored": results.get("anchored", {}).get("anchored." + name, float("nan")),
               "static": results["static"]["static." + name]}
        for k in totals:
            totals[k] += row[k]
        print("%-28s %10.2f %10.2f %10.2f %8.2f" % (name, row["compiled"] * 1e3, row["anchored"] * 1e3,
                                                    row["static"] * 1e3, row["compiled"] / row["static"]))
    print("%-28s %10.2f %10.2f %10.2f %8.2f" % ("TOTAL", totals["compiled"] * 1e3, totals["anchored"] * 1e3,
                                                totals["static"] * 1e3, totals["compiled"] / totals["static"]))
    print("ratio compiled/static: %.2f" % (totals["compiled"] / totals["static"]))
    if "anchored" in results:
        print("ratio anchored/static: %.2f" % (totals["anchored"] / totals["static"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
