# -*- coding: utf-8 -*-
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""Pure logic of the custom-check probes: parse what a tool or sysfs says, judge it.

The check runner (roles/check_runner/files/accelmon_check_runner.py) does the I/O: child
processes with hard timeouts, locks, tool invocations, the textfile. Everything here takes
text or parsed JSON and returns plain data, so each probe is unit-tested over fixtures
(tests/unit/plugins/module_utils/test_check_probes.py). Standard library only: this file
is copied next to the runner on every node and imported there as ``check_probes``.

A probe result is a list of ``Sample(name, labels, value)``; ``METRICS`` gives each metric
name its type and help text. Metric names of the nvme and smart checks are those of the
community textfile scripts (node-exporter-textfile-collector-scripts ``nvme_metrics.py`` and
``smartmon.py``), so their dashboards keep working.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import calendar
import collections
import os
import re

CHECK_TYPES = ("command", "infiniband", "license", "mount", "nvme", "parallel_fs", "port", "smart")

Sample = collections.namedtuple("Sample", "name labels value")

# name -> (type, help). Every series the runner writes is declared here.
METRICS = {
    # runner self-series, one per check type
    "accelmon_check_runner_success": ("gauge", "1 if the check type's probe ran to the end, 0 if it crashed"),
    "accelmon_check_runner_duration_seconds": ("gauge", "Wall time of the check type's last run"),
    "accelmon_check_last_run_timestamp_seconds": ("gauge", "Unix time the check type last finished a run"),
    "accelmon_check_timeouts_total": ("counter", "Probe items that hit their timeout, since the state was created"),
    "accelmon_check_items": ("gauge", "Items the check type probed in its last run"),
    # per item, every check type
    "accelmon_check_ok": ("gauge", "1 if the checked item is healthy, else 0"),
    "accelmon_check_duration_seconds": ("gauge", "How long probing the item took"),
    "accelmon_check_status": ("gauge", "1 for the item's current status, 0 for the other statuses"),
    # parallel_fs
    "accelmon_check_parallel_fs_latency_seconds": (
        "histogram",
        "Latency of the canary stat/read (and write+fsync) on a parallel filesystem",
    ),
    # infiniband
    "accelmon_check_infiniband_port_info": ("gauge", "InfiniBand/RoCE port with its link layer (always 1)"),
    "accelmon_check_infiniband_state_id": ("gauge", "Port state (4 = ACTIVE)"),
    "accelmon_check_infiniband_physical_state_id": ("gauge", "Physical port state (5 = LinkUp)"),
    "accelmon_check_infiniband_rate_gbps": ("gauge", "Port rate in Gb/s"),
    "accelmon_check_infiniband_min_rate_gbps": ("gauge", "Lowest acceptable rate from the checks policy"),
    # license
    "accelmon_check_license_expiry_timestamp_seconds": ("gauge", "When the licence expires (Unix time)"),
    # command
    "accelmon_check_command_exit_code": ("gauge", "Exit status of the command (-1: timed out or did not start)"),
    "accelmon_check_command_value": ("gauge", "Number parsed from the command's output with value_regex"),
    "accelmon_check_command_output_truncated": ("gauge", "1 if the output exceeded the size limit"),
    # nvme, names of node-exporter-textfile-collector-scripts nvme_metrics.py (label device)
    "nvme_nvmecli": ("gauge", "nvme-cli tool information"),
    "nvme_device_info": ("gauge", "Device information"),
    "nvme_critical_warning": ("gauge", "Device critical warning bitmap field"),
    "nvme_available_spare_ratio": ("gauge", "Device available spare ratio"),
    "nvme_available_spare_threshold_ratio": ("gauge", "Device available spare threshold ratio"),
    "nvme_percentage_used_ratio": ("gauge", "Device percentage used ratio"),
    "nvme_temperature_celsius": ("gauge", "Device temperature in degrees Celsius"),
    "nvme_media_errors_total": ("counter", "Device media errors total"),
    "nvme_num_err_log_entries_total": ("counter", "Device error log entry count"),
    "nvme_power_cycles_total": ("counter", "Device number of power cycles"),
    # nvme_metrics.py's nvme_power_on_hours_total fails promtool's base-unit lint: seconds here.
    "nvme_power_on_seconds_total": ("counter", "Device power-on time in seconds"),
    "nvme_unsafe_shutdowns_total": ("counter", "Device number of unsafe shutdowns"),
    "nvme_controller_busy_time_seconds_total": ("counter", "Device controller busy time in seconds"),
    "nvme_data_units_read_total": ("counter", "Number of 512-byte data units read by host, reported in thousands"),
    "nvme_data_units_written_total": (
        "counter",
        "Number of 512-byte data units written by host, reported in thousands",
    ),
    "nvme_host_read_commands_total": ("counter", "Device read commands from host"),
    "nvme_host_write_commands_total": ("counter", "Device write commands from host"),
    # smart, names of node-exporter-textfile-collector-scripts smartmon.py (labels disk, type)
    "smartmon_smartctl_version": ("gauge", "smartctl version"),
    "smartmon_smartctl_run": ("gauge", "Unix time smartctl last ran for the disk"),
    "smartmon_device_active": ("gauge", "1 if the disk was active (not in standby)"),
    "smartmon_device_info": ("gauge", "Disk model, serial and firmware"),
    "smartmon_device_smart_available": ("gauge", "1 if the disk supports SMART"),
    "smartmon_device_smart_enabled": ("gauge", "1 if SMART is enabled on the disk"),
    "smartmon_device_smart_healthy": ("gauge", "1 if the SMART overall-health self-assessment passed"),
    "smartmon_temperature_celsius": ("gauge", "Current disk temperature in degrees Celsius"),
    "smartmon_attr_value": ("gauge", "SMART attribute normalized value"),
    "smartmon_attr_worst": ("gauge", "SMART attribute worst value"),
    "smartmon_attr_threshold": ("gauge", "SMART attribute threshold"),
    "smartmon_attr_raw_value": ("gauge", "SMART attribute raw value"),
}

