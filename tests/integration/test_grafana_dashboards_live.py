"""Every panel of every generated dashboard returns data from a real Prometheus.

Grafana itself is in no reachable registry, so its part is played by this test: it expands
each panel query the way Grafana's Prometheus datasource does (template variables, then
$__rate_interval and $__range) and runs it against Debian's real Prometheus, which scrapes:

- the exporter emulator (tests/emulator, the test double for all-smi and dcgm-exporter): an
  NVIDIA host (all-smi + dcgm-exporter with the dcgm_exporter role's counters file) and a
  mixed NPU host (Gaudi, Rebellions, FuriosaAI, Tenstorrent, TPU, AMD);
- Debian's real node_exporter for three hosts; the NVIDIA host's reads the InfiniBand ports
  of the HGX fixture (tests/fixtures/hardware/hgx-h100-8gpu, counters added here as the
  mlx5 driver exposes them) and an NVMe/SMART textfile in the format of the well-known
  textfile scripts (there is no such hardware here);
- a fourth host where nothing listens (down), Prometheus itself and a real Alertmanager
  holding one silence;

with the files playbooks/render.yml writes from a small fleet model (its compiled alert
rules included), all on loopback addresses and free ports. Faults injected through the
emulator's control files (GPU over-temperature, an XID, ECC double-bit errors, a device that
vanishes after Prometheus saw it) and the down host make the alert rules fire. A panel query that returns nothing fails the test unless
ALLOWED_EMPTY names it with the reason. Query variables are checked the same way: each must
offer values from the labels Prometheus carries.

Needs: apt-get install prometheus prometheus-alertmanager prometheus-node-exporter.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import jinja2
import pytest
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from helpers import BIN, ROOT, run  # noqa: E402

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
NODE_EXPORTER = shutil.which("prometheus-node-exporter") or "/usr/bin/prometheus-node-exporter"
EMULATOR = os.path.join(ROOT, "tests", "emulator", "accel_exporter_emulator.py")
DASHBOARDS = Path(ROOT) / "roles" / "grafana" / "files" / "dashboards"
IB_FIXTURE = Path(ROOT) / "tests" / "fixtures" / "hardware" / "hgx-h100-8gpu" / "sys"
NEEDED = [PROMETHEUS, ALERTMANAGER, NODE_EXPORTER, shutil.which("promtool"), shutil.which("amtool")]

if os.environ.get("CI") == "true":
    missing = [p for p in NEEDED if not (p and os.path.exists(p))]
    assert not missing, "CI needs %s (tests/tools/install_system_deps.sh)" % missing
pytestmark = pytest.mark.skipif(
    not all(p and os.path.exists(p) for p in NEEDED),
    reason="needs prometheus, promtool, prometheus-alertmanager, amtool, prometheus-node-exporter",
)

# Hosts on their own loopback addresses so every exporter keeps its usual port per host.
HOSTS = {"lab-gpu-01": "127.0.0.2", "lab-npu-01": "127.0.0.3", "lab-cpu-01": "127.0.0.4", "lab-down-01": "127.0.0.5"}
MODEL = """
groups:
  "infrastructure:onprem/lab":
    provider: onprem
  "environment:production":
    alerting: {receiver: oncall, team: gpu-team}
  "environment:staging":
    alerting: {team: npu-team}
targets:
  lab-gpu-01:
    address: 127.0.0.2
    primary_group: "infrastructure:onprem/lab"
    groups: ["environment:production"]
    accelerators: [{vendor: nvidia, model: H200, count: 2}]
  lab-npu-01:
    address: 127.0.0.3
    primary_group: "infrastructure:onprem/lab"
    groups: ["environment:staging"]
    accelerators: [{vendor: furiosa, model: RNGD, count: 1}]
  lab-cpu-01:
    address: 127.0.0.4
    primary_group: "infrastructure:onprem/lab"
    groups: ["environment:staging"]
  lab-down-01:
    address: 127.0.0.5
    primary_group: "infrastructure:onprem/lab"
    groups: ["environment:production"]
    accelerators: [{vendor: amd, model: MI300X, count: 1}]
