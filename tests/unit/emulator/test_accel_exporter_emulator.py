"""Tests of the accelerator exporter emulator (a TEST DOUBLE of all-smi / dcgm-exporter).

Each test runs the emulator as a subprocess on 127.0.0.1 and a free port, scrapes it over
HTTP and parses the Prometheus text exposition. Every subprocess is killed on teardown.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
EMULATOR = ROOT / "tests" / "emulator" / "accel_exporter_emulator.py"

SAMPLE_RE = re.compile(
    r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? (?P<value>[-+0-9.eEInfNa]+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

CORE = ("all_smi_gpu_utilization", "all_smi_gpu_memory_used_bytes",
        "all_smi_gpu_memory_total_bytes", "all_smi_gpu_info")
GPU_LABELS = {"gpu", "instance", "gpu_uuid", "gpu_index"}
NPU_LABELS = {"npu", "instance", "npu_uuid", "npu_index"}

# Vendor series all-smi v0.25.0 serves from its released readers (tests/emulator/
# released_surface.py): Rebellions and Tenstorrent get none, Furiosa only its firmware info.
VENDOR_SERIES = {
    "gaudi": ("all_smi_gaudi_aip_utilization_percent", "all_smi_gaudi_memory_used_bytes",
              "all_smi_gaudi_memory_total_bytes", "all_smi_gaudi_power_draw_watts",
              "all_smi_gaudi_power_max_watts", "all_smi_gaudi_temperature_celsius",
              "all_smi_gaudi_device_info"),
    "rebellions": (),
    "furiosa": ("all_smi_furiosa_firmware_info",),
    "tenstorrent": (),
    "tpu": ("all_smi_tpu_utilization_percent", "all_smi_tpu_memory_used_bytes",
            "all_smi_tpu_memory_total_bytes", "all_smi_tpu_accelerator_type_info"),
}
NVIDIA_EXTRAS = ("all_smi_gpu_power_limit_current_watts", "all_smi_gpu_power_limit_max_watts",
                 "all_smi_gpu_clock_graphics_max_mhz", "all_smi_gpu_performance_state",
                 "all_smi_gpu_temperature_threshold_slowdown_celsius",
                 "all_smi_gpu_temperature_threshold_shutdown_celsius", "all_smi_gpu_mig_mode")
HOST = ("all_smi_cpu_utilization", "all_smi_memory_used_bytes", "all_smi_memory_total_bytes",
        "all_smi_disk_total_bytes", "all_smi_disk_available_bytes", "all_smi_chassis_power_watts")
NEVER = ("all_smi_up", "all_smi_build_info", "all_smi_gpu_fan_speed_rpm",
         "all_smi_gpu_pcie_gen_current", "all_smi_gpu_pcie_width_current")
DCGM_LABELS = {"gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname",
               "DCGM_FI_DRIVER_VERSION"}


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(method, url, body=None, timeout=5):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def parse(text):
    """Strict-enough parser: [(name, {labels}, value)], checks HELP/TYPE precede samples."""
    samples, typed = [], set()
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("#"):
            continue
        match = SAMPLE_RE.match(line)
        assert match, f"bad sample line: {line!r}"
        name = match.group("name")
        assert name in typed, f"{name} has no # TYPE before its samples"
        labels = dict(LABEL_RE.findall(match.group("labels") or ""))
        samples.append((name, labels, float(match.group("value"))))
    keys = [(n, tuple(sorted(lab.items()))) for n, lab, _unused in samples]
    assert len(keys) == len(set(keys)), "duplicate series in exposition"
    return samples


def names(samples):
    return {n for n, _unused, _unused in samples}


def series(samples, name, **match):
    return [(lab, v) for n, lab, v in samples
            if n == name and all(lab.get(k) == str(val) for k, val in match.items())]


class Emulator:
    def __init__(self, tmp_path, *args, prog=None, env=None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(tmp_path / f"emulator-{self.port}.log", "w+")  # noqa: SIM115
        cmd = [sys.executable, str(prog or EMULATOR)]
        cmd += [a.replace("{port}", str(self.port)) for a in args]
        full_env = dict(os.environ)
        full_env.pop("ACCEL_EMULATOR_CONFIG", None)
        full_env.update(env or {})
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=full_env)

    def wait_ready(self, timeout=10):
        """Until /metrics has a body (all-smi answers 200 and nothing before its first
        collection; there is no readiness endpoint in v0.25.0)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"emulator exited: {self.output()}"
            try:
                code, body = http("GET", self.base + "/metrics", timeout=1)
                if code == 200 and body:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"emulator not ready in {timeout}s: {self.output()}")

    def metrics(self):
        code, text = http("GET", self.base + "/metrics")
        assert code == 200
        return parse(text)

    def raw_metrics(self):
        return http("GET", self.base + "/metrics")[1]

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()