# Statuses per check type; accelmon_check_status carries one series per status so a
# dashboard can count them, the current one at 1.
STATUSES = {
    "mount": ("responsive", "timeout", "in_flight", "missing", "wrong_fstype", "wrong_options", "error"),
    "parallel_fs": ("responsive", "timeout", "in_flight", "missing", "error"),
    "infiniband": ("active", "down", "slow", "missing", "error"),
    "nvme": ("healthy", "critical_warning", "low_spare", "worn", "media_errors", "error"),
    "smart": ("healthy", "failing", "standby", "unavailable", "error"),
    "port": ("open", "refused", "timeout", "error"),
    "license": ("valid", "expired", "unknown", "unreachable", "reachable", "error"),
    "command": ("ok", "failed", "timeout", "error"),
}
OK_STATUSES = frozenset(("responsive", "active", "healthy", "standby", "open", "valid", "reachable", "ok"))

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_DURATION_PART_RE = re.compile(r"([0-9]+)(ms|s|m|h|d|w|y)")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def duration_seconds(text):
    """Seconds of a Prometheus duration such as 90s or 1h30m (the model's `interval`)."""
    text = str(text)
    pos, total = 0, 0.0
    for match in _DURATION_PART_RE.finditer(text):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError("not a Prometheus duration: %r" % (text,))
    return total


def item_samples(check, item, status, duration=None, extra_labels=None):
    """accelmon_check_ok / _status / _duration_seconds for one item."""
    labels = {"check": check, "item": item}
    if extra_labels:
        labels.update(extra_labels)
    out = [Sample("accelmon_check_ok", labels, 1 if status in OK_STATUSES else 0)]
    for known in STATUSES[check]:
        lab = dict(labels)
        lab["status"] = known
        out.append(Sample("accelmon_check_status", lab, 1 if known == status else 0))
    if duration is not None:
        out.append(Sample("accelmon_check_duration_seconds", labels, round(duration, 6)))
    return out


# ---------------------------------------------------------------- mount, parallel_fs

_OCTAL_RE = re.compile(r"\\([0-7]{3})")


