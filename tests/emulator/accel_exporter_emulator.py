#!/usr/bin/env python3
"""accel_exporter_emulator: a TEST DOUBLE for all-smi and NVIDIA dcgm-exporter.

THIS IS NOT A REAL EXPORTER. It reads no hardware. It exists because the machines this
collection is built and tested on have no accelerator, and the node roles, alert rules and
dashboards still need an endpoint that speaks the real exporters' metric names and labels.
It is packaged by tests/tools/build_artifacts.sh as the `all-smi` and `dcgm-exporter` release
archives so the roles install it through their real offline path. Never ship it to a fleet.

Where the names come from: the RELEASED exporters' source, read at the tags the roles install
(all-smi v0.25.0, dcgm-exporter 4.2.3-4.1.3). tests/emulator/released_surface.py lists every
name and label set with its file:line, and tests/unit/emulator/test_released_surface.py checks
this emulator against it. In short:

* all-smi v0.25.0 (lablup/all-smi), src/api/metrics/*.rs, rendered in render.rs's order:
  gpu.rs (every device: all_smi_gpu_* core series, all_smi_ane_utilization, all_smi_gpu_info
  with the vendor reader's detail keys as labels, NVIDIA clock/power-limit/P-state/threshold
  series), npu/*.rs (Gaudi, Furiosa firmware, TPU), cpu.rs, memory.rs, disk.rs, chassis.rs,
  mig.rs (`host` label), hardware.rs (NUMA, NVLink links), energy.rs (`host`, `scope`).
  Before the first collection /metrics is 200 with an EMPTY body. A failed reading is 0, not
  omitted. There is no all_smi_up, all_smi_build_info, /-/ready, /health, fan-speed or
  pcie_*_current series, and the Rebellions/Furiosa-status/Tenstorrent vendor series never
  appear (their exporters read detail keys the readers do not write).
* dcgm-exporter 4.2.3-4.1.3: DCGM_FI_* fields of the counters file (default: upstream's
  etc/default-counters.csv); labels gpu, UUID, pci_bus_id, device, modelName, Hostname, then
  label counters (DCGM_FI_DRIVER_VERSION); DCGM_FI_DEV_XID_ERRORS is the last XID (absent until
  the first, sticky, err_code/err_msg); DCGM_EXP_XID_ERRORS_COUNT{window_size_in_ms,xid}.
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
# Levels: hold while the fault is set. Events: happen once when posted.
FAULT_TYPES = ("temperature", "vanish", "xid", "ecc_dbe", "utilization", "memory_used_percent",
               "reading_fail", "row_remap_pending", "nvlink_down", "heartbeat_stall",
               "npu_status", "restart", "stop")
EVENT_TYPES = ("xid", "restart", "stop")
READINGS = ("utilization", "temperature", "power", "frequency", "memory")
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
        out["count"] = int(fault.get("count", 1))
        if not 0 <= out["code"] <= 1000 or not 1 <= out["count"] <= 1000:
            raise ValueError("xid 'code' must be within 0..1000 and 'count' within 1..1000")
    elif ftype in ("restart", "stop"):
        out["seconds"] = float(fault.get("seconds", 0 if ftype == "restart" else 30))
        if not 0 <= out["seconds"] <= 3600:
            raise ValueError("'seconds' must be within 0..3600")
    elif ftype == "reading_fail":
        out["reading"] = str(_require(fault, "reading"))
        if out["reading"] not in READINGS:
            raise ValueError("'reading' must be one of " + ", ".join(READINGS))
    elif ftype == "nvlink_down":
        out["links"] = int(fault.get("links", 1))
    elif ftype == "npu_status":
        out["status"] = str(_require(fault, "status"))
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
            self.file_faults = [f for f in faults if f["type"] not in EVENT_TYPES]
            self.control_error, self._file_sig = None, sig
        return faults

    def add(self, faults):
        with self.lock:
            self.http_faults.extend(f for f in faults if f["type"] not in EVENT_TYPES)

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
    """Produces one reading per device per interval; renders the exposition.

    Before the first collection `text` is None and /metrics answers 200 with an EMPTY body,
    as all-smi v0.25.0 does (its AppState starts empty and the collection loop fills it).
    """

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
        self.hold_empty_until = 0.0  # after an emulated restart: empty body until then
        self.energy_j = {}
        self.energy_mj_dcgm = {d.index: 0 for d in devices}
        self.chassis_energy_j = 0.0
        self.last_tick = None
        self.cpu_prev = None
        self.dcgm_fields = None
        if args.mode == "dcgm":
            self.dcgm_fields = load_counters(args.collectors)
        # dcgm-exporter XID state: the last XID per GPU (sticky until the exporter restarts)
        # and the XID events DCGM keeps for DCGM_EXP_XID_ERRORS_COUNT's window.
        self.xid_last = {}
        self.xid_events = {}
        self.kick = threading.Event()

    # events (not levels): XIDs and exporter restarts
    def record_xids(self, faults):
        now = time.monotonic()
        with self.lock:
            for fault in faults:
                if fault["type"] != "xid":
                    continue
                for dev in self.devices:
                    if dev.vendor == "nvidia" and _applies(fault, dev):
                        self.xid_last[dev.index] = fault["code"]
                        self.xid_events.setdefault(dev.index, []).extend(
                            [(now, fault["code"])] * fault.get("count", 1))

    def restart(self, seconds):
        """Emulate an exporter restart: state is lost, /metrics is empty for `seconds`."""
        with self.lock:
            self.text = None
            self.hold_empty_until = time.monotonic() + seconds
            self.xid_last, self.xid_events = {}, {}
            self.energy_mj_dcgm = {d.index: 0 for d in self.devices}
            self.last_tick = None
        self.kick.set()

    # one collection
    def collect(self):
        with self.lock:
            self.started += 1
            seq = self.started
            hold = self.hold_empty_until - time.monotonic()
        if hold > 0:
            return
        new_file_faults = self.faults.reload_control_file() or []
        self.record_xids(new_file_faults)
        for fault in new_file_faults:
            if fault["type"] in ("restart", "stop"):
                log(f"control file: {fault['type']} is an HTTP-only event; ignored")
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
            text = render_dcgm(readings, self.hostname, self.dcgm_fields, self.xid_state(),
                               self.args.xid_count_window_size)
        else:
            chassis_power = round(sum(r["power"] for r in readings), 2) if readings else None
            if chassis_power is not None:
                self.chassis_energy_j += chassis_power * dt
            text = render_allsmi(readings, self.hostname, self.read_host(readings),
                                 self.chassis_energy_j)
        with self.lock:
            self.text = text
            self.completed = seq

    def xid_state(self):
        horizon = time.monotonic() - self.args.xid_count_window_size / 1000.0
        with self.lock:
            for index, events in self.xid_events.items():
                self.xid_events[index] = [e for e in events if e[0] >= horizon]
            return dict(self.xid_last), {k: list(v) for k, v in self.xid_events.items()}

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
        r["utilization"] = 0.0 if util is None else round(util, 1)
        r["memory_total"] = p["memory_total_bytes"]
        r["memory_used"] = mem_used or 0
        if temp is not None and not forced_temp:
            temp = temp + rng.choice((-1, 0, 0, 1)) + (util or 0) * 0.35
        r["temperature"] = 0 if temp is None else int(round(temp))
        power = p.get("power")
        if power is not None:
            limit = p.get("power_limit") or power * 4
            power = power + (limit - power) * (util or 0) / 100.0
            power = round(power * rng.uniform(0.985, 1.015), 2)
        r["power"] = power or 0.0
        r["frequency"] = p.get("frequency") or 0
        # A reading the vendor library fails to give is exported as 0 (NVIDIA reader
        # `unwrap_or(0)` in all-smi v0.25.0 src/device/readers/nvidia.rs:320-346).
        for f in faults:
            if f["type"] == "reading_fail":
                if f["reading"] == "memory":
                    r["memory_used"], r["memory_total"] = 0, 0
                else:
                    r[f["reading"]] = 0
        if r["power"]:
            self.energy_j[dev.index] = self.energy_j.get(dev.index, 0.0) + r["power"] * dt
            self.energy_mj_dcgm[dev.index] = int(self.energy_j[dev.index] * 1000)
        r["energy_j"] = self.energy_j.get(dev.index, 0.0)
        r["energy_mj"] = self.energy_mj_dcgm.get(dev.index, 0)
        r["ecc_dbe"] = sum(f["count"] for f in faults if f["type"] == "ecc_dbe")
        r["row_remap_pending"] = 1 if any(f["type"] == "row_remap_pending" for f in faults) else 0
        r["memory_temperature"] = p.get("memory_temperature")
        if r["memory_temperature"] is not None:
            r["memory_temperature"] = r["temperature"] + 2
        links = int(p.get("nvlink_links") or 0)
        for f in faults:
            if f["type"] == "nvlink_down":
                links = max(0, links - f["links"])
        r["nvlink_links"] = links
        # Accepted, but all-smi v0.25.0 exports no Tenstorrent heartbeat (see
        # render_npu_vendor), so a stalled heartbeat changes nothing in the exposition.
        r["heartbeat_stalled"] = any(f["type"] == "heartbeat_stall" for f in faults)
        for f in faults:
            if f["type"] == "npu_status":
                r["status"] = f["status"]
        return r

    def read_host(self, readings):
        host = {"cpu_utilization": 0.0, "memory": None, "disk_total": None,
                "disk_available": None, "cpu_model": "emulated", "cores": os.cpu_count() or 1,
                "vendor": ""}
        try:
            with open("/proc/stat", "r") as handle:
                fields = [int(x) for x in handle.readline().split()[1:]]
            idle, total = fields[3] + (fields[4] if len(fields) > 4 else 0), sum(fields)
            if self.cpu_prev is not None and total > self.cpu_prev[1]:
                busy = 1.0 - (idle - self.cpu_prev[0]) / float(total - self.cpu_prev[1])
                host["cpu_utilization"] = round(100.0 * busy, 1)
            self.cpu_prev = (idle, total)
        except (OSError, ValueError, IndexError):
            pass
        try:
            with open("/proc/cpuinfo", "r") as handle:
                for line in handle:
                    key, _unused, value = line.partition(":")
                    if key.strip() == "model name":
                        host["cpu_model"] = value.strip()
                    elif key.strip() == "vendor_id":
                        host["vendor"] = value.strip()
        except OSError:
            pass
        try:
            meminfo = {}
            with open("/proc/meminfo", "r") as handle:
                for line in handle:
                    key, _unused, rest = line.partition(":")
                    meminfo[key] = int(rest.split()[0]) * 1024
            host["memory"] = meminfo
        except (OSError, ValueError, KeyError, IndexError):
            pass
        try:
            st = os.statvfs("/")
            host["disk_total"] = st.f_blocks * st.f_frsize
            host["disk_available"] = st.f_bavail * st.f_frsize
        except OSError:
            pass
        return host

    def run(self, stop):
        if self.args.startup_delay > 0 and stop.wait(self.args.startup_delay):
            return
        while not stop.is_set():
            try:
                self.collect()
            except Exception as exc:  # noqa: BLE001 - keep serving the previous exposition
                log(f"collection failed: {exc!r}")
            with self.lock:
                hold = self.hold_empty_until - time.monotonic()
            self.kick.wait(max(hold, 0.0) if hold > 0 else self.args.interval)
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
            return self.text or ""


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


class Lines:
    """all-smi's MetricBuilder (src/api/metrics/mod.rs:36-108): HELP/TYPE are written each
    time an exporter writes a sample, labels are joined with ", ", values use Rust's
    Display (50.0 -> 50)."""

    def __init__(self):
        self.out = []

    def metric(self, name, help_text, labels, value, mtype="gauge", header=True):
        if header:
            self.out.append(f"# HELP {name} {help_text}")
            self.out.append(f"# TYPE {name} {mtype}")
        lab = ", ".join(f'{k}="{_esc(v)}"' for k, v in labels)
        text = value if isinstance(value, str) else _fmt(value)
        self.out.append(f"{name}{{{lab}}} {text}" if labels else f"{name} {text}")

    def header(self, name, help_text, mtype="gauge"):
        self.out.append(f"# HELP {name} {help_text}")
        self.out.append(f"# TYPE {name} {mtype}")

    def render(self):
        return "\n".join(self.out) + "\n" if self.out else ""


# Labels all-smi v0.25.0 puts on all_smi_gpu_info from each vendor reader's `detail` map,
# names passed through sanitize_label_name (src/parsing/common.rs:90). Values are strings.
def gpu_info_details(dev, r):
    p = dev.props
    if dev.vendor == "nvidia":  # src/device/readers/nvidia.rs:649-746 create_device_detail
        detail = {
            "driver_version": p.get("driver_version", ""), "cuda_version": p.get("cuda_version", ""),
            "lib_name": "CUDA", "lib_version": p.get("cuda_version", ""), "brand": "Nvidia",
            "architecture": "Hopper", "pcie_generation": str(p.get("pcie_gen", 5)),
            "pcie_width": "x%s" % p.get("pcie_width", 16), "pcie_gen_max": str(p.get("pcie_gen", 5)),
            "pcie_width_max": str(p.get("pcie_width", 16)), "compute_mode": "Default",
            "performance_state": "Zero", "power_limit_current": "%.2f" % p.get("power_limit", 0),
            "power_limit_default": "%.2f" % p.get("power_limit", 0),
            "power_limit_min": "200.00", "power_limit_max": "%.2f" % p.get("power_limit_max", 0),
            "clock_graphics_max": str(p.get("frequency", 0)),
            "clock_memory_max": str(p.get("memory_clock", 0)), "ecc_mode_current": "Enabled",
            "vbios_version": p.get("vbios_version", ""),
        }
        if p.get("mig_capable", True):
            detail["mig_mode_current"] = str(p.get("mig_mode", 0))
        return detail
    if dev.vendor == "amd":  # src/device/readers/amd.rs:174-259, 412-421
        return {"device_name": dev.model, "pci_bus": dev.pci_bus_id, "rocm_version": "6.4.1",
                "lib_name": "ROCm", "lib_version": "6.4.1", "driver_version": p.get("driver_version", ""),
                "power_cap": "%d W" % (p.get("power_limit") or 0)}
    if dev.vendor == "gaudi":  # src/device/readers/gaudi.rs:225-253
        return {"device_index": str(dev.vendor_index), "internal_name": dev.model,
                "max_power": "%d W" % (p.get("power_limit") or 0),
                "total_memory": "%d MiB" % (r["memory_total"] // MIB), "lib_name": "Habana",
                "lib_version": p.get("driver_version", ""), "current_power": "%s W" % r["power"],
                "used_memory": "%d MiB" % (r["memory_used"] // MIB),
                "free_memory": "%d MiB" % ((r["memory_total"] - r["memory_used"]) // MIB),
                "power_limit_max": str(p.get("power_limit") or 0)}
    if dev.vendor == "rebellions":  # src/device/readers/rebellions.rs:370-392
        return {"serial_id": dev.serial, "firmware_version": "1.2.3", "device_path": "/dev/rbln%d" % dev.vendor_index,
                "board_info": dev.model, "pci_bus_id": dev.pci_bus_id, "pci_link_speed": "16.0 GT/s",
                "pci_numa_node": "0", "kmd_version": p.get("driver_version", ""),
                "status": r.get("status", "normal"), "performance_state": str(p.get("pstate", "P14")),
                "lib_name": "RBLN-SDK", "lib_version": p.get("driver_version", "")}
    if dev.vendor == "furiosa":  # src/device/readers/furiosa.rs:619-641 (2025 API path)
        return {"serial_number": dev.serial, "firmware_version": "2025.2.0", "architecture": "Rngd",
                "core_count": "8", "bdf": dev.pci_bus_id, "numa_node": "0", "governor": "OnDemand",
                "frequency": "%dMHz" % (p.get("frequency") or 1000), "lib_name": "PERT",
                "lib_version": p.get("driver_version", "")}
    if dev.vendor == "tenstorrent":  # src/device/readers/tenstorrent.rs:326-344, 461-501
        return {"board_type": "n300", "board_id": dev.serial, "arc_fw_version": "2.13.0",
                "eth_fw_version": "6.10.0", "fw_date": "2024-08-01",
                "pcie_address": dev.pci_bus_id, "pcie_vendor_id": "0x1e52",
                "pcie_device_id": "0x401e", "vdd_voltage": "0.800V", "current": "75.00A",
                "asic_temperature": "%.1f°C" % r["temperature"],
                "vr_temperature": "%.1f°C" % (r["temperature"] - 5),
                "ai_clock": "%dMHz" % (p.get("frequency") or 1000), "arc_clock": "540MHz",
                "axi_clock": "960MHz", "lib_name": "Luwen", "lib_version": "2.13.0"}
    if dev.vendor == "tpu":  # src/device/readers/google_tpu.rs:313-314
        return {"chip_version": "v5e", "accelerator_type": p.get("accelerator_type", "unknown")}
    return {}


def render_allsmi(readings, hostname, host, chassis_energy_j):
    """The /metrics body of all-smi v0.25.0 (src/api/metrics/render.rs:125-206 order:
    gpu -> npu -> cpu -> memory -> disk -> chassis -> mig -> hardware -> energy)."""
    b = Lines()
    rows = []  # (gpu_index, reading): the position in the merged device list
    for pos, r in enumerate(readings):
        rows.append((str(pos), r))
    for idx, r in rows:  # src/api/metrics/gpu.rs:435-449
        dev, p = r["dev"], r["dev"].props
        base = [("gpu", dev.model), ("instance", hostname), ("gpu_uuid", dev.uuid),
                ("gpu_index", idx)]
        b.metric("all_smi_gpu_utilization", "GPU utilization percentage", base, r["utilization"])
        b.metric("all_smi_gpu_memory_used_bytes", "GPU memory used in bytes", base, r["memory_used"])
        b.metric("all_smi_gpu_memory_total_bytes", "GPU memory total in bytes", base,
                 r["memory_total"])
        b.metric("all_smi_gpu_temperature_celsius", "GPU temperature in celsius", base,
                 r["temperature"])
        b.metric("all_smi_gpu_power_consumption_watts", "GPU power consumption in watts", base,
                 r["power"])
        b.metric("all_smi_gpu_frequency_mhz", "GPU frequency in MHz", base, r["frequency"])
        b.metric("all_smi_ane_utilization", "ANE utilization in mW", base, 0)
        detail = gpu_info_details(dev, r)
        b.metric("all_smi_gpu_info", "GPU/NPU device information",
                 base + [("type", dev.type)] + sorted(detail.items()), 1)
        # export_cuda_metrics: driven by detail keys, so Gaudi's power_limit_max shows too
        if "clock_graphics_max" in detail:
            b.metric("all_smi_gpu_clock_graphics_max_mhz", "Maximum graphics clock in MHz", base,
                     float(detail["clock_graphics_max"]))
        if "clock_memory_max" in detail:
            b.metric("all_smi_gpu_clock_memory_max_mhz", "Maximum memory clock in MHz", base,
                     float(detail["clock_memory_max"]))
        if "power_limit_current" in detail:
            b.metric("all_smi_gpu_power_limit_current_watts", "Current power limit in watts", base,
                     float(detail["power_limit_current"]))
        if "power_limit_max" in detail:
            b.metric("all_smi_gpu_power_limit_max_watts", "Maximum power limit in watts", base,
                     float(detail["power_limit_max"]))
        if dev.vendor == "nvidia" and p.get("pstate") is not None:
            b.metric("all_smi_gpu_performance_state",
                     "GPU performance state (0=P0 fastest, 15=P15 idlest; metric is omitted when "
                     "the device does not report a P-state)", base, p["pstate"])
        if dev.vendor == "nvidia":  # export_thermal_thresholds, gpu.rs:331-407
            for key, name, text in (
                    ("temp_slowdown", "slowdown", "GPU slowdown temperature threshold in Celsius"),
                    ("temp_shutdown", "shutdown", "GPU shutdown temperature threshold in Celsius"),
                    ("temp_max_operating", "max_operating",
                     "GPU maximum operating temperature threshold in Celsius")):
                if p.get(key) is not None:
                    b.metric(f"all_smi_gpu_temperature_threshold_{name}_celsius", text, base, p[key])
    for idx, r in rows:  # src/api/metrics/npu/mod.rs:151-165
        if r["dev"].type in ("NPU", "TPU"):
            render_npu_vendor(b, r, idx, hostname)
    if host is not None:
        render_host(b, host, hostname)
    render_chassis(b, readings, hostname)
    render_mig(b, rows, hostname)
    render_hardware(b, rows, hostname)
    render_energy(b, rows, hostname, chassis_energy_j)
    return b.render()


def render_npu_vendor(b, r, idx, hostname):
    """Vendor series of all-smi v0.25.0 that the released READERS feed. The Rebellions,
    Furiosa status/ready and Tenstorrent exporters read detail keys (`status`, `ready`,
    `heartbeat`, `asic_temperature`, ...) that the readers never write (they write
    `Status`, `ASIC Temperature`, ...), so real hardware gets none of those series."""
    dev, p = r["dev"], r["dev"].props
    npu = [("npu", dev.model), ("instance", hostname), ("npu_uuid", dev.uuid), ("npu_index", idx)]
    if dev.vendor == "gaudi":  # src/api/metrics/npu/gaudi.rs:32-250
        b.metric("all_smi_gaudi_device_info", "Gaudi device information", npu, 1)
        b.metric("all_smi_gaudi_internal_name_info", "Gaudi internal device name",
                 npu + [("internal_name", dev.model)], 1)
        b.metric("all_smi_gaudi_driver_info", "Habana driver version",
                 npu + [("version", p.get("driver_version", ""))], 1)
        b.metric("all_smi_gaudi_aip_utilization_percent", "Gaudi AIP utilization percentage", npu,
                 r["utilization"])
        b.metric("all_smi_gaudi_memory_used_bytes", "Gaudi HBM memory used in bytes", npu,
                 r["memory_used"])
        b.metric("all_smi_gaudi_memory_total_bytes", "Gaudi HBM memory total in bytes", npu,
                 r["memory_total"])
        util = 100.0 * r["memory_used"] / r["memory_total"] if r["memory_total"] else 0.0
        b.metric("all_smi_gaudi_memory_utilization_percent",
                 "Gaudi HBM memory utilization percentage", npu, util)
        b.metric("all_smi_gaudi_power_draw_watts", "Gaudi power draw in watts", npu, r["power"])
        pmax = float(p.get("power_limit") or 0)
        b.metric("all_smi_gaudi_power_max_watts", "Gaudi maximum power in watts", npu, pmax)
        b.metric("all_smi_gaudi_power_utilization_percent", "Gaudi power utilization percentage",
                 npu, 100.0 * r["power"] / pmax if pmax > 0 else 0.0)
        b.metric("all_smi_gaudi_temperature_celsius", "Gaudi temperature in celsius", npu,
                 r["temperature"])
    elif dev.vendor == "furiosa":  # src/api/metrics/npu/furiosa.rs:82-94 (firmware_version)
        b.metric("all_smi_furiosa_firmware_info", "Furiosa firmware version",
                 npu + [("version", "2025.2.0")], 1)
    elif dev.vendor == "tpu":  # src/api/metrics/npu/google_tpu.rs:50-155
        b.metric("all_smi_tpu_utilization_percent", "TPU utilization percentage", npu,
                 r["utilization"])
        b.metric("all_smi_tpu_memory_used_bytes", "TPU HBM memory used in bytes", npu,
                 r["memory_used"])
        b.metric("all_smi_tpu_memory_total_bytes", "TPU HBM memory total in bytes", npu,
                 r["memory_total"])
        util = 100.0 * r["memory_used"] / r["memory_total"] if r["memory_total"] else 0.0
        b.metric("all_smi_tpu_memory_utilization_percent", "TPU HBM memory utilization percentage",
                 npu, util)
        b.metric("all_smi_tpu_chip_version_info", "TPU chip version", npu + [("version", "v5e")], 1)
        b.metric("all_smi_tpu_accelerator_type_info", "TPU accelerator type",
                 npu + [("type", p.get("accelerator_type", "unknown"))], 1)


def render_host(b, host, hostname):
    # src/api/metrics/cpu.rs:25-160
    base = [("cpu_model", host["cpu_model"]), ("instance", hostname), ("hostname", hostname),
            ("index", "0")]
    ptype = {"GenuineIntel": "Intel", "AuthenticAMD": "Amd"}.get(host["vendor"], "Other")
    b.metric("all_smi_cpu_info", "CPU device information",
             base + [("architecture", platform.machine() or "x86_64"), ("platform_type", ptype)], 1)
    b.metric("all_smi_cpu_utilization", "CPU utilization percentage", base, host["cpu_utilization"])
    b.metric("all_smi_cpu_socket_count", "Number of CPU sockets", base, 1)
    b.metric("all_smi_cpu_core_count", "Total number of CPU cores", base, host["cores"])
    b.metric("all_smi_cpu_thread_count", "Total number of CPU threads", base, host["cores"])
    b.metric("all_smi_cpu_frequency_mhz", "CPU frequency in MHz", base, 2400)
    sock = [("cpu_model", host["cpu_model"]), ("instance", hostname), ("hostname", hostname),
            ("cpu_index", "0"), ("socket_id", "0")]
    b.metric("all_smi_cpu_socket_utilization", "Per-socket CPU utilization percentage", sock,
             host["cpu_utilization"])
    b.metric("all_smi_cpu_socket_frequency_mhz", "Per-socket CPU frequency in MHz", sock, 2400)
    mem = host["memory"]
    if mem:  # src/api/metrics/memory.rs:25-160
        mlab = [("instance", hostname), ("hostname", hostname), ("index", "0")]
        total, avail = mem.get("MemTotal", 0), mem.get("MemAvailable", 0)
        b.metric("all_smi_memory_total_bytes", "Total system memory in bytes", mlab, total)
        b.metric("all_smi_memory_used_bytes", "Used system memory in bytes", mlab, total - avail)
        b.metric("all_smi_memory_available_bytes", "Available system memory in bytes", mlab, avail)
        b.metric("all_smi_memory_free_bytes", "Free system memory in bytes", mlab,
                 mem.get("MemFree", 0))
        b.metric("all_smi_memory_utilization", "Memory utilization percentage", mlab,
                 round(100.0 * (total - avail) / total, 2) if total else 0.0)
        if mem.get("SwapTotal", 0) > 0:
            b.metric("all_smi_swap_total_bytes", "Total swap space in bytes", mlab, mem["SwapTotal"])
            b.metric("all_smi_swap_used_bytes", "Used swap space in bytes", mlab,
                     mem["SwapTotal"] - mem.get("SwapFree", 0))
            b.metric("all_smi_swap_free_bytes", "Free swap space in bytes", mlab,
                     mem.get("SwapFree", 0))
        if mem.get("Buffers", 0) > 0:
            b.metric("all_smi_memory_buffers_bytes", "Memory used for buffers in bytes", mlab,
                     mem["Buffers"])
        if mem.get("Cached", 0) > 0:
            b.metric("all_smi_memory_cached_bytes", "Memory used for cache in bytes", mlab,
                     mem["Cached"])
    if host["disk_total"] is not None:  # src/api/metrics/disk.rs:29-55
        dlab = [("instance", hostname), ("mount_point", "/"), ("index", "0")]
        b.metric("all_smi_disk_total_bytes", "Total disk space in bytes", dlab, host["disk_total"])
        b.metric("all_smi_disk_available_bytes", "Available disk space in bytes", dlab,
                 host["disk_available"])


def render_chassis(b, readings, hostname):
    # src/api/metrics/chassis.rs:145-166; the Linux generic reader's total is the GPUs'
    # power (src/device/readers/chassis/generic.rs:60-72, 182)
    if not readings:
        return
    b.header("all_smi_chassis_power_watts",
             "Total chassis power consumption in watts (CPU+GPU+ANE)")
    b.metric("all_smi_chassis_power_watts", "", [("hostname", hostname), ("instance", hostname)],
             round(sum(r["power"] for r in readings), 2), header=False)


def render_mig(b, rows, hostname):
    # src/api/metrics/mig.rs:55-80: one row per MIG-capable NVIDIA GPU, 0 when disabled
    mig = [(idx, r) for idx, r in rows
           if r["dev"].vendor == "nvidia" and r["dev"].props.get("mig_capable", True)]
    if not mig:
        return
    b.header("all_smi_gpu_mig_mode", "NVIDIA MIG mode (1=enabled, 0=disabled) per parent GPU")
    for idx, r in mig:
        dev = r["dev"]
        b.metric("all_smi_gpu_mig_mode", "", [("gpu_index", idx), ("gpu_uuid", dev.uuid),
                                              ("gpu", dev.model), ("instance", hostname),
                                              ("host", hostname)],
                 1 if dev.props.get("mig_mode") else 0, header=False)


def render_hardware(b, rows, hostname):
    # src/api/metrics/hardware.rs: NUMA node id and one series per active NVLink link
    numa = [(idx, r) for idx, r in rows if r["dev"].numa_node is not None]
    if numa:
        b.header("all_smi_gpu_numa_node_id",
                 "NUMA node the GPU is attached to (metric is omitted when the host has no NUMA "
                 "topology or the driver does not report one)")
        for idx, r in numa:
            dev = r["dev"]
            b.metric("all_smi_gpu_numa_node_id", "", [("gpu", dev.model), ("instance", hostname),
                                                      ("gpu_uuid", dev.uuid), ("gpu_index", idx)],
                     dev.numa_node, header=False)
    links = [(idx, r) for idx, r in rows if r.get("nvlink_links")]
    if links:
        b.header("all_smi_nvlink_remote_device_type",
                 "NvLink remote endpoint classification per active link. Value is always 1")
        for idx, r in links:
            dev = r["dev"]
            for link in range(r["nvlink_links"]):
                b.metric("all_smi_nvlink_remote_device_type", "",
                         [("gpu", dev.model), ("instance", hostname), ("gpu_uuid", dev.uuid),
                          ("gpu_index", idx), ("link_index", str(link)),
                          ("remote_type", "switch")], 1, header=False)


def render_energy(b, rows, hostname, chassis_energy_j):
    # src/api/metrics/energy.rs:58-132: labels host, scope (+ gpu_index, gpu_uuid for GPUs)
    samples = [(idx, r) for idx, r in rows if r["energy_j"] > 0]
    if not samples and chassis_energy_j <= 0:
        return
    b.header("all_smi_energy_consumed_joules_total", "Cumulative energy consumption in Joules.",
             "counter")
    for idx, r in samples:
        b.metric("all_smi_energy_consumed_joules_total", "",
                 [("host", hostname), ("scope", "gpu"), ("gpu_index", idx),
                  ("gpu_uuid", r["dev"].uuid)], "%.3f" % r["energy_j"], header=False)
    if chassis_energy_j > 0:
        b.metric("all_smi_energy_consumed_joules_total", "",
                 [("host", hostname), ("scope", "chassis")], "%.3f" % chassis_energy_j,
                 header=False)


# dcgm-exporter 4.2.3-4.1.3 internal/pkg/collector/xid_errors.go:20-164 (xidErrCodeToText);
# codes beyond the table read "Unknown Error" (gpu_collector.go:36, 273-279).
XID_ERR_MSG = (
    'No Error',  # 0
    'Invalid or corrupted push buffer stream',  # 1
    'Invalid or corrupted push buffer stream',  # 2
    'Invalid or corrupted push buffer stream',  # 3
    'Invalid or corrupted push buffer stream',  # 4
    'Unused',  # 5
    'Invalid or corrupted push buffer stream',  # 6
    'Invalid or corrupted push buffer address',  # 7
    'GPU stopped processing',  # 8
    'Driver error programming GPU',  # 9
    'Unused',  # 10
    'Invalid or corrupted push buffer stream',  # 11
    'Driver error handling GPU exception',  # 12
    'Graphics Engine Exception',  # 13
    'Unused',  # 14
    'Unused',  # 15
    'Display engine hung',  # 16
    'Unused',  # 17
    'Bus mastering disabled in PCI Config Space',  # 18
    'Display Engine error',  # 19
    'Invalid or corrupted Mpeg push buffer',  # 20
    'Invalid or corrupted Motion Estimation push buffer',  # 21
    'Invalid or corrupted Video Processor push buffer',  # 22
    'Unused',  # 23
    'GPU semaphore timeout',  # 24
    'Invalid or illegal push buffer stream',  # 25
    'Framebuffer timeout',  # 26
    'Video processor exception',  # 27
    'Video processor exception',  # 28
    'Video processor exception',  # 29
    'GPU semaphore access error',  # 30
    'GPU memory page fault',  # 31
    'Invalid or corrupted push buffer stream',  # 32
    'Internal micro-controller error',  # 33
    'Video processor exception',  # 34
    'Video processor exception',  # 35
    'Video processor exception',  # 36
    'Driver firmware error',  # 37
    'Driver firmware error',  # 38
    'Unused',  # 39
    'Unused',  # 40
    'Unused',  # 41
    'Video processor exception',  # 42
    'GPU stopped processing',  # 43
    'Graphics Engine fault during context switch',  # 44
    'Preemptive cleanup, due to previous errors -- Most likely to see when running multiple cuda',  # 45
    'GPU stopped processing',  # 46
    'Video processor exception',  # 47
    'Double Bit ECC Error',  # 48
    'Unused',  # 49
    'Unused',  # 50
    'Unused',  # 51
    'Unused',  # 52
    'Unused',  # 53
    'Auxiliary power is not connected to the GPU board',  # 54
    'Unused',  # 55
    'Display Engine error',  # 56
    'Error programming video memory interface',  # 57
    'Unstable video memory interface detected',  # 58
    'Internal micro-controller error',  # 59
    'Video processor exception',  # 60
    'Internal micro-controller breakpoint/warning',  # 61
    'Internal micro-controller halt',  # 62
    'ECC page retirement or row remapping recording event',  # 63
    'ECC page retirement or row remapper recording failure',  # 64
    'Video processor exception',  # 65
    'Illegal access by driver',  # 66
    'Illegal access by driver',  # 67
    'NVDEC0 Exception',  # 68
    'Graphics Engine class error',  # 69
    'CE3: Unknown Error',  # 70
    'CE4: Unknown Error',  # 71
    'CE5: Unknown Error',  # 72
    'NVENC2 Error',  # 73
    'NVLINK Error',  # 74
    'CE6: Unknown Error',  # 75
    'CE7: Unknown Error',  # 76
    'CE8: Unknown Error',  # 77
    'vGPU Start Error',  # 78
    'GPU has fallen off the bus',  # 79
    'Corrupted data sent to GPU',  # 80
    'VGA Subsystem Error',  # 81
    'NVJPG0 Error',  # 82
    'NVDEC1 Error',  # 83
    'NVDEC2 Error',  # 84
    'CE9: Unknown Error',  # 85
    'OFA Exception',  # 86
    'Reserved',  # 87
    'NVDEC3 Error',  # 88
    'NVDEC4 Error',  # 89
    'Reserved',  # 90
    'Reserved',  # 91
    'High single-bit ECC error rate',  # 92
    'Non-fatal violation of provisioned InfoROM wear limit',  # 93
    'Contained ECC error',  # 94
    'Uncontained ECC error',  # 95
    'NVDEC5 Error',  # 96
    'NVDEC6 Error',  # 97
    'NVDEC7 Error',  # 98
    'NVJPG1 Error',  # 99
    'NVJPG2 Error',  # 100
    'NVJPG3 Error',  # 101
    'NVJPG4 Error',  # 102
    'NVJPG5 Error',  # 103
    'NVJPG6 Error',  # 104
    'NVJPG7 Error',  # 105
    'SMBPBI Test Message',  # 106
    'SMBPBI Test Message Silent',  # 107
    'Reserved',  # 108
    'Context Switch Timeout  Error',  # 109
    'Security Fault Error',  # 110
    'Display Bundle Error Event',  # 111
    'Display Supervisor Error',  # 112
    'DP Link Training Error',  # 113
    'Display Pipeline Underflow Error',  # 114
    'Display Core Channel Error',  # 115
    'Display Window Channel Error',  # 116
    'Display Cursor Channel Error',  # 117
    'Display Pixel Pipeline Error',  # 118
    'GSP RPC Timeout',  # 119
    'GSP Error',  # 120
    'C2C Link Error',  # 121
    'SPI PMU RPC Read Failure',  # 122
    'SPI PMU RPC Write Failure',  # 123
    'SPI PMU RPC Erase Failure',  # 124
    'Inforom FS Failure',  # 125
    'Reserved',  # 126
    'Reserved',  # 127
    'Reserved',  # 128
    'Reserved',  # 129
    'Reserved',  # 130
    'Reserved',  # 131
    'Reserved',  # 132
    'Reserved',  # 133
    'Reserved',  # 134
    'Reserved',  # 135
    'Reserved',  # 136
    'Reserved',  # 137
    'Reserved',  # 138
    'Reserved',  # 139
    'Unrecovered ECC Error',  # 140
    'Reserved',  # 141
    'Reserved',  # 142
    'GPU Initialization Failure',  # 143
)


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
    # DCGM_FI_DEV_XID_ERRORS and DCGM_EXP_XID_ERRORS_COUNT are rendered by render_dcgm
    # from the XID events (sticky last code, windowed count).
    "DCGM_FI_DEV_XID_ERRORS": ("gauge", "Value of the last XID error encountered.", None),
    "DCGM_EXP_XID_ERRORS_COUNT": (
        "gauge", "Count of XID Errors within user-specified time window (see "
        "xid-count-window-size param).", None),
    "DCGM_FI_DEV_ROW_REMAP_PENDING": ("gauge", "Whether remapping of rows is pending (a GPU "
                                      "reset is needed)", lambda r: r["row_remap_pending"]),
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
        "counter", "Number of remapped rows for uncorrectable errors",
        lambda r: r["row_remap_pending"]),
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
    "DCGM_FI_DEV_THERMAL_VIOLATION": ("counter", "Throttling duration due to thermal constraints (in ns).",
                                      lambda r: 0),
    "DCGM_FI_DEV_POWER_VIOLATION": ("counter", "Throttling duration due to power constraints (in ns).",
                                    lambda r: 0),
    "DCGM_FI_DEV_SYNC_BOOST_VIOLATION": (
        "counter", "Throttling duration due to sync-boost constraints (in ns).", lambda r: 0),
    "DCGM_FI_DEV_BOARD_LIMIT_VIOLATION": (
        "counter", "Throttling duration due to board limit constraints (in ns).", lambda r: 0),
    "DCGM_FI_DEV_LOW_UTIL_VIOLATION": (
        "counter", "Throttling duration due to low utilization (in ns).", lambda r: 0),
    "DCGM_FI_DEV_RELIABILITY_VIOLATION": (
        "counter", "Throttling duration due to reliability constraints (in ns).", lambda r: 0),
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
    """Parse a dcgm-exporter counters CSV: `FIELD, prometheus-type, help` per line.

    Returns [(name, type, help)]; `label` rows come back with type "label" (they become
    labels on every series, e.g. DCGM_FI_DRIVER_VERSION)."""
    if not path:
        return [(n, DCGM_FIELDS[n][0], DCGM_FIELDS[n][1]) for n in DCGM_DEFAULT_FIELDS] + [
            ("DCGM_FI_DRIVER_VERSION", "label", "Driver Version")]
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
                fields.append((name, "label", help_text))
                continue
            if mtype not in ("gauge", "counter"):
                raise ValueError(f"{path}:{lineno}: unknown metric type {mtype!r}")
            if name not in DCGM_FIELDS:
                log(f"counters {path}:{lineno}: field {name} is not emulated; skipped")
                continue
            fields.append((name, mtype, help_text))
    return fields


def xid_err_msg(code):
    return XID_ERR_MSG[code] if 0 <= code < len(XID_ERR_MSG) else "Unknown Error"


def render_dcgm(readings, hostname, fields, xid_state=({}, {}), window_ms=300000):
    """dcgm-exporter 4.2.3-4.1.3's exposition (internal/pkg/rendermetrics/render_metrics.go:43-58):
    per counter HELP/TYPE then one line per GPU; labels gpu, UUID, pci_bus_id, device,
    modelName, Hostname, then the label counters and extra labels in sorted order, then the
    attributes (err_code, err_msg on DCGM_FI_DEV_XID_ERRORS)."""
    xid_last, xid_events = xid_state
    out = []
    nvidia = [r for r in readings if r["dev"].vendor == "nvidia"]
    label_fields = [n for n, t, _unused in fields if t == "label"]
    for name, mtype, help_text in fields:
        if mtype == "label":
            continue
        lines = []
        for r in nvidia:
            dev = r["dev"]
            base = [("gpu", str(dev.vendor_index)), ("UUID", dev.uuid),
                    ("pci_bus_id", dev.pci_bus_id), ("device", f"nvidia{dev.vendor_index}"),
                    ("modelName", dev.model), ("Hostname", hostname)]
            extra = {}
            if "DCGM_FI_DRIVER_VERSION" in label_fields:
                extra["DCGM_FI_DRIVER_VERSION"] = dev.props.get("driver_version", "")
            if name == "DCGM_FI_DEV_XID_ERRORS":
                # blank (skipped) until the first XID, then the last code, sticky
                code = xid_last.get(dev.index)
                if code is None:
                    continue
                attrs = [("err_code", str(code)), ("err_msg", xid_err_msg(code))]
                lines.append((base + sorted(extra.items()) + attrs, code))
            elif name == "DCGM_EXP_XID_ERRORS_COUNT":
                # internal/pkg/collector/expcollector.go:39-104: one series per XID code seen
                # in the window, or one series of 0 without the xid label
                extra["window_size_in_ms"] = str(window_ms)
                counts = {}
                for _unused, code in xid_events.get(dev.index, []):
                    counts[code] = counts.get(code, 0) + 1
                if not counts:
                    lines.append((base + sorted(extra.items()), 0))
                for code, count in sorted(counts.items()):
                    labels = dict(extra, xid=str(code))
                    lines.append((base + sorted(labels.items()), count))
            else:
                value = DCGM_FIELDS[name][2](r)
                if value is None:
                    continue
                lines.append((base + sorted(extra.items()), value))
        if not lines:
            continue
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {mtype}")
        for labels, value in lines:
            lab = ",".join(f'{k}="{_esc(v)}"' for k, v in labels)
            out.append(f"{name}{{{lab}}} {_fmt(value)}")
    return "\n".join(out) + "\n" if out else ""


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
            # all-smi v0.25.0 answers 200 with an empty body before its first collection
            # (src/api/handlers/metrics_render.rs:31-50 over an empty AppState).
            self._send(200, collector.exposition(), "text/plain; charset=utf-8"
                       if self.server.emulator_args.mode == "allsmi"
                       else "text/plain; version=0.0.4; charset=utf-8")
        elif path == "/-/fault":
            self._json(200, self.server.faults.describe())
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
        collector = self.server.collector
        self.server.faults.add(faults)
        collector.record_xids(faults)
        stops = [f for f in faults if f["type"] == "stop"]
        restarts = [f for f in faults if f["type"] == "restart"]
        if restarts:
            collector.restart(max(f["seconds"] for f in restarts))
        elif not stops:
            collector.trigger_and_wait()
        self._json(200, self.server.faults.describe())
        if stops:
            self.server.stop_for = max(f["seconds"] for f in stops)
            threading.Thread(target=self.server.shutdown, daemon=True).start()
        return None

    def do_DELETE(self):
        if self.path.split("?", 1)[0] != "/-/fault":
            return self._send(404, "not found\n")
        self.server.faults.clear()
        self.server.collector.trigger_and_wait()
        self._json(200, self.server.faults.describe())
        return None


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
    parser.add_argument("-x", "--xid-count-window-size", type=int, default=300000,
                        help="dcgm: window of DCGM_EXP_XID_ERRORS_COUNT in ms (default 300000)")
    parser.add_argument("--startup-delay", "--ready-delay", dest="startup_delay", type=float,
                        default=None,
                        help="seconds before the first collection; /metrics is empty until then "
                             "(default: 1 in allsmi mode, like all-smi's first NVML collection; "
                             "0 in dcgm mode)")
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
    if args.startup_delay is None:
        configured = args.config_data.get("startup_delay") if args.mode == "allsmi" else None
        args.startup_delay = float(configured) if configured is not None else (
            1.0 if args.mode == "allsmi" else 0.0)
    try:
        server = Server((host, port), Handler)
    except OSError as exc:
        log(f"cannot listen on {host}:{port}: {exc}")
        return 1
    server.collector, server.faults, server.emulator_args = collector, faults, args
    server.stop_for = None
    stop = threading.Event()
    holder = {"server": server}

    def on_signal(signum, _frame):
        log(f"signal {signum}: shutting down")
        stop.set()
        collector.kick.set()
        threading.Thread(target=holder["server"].shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    worker = threading.Thread(target=collector.run, args=(stop,), daemon=True)
    worker.start()
    log(f"TEST DOUBLE serving {args.mode}-style metrics for {len(devices)} device(s) "
        f"on {host}:{port} every {args.interval:g}s")
    try:
        while True:
            server.serve_forever(poll_interval=0.2)
            server.server_close()
            if stop.is_set() or server.stop_for is None:
                break
            # fault "stop": the port refuses connections (exporter stopped), then comes back
            log(f"fault stop: not listening for {server.stop_for:g}s")
            if stop.wait(server.stop_for):
                break
            server = Server((host, port), Handler)
            server.collector, server.faults, server.emulator_args = collector, faults, args
            server.stop_for = None
            holder["server"] = server
            log(f"fault stop over: listening again on {host}:{port}")
    finally:
        stop.set()
        collector.kick.set()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
