#!/usr/bin/env python3
"""accel_exporter_emulator: a TEST DOUBLE for all-smi and NVIDIA dcgm-exporter.

THIS IS NOT A REAL EXPORTER. It reads no hardware. It exists because the machines this
collection is built and tested on have no accelerator, and the node roles, alert rules and
dashboards still need an endpoint that speaks the real exporters' metric names and labels.
It is packaged by tests/tools/build_artifacts.sh as the `all-smi` and `dcgm-exporter` release
archives so the roles install it through their real offline path. Never ship it to a fleet.

Where the names come from (see ../../docs/emulator.md and the shared reference
`exporters.md`, which was read from the exporters' own source trees):

* all-smi v0.25.0 (lablup/all-smi), `src/api/metrics/`:
  - gpu.rs: all_smi_gpu_utilization, all_smi_gpu_memory_used_bytes,
    all_smi_gpu_memory_total_bytes, all_smi_gpu_temperature_celsius,
    all_smi_gpu_power_consumption_watts, all_smi_gpu_frequency_mhz,
    all_smi_gpu_fan_speed_rpm, all_smi_gpu_info{type,driver_version,...}; labels gpu
    (model string), instance (hostname), gpu_uuid, gpu_index. NVIDIA extras (same file):
    all_smi_gpu_pcie_gen_current, all_smi_gpu_pcie_width_current,
    all_smi_gpu_power_limit_current_watts, all_smi_gpu_power_limit_max_watts,
    all_smi_gpu_performance_state, all_smi_gpu_temperature_threshold_{slowdown,shutdown}_celsius,
    all_smi_gpu_numa_node_id; mig.rs: all_smi_gpu_mig_mode; energy.rs:
    all_smi_energy_consumed_joules_total.
  - exporter_status.rs: all_smi_up (0 before the first collection), all_smi_build_info
    {instance,hostname,version,os,arch}.
  - npu/gaudi.rs, npu/rebellions.rs, npu/furiosa.rs, npu/tenstorrent.rs, npu/google_tpu.rs:
    vendor series with labels npu, instance, npu_uuid, npu_index.
  - cpu.rs, memory.rs, disk.rs, chassis.rs: host series (all_smi_cpu_utilization,
    all_smi_memory_{used,total}_bytes, all_smi_disk_{total,available}_bytes,
    all_smi_chassis_power_watts). Their exact label sets here are an approximation
    (instance, hostname, index, ...): only the names are guaranteed.
  all-smi OMITS a reading it does not have (no `0` placeholder); a device that vanished
  emits no series at all. The emulator does the same. all-smi has no XID and no ECC series:
  the `xid` and `ecc_dbe` faults are visible in dcgm mode only.
* dcgm-exporter (NVIDIA/dcgm-exporter): DCGM_FI_* field names of etc/default-counters.csv
  and etc/dcp-metrics-included.csv; labels gpu, UUID, pci_bus_id, device, modelName,
  Hostname, DCGM_FI_DRIVER_VERSION. With `-f COUNTERS.csv` only the listed fields are served.
* NVIDIA values are seeded from a real H200 snapshot (shared/fixtures/hardware/nvidia-h200-vm:
  NVIDIA H200, 143771 MiB, 700 W limit, idle 38 C / 127.39 W, SM clock 1980 MHz, PCIe gen 5
  x16, P0, driver 580.159.04, CUDA 13.0, VBIOS 96.00.A5.00.1A, fan N/A so no fan series).
  Other vendors' values are plausible figures from public spec sheets, not measurements.

Standard library only (runs in minimal Debian containers that only have python3).
"""

import argparse
import configparser
import hashlib
import json
import os
import platform
import random
import signal
import socket
import sys
import threading
import time
import uuid as uuidlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EMULATOR_VERSION = "0.25.0"  # the all-smi version whose metric surface is emulated
DCGM_EXPORTER_VERSION = "4.2.3-4.1.3"
MIB = 1024 * 1024
GIB = 1024 * MIB

VENDORS = ("nvidia", "amd", "gaudi", "rebellions", "furiosa", "tenstorrent", "tpu")
FAULT_TYPES = ("temperature", "vanish", "xid", "ecc_dbe", "utilization", "memory_used_percent")
DEFAULT_CONFIG_PATHS = ("/etc/accel-emulator/config.json", "/etc/accel-emulator/config.ini")
DEFAULT_CONTROL_PATH = "/etc/accel-emulator/control.json"

# Per-vendor defaults. `None` means "the device does not report it": the series is omitted.
VENDOR_DEFAULTS = {
    # Seeded from the real H200 snapshot (nvidia-smi -q -x / --query-gpu).
    "nvidia": {
        "model": "NVIDIA H200", "type": "GPU", "memory_total_bytes": 143771 * MIB,
        "memory_used_bytes": 0, "utilization": 0.0, "temperature": 38, "memory_temperature": 40,
        "power": 127.39, "power_limit": 700.0, "power_limit_max": 700.0, "frequency": 1980,
        "memory_clock": 3201, "fan_rpm": None, "driver_version": "580.159.04",
        "cuda_version": "13.0", "vbios_version": "96.00.A5.00.1A", "pcie_gen": 5,
        "pcie_width": 16, "pstate": 0,
        # Not in the snapshot (nvidia-smi prints them relative to T.Limit there): typical
        # Hopper SXM values of `nvidia-smi -q` "GPU Slowdown Temp" / "GPU Shutdown Temp".
        "temp_slowdown": 89, "temp_shutdown": 92, "mig_mode": 0,
    },
    "amd": {
        "model": "AMD Instinct MI300X", "type": "GPU", "memory_total_bytes": 192 * GIB,
        "memory_used_bytes": 0, "utilization": 0.0, "temperature": 41, "power": 140.0,
        "power_limit": 750.0, "frequency": 2100, "fan_rpm": None, "driver_version": "6.8.5",
    },
    "gaudi": {
        "model": "HL-225", "type": "NPU", "memory_total_bytes": 96 * GIB,
        "memory_used_bytes": 0, "utilization": 0.0, "temperature": 36, "power": 95.0,
        "power_limit": 600.0, "frequency": None, "fan_rpm": None,
        "driver_version": "1.19.1-fw-57.2.2",
    },
    "rebellions": {
        # Shape of a live RBLN-CA22 (ATOM Plus) as all-smi's own tests describe it.
        "model": "RBLN-CA22", "type": "NPU", "memory_total_bytes": 16877879296,
        "memory_used_bytes": 0, "utilization": 0.0, "temperature": 31, "power": 17.52,
        "power_limit": None, "frequency": None, "fan_rpm": None, "driver_version": "3.0.0",
        "pstate": "P14",
    },
    "furiosa": {
        "model": "RNGD", "type": "NPU", "memory_total_bytes": 48 * GIB,
        "memory_used_bytes": 0, "utilization": 0.0, "temperature": 35, "power": 40.0,
        "power_limit": 180.0, "frequency": None, "fan_rpm": None, "driver_version": "2025.2.0",
    },
    "tenstorrent": {
        "model": "Tenstorrent Wormhole n300", "type": "NPU", "memory_total_bytes": 24 * GIB,
        "memory_used_bytes": 0, "utilization": 0.0, "temperature": 45, "power": 60.0,
        "power_limit": 300.0, "frequency": 1000, "fan_rpm": None, "driver_version": "1.33",
    },
    "tpu": {
        "model": "TPU v5e", "type": "TPU", "memory_total_bytes": 16 * GIB,
        "memory_used_bytes": 0, "utilization": 0.0, "temperature": None, "power": None,
        "power_limit": None, "frequency": None, "fan_rpm": None, "driver_version": "0.4.35",
        "accelerator_type": "v5litepod-8",
    },
}