def _unescape(field):
    return _OCTAL_RE.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text):
    """Mounts from /proc/self/mountinfo: mount point -> {fstype, source, options} (last wins).

    Line format (proc(5)): id parent major:minor root mount_point mount_options
    [optional fields...] - fstype source super_options. Options are the union of the
    per-mount and the superblock options.
    """
    mounts = {}
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        sep = fields.index("-")
        if sep < 6 or len(fields) < sep + 3:
            continue
        point = _unescape(fields[4])
        options = set(fields[5].split(",")) | set(fields[sep + 3].split(",") if len(fields) > sep + 3 else [])
        mounts[point] = {
            "fstype": fields[sep + 1],
            "source": _unescape(fields[sep + 2]),
            "options": options,
        }
    return mounts


def mount_expectations(paths):
    """Normalize the mount policy (strings or {path, fstype, options}) to dicts, one per
    path (a later entry for the same path wins: merged policies may name a path twice)."""
    out = {}
    for entry in paths:
        if isinstance(entry, str):
            entry = {"path": entry}
        options = entry.get("options") or []
        if isinstance(options, str):
            options = [o for o in options.split(",") if o]
        path = os.path.normpath(entry["path"])
        out[path] = {"path": path, "fstype": entry.get("fstype"), "options": list(options)}
    return list(out.values())


def unique(items, key=lambda item: item):
    """items without repeats of key (the last one wins), in first-seen order."""
    out = {}
    for item in items:
        out[key(item)] = item
    return list(out.values())


def judge_mount(expect, mounts):
    """Status from mountinfo alone: None when the mount is present and as expected
    (the responsiveness probe decides), else missing / wrong_fstype / wrong_options."""
    path = expect["path"]
    info = mounts.get(path)
    if info is None:
        return "missing", "%s is not a mount point" % path
    if expect.get("fstype") and info["fstype"] != expect["fstype"]:
        return "wrong_fstype", "%s is %s, expected %s" % (path, info["fstype"], expect["fstype"])
    missing = [opt for opt in expect.get("options") or [] if opt not in info["options"]]
    if missing:
        return "wrong_options", "%s lacks option(s) %s" % (path, ",".join(missing))
    return None, ""


def histogram_observe(state, value, buckets=LATENCY_BUCKETS):
    """Add one observation to a persisted histogram state {counts, sum, count}."""
    counts = state.get("counts")
    if not isinstance(counts, list) or len(counts) != len(buckets):
        counts = [0] * len(buckets)
    for i, bound in enumerate(buckets):
        if value <= bound:
            counts[i] += 1
    return {
        "counts": counts,
        "sum": float(state.get("sum", 0.0)) + value,
        "count": int(state.get("count", 0)) + 1,
    }


def histogram_buckets(state, buckets=LATENCY_BUCKETS):
    """[(le, cumulative count)...] with +Inf, and the sum, for an exposition histogram."""
    counts = state.get("counts") or [0] * len(buckets)
    pairs = [(_le(b), float(c)) for b, c in zip(buckets, counts)]
    pairs.append(("+Inf", float(state.get("count", 0))))
    return pairs, float(state.get("sum", 0.0))


def _le(bound):
    text = repr(float(bound))
    return text


# ---------------------------------------------------------------- infiniband

_STATE_RE = re.compile(r"^\s*(\d+)\s*:\s*(\S.*?)\s*$")
_RATE_RE = re.compile(r"^\s*([0-9.]+)\s*Gb/sec")


def _read(path):
    with open(path) as handle:
        return handle.read().strip()


def _state(text):
    match = _STATE_RE.match(text or "")
    if not match:
        return None, text or ""
    return int(match.group(1)), match.group(2)


def read_infiniband(sysfs_class_dir):
    """Ports under /sys/class/infiniband: [{device, port, state_id, state, physical_state_id,
    physical_state, rate_gbps, link_layer}] (kernel ABI: Documentation/ABI/stable/sysfs-class-infiniband).
    """
    ports = []
    if not os.path.isdir(sysfs_class_dir):
        return ports
    for device in sorted(os.listdir(sysfs_class_dir)):
        ports_dir = os.path.join(sysfs_class_dir, device, "ports")
        if not os.path.isdir(ports_dir):
            continue
        for port in sorted(os.listdir(ports_dir), key=lambda p: (len(p), p)):
            base = os.path.join(ports_dir, port)
            entry = {"device": device, "port": port}
            for name in ("state", "phys_state", "rate", "link_layer"):
                try:
                    entry[name] = _read(os.path.join(base, name))
                except OSError:
                    entry[name] = ""
            state_id, state = _state(entry.pop("state"))
            phys_id, phys = _state(entry.pop("phys_state"))
            rate = _RATE_RE.match(entry.pop("rate"))
            entry.update(
                state_id=state_id,
                state=state,
                physical_state_id=phys_id,
                physical_state=phys,
                rate_gbps=float(rate.group(1)) if rate else None,
                link_layer=entry["link_layer"] or "InfiniBand",
            )
            ports.append(entry)
    return ports