@pytest.fixture
def start(tmp_path):
    started = []

    def _start(*args, ready=True, **kwargs):
        emu = Emulator(tmp_path, *args, **kwargs)
        started.append(emu)
        if ready:
            emu.wait_ready()
        return emu

    yield _start
    for emu in started:
        emu.stop()


def allsmi_args(tmp_path, *extra, devices="nvidia:1"):
    return ("api", "--port", "{port}", "--interval", "0.2", "--bind", "127.0.0.1",
            "--seed", "7", "--devices", devices,
            "--control-file", str(tmp_path / "control.json"), *extra)


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_default_device_is_one_h200_seeded_from_the_snapshot(start, tmp_path):
    emu = start("api", "--port", "{port}", "--interval", "0.2", "--bind", "127.0.0.1",
                "--control-file", str(tmp_path / "none.json"))
    samples = emu.metrics()
    info = series(samples, "all_smi_gpu_info")
    assert len(info) == 1
    labels = info[0][0]
    assert GPU_LABELS | {"type", "driver_version"} <= set(labels)
    assert labels["gpu"] == "NVIDIA H200"
    assert labels["type"] == "GPU"
    assert labels["driver_version"] == "580.159.04"
    assert labels["gpu_uuid"].startswith("GPU-")
    total = series(samples, "all_smi_gpu_memory_total_bytes")[0][1]
    assert total == 143771 * 1024 * 1024
    assert series(samples, "all_smi_gpu_power_limit_current_watts")[0][1] == 700
    temp = series(samples, "all_smi_gpu_temperature_celsius")[0][1]
    assert 35 <= temp <= 41
    power = series(samples, "all_smi_gpu_power_consumption_watts")[0][1]
    assert 120 <= power <= 135
    for name in CORE + NVIDIA_EXTRAS + HOST + ("all_smi_energy_consumed_joules_total",):
        assert name in names(samples) or name == "all_smi_energy_consumed_joules_total", name
    for name in NEVER:  # none of these exists in all-smi v0.25.0
        assert name not in names(samples), name
    # numa_node is -1 in the VM snapshot: omitted
    assert "all_smi_gpu_numa_node_id" not in names(samples)
    for name in CORE + NVIDIA_EXTRAS:
        for lab, _unused in series(samples, name):
            assert GPU_LABELS <= set(lab), (name, lab)
    assert series(samples, "all_smi_gpu_mig_mode")[0][0]["host"] == labels["instance"]


@pytest.mark.parametrize("vendor", sorted(VENDOR_SERIES))
def test_vendor_specific_series_use_real_names_and_npu_labels(start, tmp_path, vendor):
    emu = start(*allsmi_args(tmp_path, devices=f"{vendor}:2"))
    samples = emu.metrics()
    for lab, _unused in series(samples, "all_smi_gpu_utilization"):
        assert GPU_LABELS == set(lab)
    for name in VENDOR_SERIES[vendor]:
        found = series(samples, name)
        assert found, f"{name} missing for {vendor}"
        for lab, _unused in found:
            assert NPU_LABELS <= set(lab), (name, lab)
        assert {lab["npu_index"] for lab, _unused in found} == {"0", "1"}
    info = series(samples, "all_smi_gpu_info")
    assert len(info) == 2
    assert info[0][0]["type"] in ("NPU", "TPU")
    # no vendor series the released readers never feed, no invented vendor label
    assert not [n for n in names(samples) if n.startswith(("all_smi_rebellions_",
                                                          "all_smi_tenstorrent_"))]
    assert "all_smi_furiosa_ready" not in names(samples)
    assert all("vendor" not in lab for _unused, lab, _unused in samples)


