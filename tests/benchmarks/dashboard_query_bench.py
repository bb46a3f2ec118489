#!/usr/bin/env python
"""Dashboard query cost: every panel query over a 1 h range at 10,000 targets.

Printed figures, not a timed test (docs/performance.md records a run). The seed's target is
a dashboard that loads in under 2 s; this measures what Prometheus needs for each panel:

1. writes one hour of series for N targets (default 10,000; one accelerator per target, as
   in the rules benchmark) in OpenMetrics with the labels the collection's file_sd gives
   (instance, group, environment, team, provider) and the metric names the dashboards read
   (node_exporter incl. InfiniBand, all-smi, dcgm-exporter on the NVIDIA half of the fleet,
   the textfile series), one sample a minute, and backfills them with
   `promtool tsdb create-blocks-from openmetrics` (in chunks of targets);
2. starts /usr/bin/prometheus on 127.0.0.1 over those blocks (nothing scraped);
3. runs every variable query and every panel query of roles/grafana/files/dashboards as a
   dashboard opens: "All" for every variable, except the Host of the per-host dashboards
   (node, accelerator detail, storage), which open on one host (they offer no "All"); as
   Grafana sends them: range queries over the last hour with a
   15 s step and $__rate_interval = 4 min (4 x the 1 min sample interval), instant queries
   at the end of the hour; each query REPEATS times, the median and the worst are kept.

Prints the slowest panels and, per dashboard, the slowest panel and the sum of its panels
(Grafana sends them concurrently; the sum is the bound on one core). About 10 minutes on 2
cores at 10,000 targets; loopback only; Prometheus is stopped and the data removed at the end.

Usage: python tests/benchmarks/dashboard_query_bench.py [--targets 10000] [--repeats 3] [--keep DIR]
"""

import argparse
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "roles" / "grafana" / "files" / "dashboards"
STEP_S = 60
HOUR = 3600
QUERY_STEP = "15"
RATE_INTERVAL = "4m"
RANGE = "1h"
TEAMS = ("ml-training", "inference", "research", "platform")
ENVS = ("production", "staging", "dev")
PROVIDERS = ("onprem", "aws", "gcp")
FIRST_HOST = "node00000.onprem.example"  # first in sort order; an NVIDIA host (even index)