def judge_infiniband(ports, devices, min_rate_gbps):
    """Samples for the ports of the named HCAs (all when devices is empty); a named HCA
    with no port is reported missing."""
    out = []
    wanted = list(devices or [])
    seen = set()
    for port in ports:
        if wanted and port["device"] not in wanted:
            continue
        seen.add(port["device"])
        labels = {"device": port["device"], "port": port["port"], "link_layer": port["link_layer"]}
        item = "%s/%s" % (port["device"], port["port"])
        if port["state_id"] != 4 or port["physical_state_id"] != 5:
            status = "down"
        elif min_rate_gbps and (port["rate_gbps"] or 0) < min_rate_gbps:
            status = "slow"
        else:
            status = "active"
        out.append(Sample("accelmon_check_infiniband_port_info", labels, 1))
        for name, key in (
            ("accelmon_check_infiniband_state_id", "state_id"),
            ("accelmon_check_infiniband_physical_state_id", "physical_state_id"),
            ("accelmon_check_infiniband_rate_gbps", "rate_gbps"),
        ):
            if port[key] is not None:
                out.append(Sample(name, labels, port[key]))
        out.append(Sample("accelmon_check_infiniband_min_rate_gbps", labels, min_rate_gbps or 0))
        out.extend(item_samples("infiniband", item, status, extra_labels=labels))
    for device in wanted:
        if device not in seen:
            out.extend(item_samples("infiniband", device, "missing"))
    return out


# ---------------------------------------------------------------- nvme

_NVME_COUNTERS = (
    ("media_errors", "nvme_media_errors_total"),
    ("num_err_log_entries", "nvme_num_err_log_entries_total"),
    ("power_cycles", "nvme_power_cycles_total"),
    ("unsafe_shutdowns", "nvme_unsafe_shutdowns_total"),
    ("controller_busy_time", "nvme_controller_busy_time_seconds_total"),
    ("data_units_read", "nvme_data_units_read_total"),
    ("data_units_written", "nvme_data_units_written_total"),
    ("host_read_commands", "nvme_host_read_commands_total"),
    ("host_write_commands", "nvme_host_write_commands_total"),
)