def test_every_vendor_together_and_amd(start, tmp_path):
    spec = "nvidia:2,amd:1,gaudi:1,rebellions:1,furiosa:1,tenstorrent:1,tpu:1"
    emu = start(*allsmi_args(tmp_path, devices=spec))
    samples = emu.metrics()
    info = series(samples, "all_smi_gpu_info")
    assert [lab["gpu_index"] for lab, _unused in info] == [str(i) for i in range(8)]
    models = {lab["gpu"] for lab, _unused in info}
    assert "AMD Instinct MI300X" in models and "NVIDIA H200" in models
    assert not series(samples, "all_smi_gpu_pcie_gen_current")
    # two NVIDIA GPUs on a multi-GPU board carry NUMA ids
    assert len(series(samples, "all_smi_gpu_numa_node_id")) == 2
    uuids = [lab["gpu_uuid"] for lab, _unused in info]
    assert len(set(uuids)) == len(uuids)


def test_exposition_layout_is_all_smis(start, tmp_path):
    """all-smi's MetricBuilder repeats HELP/TYPE before every sample of a per-device family
    and joins labels with ", " (Prometheus' scraper accepts it; `promtool check metrics`
    does not, for the real all-smi as for the emulator)."""
    emu = start(*allsmi_args(tmp_path, devices="nvidia:2"))
    text = emu.raw_metrics()
    assert text.count("# TYPE all_smi_gpu_utilization gauge") == 2
    assert 'all_smi_gpu_utilization{gpu="NVIDIA H200", instance=' in text
    assert text.count("# TYPE all_smi_gpu_mig_mode gauge") == 1


def test_values_vary_between_intervals_and_seed_is_deterministic(start, tmp_path):
    emu = start(*allsmi_args(tmp_path))
    first = series(emu.metrics(), "all_smi_gpu_power_consumption_watts")[0][1]
    assert wait_for(lambda: series(emu.metrics(), "all_smi_gpu_power_consumption_watts")[0][1]
                    != first)
    # same seed, same device identity -> same first readings
    a = start("api", "--port", "{port}", "--interval", "60", "--bind", "127.0.0.1",
              "--seed", "42", "--hostname", "h", "--control-file", str(tmp_path / "x"))
    b = start("api", "--port", "{port}", "--interval", "60", "--bind", "127.0.0.1",
              "--seed", "42", "--hostname", "h", "--control-file", str(tmp_path / "x"))
    pick = ("all_smi_gpu_power_consumption_watts", "all_smi_gpu_temperature_celsius",
            "all_smi_gpu_utilization", "all_smi_gpu_info")
    sa = [s for s in a.metrics() if s[0] in pick]
    sb = [s for s in b.metrics() if s[0] in pick]
    assert sa == sb


def test_http_fault_api_temperature_vanish_and_clear(start, tmp_path):
    emu = start(*allsmi_args(tmp_path, devices="nvidia:2"))
    code, body = http("POST", emu.base + "/-/fault",
                      {"type": "temperature", "device": 1, "celsius": 91})
    assert code == 200, body
    samples = emu.metrics()
    assert series(samples, "all_smi_gpu_temperature_celsius", gpu_index=1)[0][1] == 91
    assert series(samples, "all_smi_gpu_temperature_celsius", gpu_index=0)[0][1] < 60

    uuids = [lab["gpu_uuid"] for lab, _unused in series(samples, "all_smi_gpu_info")]
    code, _unused = http("POST", emu.base + "/-/fault", {"type": "vanish", "device": 0})
    assert code == 200
    samples = emu.metrics()
    # a vanished device emits no series at all (not 0), and the next device takes its
    # gpu_index (the position in the merged list): per-device state keys on gpu_uuid
    assert not [s for s in samples if s[1].get("gpu_uuid") == uuids[0]]
    info = series(samples, "all_smi_gpu_info")
    assert [(lab["gpu_index"], lab["gpu_uuid"]) for lab, _unused in info] == [("0", uuids[1])]
    state = json.loads(http("GET", emu.base + "/-/fault")[1])
    assert [f["type"] for f in state["http"]] == ["temperature", "vanish"]

    code, _unused = http("DELETE", emu.base + "/-/fault")
    assert code == 200
    samples = emu.metrics()
    assert series(samples, "all_smi_gpu_info", gpu_index=0)
    assert series(samples, "all_smi_gpu_temperature_celsius", gpu_index=1)[0][1] < 60
    assert json.loads(http("GET", emu.base + "/-/fault")[1])["effective"] == []