# ----------------------------------------------------------------------------- logging


def log(msg):
    sys.stderr.write(f"accel-emulator: {msg}\n")
    sys.stderr.flush()


# ----------------------------------------------------------------------------- devices


class Device:
    """One emulated accelerator: static identity plus base values."""

    def __init__(self, vendor, index, vendor_index, hostname, overrides):
        self.vendor = vendor
        self.index = index
        self.vendor_index = vendor_index
        props = dict(VENDOR_DEFAULTS[vendor])
        props.update(overrides or {})
        self.props = props
        self.model = props["model"]
        self.type = props.get("type", "GPU")
        seed = f"{hostname}/{vendor}/{index}"
        u = uuidlib.uuid5(uuidlib.NAMESPACE_DNS, seed)
        if "uuid" in props:
            self.uuid = props["uuid"]
        elif vendor == "nvidia":
            self.uuid = f"GPU-{u}"
        else:
            self.uuid = str(u)
        if vendor_index == 0:
            # the H200 snapshot's PCI address; further GPUs get synthetic bus numbers
            self.pci_bus_id = props.get("pci_bus_id", "00000000:00:06.0")
        else:
            self.pci_bus_id = props.get(
                "pci_bus_id", "00000000:%02X:00.0" % ((0x18 + 0x10 * vendor_index) & 0xFF))
        self.numa_node = props.get("numa_node")
        self.serial = hashlib.sha1(seed.encode()).hexdigest()[:16]


def parse_devices_spec(spec):
    """`nvidia:8,amd:2:AMD Instinct MI250X` -> list of device group dicts."""
    groups = []
    for part in [p.strip() for p in spec.split(",") if p.strip()]:
        fields = part.split(":", 2)
        vendor = fields[0].strip().lower()
        count = int(fields[1]) if len(fields) > 1 and fields[1].strip() else 1
        group = {"vendor": vendor, "count": count}
        if len(fields) > 2 and fields[2].strip():
            group["model"] = fields[2].strip()
        groups.append(group)
    return groups


def load_config_file(path):
    """JSON (`{"devices": [...], ...}`) or INI (`[emulator]` + `[device ...]` sections)."""
    with open(path, "r", encoding="utf-8") as handle:
        text = handle.read()
    if text.lstrip().startswith("{"):
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"{path}: top level must be an object")
        return data
    parser = configparser.ConfigParser()
    parser.read_string(text, source=path)
    data = {"devices": []}
    if parser.has_section("emulator"):
        for key, value in parser.items("emulator"):
            data[key] = value
    for section in parser.sections():
        if section.lower().startswith("device"):
            group = dict(parser.items(section))
            if "count" in group:
                group["count"] = int(group["count"])
            data["devices"].append(group)
    return data


_NUMERIC_KEYS = ("memory_total_bytes", "memory_used_bytes", "utilization", "temperature", "power",
                 "power_limit", "power_limit_max", "frequency", "fan_rpm", "pcie_gen",
                 "pcie_width", "temp_slowdown", "temp_shutdown", "numa_node")


def build_devices(groups, hostname):
    devices = []
    per_vendor = {}
    for group in groups:
        vendor = str(group.get("vendor", "")).lower()
        if vendor not in VENDORS:
            raise ValueError("unknown vendor {!r} (known: {})".format(vendor, ", ".join(VENDORS)))
        count = int(group.get("count", 1))
        overrides = {}
        for key, value in group.items():
            if key in ("vendor", "count"):
                continue
            if key == "memory_total_mib":
                overrides["memory_total_bytes"] = int(float(value) * MIB)
                continue
            if key in _NUMERIC_KEYS and isinstance(value, str):
                value = float(value) if "." in value else int(value)
            overrides[key] = value
        for _unused in range(count):
            vendor_index = per_vendor.get(vendor, 0)
            per_vendor[vendor] = vendor_index + 1
            dev_overrides = dict(overrides)
            if vendor == "nvidia" and "numa_node" not in dev_overrides and count >= 2:
                dev_overrides["numa_node"] = 0 if vendor_index < (count + 1) // 2 else 1
            devices.append(Device(vendor, len(devices), vendor_index, hostname, dev_overrides))
    return devices


# ----------------------------------------------------------------------------- faults


def validate_fault(fault):
    if not isinstance(fault, dict):
        raise TypeError("a fault must be a JSON object")
    ftype = fault.get("type")
    if ftype not in FAULT_TYPES:
        raise ValueError("fault type must be one of {}, got {!r}".format(", ".join(FAULT_TYPES), ftype))
    device = fault.get("device", "all")
    if device != "all" and not isinstance(device, int):
        raise ValueError("fault 'device' must be an integer index or \"all\"")
    out = {"type": ftype, "device": device}
    if ftype == "temperature":
        out["celsius"] = float(_require(fault, "celsius"))
    elif ftype == "xid":
        out["code"] = int(_require(fault, "code"))
    elif ftype == "ecc_dbe":
        out["count"] = int(fault.get("count", 1))
    elif ftype in ("utilization", "memory_used_percent"):
        percent = float(_require(fault, "percent"))
        if not 0 <= percent <= 100:
            raise ValueError("'percent' must be within 0..100")
        out["percent"] = percent
    return out