def _num(value):
    """nvme-cli prints 128-bit counters as strings; numbers may carry thousands separators."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    return float(str(value).replace(",", "").strip())


def nvme_devices(list_json):
    """Device paths and info from `nvme list -o json` ({"Devices": [{"DevicePath", ...}]})."""
    out = []
    for dev in (list_json or {}).get("Devices") or []:
        path = dev.get("DevicePath")
        if path:
            out.append(
                {
                    "device": path,
                    "model": str(dev.get("ModelNumber", "")).strip(),
                    "firmware": str(dev.get("Firmware", "")).strip(),
                    "serial": str(dev.get("SerialNumber", "")).strip(),
                }
            )
    return out


def judge_nvme(device, smart_log, min_available_spare_percent, max_percentage_used):
    """Samples from `nvme smart-log DEV -o json` for one device (nvme_metrics.py names)."""
    labels = {"device": device}
    out = []
    critical = int(_num(smart_log["critical_warning"]))
    spare = _num(smart_log["avail_spare"])
    used = _num(smart_log["percent_used"])
    out.append(Sample("nvme_critical_warning", labels, critical))
    out.append(Sample("nvme_available_spare_ratio", labels, spare / 100.0))
    if "spare_thresh" in smart_log:
        out.append(Sample("nvme_available_spare_threshold_ratio", labels, _num(smart_log["spare_thresh"]) / 100.0))
    out.append(Sample("nvme_percentage_used_ratio", labels, used / 100.0))
    if "temperature" in smart_log:
        # NVMe reports kelvins (nvme-cli prints the raw value in JSON).
        out.append(Sample("nvme_temperature_celsius", labels, _num(smart_log["temperature"]) - 273))
    for key, name in _NVME_COUNTERS:
        if key in smart_log:
            out.append(Sample(name, labels, _num(smart_log[key])))
    if "power_on_hours" in smart_log:
        out.append(Sample("nvme_power_on_seconds_total", labels, _num(smart_log["power_on_hours"]) * 3600))
    if critical:
        status = "critical_warning"
    elif spare < min_available_spare_percent:
        status = "low_spare"
    elif used > max_percentage_used:
        status = "worn"
    elif _num(smart_log.get("media_errors", 0)) > 0:
        status = "media_errors"
    else:
        status = "healthy"
    out.extend(item_samples("nvme", device, status))
    return out


# ---------------------------------------------------------------- smart

_SMART_ATTRS = (
    ("value", "smartmon_attr_value"),
    ("worst", "smartmon_attr_worst"),
    ("thresh", "smartmon_attr_threshold"),
)


def smartctl_version(report):
    """"7.3" from the smartctl.version list every smartctl --json output carries."""
    version = (report or {}).get("smartctl", {}).get("version")
    if isinstance(version, list) and version:
        return ".".join(str(v) for v in version)
    return None


def smart_devices(scan_json):
    """(name, type) pairs from `smartctl --scan-open --json`."""
    return [
        (dev["name"], dev.get("type", "auto")) for dev in (scan_json or {}).get("devices") or [] if dev.get("name")
    ]


def judge_smart(disk, dev_type, report, now):
    """Samples from `smartctl --json --info --health --attributes DISK` (smartmon.py names).

    smartctl's exit status is a bit mask (smartctl(8)); the JSON carries it in
    smartctl.exit_status. Bit 1 set: the device could not be opened; bit 2: a SMART command
    failed; bit 3: the disk reports failing (also in smart_status.passed).
    """
    labels = {"disk": disk, "type": dev_type}
    out = [Sample("smartmon_smartctl_run", labels, int(now))]
    exit_status = int((report.get("smartctl") or {}).get("exit_status", 0))
    if exit_status & 2 and "smart_status" not in report:
        out.append(Sample("smartmon_device_active", labels, 0))
        out.extend(item_samples("smart", disk, "error"))
        return out
    power_mode = (report.get("power_mode") or {}).get("value", "") if isinstance(report.get("power_mode"), dict) else ""
    standby = "STANDBY" in str(power_mode).upper()
    out.append(Sample("smartmon_device_active", labels, 0 if standby else 1))
    info = dict(labels)
    for key, label in (
        ("model_family", "model_family"),
        ("model_name", "device_model"),
        ("serial_number", "serial_number"),
        ("firmware_version", "firmware_version"),
    ):
        if report.get(key):
            info[label] = str(report[key])
    out.append(Sample("smartmon_device_info", info, 1))
    support = report.get("smart_support") or {}
    available = bool(support.get("available", "smart_status" in report))
    enabled = bool(support.get("enabled", "smart_status" in report))
    out.append(Sample("smartmon_device_smart_available", labels, int(available)))
    out.append(Sample("smartmon_device_smart_enabled", labels, int(enabled)))
    if standby:
        out.extend(item_samples("smart", disk, "standby"))
        return out
    if "smart_status" not in report:
        out.extend(item_samples("smart", disk, "unavailable"))
        return out
    healthy = bool(report["smart_status"].get("passed")) and not exit_status & 8
    out.append(Sample("smartmon_device_smart_healthy", labels, int(healthy)))
    temp = (report.get("temperature") or {}).get("current")
    if isinstance(temp, (int, float)):
        out.append(Sample("smartmon_temperature_celsius", labels, temp))
    for attr in (report.get("ata_smart_attributes") or {}).get("table") or []:
        name = str(attr.get("name", "")).lower()
        if not name or name == "unknown_attribute":
            continue
        alabels = dict(labels, name=name)
        for key, metric in _SMART_ATTRS:
            if isinstance(attr.get(key), (int, float)):
                out.append(Sample(metric, alabels, attr[key]))
        raw = (attr.get("raw") or {}).get("value")
        if isinstance(raw, (int, float)):
            out.append(Sample("smartmon_attr_raw_value", alabels, raw))
    out.extend(item_samples("smart", disk, "healthy" if healthy else "failing"))
    return out


# ---------------------------------------------------------------- port

def port_targets(ports):
    """(item, host, port) for the port policy: integers are local ports, mappings {host, port, name}."""
    out = []
    for entry in ports:
        if isinstance(entry, dict):
            host = entry.get("host") or "127.0.0.1"
            port = int(entry["port"])
            item = entry.get("name") or "%s:%d" % (host, port)
        else:
            host, port = "127.0.0.1", int(entry)
            item = "%s:%d" % (host, port)
        out.append((item, host, port))
    return unique(out, key=lambda t: t[0])


def license_servers(servers):
    """(item, host, port) from FlexLM-style port@host strings."""
    out = []
    for server in servers:
        port, sep, host = str(server).partition("@")
        if not sep or not port.isdigit() or not host:
            raise ValueError("licence server %r is not port@host" % (server,))
        out.append((server, host, int(port)))
    return unique(out, key=lambda t: t[0])


# ---------------------------------------------------------------- license

_MONTHS = dict(
    (name, i + 1) for i, name in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))
)
# 2026-12-31, 2026-12-31T23:59:59, 2026-1-9 0:0:0 (nvidia-smi -q vGPU "Expiry: ... GMT")
_ISO_DATE_RE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2}))?)?")
# FlexLM lmstat -i / license file: 31-dec-2026
_FLEXLM_DATE_RE = re.compile(r"\b(\d{1,2})-([A-Za-z]{3})-(\d{4})\b")
_EPOCH_RE = re.compile(r"^\s*(\d{9,11})(?:\.\d+)?\s*$")


def parse_expiry(text):
    """The earliest expiry date in text as Unix time (UTC), or None.

    Accepts a bare Unix timestamp, ISO dates (with optional time) and FlexLM dates
    (31-dec-2026). "permanent" licences (FlexLM) have no expiry: None.
    """
    text = text or ""
    epoch = _EPOCH_RE.match(text)
    if epoch:
        return float(epoch.group(1))
    found = []
    for match in _ISO_DATE_RE.finditer(text):
        year, month, day, hour, minute, second = (int(g) if g else 0 for g in match.groups())
        if 1 <= month <= 12 and 1 <= day <= 31:
            found.append(calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)))
    for match in _FLEXLM_DATE_RE.finditer(text):
        month = _MONTHS.get(match.group(2).lower())
        if month:
            found.append(calendar.timegm((int(match.group(3)), month, int(match.group(1)), 23, 59, 59, 0, 0, 0)))
    return float(min(found)) if found else None


def judge_license(item, expiry, now):
    labels = {"check": "license", "item": item}
    out = []
    if expiry is None:
        out.extend(item_samples("license", item, "unknown"))
        return out
    out.append(Sample("accelmon_check_license_expiry_timestamp_seconds", labels, expiry))
    out.extend(item_samples("license", item, "valid" if expiry > now else "expired"))
    return out


# ---------------------------------------------------------------- command


def parse_value(output, value_regex):
    """First group (or whole match) of value_regex in the output as a float, or None."""
    if not value_regex:
        return None
    match = re.search(value_regex, output or "", re.MULTILINE)
    if not match:
        return None
    text = match.group(1) if match.groups() else match.group(0)
    try:
        return float(text)
    except ValueError:
        return None


def judge_command(item, exit_code, timed_out, output, value_regex, truncated, duration):
    labels = {"check": "command", "item": item}
    out = [Sample("accelmon_check_command_exit_code", labels, -1 if exit_code is None else exit_code)]
    out.append(Sample("accelmon_check_command_output_truncated", labels, int(bool(truncated))))
    value = parse_value(output, value_regex)
    if value is not None:
        out.append(Sample("accelmon_check_command_value", labels, value))
    if timed_out:
        status = "timeout"
    elif exit_code is None:
        status = "error"
    else:
        status = "ok" if exit_code == 0 else "failed"
    out.extend(item_samples("command", item, status, duration))
    return out