def test_utilization_and_memory_faults(start, tmp_path):
    emu = start(*allsmi_args(tmp_path, devices="gaudi:1"))
    code, _unused = http("POST", emu.base + "/-/fault", {"faults": [
        {"type": "utilization", "percent": 97},
        {"type": "memory_used_percent", "device": 0, "percent": 50}]})
    assert code == 200
    samples = emu.metrics()
    assert series(samples, "all_smi_gpu_utilization")[0][1] == 97
    assert series(samples, "all_smi_gaudi_aip_utilization_percent")[0][1] == 97
    total = series(samples, "all_smi_gpu_memory_total_bytes")[0][1]
    assert series(samples, "all_smi_gpu_memory_used_bytes")[0][1] == total // 2


def test_bad_fault_is_rejected(start, tmp_path):
    emu = start(*allsmi_args(tmp_path))
    for body in ({"type": "meltdown"}, {"type": "temperature", "device": 0},
                 {"type": "utilization", "percent": 140}, ["x"]):
        code, text = http("POST", emu.base + "/-/fault", body)
        assert code == 400, (body, text)
    assert json.loads(http("GET", emu.base + "/-/fault")[1])["http"] == []


def test_xid_is_not_an_allsmi_series(start, tmp_path):
    emu = start(*allsmi_args(tmp_path))
    energy = {"all_smi_energy_consumed_joules_total"}  # appears from the second collection
    before = names(emu.metrics()) - energy
    http("POST", emu.base + "/-/fault", {"type": "xid", "device": 0, "code": 79})
    http("POST", emu.base + "/-/fault", {"type": "ecc_dbe", "device": 0})
    after = names(emu.metrics()) - energy
    assert before == after
    assert not any("xid" in n.lower() or "ecc" in n.lower() for n in after)


def test_control_file_is_reread_each_interval(start, tmp_path):
    control = tmp_path / "control.json"
    emu = start(*allsmi_args(tmp_path, devices="nvidia:2"))
    tmp = tmp_path / "control.tmp"
    tmp.write_text(json.dumps({"faults": [{"type": "vanish", "device": 1},
                                          {"type": "temperature", "device": 0,
                                           "celsius": 88}]}))
    tmp.replace(control)
    assert wait_for(lambda: not series(emu.metrics(), "all_smi_gpu_info", gpu_index=1))
    assert series(emu.metrics(), "all_smi_gpu_temperature_celsius", gpu_index=0)[0][1] == 88
    state = json.loads(http("GET", emu.base + "/-/fault")[1])
    assert state["control_file"] == str(control)
    assert len(state["control_file_faults"]) == 2
    # a broken control file keeps the previous faults and reports the error
    control.write_text("{not json")
    assert wait_for(lambda: json.loads(http("GET", emu.base + "/-/fault")[1])
                    ["control_file_error"])
    assert not series(emu.metrics(), "all_smi_gpu_info", gpu_index=1)
    control.unlink()
    assert wait_for(lambda: series(emu.metrics(), "all_smi_gpu_info", gpu_index=1))


def test_control_file_from_env_and_json_config(start, tmp_path):
    control = tmp_path / "ctl.json"
    control.write_text(json.dumps({"type": "vanish", "device": 0}))
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"devices": [
        {"vendor": "nvidia", "model": "NVIDIA H100 80GB HBM3", "count": 2,
         "memory_total_mib": 81559}]}))
    emu = start("api", "--port", "{port}", "--interval", "0.2", "--bind", "127.0.0.1",
                env={"ACCEL_EMULATOR_CONFIG": str(config), "ACCEL_EMULATOR_CONTROL": str(control)})
    samples = emu.metrics()
    info = series(samples, "all_smi_gpu_info")
    assert [lab["gpu_index"] for lab, _unused in info] == ["0"]  # device 1, shifted to 0
    assert info[0][0]["gpu"] == "NVIDIA H100 80GB HBM3"
    assert series(samples, "all_smi_gpu_memory_total_bytes")[0][1] == 81559 * 1024 * 1024