"""
NPU_DEVICES = "gaudi:2,rebellions:1,furiosa:1,tenstorrent:1,tpu:1,amd:1"

# Written in the metric names of node-exporter-textfile-collector-scripts (nvme_metrics.py,
# smartmon.py): a stand-in for NVMe and SATA hardware this machine does not have.
TEXTFILE = """# TYPE nvme_critical_warning gauge
nvme_critical_warning{device="nvme0"} 0
# TYPE nvme_available_spare_ratio gauge
nvme_available_spare_ratio{device="nvme0"} 1
# TYPE nvme_percentage_used_ratio gauge
nvme_percentage_used_ratio{device="nvme0"} 0.03
# TYPE nvme_media_errors_total counter
nvme_media_errors_total{device="nvme0"} 0
# TYPE nvme_temperature_celsius gauge
nvme_temperature_celsius{device="nvme0"} 38
# TYPE smartmon_device_smart_healthy gauge
smartmon_device_smart_healthy{device="/dev/sda",disk="/dev/sda",type="sat"} 1
"""
IB_COUNTERS = ("port_rcv_data", "port_xmit_data", "port_rcv_packets", "port_xmit_packets", "symbol_error",
               "link_downed", "port_rcv_errors", "link_error_recovery")

SCRAPE = "2s"
# What Grafana would put there for a few-minutes range at this scrape interval.
RATE_INTERVAL = "10s"
RANGE = "5m"

# (dashboard uid, panel title) -> why the panel may return nothing here.
CHECK_RUNNER = "accelmon_check_* series come from the check runner, which is not merged yet"
ALLOWED_EMPTY = {
    ("accelmon-storage-checks", "Shared and parallel filesystems used"):
        "no NFS/Lustre/GPFS/BeeGFS/WEKA/CIFS/FUSE mount on the test machine",
    ("accelmon-storage-checks", "Mount checks"): CHECK_RUNNER,
    ("accelmon-storage-checks", "Parallel filesystem probe latency"): CHECK_RUNNER,
    ("accelmon-storage-checks", "Licence servers"): CHECK_RUNNER,
    ("accelmon-storage-checks", "Check runner age"): CHECK_RUNNER,
    ("accelmon-alerts", "Pending"): "an alert is pending only until its `for` elapses; here they all fire",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def wait_ready(url, proc, what, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError("%s exited with %s" % (what, proc.returncode))
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.3)
    raise AssertionError("%s not ready at %s within %ss" % (what, url, timeout))


class Lab:
    def __init__(self, base):
        self.base = base
        self.procs = []
        self.prom_port, self.am_port = free_port(), free_port()
        self.node_port, self.allsmi_port, self.dcgm_port = free_port(), free_port(), free_port()
        self.policy_port = free_port()
        self.prom = "http://127.0.0.1:%d" % self.prom_port
        self.am = "http://127.0.0.1:%d" % self.am_port
        self.render_dir = base / "rendered"

    def render(self):
        (self.base / "fleet").mkdir()
        (self.base / "fleet" / "model.yml").write_text(MODEL)
        inventory = self.base / "lab.accelmon.yml"
        inventory.write_text("plugin: accelmon.monitoring.fleet\nmodel: fleet/\nstrict: true\n")
        extra = self.base / "extra.yml"
        extra.write_text(yaml.safe_dump({
            "prometheus_web_listen_address": "127.0.0.1:%d" % self.prom_port,
            "alertmanager_web_listen_address": "127.0.0.1:%d" % self.am_port,
            "node_exporter_web_listen_address": "0.0.0.0:%d" % self.node_port,
            "all_smi_port": self.allsmi_port,
            "dcgm_exporter_listen_address": "0.0.0.0:%d" % self.dcgm_port,
            "prometheus_policy_exporter_listen_address": "127.0.0.1:%d" % self.policy_port,
            "prometheus_policy_scrape_interval": SCRAPE,
            "prometheus_policy_scrape_timeout": SCRAPE,
            "prometheus_scrape_interval": SCRAPE,
            "prometheus_scrape_timeout": SCRAPE,
            "prometheus_evaluation_interval": SCRAPE,
            "alertmanager_receivers": [
                {"name": "default", "webhook_configs": [{"url": "http://127.0.0.1:9/hook"}]},
                {"name": "oncall", "webhook_configs": [{"url": "http://127.0.0.1:9/oncall"}]},
            ],
        }))
        run([os.path.join(BIN, "ansible-playbook"), os.path.join(ROOT, "playbooks", "render.yml"), "-i", str(inventory),
             "-e", "render_dir=%s" % self.render_dir, "-e", "@%s" % extra])

    def spawn(self, name, args):
        log = open(self.base / ("%s.log" % name), "w")
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    def node_fixtures(self):
        sysfs = self.base / "sys"
        shutil.copytree(IB_FIXTURE, sysfs)
        for port in sysfs.glob("class/infiniband/*/ports/*"):
            (port / "counters").mkdir(exist_ok=True)
            for name in IB_COUNTERS:
                (port / "counters" / name).write_text("0\n")
        textfiles = self.base / "textfile"
        textfiles.mkdir()
        (textfiles / "nvme.prom").write_text(TEXTFILE)
        return sysfs, textfiles

    def counters_csv(self):
        src = Path(ROOT) / "roles" / "dcgm_exporter" / "templates" / "accelmon-counters.csv.j2"
        text = jinja2.Template(src.read_text()).render(ansible_managed="test", dcgm_exporter_extra_counters=[])
        path = self.base / "counters.csv"
        path.write_text(text)
        return path

    def faults(self):
        gpu = self.base / "faults-gpu.json"
        gpu.write_text(json.dumps([{"type": "temperature", "device": 0, "celsius": 95},
                                   {"type": "utilization", "device": 0, "percent": 87}]))
        dcgm = self.base / "faults-dcgm.json"
        dcgm.write_text(json.dumps([{"type": "xid", "device": 0, "code": 79},
                                    {"type": "ecc_dbe", "device": 1, "count": 2}]))
        return gpu, dcgm

    def start(self):
        sysfs, textfiles = self.node_fixtures()
        gpu_faults, dcgm_faults = self.faults()
        py = sys.executable
        # The alert policy series (thresholds, routing labels) as the prometheus role serves
        # them: a textfile-only node_exporter over the rendered policy directory.
        self.spawn("policy-exporter", [NODE_EXPORTER, "--collector.disable-defaults", "--collector.textfile",
                                       "--collector.textfile.directory=%s" % (self.render_dir / "prometheus" / "policy"),
                                       "--web.disable-exporter-metrics",
                                       "--web.listen-address=127.0.0.1:%d" % self.policy_port, "--log.level=warn"])
        for host in ("lab-gpu-01", "lab-npu-01", "lab-cpu-01"):
            args = [NODE_EXPORTER, "--web.listen-address=%s:%d" % (HOSTS[host], self.node_port),
                    "--collector.textfile.directory=%s" % textfiles, "--no-collector.systemd", "--log.level=warn"]
            if host == "lab-gpu-01":
                args.append("--path.sysfs=%s" % sysfs)
            self.spawn("node-" + host, args)
        self.spawn("allsmi-gpu", [py, EMULATOR, "api", "--port", str(self.allsmi_port), "--bind", HOSTS["lab-gpu-01"],
                                  "--devices", "nvidia:2", "--hostname", "lab-gpu-01", "--interval", "1",
                                  "--control-file", str(gpu_faults), "--seed", "1"])
        self.spawn("dcgm-gpu", [py, EMULATOR, "--mode", "dcgm", "-a", "%s:%d" % (HOSTS["lab-gpu-01"], self.dcgm_port),
                                "-f", str(self.counters_csv()), "-c", "1000", "--devices", "nvidia:2",
                                "--hostname", "lab-gpu-01", "--control-file", str(dcgm_faults), "--seed", "1"])
        self.spawn("allsmi-npu", [py, EMULATOR, "api", "--port", str(self.allsmi_port), "--bind", HOSTS["lab-npu-01"],
                                  "--devices", NPU_DEVICES, "--hostname", "lab-npu-01", "--interval", "1",
                                  "--control-file", str(self.base / "none.json"), "--seed", "2"])
        prom = self.spawn("prometheus", [
            PROMETHEUS, "--config.file=%s" % (self.render_dir / "prometheus" / "prometheus.yml"),
            "--storage.tsdb.path=%s" % (self.base / "tsdb"), "--web.listen-address=127.0.0.1:%d" % self.prom_port,
            "--log.level=warn"])
        am = self.spawn("alertmanager", [
            ALERTMANAGER, "--config.file=%s" % (self.render_dir / "alertmanager" / "alertmanager.yml"),
            "--storage.path=%s" % (self.base / "am"), "--web.listen-address=127.0.0.1:%d" % self.am_port,
            "--cluster.listen-address=", "--log.level=warn"])
        wait_ready(self.prom + "/-/ready", prom, "prometheus")
        wait_ready(self.am + "/-/ready", am, "alertmanager")
        self.started = time.time()
        # Once Prometheus has seen both NVIDIA devices, device 1 drops out (the emulator stops
        # serving it, as all-smi does when a device's handle fails).
        deadline = time.time() + 60
        while not self.query('all_smi_gpu_info{instance="lab-gpu-01"}', instant=True) and time.time() < deadline:
            time.sleep(1)
        time.sleep(3)
        gpu_faults.write_text(json.dumps(json.loads(gpu_faults.read_text()) + [{"type": "vanish", "device": 1}]))
        silence = {"matchers": [{"name": "alertname", "value": "AcceleratorHighUtilization", "isRegex": False}],
                   "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   "endsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600)),
                   "createdBy": "test", "comment": "dashboard test"}
        req = urllib.request.Request(self.am + "/api/v2/silences", data=json.dumps(silence).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=10).read()

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    def query(self, expr, instant=False):
        now = time.time()
        if instant:
            params = {"query": expr, "time": "%.3f" % now}
            url = self.prom + "/api/v1/query?" + urllib.parse.urlencode(params)
        else:
            params = {"query": expr, "start": "%.3f" % (now - 300), "end": "%.3f" % now, "step": "2"}
            url = self.prom + "/api/v1/query_range?" + urllib.parse.urlencode(params)
        try:
            body = get(url)
        except urllib.error.HTTPError as exc:
            raise AssertionError("Prometheus refused %s: %s" % (expr, exc.read().decode()[:500]))
        assert body["status"] == "success", body
        return body["data"]["result"]

    def wait_for_alerts(self, names, min_age=30, timeout=150):
        deadline = time.time() + timeout
        firing = set()
        while time.time() < deadline:
            firing = {r["metric"]["alertname"] for r in self.query('ALERTS{alertstate="firing"}', instant=True)}
            if names <= firing and time.time() - self.started >= min_age:
                return firing
            time.sleep(2)
        raise AssertionError("alerts firing after %ss: %s, wanted %s (logs in %s)" % (timeout, firing, names, self.base))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("dashboards"))
    lab.render()
    lab.start()
    try:
        lab.wait_for_alerts({"AcceleratorHighTemperature", "NvidiaXidError", "NodeDown", "AcceleratorOffline"})
        yield lab
    finally:
        lab.stop()


def _dashboards():
    return [json.loads(p.read_text()) for p in sorted(DASHBOARDS.rglob("*.json"))]


@functools.lru_cache(maxsize=1)
def _generator():
    spec = importlib.util.spec_from_file_location("grafana_dashboards", os.path.join(ROOT, "tools", "grafana_dashboards.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def expand(expr, variables, chosen=None):
    """expr with the template variables as Grafana sends them: All, or the chosen single values."""
    return _generator().expand_query(expr, variables, RATE_INTERVAL, RANGE, chosen)


def panels_of(dash):
    for panel in dash["panels"]:
        if panel["type"] != "row":
            yield panel


def label_values(lab, query, variables, chosen=None):
    match = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query)
    assert match, query
    series = get(lab.prom + "/api/v1/series?" + urllib.parse.urlencode(
        {"match[]": expand(match.group(1), variables, chosen), "start": "%.3f" % (time.time() - 300)}))["data"]
    return sorted({s[match.group(2)] for s in series if match.group(2) in s})


def _selections(lab, variables, chosen):
    """The variable choices to try: per-host dashboards (Host without All) once per host."""
    host = variables["instance"]
    if host.get("includeAll") or "instance" in (chosen or {}):
        return [dict(chosen or {})]
    return [dict(chosen or {}, instance=h) for h in label_values(lab, host["query"], variables, chosen)]


def _run_all_panels(lab, chosen=None):
    """Problems found: panels without data (for every selection) and legends naming absent labels."""
    problems, checked = [], 0
    for dash in _dashboards():
        variables = {v["name"]: v for v in dash["templating"]["list"]}
        selections = _selections(lab, variables, chosen)
        assert selections, dash["uid"]
        for panel in panels_of(dash):
            key = (dash["uid"], panel["title"])
            for target in panel["targets"]:
                result = []
                for selection in selections:
                    # "or vector(0)" keeps a stat at 0 instead of "No data"; the proof is the series itself.
                    expr = expand(target["expr"].replace(" or vector(0)", ""), variables, selection)
                    result += lab.query(expr, instant=target.get("instant", False))
                checked += 1
                if not result and key not in ALLOWED_EMPTY:
                    problems.append("%s / %s: no data for %s" % (key[0], key[1], target["expr"]))
                legend_labels = set(re.findall(r"\{\{(\w+)\}\}", target.get("legendFormat", "")))
                if result and legend_labels:
                    present = set().union(*(set(r["metric"]) for r in result))
                    if not legend_labels <= present:
                        problems.append("%s / %s: legend labels %s not in the series (%s)" % (
                            key[0], key[1], sorted(legend_labels - present), sorted(present)))
    return problems, checked


def test_every_panel_query_returns_lab_data(lab):
    problems, checked = _run_all_panels(lab)
    assert checked > 60
    assert not problems, "panel queries without data (add to ALLOWED_EMPTY only with a reason) or with legend " \
        "labels the series lack:\n" + "\n".join(problems)


def test_panels_with_a_group_selected(lab):
    # One value of a multi-value variable goes through Grafana's regex escaping (':' and '/').
    problems = _run_all_panels(lab, chosen={"group": "infrastructure:onprem/lab"})[0]
    assert not problems, "\n".join(problems)


def test_allowed_empty_panels_exist():
    titles = {(d["uid"], p["title"]) for d in _dashboards() for p in panels_of(d)}
    assert set(ALLOWED_EMPTY) <= titles, set(ALLOWED_EMPTY) - titles


def test_variables_are_fed_by_target_labels(lab):
    seen = {}
    for dash in _dashboards():
        variables = {v["name"]: v for v in dash["templating"]["list"]}
        for selection in _selections(lab, variables, None):
            for name, var in variables.items():
                if var["type"] != "query":
                    continue
                values = label_values(lab, var["query"], variables, selection)
                assert values or name == "device", "%s: variable %s offers nothing (%s)" % (dash["uid"], name, var["query"])
                seen.setdefault(name, set()).update(values)
    assert seen["group"] == {"infrastructure:onprem/lab"}
    assert seen["environment"] == {"production", "staging"}
    assert seen["team"] == {"gpu-team", "npu-team"}
    assert seen["provider"] == {"onprem"}
    assert seen["instance"] >= {"lab-gpu-01", "lab-npu-01", "lab-cpu-01", "lab-down-01"}
    assert len(seen["device"]) == 2 + 7, seen["device"]  # 2 NVIDIA + the NPU host's 7 devices


def test_per_host_dashboards_never_default_to_all_hosts():
    for dash in _dashboards():
        host = {v["name"]: v for v in dash["templating"]["list"]}["instance"]
        if dash["uid"] in ("accelmon-fleet-overview", "accelmon-alerts"):
            assert host["includeAll"] and host["current"]["value"] == "$__all"
        else:
            assert not host.get("includeAll") and host["multi"], dash["uid"]


def test_vendor_variable_selects_by_model(lab):
    dash = next(d for d in _dashboards() if d["uid"] == "accelmon-accelerator-detail")
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    counts = {}
    for option in variables["vendor"]["options"]:
        res = lab.query(expand('count(all_smi_gpu_info{gpu=~"$vendor"})', variables, {"vendor": option["value"]}),
                        instant=True)
        counts[option["text"]] = int(res[0]["value"][1]) if res else 0
    # NVIDIA device 1 of lab-gpu-01 vanished: 1 NVIDIA device left
    assert counts == {"All": 8, "NVIDIA": 1, "AMD": 1, "Intel Gaudi": 2, "Rebellions": 1, "FuriosaAI": 1,
                      "Tenstorrent": 1, "Google TPU": 1}, counts


def test_rendered_provisioning_points_at_the_lab_prometheus(lab):
    ds = yaml.safe_load((lab.render_dir / "grafana" / "etc" / "grafana" / "provisioning" / "datasources"
                         / "accelmon.yml").read_text())
    (only,) = ds["datasources"]
    assert only["url"] == "http://localhost:%d" % lab.prom_port and only["isDefault"]
    assert only["jsonData"]["timeInterval"] == SCRAPE
    # the URL Grafana would use answers (localhost = this Prometheus)
    assert get(only["url"] + "/api/v1/status/buildinfo")["status"] == "success"