def _require(fault, key):
    if key not in fault:
        raise ValueError("fault {!r} needs {!r}".format(fault.get("type"), key))
    return fault[key]


def parse_fault_document(doc):
    """A single fault object, a list of them, or {"faults": [...]}."""
    if isinstance(doc, dict) and "faults" in doc:
        doc = doc["faults"]
    if isinstance(doc, dict):
        doc = [doc]
    if not isinstance(doc, list):
        raise TypeError("expected a fault object, a list, or {\"faults\": [...]}")
    return [validate_fault(f) for f in doc]


def _applies(fault, device):
    return fault["device"] == "all" or fault["device"] == device.index


class FaultState:
    """Faults from the HTTP API and from the control file, merged."""

    def __init__(self, control_file):
        self.lock = threading.Lock()
        self.http_faults = []
        self.file_faults = []
        self.control_file = control_file
        self.control_error = None
        self._file_sig = None

    def reload_control_file(self):
        path = self.control_file
        if not path:
            return
        try:
            stat = os.stat(path)
        except OSError:
            with self.lock:
                self.file_faults, self.control_error, self._file_sig = [], None, None
            return
        sig = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if sig == self._file_sig:
            return
        try:
            with open(path, "r", encoding="utf-8") as handle:
                text = handle.read()
            faults = parse_fault_document(json.loads(text)) if text.strip() else []
        except (OSError, ValueError, TypeError) as exc:
            with self.lock:
                self.control_error = str(exc)
            log(f"control file {path} ignored (faults kept as before): {exc}")
            return
        with self.lock:
            self.file_faults, self.control_error, self._file_sig = faults, None, sig

    def add(self, faults):
        with self.lock:
            self.http_faults.extend(faults)

    def clear(self):
        with self.lock:
            self.http_faults = []

    def effective(self):
        with self.lock:
            return list(self.file_faults) + list(self.http_faults)

    def describe(self):
        with self.lock:
            return {"http": list(self.http_faults), "control_file": self.control_file,
                    "control_file_faults": list(self.file_faults),
                    "control_file_error": self.control_error,
                    "effective": list(self.file_faults) + list(self.http_faults)}


# ----------------------------------------------------------------------------- readings


class Collector:
    """Produces one reading per device per interval; renders the exposition."""

    def __init__(self, args, devices, faults, hostname):
        self.args = args
        self.devices = devices
        self.faults = faults
        self.hostname = hostname
        self.rng = random.Random(args.seed) if args.seed is not None else random.Random()
        self.lock = threading.Lock()
        self.started = 0  # sequence number of the latest collection that began
        self.completed = 0  # sequence number of the latest collection that finished
        self.text = None
        self.energy_j = {d.index: 0.0 for d in devices}
        self.energy_mj_dcgm = {d.index: 0 for d in devices}
        self.last_tick = None
        self.cpu_prev = None
        self.dcgm_fields = None
        if args.mode == "dcgm":
            self.dcgm_fields = load_counters(args.collectors)
        self.kick = threading.Event()

    # one collection
    def collect(self):
        with self.lock:
            self.started += 1
            seq = self.started
        self.faults.reload_control_file()
        faults = self.faults.effective()
        now = time.monotonic()
        dt = 0.0 if self.last_tick is None else now - self.last_tick
        self.last_tick = now
        readings = []
        for dev in self.devices:
            mine = [f for f in faults if _applies(f, dev)]
            if any(f["type"] == "vanish" for f in mine):
                continue
            readings.append(self.read_device(dev, mine, dt))
        if self.args.mode == "dcgm":
            text = render_dcgm(readings, self.hostname, self.dcgm_fields)
        else:
            text = render_allsmi(readings, self.hostname, self.read_host(readings),
                                 up=True)
        with self.lock:
            self.text = text
            self.completed = seq

    def read_device(self, dev, faults, dt):
        rng, p = self.rng, dev.props
        r = {"dev": dev}
        util = p.get("utilization")
        mem_used = p.get("memory_used_bytes")
        temp = p.get("temperature")
        for f in faults:
            if f["type"] == "utilization":
                util = f["percent"]
            elif f["type"] == "memory_used_percent":
                mem_used = int(p["memory_total_bytes"] * f["percent"] / 100.0)
            elif f["type"] == "temperature":
                temp = f["celsius"]
        forced_util = any(f["type"] == "utilization" for f in faults)
        forced_temp = any(f["type"] == "temperature" for f in faults)
        if util is not None and not forced_util:
            util = min(100.0, max(0.0, util + rng.uniform(-1.0, 1.0)))
        r["utilization"] = None if util is None else round(util, 1)
        r["memory_total"] = p["memory_total_bytes"]
        r["memory_used"] = mem_used
        if temp is not None and not forced_temp:
            temp = temp + rng.choice((-1, 0, 0, 1)) + (util or 0) * 0.35
        r["temperature"] = None if temp is None else round(temp)
        power = p.get("power")
        if power is not None:
            limit = p.get("power_limit") or power * 4
            power = power + (limit - power) * (util or 0) / 100.0
            power = round(power * rng.uniform(0.985, 1.015), 2)
        r["power"] = power
        r["frequency"] = p.get("frequency")
        r["fan_rpm"] = p.get("fan_rpm")
        if power is not None:
            self.energy_j[dev.index] += power * dt
            self.energy_mj_dcgm[dev.index] = int(self.energy_j[dev.index] * 1000)
        r["energy_j"] = self.energy_j[dev.index]
        r["energy_mj"] = self.energy_mj_dcgm[dev.index]
        xids = [f["code"] for f in faults if f["type"] == "xid"]
        r["xid"] = xids[-1] if xids else 0
        r["ecc_dbe"] = sum(f["count"] for f in faults if f["type"] == "ecc_dbe")
        r["memory_temperature"] = p.get("memory_temperature")
        if r["memory_temperature"] is not None and r["temperature"] is not None:
            r["memory_temperature"] = r["temperature"] + 2
        return r

    def read_host(self, readings):
        host = {"cpu_utilization": None, "memory_total": None, "memory_used": None,
                "disk_total": None, "disk_available": None}
        try:
            with open("/proc/stat", "r") as handle:
                fields = [int(x) for x in handle.readline().split()[1:]]
            idle, total = fields[3] + (fields[4] if len(fields) > 4 else 0), sum(fields)
            if self.cpu_prev is not None and total > self.cpu_prev[1]:
                busy = 1.0 - (idle - self.cpu_prev[0]) / float(total - self.cpu_prev[1])
                host["cpu_utilization"] = round(100.0 * busy, 1)
            else:
                host["cpu_utilization"] = 0.0
            self.cpu_prev = (idle, total)
        except (OSError, ValueError, IndexError):
            pass
        try:
            meminfo = {}
            with open("/proc/meminfo", "r") as handle:
                for line in handle:
                    key, _unused, rest = line.partition(":")
                    meminfo[key] = int(rest.split()[0]) * 1024
            host["memory_total"] = meminfo["MemTotal"]
            host["memory_used"] = meminfo["MemTotal"] - meminfo.get("MemAvailable", 0)
        except (OSError, ValueError, KeyError, IndexError):
            pass
        try:
            st = os.statvfs("/")
            host["disk_total"] = st.f_blocks * st.f_frsize
            host["disk_available"] = st.f_bavail * st.f_frsize
        except OSError:
            pass
        accel = sum(r["power"] for r in readings if r["power"] is not None)
        host["chassis_power"] = round(250.0 + accel, 2)  # synthetic: 250 W base + devices
        return host

    def run(self, stop):
        if self.args.ready_delay > 0 and stop.wait(self.args.ready_delay):
            return
        while not stop.is_set():
            try:
                self.collect()
            except Exception as exc:  # noqa: BLE001 - keep serving the previous exposition
                log(f"collection failed: {exc!r}")
            self.kick.wait(self.args.interval)
            self.kick.clear()

    def trigger_and_wait(self, timeout=5.0):
        """Wait for a collection that began after this call (so it saw the new faults)."""
        with self.lock:
            target = self.started + 1
        self.kick.set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.completed >= target:
                    return True
            time.sleep(0.01)
        return False

    def exposition(self):
        with self.lock:
            text = self.text
        if text is None:
            if self.args.mode == "dcgm":
                return ""
            return render_allsmi([], self.hostname, None, up=False)
        return text

    def ready(self):
        with self.lock:
            return self.text is not None