def test_ini_config(start, tmp_path):
    config = tmp_path / "config.ini"
    config.write_text("[emulator]\nhostname = gpu-node-7\n\n[device tpu]\nvendor = tpu\n"
                      "count = 4\n")
    emu = start("api", "--port", "{port}", "--interval", "0.2", "--bind", "127.0.0.1",
                "--config", str(config), "--control-file", str(tmp_path / "none"))
    info = series(emu.metrics(), "all_smi_tpu_accelerator_type_info")
    assert len(info) == 4
    assert {lab["instance"] for lab, _unused in info} == {"gpu-node-7"}


def test_first_scrape_is_200_with_an_empty_body(start, tmp_path):
    emu = start(*allsmi_args(tmp_path, "--startup-delay", "1.5"), ready=False)

    def reachable():
        try:
            return http("GET", emu.base + "/metrics", timeout=1) == (200, "")
        except OSError:
            return False

    assert wait_for(reachable, timeout=5)
    for path in ("/-/ready", "/health"):  # not in all-smi v0.25.0
        assert http("GET", emu.base + path)[0] == 404
    emu.wait_ready()
    assert "all_smi_gpu_info" in names(emu.metrics())


def test_restart_fault_serves_an_empty_body_then_recovers(start, tmp_path):
    emu = start(*allsmi_args(tmp_path))
    code, _unused = http("POST", emu.base + "/-/fault", {"type": "restart", "seconds": 1.0})
    assert code == 200
    assert http("GET", emu.base + "/metrics") == (200, "")
    assert wait_for(lambda: http("GET", emu.base + "/metrics")[1] != "", timeout=5)
    assert json.loads(http("GET", emu.base + "/-/fault")[1])["http"] == []  # an event


def test_stop_fault_refuses_connections_then_recovers(start, tmp_path):
    emu = start(*allsmi_args(tmp_path))
    code, _unused = http("POST", emu.base + "/-/fault", {"type": "stop", "seconds": 1.5})
    assert code == 200

    def refused():
        try:
            http("GET", emu.base + "/metrics", timeout=1)
            return False
        except OSError:
            return True

    assert wait_for(refused, timeout=3)
    assert wait_for(lambda: not refused(), timeout=6)
    emu.wait_ready()


def test_failed_reading_is_exported_as_zero(start, tmp_path):
    emu = start(*allsmi_args(tmp_path, devices="nvidia:1"))
    http("POST", emu.base + "/-/fault", {"faults": [
        {"type": "reading_fail", "device": 0, "reading": "temperature"},
        {"type": "reading_fail", "device": 0, "reading": "power"}]})
    samples = emu.metrics()
    assert series(samples, "all_smi_gpu_temperature_celsius")[0][1] == 0
    assert series(samples, "all_smi_gpu_power_consumption_watts")[0][1] == 0
    assert series(samples, "all_smi_gpu_utilization")  # still there


def test_rebellions_status_is_an_info_label_and_heartbeat_stall_is_invisible(start, tmp_path):
    emu = start(*allsmi_args(tmp_path, devices="rebellions:1,tenstorrent:1"))
    energy = {"all_smi_energy_consumed_joules_total"}  # appears from the second collection
    before = names(emu.metrics()) - energy
    http("POST", emu.base + "/-/fault", {"faults": [
        {"type": "npu_status", "device": 0, "status": "error"},
        {"type": "heartbeat_stall", "device": 1}]})
    samples = emu.metrics()
    assert series(samples, "all_smi_gpu_info", gpu_index=0)[0][0]["status"] == "error"
    assert names(samples) - energy == before  # v0.25.0 exports no Tenstorrent heartbeat


def test_allsmi_env_port_and_version(start, tmp_path):
    port = free_port()
    emu = start("api", "--bind", "127.0.0.1", "--control-file", str(tmp_path / "n"),
                ready=False, env={"ALL_SMI_API_PORT": str(port),
                                  "ALL_SMI_API_INTERVAL_SECS": "0.2"})
    emu.base = f"http://127.0.0.1:{port}"
    emu.wait_ready()
    assert "all_smi_gpu_info" in names(emu.metrics())
    out = subprocess.run([sys.executable, str(EMULATOR), "--version"], capture_output=True,
                         text=True, timeout=10, check=True).stdout
    assert "0.25.0" in out and "TEST DOUBLE" in out