def _generator():
    spec = importlib.util.spec_from_file_location("grafana_dashboards", ROOT / "tools" / "grafana_dashboards.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def target_labels(i):
    prov = PROVIDERS[i % 3]
    return 'instance="node%05d.%s.example",group="infrastructure:%s/%s-r%d/rack%02d",environment="%s",team="%s",provider="%s"' % (
        i, prov, prov, prov, i % 3, i % 36, ENVS[i % 3 if i % 5 else 0], TEAMS[i % 4], prov)


# metric family -> (type, [(extra labels, job, value(i, k) where k = minute index)])
def families(nvidia):
    gpu_model = '"NVIDIA H200"' if nvidia else '"AMD Instinct MI300X"'
    fam = {
        "up": ("gauge", [('job="node"', lambda i, k: 0 if i % 97 == 0 else 1), ('job="allsmi"', lambda i, k: 1)]
               + ([('job="dcgm"', lambda i, k: 1)] if nvidia else [])),
        "node_cpu_seconds_total": ("counter", [
            ('job="node",cpu="0",mode="idle"', lambda i, k: 1e5 + 30 * k),
            ('job="node",cpu="0",mode="user"', lambda i, k: 1e5 + 30 * k)]),
        "node_memory_MemTotal_bytes": ("gauge", [('job="node"', lambda i, k: 1e12)]),
        "node_memory_MemAvailable_bytes": ("gauge", [('job="node"', lambda i, k: 3e11 + (i % 11) * 5e10)]),
        "node_load1": ("gauge", [('job="node"', lambda i, k: (i + k) % 40)]),
        "node_filesystem_size_bytes": ("gauge", [('job="node",device="/dev/nvme0n1p1",fstype="ext4",mountpoint="/"',
                                                  lambda i, k: 1e12)]),
        "node_filesystem_avail_bytes": ("gauge", [('job="node",device="/dev/nvme0n1p1",fstype="ext4",mountpoint="/"',
                                                   lambda i, k: 5e10 + (i % 13) * 4e10)]),
        "node_filesystem_device_error": ("gauge", [('job="node",device="/dev/nvme0n1p1",fstype="ext4",mountpoint="/"',
                                                    lambda i, k: 0)]),
        "node_disk_read_bytes_total": ("counter", [('job="node",device="nvme0n1"', lambda i, k: 1e9 + 1e6 * k)]),
        "node_disk_written_bytes_total": ("counter", [('job="node",device="nvme0n1"', lambda i, k: 1e9 + 2e6 * k)]),
        "node_network_receive_bytes_total": ("counter", [('job="node",device="eth0"', lambda i, k: 1e9 + 6e7 * k)]),
        "node_network_transmit_bytes_total": ("counter", [('job="node",device="eth0"', lambda i, k: 1e9 + 3e7 * k)]),
        "node_network_receive_errs_total": ("counter", [('job="node",device="eth0"', lambda i, k: 0)]),
        "node_network_transmit_errs_total": ("counter", [('job="node",device="eth0"', lambda i, k: 0)]),
        "node_textfile_mtime_seconds": ("gauge", [('job="node",file="nvme.prom"', lambda i, k: 1.7e9 + 60 * k)]),
        "node_textfile_scrape_error": ("gauge", [('job="node"', lambda i, k: 0)]),
        "nvme_critical_warning": ("gauge", [('job="node",device="nvme0"', lambda i, k: 0)]),
        "all_smi_gpu_utilization": ("gauge", [('job="allsmi"', lambda i, k: (i + k) % 100)]),
        "all_smi_gpu_memory_used_bytes": ("gauge", [('job="allsmi"', lambda i, k: (i % 100) * 1.4e9)]),
        "all_smi_gpu_memory_total_bytes": ("gauge", [('job="allsmi"', lambda i, k: 1.41e11)]),
        "all_smi_gpu_temperature_celsius": ("gauge", [('job="allsmi"', lambda i, k: 40 + (i + k) % 45)]),
        "all_smi_gpu_power_consumption_watts": ("gauge", [('job="allsmi"', lambda i, k: 300 + (i + k) % 300)]),
        "all_smi_gpu_frequency_mhz": ("gauge", [('job="allsmi"', lambda i, k: 1980)]),
        "all_smi_gpu_info": ("gauge", [('job="allsmi",type="GPU",driver_version="580.159.04"', lambda i, k: 1)]),
    }

    def gpu(extra):
        return extra + ',gpu=%s,gpu_index="0",gpu_uuid="GPU-%%08d"' % gpu_model

    for name, (mtype, series) in list(fam.items()):
        if name.startswith("all_smi_"):
            fam[name] = (mtype, [(gpu(lab), f) for lab, f in series])
    if nvidia:
        fam.update({
            "all_smi_gpu_temperature_threshold_slowdown_celsius": ("gauge", [(gpu('job="allsmi"'), lambda i, k: 89)]),
            "all_smi_gpu_power_limit_current_watts": ("gauge", [(gpu('job="allsmi"'), lambda i, k: 700)]),
            "all_smi_energy_consumed_joules_total": ("counter", [(gpu('job="allsmi"'), lambda i, k: 1e7 + 3e4 * k)]),
            "node_infiniband_state_id": ("gauge", [('job="node",device="mlx5_0",port="1"', lambda i, k: 4)]),
            "node_infiniband_rate_bytes_per_second": ("gauge", [('job="node",device="mlx5_0",port="1"', lambda i, k: 5e10)]),
            "node_infiniband_port_data_received_bytes_total": (
                "counter", [('job="node",device="mlx5_0",port="1"', lambda i, k: 1e12 + 1e10 * k)]),
            "node_infiniband_port_data_transmitted_bytes_total": (
                "counter", [('job="node",device="mlx5_0",port="1"', lambda i, k: 1e12 + 1e10 * k)]),
            "node_infiniband_symbol_error_total": ("counter", [('job="node",device="mlx5_0",port="1"', lambda i, k: 0)]),
            "node_infiniband_port_errors_received_total": (
                "counter", [('job="node",device="mlx5_0",port="1"', lambda i, k: 0)]),
            "node_infiniband_link_downed_total": ("counter", [('job="node",device="mlx5_0",port="1"', lambda i, k: 0)]),
            "node_infiniband_link_error_recovery_total": (
                "counter", [('job="node",device="mlx5_0",port="1"', lambda i, k: 0)]),
        })
        dcgm = 'job="dcgm",gpu="0",UUID="GPU-%08d",modelName="NVIDIA H200",device="nvidia0"'
        for name, mtype, f in (
            ("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "counter", lambda i, k: 0),
            ("DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", "counter", lambda i, k: 0),
            ("DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "counter", lambda i, k: 0),
            ("DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge", lambda i, k: 0),
            ("DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL", "counter", lambda i, k: 0),
            ("DCGM_FI_DEV_NVLINK_REPLAY_ERROR_COUNT_TOTAL", "counter", lambda i, k: 0),
            ("DCGM_FI_DEV_NVLINK_RECOVERY_ERROR_COUNT_TOTAL", "counter", lambda i, k: 0),
            ("DCGM_FI_DEV_THERMAL_VIOLATION", "counter", lambda i, k: 1e9 * k),
            ("DCGM_FI_DEV_POWER_VIOLATION", "counter", lambda i, k: 0),
            ("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "gauge", lambda i, k: 0.4),
            ("DCGM_FI_PROF_DRAM_ACTIVE", "gauge", lambda i, k: 0.3),
            ("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "counter", lambda i, k: 0),
            ("DCGM_FI_DEV_FB_USED", "gauge", lambda i, k: 80000),
            ("DCGM_FI_DEV_XID_ERRORS", "gauge", lambda i, k: 79),
        ):
            fam[name] = (mtype, [(dcgm, f)])
    return fam


def write_chunk(path, first, last, t_end):
    """OpenMetrics for targets [first, last): one sample a minute over the hour before t_end."""
    stamps = [t_end - HOUR + STEP_S * k for k in range(HOUR // STEP_S + 1)]
    by_family = {}
    for i in range(first, last):
        for name, (mtype, series) in families(i % 2 == 0).items():
            by_family.setdefault(name, (mtype, []))[1].append((i, series))
    lines = 0
    with open(path, "w") as out:
        # Declared as gauges: the type is metadata only, and OpenMetrics would rename
        # counters whose names lack _total (most DCGM fields).
        for name, (_mtype, rows) in sorted(by_family.items()):
            out.write("# TYPE %s gauge\n" % name)
            for i, series in rows:
                base = target_labels(i)
                for extra, value in series:
                    labels = "{%s,%s}" % (base, extra.replace("%08d", "%08d" % i))
                    out.write("".join("%s%s %r %d\n" % (name, labels, float(value(i, k)), ts)
                                      for k, ts in enumerate(stamps)))
                    lines += len(stamps)
        out.write("# EOF\n")
    return lines


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url, timeout=120):
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read().decode())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=10000)
    parser.add_argument("--chunk", type=int, default=2500, help="targets per backfilled OpenMetrics file")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", help="keep the TSDB in this directory (a second run reuses it)")
    args = parser.parse_args()
    prometheus = shutil.which("prometheus") or "/usr/bin/prometheus"
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    for binary in (prometheus, promtool):
        if not os.path.exists(binary):
            sys.exit("%s not installed (apt-get install prometheus)" % binary)
    tmp = Path(args.keep or tempfile.mkdtemp(prefix="accelmon-dash-bench-"))
    data = tmp / "data"
    data.mkdir(parents=True, exist_ok=True)
    stamp = tmp / "t_end"
    reuse = args.keep and stamp.exists()
    t_end = int(stamp.read_text()) if reuse else int(time.time()) // STEP_S * STEP_S - STEP_S
    t0 = time.time()
    samples = 0
    for first in range(0, 0 if reuse else args.targets, args.chunk):
        om = tmp / "chunk.om"
        samples += write_chunk(om, first, min(first + args.chunk, args.targets), t_end)
        proc = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(om), str(data)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            sys.exit("promtool failed: %s" % (proc.stderr or proc.stdout)[-2000:])
        om.unlink()
    if reuse:
        print("reusing the backfilled TSDB in %s" % data)
    else:
        stamp.write_text(str(t_end))
        print("backfilled %d targets, %.1f M samples (1 h, one a minute) in %.0f s" % (
            args.targets, samples / 1e6, time.time() - t0))

    port = free_port()
    (tmp / "prometheus.yml").write_text("global: {scrape_interval: 1m}\n")
    log = open(tmp / "prometheus.log", "w")
    proc = subprocess.Popen([prometheus, "--config.file=%s" % (tmp / "prometheus.yml"), "--storage.tsdb.path=%s" % data,
                             "--storage.tsdb.retention.time=30d", "--web.listen-address=127.0.0.1:%d" % port,
                             "--query.max-samples=200000000"],
                            stdout=log, stderr=subprocess.STDOUT)
    base = "http://127.0.0.1:%d" % port
    try:
        for _unused in range(600):
            try:
                urllib.request.urlopen(base + "/-/ready", timeout=2).read()
                break
            except OSError:
                time.sleep(0.5)
        version = subprocess.run([prometheus, "--version"], capture_output=True, text=True, check=False).stdout.split("\n")[0]
        series = get_json(base + "/api/v1/query?" + urllib.parse.urlencode(
            {"query": 'count({__name__=~".+"})', "time": str(t_end)}))["data"]["result"]
        print("%s, %s series in the backfilled blocks" % (version, series[0]["value"][1] if series else "?"))
        gen = _generator()
        rows, var_rows = [], []
        for path in sorted(DASHBOARDS.rglob("*.json")):
            dash = json.loads(path.read_text())
            variables = {v["name"]: v for v in dash["templating"]["list"]}
            # Per-host dashboards open on the first host (Grafana's default without "All").
            chosen = {} if variables["instance"].get("includeAll") else {"instance": FIRST_HOST}
            for name, var in variables.items():
                if var["type"] != "query":
                    continue
                match = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", var["query"])
                selector = gen.expand_query(match.group(1), variables, RATE_INTERVAL, RANGE, chosen)
                start = time.perf_counter()
                values = get_json(base + "/api/v1/label/%s/values?" % match.group(2) + urllib.parse.urlencode(
                    {"match[]": selector, "start": str(t_end - HOUR), "end": str(t_end)}))["data"]
                var_rows.append((dash["uid"], name, time.perf_counter() - start, len(values)))
            for panel in dash["panels"]:
                if panel["type"] == "row":
                    continue
                times, count = [], 0
                for _rep in range(args.repeats):
                    start = time.perf_counter()
                    count = 0
                    for target in panel["targets"]:
                        expr = gen.expand_query(target["expr"], variables, RATE_INTERVAL, RANGE, chosen)
                        if target.get("instant"):
                            q = {"query": expr, "time": str(t_end)}
                            url = base + "/api/v1/query?" + urllib.parse.urlencode(q)
                        else:
                            q = {"query": expr, "start": str(t_end - HOUR), "end": str(t_end), "step": QUERY_STEP}
                            url = base + "/api/v1/query_range?" + urllib.parse.urlencode(q)
                        count += len(get_json(url)["data"]["result"])
                    times.append(time.perf_counter() - start)
                rows.append((dash["uid"], panel["title"], statistics.median(times), max(times), count))
        print("\nslowest panels (%d targets, 1 h range, step %ss, median/worst of %d):"
              % (args.targets, QUERY_STEP, args.repeats))
        print("%-28s %-42s %8s %8s %7s" % ("dashboard", "panel", "median", "worst", "series"))
        for uid, title, med, worst, count in sorted(rows, key=lambda r: -r[2])[:12]:
            print("%-28s %-42s %7.3fs %7.3fs %7d" % (uid, title[:42], med, worst, count))
        print("\nper dashboard: panels, slowest panel (median), sum of panel medians")
        for uid in sorted({r[0] for r in rows}):
            mine = [r for r in rows if r[0] == uid]
            print("%-28s %3d %7.3fs %7.3fs" % (uid, len(mine), max(r[2] for r in mine), sum(r[2] for r in mine)))
        print("\nslowest variable queries (labels API, 1 h):")
        for uid, name, secs, count in sorted(var_rows, key=lambda r: -r[2])[:5]:
            print("%-28s %-12s %7.3fs %6d values" % (uid, name, secs, count))
        over = [r for r in rows if r[2] >= 2.0]
        print("\npanels at or over 2 s: %d of %d" % (len(over), len(rows)))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