# ----------------------------------------------------------------------------- rendering


def _esc(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt(value):
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


class Builder:
    """Groups samples per family (HELP/TYPE once), keeps first-seen order."""

    def __init__(self):
        self.order = []
        self.families = {}

    def add(self, name, mtype, help_text, labels, value):
        if value is None:
            return  # missing readings are omitted, never exported as 0
        if name not in self.families:
            self.order.append(name)
            self.families[name] = (mtype, help_text, [])
        self.families[name][2].append((labels, value))

    def render(self):
        out = []
        for name in self.order:
            mtype, help_text, samples = self.families[name]
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {mtype}")
            for labels, value in samples:
                lab = ",".join(f'{k}="{_esc(v)}"' for k, v in labels)
                out.append(f"{name}{{{lab}}} {_fmt(value)}")
        return "\n".join(out) + "\n"


def render_allsmi(readings, hostname, host, up):
    b = Builder()
    g = "gauge"
    b.add("all_smi_up", g, "1 once the exporter has completed a collection cycle, 0 before that",
          [("instance", hostname), ("hostname", hostname)], 1 if up else 0)
    b.add("all_smi_build_info", g, "Build information for the running all-smi binary; always 1",
          [("instance", hostname), ("hostname", hostname), ("version", EMULATOR_VERSION),
           ("os", "linux"), ("arch", platform.machine() or "x86_64")], 1)
    for r in readings:
        dev = r["dev"]
        p = dev.props
        base = [("gpu", dev.model), ("instance", hostname), ("gpu_uuid", dev.uuid),
                ("gpu_index", str(dev.index))]
        b.add("all_smi_gpu_utilization", g, "GPU utilization percentage", base, r["utilization"])
        b.add("all_smi_gpu_memory_used_bytes", g, "GPU memory used in bytes", base,
              r["memory_used"])
        b.add("all_smi_gpu_memory_total_bytes", g, "GPU memory total in bytes", base,
              r["memory_total"])
        b.add("all_smi_gpu_temperature_celsius", g, "GPU temperature in celsius", base,
              r["temperature"])
        b.add("all_smi_gpu_power_consumption_watts", g, "GPU power consumption in watts", base,
              r["power"])
        b.add("all_smi_gpu_frequency_mhz", g, "GPU frequency in MHz", base, r["frequency"])
        b.add("all_smi_gpu_fan_speed_rpm", g, "GPU fan speed in RPM", base, r["fan_rpm"])
        info = base + [("type", dev.type), ("driver_version", p.get("driver_version", ""))]
        if dev.vendor == "nvidia":
            info += [("cuda_version", p.get("cuda_version", "")),
                     ("vbios_version", p.get("vbios_version", ""))]
        if dev.vendor == "rebellions":
            info += [("lib_name", "RBLN-SDK")]
        b.add("all_smi_gpu_info", g, "GPU/NPU device information", info, 1)
        if dev.vendor == "nvidia":
            b.add("all_smi_gpu_pcie_gen_current", g, "Current PCIe generation", base,
                  p.get("pcie_gen"))
            b.add("all_smi_gpu_pcie_width_current", g, "Current PCIe link width", base,
                  p.get("pcie_width"))
            b.add("all_smi_gpu_power_limit_current_watts", g, "Current power limit in watts",
                  base, p.get("power_limit"))
            b.add("all_smi_gpu_power_limit_max_watts", g, "Maximum power limit in watts", base,
                  p.get("power_limit_max"))
            b.add("all_smi_gpu_performance_state", g,
                  "GPU performance state (0=P0 fastest, 15=P15 idlest)", base, p.get("pstate"))
            b.add("all_smi_gpu_temperature_threshold_slowdown_celsius", g,
                  "GPU slowdown temperature threshold in Celsius", base, p.get("temp_slowdown"))
            b.add("all_smi_gpu_temperature_threshold_shutdown_celsius", g,
                  "GPU shutdown temperature threshold in Celsius", base, p.get("temp_shutdown"))
            b.add("all_smi_gpu_numa_node_id", g, "NUMA node the GPU is attached to", base,
                  p.get("numa_node"))
            b.add("all_smi_gpu_mig_mode", g, "MIG mode (1 = enabled, 0 = disabled)", base,
                  p.get("mig_mode"))
            b.add("all_smi_energy_consumed_joules_total", "counter",
                  "Energy consumed by the GPU in joules", base, round(r["energy_j"], 3))
        render_vendor(b, r, hostname)
    if host is not None:
        hlab = [("instance", hostname), ("hostname", hostname), ("index", "0")]
        b.add("all_smi_cpu_utilization", g, "CPU utilization percentage",
              [("cpu_model", platform.processor() or "emulated"), ("instance", hostname),
               ("hostname", hostname), ("index", "0")], host["cpu_utilization"])
        b.add("all_smi_memory_total_bytes", g, "Total system memory in bytes", hlab,
              host["memory_total"])
        b.add("all_smi_memory_used_bytes", g, "Used system memory in bytes", hlab,
              host["memory_used"])
        dlab = hlab + [("mount_point", "/")]
        b.add("all_smi_disk_total_bytes", g, "Total disk space in bytes", dlab,
              host["disk_total"])
        b.add("all_smi_disk_available_bytes", g, "Available disk space in bytes", dlab,
              host["disk_available"])
        b.add("all_smi_chassis_power_watts", g, "Total chassis power consumption in watts",
              [("instance", hostname), ("hostname", hostname)], host["chassis_power"])
    return b.render()


def render_vendor(b, r, hostname):
    dev, p, g = r["dev"], r["dev"].props, "gauge"
    npu = [("npu", dev.model), ("instance", hostname), ("npu_uuid", dev.uuid),
           ("npu_index", str(dev.index))]
    if dev.vendor == "gaudi":
        b.add("all_smi_gaudi_aip_utilization_percent", g, "Gaudi AIP utilization percentage",
              npu, r["utilization"])
        b.add("all_smi_gaudi_memory_used_bytes", g, "Gaudi memory used in bytes", npu,
              r["memory_used"])
        b.add("all_smi_gaudi_memory_total_bytes", g, "Gaudi memory total in bytes", npu,
              r["memory_total"])
        b.add("all_smi_gaudi_power_draw_watts", g, "Gaudi power draw in watts", npu, r["power"])
        b.add("all_smi_gaudi_power_max_watts", g, "Gaudi maximum power in watts", npu,
              p.get("power_limit"))
        b.add("all_smi_gaudi_temperature_celsius", g, "Gaudi temperature in celsius", npu,
              r["temperature"])
        b.add("all_smi_gaudi_device_info", g, "Gaudi device information",
              npu + [("serial", dev.serial), ("driver_version", p.get("driver_version", ""))], 1)
    elif dev.vendor == "rebellions":
        b.add("all_smi_rebellions_status", g, "Device operational status",
              npu + [("status", "normal")], 1)
        b.add("all_smi_rebellions_device_info", g, "Rebellions device information",
              npu + [("model", "ATOM-Plus" if "CA22" in dev.model else "ATOM"),
                     ("sid", dev.serial), ("location", str(dev.vendor_index))], 1)
        b.add("all_smi_rebellions_pstate_info", g, "Current performance state",
              npu + [("pstate", p.get("pstate", "P14"))], 1)
        b.add("all_smi_rebellions_kmd_info", g, "Rebellions KMD version",
              npu + [("version", p.get("driver_version", ""))], 1)
    elif dev.vendor == "furiosa":
        b.add("all_smi_furiosa_utilization_percent", g, "Furiosa NPU utilization percentage",
              npu, r["utilization"])
        b.add("all_smi_furiosa_memory_used_bytes", g, "Furiosa memory used in bytes", npu,
              r["memory_used"])
        b.add("all_smi_furiosa_memory_total_bytes", g, "Furiosa memory total in bytes", npu,
              r["memory_total"])
        b.add("all_smi_furiosa_status", g, "Device operational status",
              npu + [("status", "ready")], 1)
        b.add("all_smi_furiosa_ready", g, "1 when the device is ready", npu, 1)
    elif dev.vendor == "tenstorrent":
        b.add("all_smi_tenstorrent_asic_temperature_celsius", g, "ASIC temperature in celsius",
              npu, r["temperature"])
        b.add("all_smi_tenstorrent_faults", g, "Fault count reported by the firmware", npu, 0)
        b.add("all_smi_tenstorrent_throttler", g, "Throttler state", npu, 0)
        b.add("all_smi_tenstorrent_heartbeat", g, "ARC firmware heartbeat", npu,
              int(time.time()) % 100000)
        for port in range(2):
            b.add("all_smi_tenstorrent_eth_status_info", g, "Ethernet port status",
                  npu + [("port", str(port)), ("status", "up")], 1)
        b.add("all_smi_tenstorrent_pcie_status_info", g, "PCIe status",
              npu + [("status", "ok")], 1)
        b.add("all_smi_tenstorrent_power_raw_watts", g, "Raw power reading in watts", npu,
              r["power"])
        b.add("all_smi_tenstorrent_tdp_limit_watts", g, "TDP limit in watts", npu,
              p.get("power_limit"))
    elif dev.vendor == "tpu":
        b.add("all_smi_tpu_utilization_percent", g, "TPU utilization percentage", npu,
              r["utilization"])
        b.add("all_smi_tpu_memory_used_bytes", g, "TPU HBM used in bytes", npu,
              r["memory_used"])
        b.add("all_smi_tpu_memory_total_bytes", g, "TPU HBM total in bytes", npu,
              r["memory_total"])
        b.add("all_smi_tpu_accelerator_type_info", g, "TPU accelerator type",
              npu + [("type", p.get("accelerator_type", "unknown"))], 1)


# dcgm-exporter fields: name -> (prometheus type, help, reading function)
def _mib(v):
    return None if v is None else int(v // MIB)


DCGM_FIELDS = {
    "DCGM_FI_DEV_SM_CLOCK": ("gauge", "SM clock frequency (in MHz).",
                             lambda r: r["frequency"]),
    "DCGM_FI_DEV_MEM_CLOCK": ("gauge", "Memory clock frequency (in MHz).",
                              lambda r: r["dev"].props.get("memory_clock")),
    "DCGM_FI_DEV_MEMORY_TEMP": ("gauge", "Memory temperature (in C).",
                                lambda r: r["memory_temperature"]),
    "DCGM_FI_DEV_GPU_TEMP": ("gauge", "GPU temperature (in C).", lambda r: r["temperature"]),
    "DCGM_FI_DEV_POWER_USAGE": ("gauge", "Power draw (in W).", lambda r: r["power"]),
    "DCGM_FI_DEV_POWER_MGMT_LIMIT": ("gauge", "Power management limit (in W).",
                                     lambda r: r["dev"].props.get("power_limit")),
    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": (
        "counter", "Total energy consumption since boot (in mJ).", lambda r: r["energy_mj"]),
    "DCGM_FI_DEV_PCIE_REPLAY_COUNTER": ("counter", "Total number of PCIe retries.",
                                        lambda r: 0),
    "DCGM_FI_DEV_PCIE_LINK_GEN": ("gauge", "PCIe link generation.",
                                  lambda r: r["dev"].props.get("pcie_gen")),
    "DCGM_FI_DEV_PCIE_LINK_WIDTH": ("gauge", "PCIe link width.",
                                    lambda r: r["dev"].props.get("pcie_width")),
    "DCGM_FI_DEV_GPU_UTIL": ("gauge", "GPU utilization (in %).",
                             lambda r: None if r["utilization"] is None
                             else round(r["utilization"])),
    "DCGM_FI_DEV_MEM_COPY_UTIL": ("gauge", "Memory utilization (in %).",
                                  lambda r: int(100 * (r["memory_used"] or 0)
                                                / max(1, r["memory_total"]))),
    "DCGM_FI_DEV_ENC_UTIL": ("gauge", "Encoder utilization (in %).", lambda r: 0),
    "DCGM_FI_DEV_DEC_UTIL": ("gauge", "Decoder utilization (in %).", lambda r: 0),
    "DCGM_FI_DEV_XID_ERRORS": ("gauge", "Value of the last XID error encountered.",
                               lambda r: r["xid"]),
    "DCGM_FI_DEV_FB_FREE": ("gauge", "Framebuffer memory free (in MiB).",
                            lambda r: _mib(r["memory_total"] - (r["memory_used"] or 0))),
    "DCGM_FI_DEV_FB_USED": ("gauge", "Framebuffer memory used (in MiB).",
                            lambda r: _mib(r["memory_used"] or 0)),
    "DCGM_FI_DEV_FB_TOTAL": ("gauge", "Framebuffer memory total (in MiB).",
                             lambda r: _mib(r["memory_total"])),
    "DCGM_FI_DEV_FB_RESERVED": ("gauge", "Framebuffer memory reserved (in MiB).",
                                lambda r: 616),
    "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL": ("counter", "Total number of single-bit volatile ECC errors.",
                                      lambda r: 0),
    "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL": ("counter", "Total number of double-bit volatile ECC errors.",
                                      lambda r: r["ecc_dbe"]),
    "DCGM_FI_DEV_ECC_SBE_AGG_TOTAL": ("counter",
                                      "Total number of single-bit persistent ECC errors.",
                                      lambda r: 0),
    "DCGM_FI_DEV_ECC_DBE_AGG_TOTAL": ("counter",
                                      "Total number of double-bit persistent ECC errors.",
                                      lambda r: r["ecc_dbe"]),
    "DCGM_FI_DEV_RETIRED_SBE": ("counter", "Total number of retired pages due to single-bit errors.",
                                lambda r: 0),
    "DCGM_FI_DEV_RETIRED_DBE": ("counter", "Total number of retired pages due to double-bit errors.",
                                lambda r: 0),
    "DCGM_FI_DEV_RETIRED_PENDING": ("counter", "Total number of pages pending retirement.",
                                    lambda r: 0),
    "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS": (
        "counter", "Number of remapped rows for uncorrectable errors", lambda r: 0),
    "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS": (
        "counter", "Number of remapped rows for correctable errors", lambda r: 0),
    "DCGM_FI_DEV_ROW_REMAP_FAILURE": ("gauge", "Whether remapping of rows has failed",
                                      lambda r: 0),
    "DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL": (
        "counter", "Total number of NVLink flow-control CRC errors.", lambda r: 0),
    "DCGM_FI_DEV_NVLINK_CRC_DATA_ERROR_COUNT_TOTAL": (
        "counter", "Total number of NVLink data CRC errors.", lambda r: 0),
    "DCGM_FI_DEV_NVLINK_REPLAY_ERROR_COUNT_TOTAL": (
        "counter", "Total number of NVLink retries.", lambda r: 0),
    "DCGM_FI_DEV_NVLINK_RECOVERY_ERROR_COUNT_TOTAL": (
        "counter", "Total number of NVLink recovery errors.", lambda r: 0),
    "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL": (
        "counter", "Total number of NVLink bandwidth counters for all lanes.", lambda r: 0),
    "DCGM_FI_DEV_THERMAL_VIOLATION": ("counter", "Throttling duration due to thermal constraints (in us).",
                                      lambda r: 0),
    "DCGM_FI_DEV_POWER_VIOLATION": ("counter", "Throttling duration due to power constraints (in us).",
                                    lambda r: 0),
    "DCGM_FI_DEV_SYNC_BOOST_VIOLATION": (
        "counter", "Throttling duration due to sync-boost constraints (in us).", lambda r: 0),
    "DCGM_FI_DEV_BOARD_LIMIT_VIOLATION": (
        "counter", "Throttling duration due to board limit constraints (in us).", lambda r: 0),
    "DCGM_FI_DEV_LOW_UTIL_VIOLATION": (
        "counter", "Throttling duration due to low utilization (in us).", lambda r: 0),
    "DCGM_FI_DEV_RELIABILITY_VIOLATION": (
        "counter", "Throttling duration due to reliability constraints (in us).", lambda r: 0),
    "DCGM_FI_DEV_CLOCKS_EVENT_REASONS": ("gauge", "Current clock event reasons (bitmask).",
                                         lambda r: 1 if not r["utilization"] else 0),
    "DCGM_FI_DEV_SLOWDOWN_TEMP": ("gauge", "Slowdown temperature threshold (in C).",
                                  lambda r: r["dev"].props.get("temp_slowdown")),
    "DCGM_FI_DEV_SHUTDOWN_TEMP": ("gauge", "Shutdown temperature threshold (in C).",
                                  lambda r: r["dev"].props.get("temp_shutdown")),
    "DCGM_FI_PROF_GR_ENGINE_ACTIVE": ("gauge", "Ratio of time the graphics engine is active.",
                                      lambda r: round((r["utilization"] or 0) / 100.0, 6)),
    "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": (
        "gauge", "Ratio of cycles the tensor (HMMA) pipe is active.",
        lambda r: round((r["utilization"] or 0) * 0.6 / 100.0, 6)),
    "DCGM_FI_PROF_DRAM_ACTIVE": ("gauge", "Ratio of cycles the device memory interface is active.",
                                 lambda r: round((r["utilization"] or 0) * 0.4 / 100.0, 6)),
    "DCGM_FI_PROF_PCIE_TX_BYTES": ("counter", "The rate of data transmitted over the PCIe bus.",
                                   lambda r: 0),
    "DCGM_FI_PROF_PCIE_RX_BYTES": ("counter", "The rate of data received over the PCIe bus.",
                                   lambda r: 0),
}

# etc/default-counters.csv of dcgm-exporter (fields the emulator knows)
DCGM_DEFAULT_FIELDS = (
    "DCGM_FI_DEV_SM_CLOCK", "DCGM_FI_DEV_MEM_CLOCK", "DCGM_FI_DEV_MEMORY_TEMP",
    "DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
    "DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_MEM_COPY_UTIL",
    "DCGM_FI_DEV_ENC_UTIL", "DCGM_FI_DEV_DEC_UTIL", "DCGM_FI_DEV_XID_ERRORS",
    "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL",
    "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS",
    "DCGM_FI_DEV_ROW_REMAP_FAILURE", "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
    "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "DCGM_FI_PROF_DRAM_ACTIVE",
    "DCGM_FI_PROF_PCIE_TX_BYTES", "DCGM_FI_PROF_PCIE_RX_BYTES",
)


def load_counters(path):
    """Parse a dcgm-exporter counters CSV: `FIELD, prometheus-type, help` per line."""
    if not path:
        return [(n, DCGM_FIELDS[n][0], DCGM_FIELDS[n][1]) for n in DCGM_DEFAULT_FIELDS]
    fields = []
    with open(path, "r", encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = [x.strip() for x in line.split(",", 2)]
            if len(parts) < 2:
                raise ValueError(f"{path}:{lineno}: expected 'FIELD, type, help'")
            name, mtype = parts[0], parts[1].lower()
            help_text = parts[2] if len(parts) > 2 else name
            if mtype == "label":
                continue  # DCGM_FI_DRIVER_VERSION etc.: always present as labels here
            if mtype not in ("gauge", "counter"):
                raise ValueError(f"{path}:{lineno}: unknown metric type {mtype!r}")
            if name not in DCGM_FIELDS:
                log(f"counters {path}:{lineno}: field {name} is not emulated; skipped")
                continue
            fields.append((name, mtype, help_text))
    return fields


def render_dcgm(readings, hostname, fields):
    b = Builder()
    nvidia = [r for r in readings if r["dev"].vendor == "nvidia"]
    for name, mtype, help_text in fields:
        getter = DCGM_FIELDS[name][2]
        for r in nvidia:
            dev = r["dev"]
            labels = [("gpu", str(dev.vendor_index)), ("UUID", dev.uuid),
                      ("pci_bus_id", dev.pci_bus_id), ("device", f"nvidia{dev.vendor_index}"),
                      ("modelName", dev.model), ("Hostname", hostname),
                      ("DCGM_FI_DRIVER_VERSION", dev.props.get("driver_version", ""))]
            b.add(name, mtype, help_text, labels, getter(r))
    return b.render() if b.order else ""


# ----------------------------------------------------------------------------- HTTP


class Handler(BaseHTTPRequestHandler):
    server_version = "accel-exporter-emulator/" + EMULATOR_VERSION
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet unless asked
        if self.server.emulator_args.verbose:
            log(f"{self.address_string()} {fmt % args}")

    def _send(self, code, body, ctype="text/plain; charset=utf-8"):
        data = body.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _json(self, code, obj):
        self._send(code, json.dumps(obj, indent=2, sort_keys=True) + "\n", "application/json")

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        collector = self.server.collector
        if path == "/metrics":
            self._send(200, collector.exposition(), "text/plain; version=0.0.4; charset=utf-8")
        elif path in ("/-/ready", "/health"):
            if collector.ready():
                self._send(200, "OK\n")
            else:
                self._send(503, "not ready: first collection pending\n")
        elif path == "/-/fault":
            self._json(200, self.server.faults.describe())
        elif path == "/":
            self._send(200, "<html><body><h1>accel exporter EMULATOR (test double)</h1>"
                       "<a href=\"/metrics\">/metrics</a></body></html>\n",
                       "text/html; charset=utf-8")
        else:
            self._send(404, "not found\n")

    def do_POST(self):
        if self.path.split("?", 1)[0] != "/-/fault":
            return self._send(404, "not found\n")
        try:
            length = int(self.headers.get("Content-Length") or 0)
            doc = json.loads(self.rfile.read(length).decode("utf-8") or "null")
            faults = parse_fault_document(doc)
        except (ValueError, TypeError, UnicodeDecodeError) as exc:
            return self._json(400, {"error": str(exc)})
        self.server.faults.add(faults)
        self.server.collector.trigger_and_wait()
        self._json(200, self.server.faults.describe())

    def do_DELETE(self):
        if self.path.split("?", 1)[0] != "/-/fault":
            return self._send(404, "not found\n")
        self.server.faults.clear()
        self.server.collector.trigger_and_wait()
        self._json(200, self.server.faults.describe())


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler):
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        super().__init__(addr, handler)


# ----------------------------------------------------------------------------- CLI


def _env_float(name, default):
    value = os.environ.get(name)
    try:
        return float(value) if value not in (None, "") else default
    except ValueError:
        return default


def build_parser(prog, default_mode):
    parser = argparse.ArgumentParser(
        prog=prog,
        description="TEST DOUBLE emulating the all-smi API exporter (default) or NVIDIA "
                    "dcgm-exporter. Reads no hardware.")
    parser.add_argument("command", nargs="?", choices=["api"],
                        help="all-smi subcommand (only `api` is emulated)")
    parser.add_argument("--mode", choices=["allsmi", "dcgm"], default=default_mode)
    parser.add_argument("--version", action="store_true", help="print version and exit")
    # all-smi api
    parser.add_argument("--port", type=int, default=None,
                        help="all-smi: TCP port (default 9090; env ALL_SMI_API_PORT)")
    parser.add_argument("--interval", type=float, default=None,
                        help="all-smi: collection interval in seconds (default 3)")
    parser.add_argument("--processes", action="store_true",
                        help="all-smi: accepted; the emulator has no processes to report")
    parser.add_argument("--socket", default=None, help="all-smi: accepted, not emulated")
    # dcgm-exporter
    parser.add_argument("-f", "--collectors", default=None, help="dcgm: counters CSV")
    parser.add_argument("-a", "--address", default=None, help="dcgm: listen address ([host]:port)")
    parser.add_argument("-c", "--collect-interval", type=int, default=None,
                        help="dcgm: collection interval in ms (default 30000)")
    parser.add_argument("-r", "--remote-hostengine-info", default=None,
                        help="dcgm: accepted and ignored (there is no nv-hostengine)")
    parser.add_argument("--web-config-file", default=None,
                        help="dcgm: accepted; TLS/basic auth are NOT emulated (a warning is logged)")
    # emulator
    parser.add_argument("--bind", default=None,
                        help="listen address (default 0.0.0.0; real all-smi has no such flag)")
    parser.add_argument("--devices", default=None,
                        help="device spec: vendor[:count[:model]],... e.g. nvidia:8,gaudi:2")
    parser.add_argument("--config", default=None,
                        help="JSON or INI device config (env ACCEL_EMULATOR_CONFIG; default "
                             "/etc/accel-emulator/config.json or .ini when present)")
    parser.add_argument("--control-file", default=None,
                        help="JSON fault control file, re-read every interval (env "
                             f"ACCEL_EMULATOR_CONTROL; default {DEFAULT_CONTROL_PATH})")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed for deterministic value jitter (env ACCEL_EMULATOR_SEED)")
    parser.add_argument("--hostname", default=None, help="value of the instance/Hostname labels")
    parser.add_argument("--ready-delay", type=float, default=0.0,
                        help="seconds before the first collection (/-/ready answers 503 until then)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    return parser


def resolve(args, prog):
    """Fill defaults the way each real exporter does; returns (host, port)."""
    config = {}
    config_path = args.config or os.environ.get("ACCEL_EMULATOR_CONFIG")
    if not config_path:
        config_path = next((p for p in DEFAULT_CONFIG_PATHS if os.path.isfile(p)), None)
    if config_path:
        config = load_config_file(config_path)
    args.config_data = config
    if args.seed is None:
        seed = os.environ.get("ACCEL_EMULATOR_SEED", config.get("seed"))
        args.seed = int(seed) if seed not in (None, "") else None
    if args.hostname is None:
        args.hostname = config.get("hostname") or socket.gethostname()
    if args.control_file is None:
        args.control_file = (os.environ.get("ACCEL_EMULATOR_CONTROL")
                             or config.get("control_file") or DEFAULT_CONTROL_PATH)
    if args.devices:
        args.device_groups = parse_devices_spec(args.devices)
    elif config.get("devices"):
        args.device_groups = config["devices"]
    else:
        args.device_groups = [{"vendor": "nvidia", "count": 1}]
    host = args.bind or config.get("bind") or "0.0.0.0"
    if args.mode == "dcgm":
        port = 9400
        if args.address:
            addr_host, _unused, addr_port = args.address.rpartition(":")
            port = int(addr_port)
            if addr_host and not args.bind:
                host = addr_host.strip("[]")
        elif args.port is not None:
            port = args.port
        if args.collect_interval is not None:
            args.interval = args.collect_interval / 1000.0
        elif args.interval is None:
            args.interval = 30.0
    else:
        port = args.port if args.port is not None else int(
            _env_float("ALL_SMI_API_PORT", 9090))
        if args.interval is None:
            args.interval = _env_float("ALL_SMI_API_INTERVAL_SECS", 3.0)
    args.interval = max(0.05, float(args.interval))
    return host, port


def main(argv=None):
    prog = os.path.basename(sys.argv[0]) or "accel_exporter_emulator"
    default_mode = "dcgm" if prog.startswith("dcgm-exporter") else "allsmi"
    parser = build_parser(prog, default_mode)
    args = parser.parse_args(argv)
    if args.version:
        if args.mode == "dcgm":
            print(f"dcgm-exporter version {DCGM_EXPORTER_VERSION} (accel-exporter-emulator, TEST DOUBLE)")
        else:
            print(f"all-smi {EMULATOR_VERSION} (accel-exporter-emulator, TEST DOUBLE)")
        return 0
    try:
        host, port = resolve(args, prog)
        devices = build_devices(args.device_groups, args.hostname)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log(f"configuration error: {exc}")
        return 2
    if args.mode == "allsmi" and port == 0:
        log("--port 0 disables TCP in all-smi; Unix sockets are not emulated")
        return 2
    if args.web_config_file:
        log(f"WARNING: --web-config-file {args.web_config_file} ignored: TLS/basic auth are not emulated")
    if args.processes:
        log("--processes accepted: the emulator has no processes, no per-process series")
    faults = FaultState(args.control_file)
    try:
        collector = Collector(args, devices, faults, args.hostname)
    except (OSError, ValueError) as exc:
        log(f"configuration error: {exc}")
        return 2
    try:
        server = Server((host, port), Handler)
    except OSError as exc:
        log(f"cannot listen on {host}:{port}: {exc}")
        return 1
    server.collector, server.faults, server.emulator_args = collector, faults, args
    stop = threading.Event()

    def on_signal(signum, _frame):
        log(f"signal {signum}: shutting down")
        stop.set()
        collector.kick.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    worker = threading.Thread(target=collector.run, args=(stop,), daemon=True)
    worker.start()
    log(f"TEST DOUBLE serving {args.mode}-style metrics for {len(devices)} device(s) "
        f"on {host}:{port} every {args.interval:g}s")
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        stop.set()
        collector.kick.set()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