def test_sigterm_exits_cleanly(tmp_path):
    emu = Emulator(tmp_path, *allsmi_args(tmp_path))
    try:
        emu.wait_ready()
        emu.proc.terminate()
        assert emu.proc.wait(timeout=5) == 0
    finally:
        emu.stop()


def test_bad_config_exits_2(tmp_path):
    res = subprocess.run([sys.executable, str(EMULATOR), "api", "--port", "1",
                          "--devices", "voodoo:2"], capture_output=True, text=True, timeout=10,
                         check=False)
    assert res.returncode == 2
    assert "unknown vendor" in res.stderr


# ------------------------------------------------------------------------------- dcgm mode


def dcgm_args(tmp_path, *extra, devices="nvidia:2"):
    return ("--mode", "dcgm", "-a", "127.0.0.1:{port}", "-c", "200", "--seed", "3",
            "--devices", devices, "--control-file", str(tmp_path / "control.json"), *extra)


def test_dcgm_mode_names_and_labels(start, tmp_path):
    emu = start(*dcgm_args(tmp_path, devices="nvidia:2,gaudi:1"))
    samples = emu.metrics()
    got = names(samples)
    for name in ("DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_MEMORY_TEMP", "DCGM_FI_DEV_POWER_USAGE",
                 "DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_MEM_COPY_UTIL", "DCGM_FI_DEV_FB_FREE",
                 "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_SM_CLOCK",
                 "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "DCGM_FI_PROF_DRAM_ACTIVE",
                 "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "DCGM_FI_DEV_PCIE_REPLAY_COUNTER",
                 "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL"):
        assert name in got, name
    assert not any(n.startswith("all_smi_") for n in got)
    temps = series(samples, "DCGM_FI_DEV_GPU_TEMP")
    assert len(temps) == 2  # the Gaudi is invisible to dcgm-exporter
    for lab, _unused in temps:
        assert set(lab) == DCGM_LABELS
        assert lab["modelName"] == "NVIDIA H200"
        assert lab["DCGM_FI_DRIVER_VERSION"] == "580.159.04"
    assert [lab["device"] for lab, _unused in temps] == ["nvidia0", "nvidia1"]
    assert temps[0][0]["pci_bus_id"] == "00000000:00:06.0"
    fb_used = series(samples, "DCGM_FI_DEV_FB_USED", gpu=0)[0][1]
    fb_free = series(samples, "DCGM_FI_DEV_FB_FREE", gpu=0)[0][1]
    assert fb_used + fb_free == 143771
    # default counters lack ECC and FB_TOTAL, as dcgm-exporter's default-counters.csv does
    assert "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL" not in got
    assert "DCGM_FI_DEV_FB_TOTAL" not in got


def test_dcgm_counters_csv_limits_fields_and_faults(start, tmp_path):
    csv = tmp_path / "counters.csv"
    csv.write_text(
        "# Format\n# DCGM FIELD, Prometheus metric type, help message\n\n"
        "DCGM_FI_DEV_GPU_TEMP, gauge, GPU temperature (in C).\n"
        "DCGM_FI_DEV_XID_ERRORS, gauge, Value of the last XID error encountered.\n"
        "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL, counter, Total number of double-bit volatile ECC errors.\n"
        "DCGM_FI_DEV_FB_TOTAL, gauge, Framebuffer memory total (in MiB).\n"
        "DCGM_FI_DRIVER_VERSION, label, Driver Version\n")
    emu = start(*dcgm_args(tmp_path, "-f", str(csv)))
    samples = emu.metrics()
    # DCGM_FI_DEV_XID_ERRORS is blank, so absent, until the first XID
    assert names(samples) == {"DCGM_FI_DEV_GPU_TEMP",
                              "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "DCGM_FI_DEV_FB_TOTAL"}
    assert series(samples, "DCGM_FI_DEV_FB_TOTAL", gpu=0)[0][1] == 143771

    http("POST", emu.base + "/-/fault", {"type": "xid", "device": 1, "code": 79})
    http("POST", emu.base + "/-/fault", {"type": "ecc_dbe", "device": 0})
    http("POST", emu.base + "/-/fault", {"type": "ecc_dbe", "device": 0, "count": 2})
    http("POST", emu.base + "/-/fault", {"type": "temperature", "device": 0, "celsius": 86})
    samples = emu.metrics()
    xid = series(samples, "DCGM_FI_DEV_XID_ERRORS", gpu=1)
    assert xid[0][1] == 79
    assert xid[0][0]["err_code"] == "79" and xid[0][0]["err_msg"] == "GPU has fallen off the bus"
    assert not series(samples, "DCGM_FI_DEV_XID_ERRORS", gpu=0)
    assert series(samples, "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", gpu=0)[0][1] == 3
    assert series(samples, "DCGM_FI_DEV_GPU_TEMP", gpu=0)[0][1] == 86

    http("POST", emu.base + "/-/fault", {"type": "vanish", "device": 1})
    samples = emu.metrics()
    assert not [s for s in samples if s[1]["gpu"] == "1"]


def test_dcgm_default_mode_from_program_name_and_promtool_parses(start, tmp_path):
    prog = tmp_path / "dcgm-exporter"
    shutil.copy(EMULATOR, prog)
    emu = start("-a", "127.0.0.1:{port}", "-c", "200", "--devices", "nvidia:1",
                "--control-file", str(tmp_path / "n"), prog=prog)
    text = emu.raw_metrics()
    assert "DCGM_FI_DEV_GPU_TEMP{" in text
    promtool = shutil.which("promtool")
    if promtool:
        res = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                             text=True, timeout=30, check=False)
        # 3 = lint findings only (camelCase labels, counters without _total: the real
        # dcgm-exporter has the same); 1 would be a parse error
        assert res.returncode in (0, 3), res.stdout + res.stderr


def test_dcgm_xid_is_sticky_and_counted_in_a_window(start, tmp_path):
    csv = tmp_path / "counters.csv"
    csv.write_text(
        "DCGM_FI_DEV_XID_ERRORS, gauge, Value of the last XID error encountered.\n"
        "DCGM_EXP_XID_ERRORS_COUNT, gauge, Count of XID Errors within user-specified time "
        "window (see xid-count-window-size param).\n"
        "DCGM_FI_DEV_ROW_REMAP_PENDING, gauge, Whether remapping of rows is pending.\n"
        "DCGM_FI_DRIVER_VERSION, label, Driver Version\n")
    emu = start(*dcgm_args(tmp_path, "-f", str(csv), "-x", "1500", devices="nvidia:1"))
    samples = emu.metrics()
    count = series(samples, "DCGM_EXP_XID_ERRORS_COUNT")
    assert count[0][1] == 0 and "xid" not in count[0][0]
    assert count[0][0]["window_size_in_ms"] == "1500"
    http("POST", emu.base + "/-/fault", {"type": "xid", "device": 0, "code": 13, "count": 2})
    http("POST", emu.base + "/-/fault", {"type": "xid", "device": 0, "code": 79})
    http("POST", emu.base + "/-/fault", {"type": "row_remap_pending", "device": 0})
    samples = emu.metrics()
    assert {lab["xid"]: v for lab, v in series(samples, "DCGM_EXP_XID_ERRORS_COUNT")} == {
        "13": 2, "79": 1}
    assert series(samples, "DCGM_FI_DEV_XID_ERRORS")[0][1] == 79
    assert series(samples, "DCGM_FI_DEV_ROW_REMAP_PENDING")[0][1] == 1
    # clearing faults does not clear an XID: the last code is sticky, the count windowed
    http("DELETE", emu.base + "/-/fault")

    def counts():
        return [v for _unused, v in series(emu.metrics(), "DCGM_EXP_XID_ERRORS_COUNT")]

    assert wait_for(lambda: counts() == [0])
    samples = emu.metrics()
    assert series(samples, "DCGM_FI_DEV_XID_ERRORS")[0][1] == 79
    assert series(samples, "DCGM_FI_DEV_ROW_REMAP_PENDING")[0][1] == 0
    # only an exporter restart forgets it
    http("POST", emu.base + "/-/fault", {"type": "restart", "seconds": 0})
    assert wait_for(lambda: "DCGM_EXP_XID_ERRORS_COUNT" in names(emu.metrics()))
    assert "DCGM_FI_DEV_XID_ERRORS" not in names(emu.metrics())
