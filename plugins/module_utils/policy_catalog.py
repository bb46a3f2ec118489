# -*- coding: utf-8 -*-
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""Built-in catalogs: alert-rule templates, check types and alerting settings.

Rule template names and threshold keys are a public contract (docs/policy-catalog.md).

Template format (docs/alert-rules.md, "Writing a template"): `expr` is PromQL over the
measured series of every target, with no host selector, whose result keeps the
`instance` label. A threshold is a `${name}` placeholder standing right after a binary
operator (`> ${cpu_percent}`, `> bool ${x}`); the rule compiler turns it into a join on
the target's own threshold series, and joins the routing labels onto the result.
Aggregating templates (counting over targets, ManyNodesDown) write `${by}` in their
aggregations and `${route}` after each counted series, and compare with `${param}`
as above; they count per parameter set. `${selector}`, the host selector of the previous
compiler, is accepted and removed. Summaries and descriptions do not name per-target
thresholds (an alert template cannot read a series without a query per alert and
evaluation); `${name}` there reads "the threshold". Metric names are the released exporters' own (tests/emulator/released_surface.py cites them)
(all-smi, dcgm-exporter, node_exporter); the `accelmon_check_*` series are written by
this collection's custom-check runner.
"""

from __future__ import annotations

import copy
import re

from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_errors import (
    FleetModelError,
)
from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_schema import (
    PARAMETER_TYPES,
    validate_value,
)

SEVERITIES = ("info", "warning", "critical")
STRATEGIES = ("merge", "override")
PLACEHOLDER_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
TEMPLATE_NAME_RE = re.compile(r"[A-Z][A-Za-z0-9]*")  # fullmatch: "$" would accept a trailing newline

# The keys of a template in catalog form (what _rule() returns and the compiler reads);
# built-ins also carry `why` (docs/policy-catalog.md) and `enabled` when off by default.
TEMPLATE_CATALOG_KEYS = ("parameters", "expr", "severity", "for", "summary", "description", "metrics_source")

# Filesystems the per-node disk rules skip: virtual ones, and network/parallel filesystems,
# which node_exporter 1.5.0 reports once per CLIENT node (one full Lustre would page once per
# client). Those belong to the storage system's monitoring and the check runner's mount /
# parallel_fs checks.
_FS_FILTER = (
    'fstype!~"tmpfs|overlay|squashfs|nsfs|ramfs|nfs|nfs4|lustre|gpfs|beegfs|wekafs|cifs|smb3'
    '|ceph|glusterfs|fuse.*"'
)
_NOT_READONLY = " unless on (instance, device, mountpoint) node_filesystem_readonly == 1"

# The labels the prometheus role puts on every target (file_sd.json.j2): aggregations keep
# them so that alerts still carry the group, environment and team they are routed by.
_TARGET = "instance, job, group, provider, environment, team"

# XIDs (dcgm-exporter DCGM_EXP_XID_ERRORS_COUNT{xid}) by class, as NVIDIA documents them:
# hardware/driver faults worth a page, and the usual application faults.
XID_HARDWARE = ("48", "63", "64", "74", "79", "92", "94", "95", "119", "120")
XID_APPLICATION = ("13", "31", "43", "45")

# "Down for two scrapes": the samples of the last 30 s (the last two at the default 15 s
# scrape interval) are all 0. One failed or slow scrape never fires it. Every 30 s window of
# the catalog falls back to the latest sample (`or <series>`) when it holds none (scrape
# intervals above 30 s): the rule then acts on one scrape, as it did before, and never
# flaps or fires on an empty window.
_UP_WINDOW = "30s"


def _down(job_matcher):
    return "(max_over_time(up{%s}[%s]) or up{%s}) == 0" % (job_matcher, _UP_WINDOW, job_matcher)


def _rule(params, expr, severity, for_, summary, description, source, why="", enabled=True):
    spec = {
        "parameters": params,
        "expr": expr,
        "severity": severity,
        "for": for_,
        "summary": summary,
        "description": description,
        "metrics_source": source,
        "why": why,
    }
    if not enabled:
        spec["enabled"] = False
    return spec


def _p(type_name, default, description):
    return {"type": type_name, "default": default, "description": description}


BUILTIN_RULE_TEMPLATES = {
    "HighCPUUsage": _rule(
        {"cpu_percent": _p("percent", 90, "CPU busy percentage above which the rule fires")},
        '100 * (1 - avg without (cpu, mode) (rate(node_cpu_seconds_total{mode="idle"}[5m]))) > ${cpu_percent}',
        "warning",
        "10m",
        "CPU usage on {{ $labels.instance }} is above its threshold",
        'CPU busy {{ $value | printf "%.1f" }}% for longer than the rule\'s for.',
        "node_exporter",
        "A 5-minute rate held for 10 minutes: data loaders starving the GPUs show here; short "
        "bursts (compiles, checkpoints) do not.",
    ),
    "HighMemoryUsage": _rule(
        {"memory_percent": _p("percent", 90, "used memory percentage")},
        "100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes) > ${memory_percent}",
        "warning",
        "10m",
        "Memory usage on {{ $labels.instance }} is above its threshold",
        'Memory used {{ $value | printf "%.1f" }}%.',
        "node_exporter",
        "MemAvailable (not MemFree) so page cache does not count as used; 10 minutes so a "
        "checkpoint load does not fire it.",
    ),
    "DiskSpaceLow": _rule(
        {"free_percent": _p("percent", 10, "free space percentage below which the rule fires")},
        "100 * node_filesystem_avail_bytes{" + _FS_FILTER + "}"
        " / node_filesystem_size_bytes{" + _FS_FILTER + "} < ${free_percent}" + _NOT_READONLY,
        "warning",
        "15m",
        "Filesystem {{ $labels.mountpoint }} on {{ $labels.instance }} is below its free-space threshold",
        'Free space {{ $value | printf "%.1f" }}%.',
        "node_exporter",
        "Local filesystems only: network and parallel filesystems (nfs, lustre, gpfs, beegfs, "
        "wekafs, cifs, ceph, fuse.*) appear once per client node and would page hundreds of "
        "times for one full filesystem; read-only filesystems (squashfs images, ro mounts) are "
        "full by design.",
    ),
    "DiskInodesLow": _rule(
        {"free_percent": _p("percent", 5, "free inode percentage below which the rule fires")},
        "100 * node_filesystem_files_free{" + _FS_FILTER + "}"
        " / node_filesystem_files{" + _FS_FILTER + "} < ${free_percent}" + _NOT_READONLY,
        "warning",
        "15m",
        "Filesystem {{ $labels.mountpoint }} on {{ $labels.instance }} is below its free-inode threshold",
        'Free inodes {{ $value | printf "%.1f" }}%.',
        "node_exporter",
        "Dataset shards and small checkpoint files exhaust inodes before bytes; same filesystem "
        "filter as DiskSpaceLow.",
    ),
    "NodeDown": _rule(
        {},
        _down('job="node"'),
        "critical",
        "0s",
        "Node {{ $labels.instance }} is down",
        "Prometheus cannot scrape node_exporter on {{ $labels.instance }} (two scrapes in a row).",
        "prometheus",
        "Fires when the scrapes of the last 30 s all failed (two at the 15 s default), so one "
        "slow or failed scrape never pages; fault to webhook stays under 60 s (scrape 15 + 15, "
        "evaluation 15, group_wait 10).",
    ),
    "ManyNodesDown": _rule(
        {"percent": _p("percent", 10, "percentage of nodes down in the group")},
        "100 * count by (${by}) ((" + _down('job="node"') + ") ${route})"
        ' / count by (${by}) (up{job="node"} ${route}) > ${percent}',
        "critical",
        "0s",
        "More than ${percent}% of the nodes are down",
        '{{ $value | printf "%.0f" }}% of the nodes sharing this alert policy are unreachable.',
        "prometheus",
        "The same two-scrape test as NodeDown, counted per parameter set: a rack or switch "
        "failure is one page instead of one per node.",
    ),
    "AcceleratorExporterDown": _rule(
        {},
        _down('job=~"allsmi|dcgm"'),
        "critical",
        "0s",
        "Accelerator exporter {{ $labels.job }} on {{ $labels.instance }} is down",
        "Prometheus cannot scrape {{ $labels.job }} on {{ $labels.instance }} (two scrapes in a "
        "row): every accelerator alert of this host is blind.",
        "prometheus",
        "Without it a dead all-smi or dcgm-exporter silences every accelerator rule of the host. "
        "Same two-scrape test as NodeDown; NodeDown inhibits it when the whole node is gone.",
    ),
    "AcceleratorHighTemperature": _rule(
        {"celsius": _p("number", 85, "device temperature in degrees Celsius")},
        "(min_over_time(all_smi_gpu_temperature_celsius[30s]) or all_smi_gpu_temperature_celsius) > ${celsius}",
        "critical",
        "0s",
        "Accelerator {{ $labels.gpu_index }} on {{ $labels.instance }} is above its temperature threshold",
        "{{ $labels.gpu }} has been above its threshold for 30 s (lowest reading {{ $value }} C).",
        "all-smi",
        "Every reading of the last 30 s above 85 C (production rule sets page at 85 C for about a "
        "minute; 30 s keeps fault to webhook under 60 s). A failed reading is exported as 0 by "
        "all-smi v0.25.0 and so never fires it.",
    ),
    "AcceleratorNearSlowdownTemperature": _rule(
        {"margin_celsius": _p("number", 5, "degrees below the device's own slowdown threshold")},
        "all_smi_gpu_temperature_celsius > on (instance, gpu_uuid) group_left ()"
        " (all_smi_gpu_temperature_threshold_slowdown_celsius - ${margin_celsius})",
        "warning",
        "5m",
        "Accelerator {{ $labels.gpu_index }} on {{ $labels.instance }} is near its slowdown temperature",
        "{{ $labels.gpu }} at {{ $value }} C: the driver throttles clocks at its slowdown threshold.",
        "all-smi",
        "Relative to the device's own slowdown threshold (all_smi_gpu_temperature_threshold_"
        "slowdown_celsius, NVIDIA only), which differs per model; warns before clocks drop.",
    ),
    "AcceleratorHighUtilization": _rule(
        {"utilization_percent": _p("percent", 98, "device utilization percentage")},
        "all_smi_gpu_utilization > ${utilization_percent}",
        "info",
        "30m",
        "Accelerator {{ $labels.gpu_index }} on {{ $labels.instance }} saturated",
        "Utilization {{ $value }}% for longer than the rule's for.",
        "all-smi",
        "OFF by default: a healthy training job keeps its GPUs near 100% for days, so the rule "
        "only fires on success. Enable it for inference fleets that should have headroom.",
        enabled=False,
    ),
    "AcceleratorMemoryHigh": _rule(
        {"memory_percent": _p("percent", 95, "device memory used percentage")},
        "100 * all_smi_gpu_memory_used_bytes / all_smi_gpu_memory_total_bytes > ${memory_percent}",
        "warning",
        "15m",
        "Accelerator {{ $labels.gpu_index }} memory on {{ $labels.instance }} is above its threshold",
        'Device memory used {{ $value | printf "%.1f" }}%.',
        "all-smi",
        "OFF by default: JAX, TensorFlow and PyTorch's caching allocator reserve most device "
        "memory up front, so it reads 90-100% while all is well. Enable it where jobs do not "
        "preallocate.",
        enabled=False,
    ),
    # A device that falls off the bus disappears from all-smi (its handle fails; its series
    # vanish). all-smi v0.25.0 answers /metrics with an EMPTY body before its first collection,
    # so every device series is missing for a scrape at each start: the windows below need the
    # device missing from two scrapes while the exporter was up for both.
    "AcceleratorOffline": _rule(
        {"expected_devices": _p("number", 0, "devices the host should have (0: unknown, "
                                             "compare with the last hour only)")},
        "((group by (" + _TARGET + ", gpu_uuid, gpu) (max_over_time(all_smi_gpu_info[1h]))"
        " unless on (instance, gpu_uuid) (max_over_time(all_smi_gpu_info[30s]) or all_smi_gpu_info))"
        " or ((count by (" + _TARGET + ") (group by (" + _TARGET + ", gpu_uuid)"
        " (max_over_time(all_smi_gpu_info[30s]) or all_smi_gpu_info))"
        " or 0 * group by (" + _TARGET + ') (up{job="allsmi"})) < ${expected_devices}))'
        ' and on (instance) ((min_over_time(up{job="allsmi"}[30s]) or up{job="allsmi"}) == 1)',
        "critical",
        "0s",
        "Accelerator missing on {{ $labels.instance }}{{ with $labels.gpu_uuid }} ({{ . }}){{ end }}",
        "A device seen within the last hour no longer reports, or fewer devices report than the "
        "host has (expected_devices), while all-smi is up.",
        "all-smi",
        "Silent through all-smi restarts (the empty first scrape, the exporter down: the device "
        "must be missing from every scrape of the last 30 s while the exporter answered them). "
        "Per device it names the lost gpu_uuid for an hour; with expected_devices set (per "
        "group or target, the inventory's accelerator count) it keeps firing for as long as "
        "fewer devices report.",
    ),
    "NvidiaXidError": _rule(
        {},
        'DCGM_EXP_XID_ERRORS_COUNT{xid=~"' + "|".join(XID_HARDWARE) + '"} > 0',
        "critical",
        "0s",
        "NVIDIA XID {{ $labels.xid }} on GPU {{ $labels.gpu }} of {{ $labels.instance }}",
        "{{ $value }} XID {{ $labels.xid }} event(s) within dcgm-exporter's XID window "
        "({{ $labels.window_size_in_ms }} ms): a hardware or driver fault.",
        "dcgm-exporter",
        "Hardware/driver XIDs (48, 63, 64, 74, 79, 92, 94, 95, 119, 120) from the exporter's "
        "windowed count DCGM_EXP_XID_ERRORS_COUNT (enabled in our counters file), not the sticky "
        "last-XID gauge: a repeat is seen, and the alert resolves once no new XID arrived for "
        "the window (5 min by default).",
    ),
    "NvidiaXidApplication": _rule(
        {},
        'DCGM_EXP_XID_ERRORS_COUNT{xid=~"' + "|".join(XID_APPLICATION) + '"} > 0',
        "info",
        "0s",
        "NVIDIA XID {{ $labels.xid }} (application fault) on GPU {{ $labels.gpu }} of {{ $labels.instance }}",
        "{{ $value }} XID {{ $labels.xid }} event(s) in the window: usually a fault of the job "
        "(illegal address, memory page fault), not of the GPU.",
        "dcgm-exporter",
        "XIDs 13, 31, 43, 45 are almost always the application's own faults: info, for job owners "
        "and correlation, never a page.",
    ),
    "NvidiaXidOther": _rule(
        {},
        'DCGM_EXP_XID_ERRORS_COUNT{xid!="",xid!~"'
        + "|".join(XID_HARDWARE + XID_APPLICATION) + '"} > 0',
        "warning",
        "0s",
        "NVIDIA XID {{ $labels.xid }} on GPU {{ $labels.gpu }} of {{ $labels.instance }}",
        "{{ $value }} XID {{ $labels.xid }} event(s) in the window ({{ $labels.err_msg }}).",
        "dcgm-exporter",
        "Every XID not classified above: worth a look, not a page.",
    ),
    "NvidiaEccDoubleBitError": _rule(
        {},
        "increase(DCGM_FI_DEV_ECC_DBE_VOL_TOTAL[10m]) > 0",
        "critical",
        "0s",
        "Uncorrectable ECC error on GPU {{ $labels.gpu }} of {{ $labels.instance }}",
        "Volatile double-bit ECC errors increased.",
        "dcgm-exporter",
        "Any increase of the volatile DBE counter: uncorrectable memory errors corrupt results. "
        "A counter increase is an event, not a noisy reading, so no `for`.",
    ),
    "NvidiaRowRemapPending": _rule(
        {},
        "DCGM_FI_DEV_ROW_REMAP_PENDING > 0",
        "warning",
        "1m",
        "GPU {{ $labels.gpu }} of {{ $labels.instance }} needs a reset (row remapping pending)",
        "A memory row remap is pending: drain the GPU and reset it to apply it.",
        "dcgm-exporter",
        "Pending remaps take effect only after a GPU reset; until then the bad row stays in use.",
    ),
    "NvidiaRowRemapFailure": _rule(
        {},
        "DCGM_FI_DEV_ROW_REMAP_FAILURE > 0",
        "critical",
        "0s",
        "GPU {{ $labels.gpu }} of {{ $labels.instance }} failed row remapping: replace it",
        "Row remapping failed: the GPU has run out of spare rows (RMA).",
        "dcgm-exporter",
        "A failed remap means the GPU cannot repair its memory any more: take it out of service.",
    ),
    "NvidiaUncorrectableRemappedRows": _rule(
        {},
        "increase(DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS[1h]) > 0",
        "warning",
        "0s",
        "GPU {{ $labels.gpu }} of {{ $labels.instance }} remapped rows after uncorrectable errors",
        "{{ $value }} row(s) remapped for uncorrectable errors within the last hour.",
        "dcgm-exporter",
        "Each uncorrectable-error remap consumes a spare row; a run of them precedes a remap "
        "failure.",
    ),
    "NvidiaPcieReplays": _rule(
        {"replays_per_minute": _p("number", 10, "PCIe replays per minute")},
        "60 * rate(DCGM_FI_DEV_PCIE_REPLAY_COUNTER[5m]) > ${replays_per_minute}",
        "warning",
        "10m",
        "PCIe replays on GPU {{ $labels.gpu }} of {{ $labels.instance }}",
        '{{ $value | printf "%.1f" }} PCIe replays per minute: a marginal link or riser.',
        "dcgm-exporter",
        "A healthy link replays rarely; a steady rate points at a riser, cable or slot.",
    ),
    "NvidiaPcieLinkDowntrained": _rule(
        {"min_width": _p("number", 16, "lowest acceptable PCIe link width (lanes)")},
        "DCGM_FI_DEV_PCIE_LINK_WIDTH < ${min_width}",
        "warning",
        "10m",
        "PCIe link of GPU {{ $labels.gpu }} on {{ $labels.instance }} trained down to x{{ $value }}",
        "The link runs with fewer lanes than expected, cutting host-device bandwidth.",
        "dcgm-exporter",
        "Width, not generation: GPUs lower the PCIe generation at idle to save power, the width "
        "stays. Datacenter GPUs are x16; set min_width per group for others.",
    ),
    "NvidiaThermalThrottling": _rule(
        {"percent": _p("percent", 5, "percentage of time throttled for temperature")},
        "100 * rate(DCGM_FI_DEV_THERMAL_VIOLATION[5m]) / 1e9 > ${percent}",
        "warning",
        "15m",
        "GPU {{ $labels.gpu }} of {{ $labels.instance }} throttles for temperature",
        'Clocks reduced for temperature {{ $value | printf "%.0f" }}% of the time.',
        "dcgm-exporter",
        "The violation counters count nanoseconds (our counters file says so; upstream's says "
        "us): rate / 1e9 is the throttled fraction. Sustained thermal throttling means cooling "
        "trouble.",
    ),
    "NvidiaPowerThrottling": _rule(
        {"percent": _p("percent", 50, "percentage of time throttled for power")},
        "100 * rate(DCGM_FI_DEV_POWER_VIOLATION[5m]) / 1e9 > ${percent}",
        "info",
        "30m",
        "GPU {{ $labels.gpu }} of {{ $labels.instance }} is power-capped",
        'Clocks reduced for power {{ $value | printf "%.0f" }}% of the time.',
        "dcgm-exporter",
        "OFF by default: a GPU at full load runs at its power cap by design; enable it where "
        "power limits are set below the default.",
        enabled=False,
    ),
    "NvlinkErrors": _rule(
        {},
        "increase(DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL[10m]) > 0"
        " or increase(DCGM_FI_DEV_NVLINK_REPLAY_ERROR_COUNT_TOTAL[10m]) > 0"
        " or increase(DCGM_FI_DEV_NVLINK_RECOVERY_ERROR_COUNT_TOTAL[10m]) > 0",
        "warning",
        "0s",
        "NVLink errors on GPU {{ $labels.gpu }} of {{ $labels.instance }}",
        "NVLink CRC, replay or recovery error counters increased.",
        "dcgm-exporter",
        "Counter increases (events). These legacy fields are reported to read 0 on Hopper, so "
        "NvlinkLinksLost (from all-smi) is the signal that works there.",
    ),
    "NvlinkLinksLost": _rule(
        {},
        "count by (" + _TARGET + ", gpu_uuid) (all_smi_nvlink_remote_device_type offset 10m)"
        " > on (instance, gpu_uuid) group_left () (count by (instance, gpu_uuid) (all_smi_nvlink_remote_device_type)"
        " or 0 * count by (instance, gpu_uuid) (all_smi_gpu_info))",
        "warning",
        "0s",
        "GPU {{ $labels.gpu_uuid }} on {{ $labels.instance }} lost NVLink links",
        "It had {{ $value }} active NVLink links 10 minutes ago and has fewer now.",
        "all-smi",
        "all-smi lists every active NVLink link (re-read at each collection); fewer links than "
        "10 minutes ago means a link went down. Silent through restarts (no device series, no "
        "comparison); fires for 10 minutes after the loss.",
    ),
    "RebellionsNpuUnhealthy": _rule(
        {},
        'all_smi_gpu_info{status!="",status!="normal"}',
        "warning",
        "2m",
        "Rebellions NPU {{ $labels.gpu_index }} on {{ $labels.instance }} reports status {{ $labels.status }}",
        "rbln-stat reports the device as {{ $labels.status }} instead of normal.",
        "all-smi",
        "The only vendor health signal all-smi v0.25.0 exports: the Rebellions reader's status "
        "as a label of all_smi_gpu_info. (Its all_smi_rebellions_status, Furiosa's status/ready "
        "and Tenstorrent's heartbeat/faults/throttler series are never filled by the released "
        "readers; see docs/emulator.md.)",
    ),
    # The check runner's series cover exactly the ports the infiniband check names (every
    # port when devices is empty), with link_layer from sysfs: InfiniBand and RoCE apart.
    "InfinibandLinkDown": _rule(
        {},
        '(accelmon_check_infiniband_state_id{link_layer="InfiniBand"} != 4'
        ' or accelmon_check_infiniband_physical_state_id{link_layer="InfiniBand"} != 5)'
        ' or max without (status) (accelmon_check_status{check="infiniband",status="missing"} == 1)',
        "critical",
        "15s",
        "InfiniBand port {{ $labels.device }}{{ with $labels.port }}/{{ . }}{{ end }}{{ $labels.item }}"
        " on {{ $labels.instance }} is down",
        "Port state is not ACTIVE (4) or physical state is not LinkUp (5), or the HCA the checks policy names"
        " is missing. Error counters: node_infiniband_* with the same device and port.",
        "accelmon check runner (sysfs)",
        "Read from sysfs by the check runner for the ports the infiniband check names, so RoCE and "
        "InfiniBand links are told apart; the runner's interval debounces a flap.",
    ),
    "RoceLinkDown": _rule(
        {},
        'accelmon_check_infiniband_state_id{link_layer="Ethernet"} != 4'
        ' or accelmon_check_infiniband_physical_state_id{link_layer="Ethernet"} != 5',
        "critical",
        "15s",
        "RoCE port {{ $labels.device }}/{{ $labels.port }} on {{ $labels.instance }} is down",
        "Port state is not ACTIVE (4) or physical state is not LinkUp (5) on an Ethernet (RoCE) link layer.",
        "accelmon check runner (sysfs)",
        "A RoCE port down partitions the node from the training fabric as surely as an IB one.",
    ),
    "InfinibandLinkSlow": _rule(
        {},
        "accelmon_check_infiniband_rate_gbps < accelmon_check_infiniband_min_rate_gbps"
        " and accelmon_check_infiniband_state_id == 4",
        "warning",
        "5m",
        "{{ $labels.link_layer }} port {{ $labels.device }}/{{ $labels.port }} on {{ $labels.instance }}"
        " runs at {{ $value }} Gb/s",
        "The port is up below the checks policy's min_rate_gbps (a degraded cable or a downshifted link).",
        "accelmon check runner (sysfs)",
        "A link that trained at a lower rate keeps working but slows every collective; 5 minutes "
        "keeps a renegotiation from firing it.",
    ),
    "NvmeCriticalWarning": _rule(
        {},
        "nvme_critical_warning > 0",
        "critical",
        "0s",
        "NVMe {{ $labels.device }} on {{ $labels.instance }} reports a critical warning",
        "SMART critical_warning bitfield is {{ $value }}.",
        "accelmon check runner (nvme check)",
        "The drive's own SMART critical_warning (spare, temperature, reliability, read-only): "
        "a state the drive latches, no `for` needed. Written by the check runner's nvme check.",
    ),
    "MountCheckFailed": _rule(
        {},
        'max without (status) (accelmon_check_status{check="mount",status!="responsive"} == 1)',
        "critical",
        "0s",
        "Mount {{ $labels.item }} on {{ $labels.instance }} failed its check",
        "missing, wrong_fstype, wrong_options, timeout (no answer within timeout_seconds), in_flight (an"
        " earlier probe is still stuck in the kernel: the mount hangs) or error; the runner's log says which.",
        "accelmon check runner",
        "A required mount (datasets, checkpoints) missing fails every job on the node; the "
        "runner's own timeout and interval already debounce it.",
    ),
    "ParallelFsSlow": _rule(
        {"latency_seconds": _p("number", 1.0, "probe latency in seconds")},
        'accelmon_check_duration_seconds{check="parallel_fs"} > ${latency_seconds}'
        ' or max without (status) (accelmon_check_status{check="parallel_fs",status=~"timeout|in_flight"} == 1)',
        "warning",
        "10m",
        "Parallel filesystem {{ $labels.item }} slow on {{ $labels.instance }}",
        "The canary stat/read took {{ $value }}s, or did not answer (1 means timed out or still stuck);"
        " latency distribution: accelmon_check_parallel_fs_latency_seconds.",
        "accelmon check runner",
        "Metadata latency held for 10 minutes; one slow probe during a checkpoint storm does "
        "not fire it.",
    ),
    "CheckRunnerStale": _rule(
        {"max_age_seconds": _p("number", 300, "age of the last check run in seconds")},
        "time() - accelmon_check_last_run_timestamp_seconds > ${max_age_seconds}"
        " or accelmon_check_runner_success == 0"
        " or node_textfile_scrape_error == 1"
        ' or time() - node_textfile_mtime_seconds{file=~"(.*/)?accelmon_check_[a-z_]+[.]prom"} > ${max_age_seconds}',
        "warning",
        "5m",
        "Custom checks on {{ $labels.instance }} are stale or failing",
        "A check type has not written its textfile within max_age_seconds, its probe crashed"
        " (accelmon_check_runner_success 0), or node_exporter cannot read a textfile"
        " (node_textfile_scrape_error). See systemctl status 'accelmon-check-*'.",
        "accelmon check runner, node_exporter textfile collector",
        "Without it a stopped runner would silently freeze every check result at its last value; "
        "5 minutes so a timer delayed on a busy node does not fire it.",
    ),
    "SmartDiskUnhealthy": _rule(
        {},
        "smartmon_device_smart_healthy == 0",
        "critical",
        "0s",
        "Disk {{ $labels.disk }} on {{ $labels.instance }} fails its SMART self-assessment",
        "smartctl reports the overall-health self-assessment as FAILED; replace the disk.",
        "accelmon check runner (smartctl --json, smartmon names)",
        "The drive's own overall-health verdict (or smartctl's 'disk failing' exit bit): a disk "
        "predicted to fail, a state it latches, no `for` needed.",
    ),
    "PortUnreachable": _rule(
        {},
        'max without (status) (accelmon_check_status{check="port",status!="open"} == 1)',
        "warning",
        "1m",
        "Port {{ $labels.item }} is not accepting connections on {{ $labels.instance }}",
        "The TCP connect was refused, timed out or failed.",
        "accelmon check runner",
        "A listener the node or its jobs depend on (a local daemon, a remote dependency); "
        "1 minute rides out a service restart.",
    ),
    "LicenseExpiring": _rule(
        {"days": _p("number", 14, "days before expiry at which the rule fires")},
        "(accelmon_check_license_expiry_timestamp_seconds - time()) / 86400 < ${days}"
        ' or max without (status) (accelmon_check_status{check="license",status=~"unknown|unreachable|error"} == 1)',
        "warning",
        "0s",
        "Licence {{ $labels.item }} on {{ $labels.instance }} expires within its threshold or cannot be checked",
        "Days left: {{ $value }} (1 without a date: no expiry date found, server unreachable or an error).",
        "accelmon check runner",
        "Days of warning to renew before jobs stop; a licence that cannot be checked is reported "
        "the same way, since nobody would notice it expire.",
    ),
    "CheckCommandFailed": _rule(
        {},
        'max without (status) (accelmon_check_status{check="command",status!="ok"} == 1)',
        "warning",
        "0s",
        "Check command {{ $labels.item }} failed on {{ $labels.instance }}",
        "The command exited non-zero, timed out or could not start (accelmon_check_command_exit_code).",
        "accelmon check runner",
        "The site's own health commands; the runner's timeout and interval debounce them, and the "
        "item label names the command that failed.",
    ),
}

_COMMON_CHECK_PARAMS = {
    "interval": _p("duration", "60s", "how often the runner executes the check"),
    "timeout_seconds": _p("number", 10, "per-check timeout"),
}


def _check(params, description):
    merged = dict(_COMMON_CHECK_PARAMS)
    merged.update(params)
    return {"parameters": merged, "description": description}


BUILTIN_CHECK_TYPES = {
    "mount": _check(
        {"paths": _p("mount_paths", [], "paths (or {path, fstype, options}) that must be mounted")},
        "Mount points present, with the expected filesystem type and options.",
    ),
    "infiniband": _check(
        {
            "devices": _p("string_list", [], "HCA names to check; empty means every HCA"),
            "min_rate_gbps": _p("number", 0, "lowest acceptable port rate in Gb/s"),
        },
        "InfiniBand/RoCE ports ACTIVE and LinkUp at the expected rate.",
    ),
    "nvme": _check(
        {
            "devices": _p("string_list", [], "controllers to check; empty means every controller"),
            "min_available_spare_percent": _p("percent", 10, "lowest acceptable spare"),
            "max_percentage_used": _p("percent", 90, "highest acceptable wear"),
        },
        "NVMe SMART health (critical warning, spare, wear, media errors).",
    ),
    "parallel_fs": _check(
        {
            "paths": _p("string_list", [], "parallel filesystem mount points to probe"),
            "canary_file": _p("string", "", "file under each path to read 4 KiB of; empty: stat and statfs only"),
            "write_test": _p("boolean", False, "also write, fsync and delete a small file under each path"),
        },
        "Lustre/GPFS/BeeGFS/WEKA mount reachable and its metadata latency.",
    ),
    "smart": _check(
        {"devices": _p("string_list", [], "disks to check; empty means every disk")},
        "SMART health of SATA/SAS disks.",
    ),
    "port": _check(
        {"ports": _p("port_list", [], "TCP ports that must accept connections")},
        "TCP ports open (local services, or {host, port} dependencies).",
    ),
    "command": _check(
        {
            "commands": _p(
                "command_list",
                [],
                "commands whose exit status 0 means healthy ({name, command, timeout_seconds, user, value_regex})",
            )
        },
        "Site-specific commands; exit status 0 is healthy.",
    ),
    "license": _check(
        {
            "servers": _p("string_list", [], "license servers as port@host that must accept TCP connections"),
            "files": _p("string_list", [], "files holding an expiry date (ISO, 31-dec-2026 or Unix time)"),
            "commands": _p(
                "command_list", [], "commands printing expiry dates, e.g. lmutil lmstat -i or nvidia-smi -q"
            ),
        },
        "Licence servers (FlexLM style port@host) reachable; licence expiry from files or commands.",
    ),
}

ALERTING_PARAMETERS = {
    "receiver": _p("string", "default", "Alertmanager receiver for this target's alerts"),
    "team": _p("optional_string", None, "owning team, added as the team label"),
    "labels": _p("label_map", {}, "extra routing labels added to every alert"),
}

RULE_FIELDS = ("enabled", "thresholds", "for", "severity", "labels", "strategy")
CHECK_FIELDS = ("enabled", "config", "strategy")
TEMPLATE_FIELDS = ("expr", "parameters", "for", "severity", "summary", "description")
# Placeholders that are not parameters: ${by} and ${route} of aggregating templates, and
# ${selector}, which templates written for the previous compiler carry (removed).
STRUCTURE_PLACEHOLDERS = ("by", "route", "selector")
# Rule parameters are values of the accelmon_alert_threshold series: numbers.
THRESHOLD_TYPES = ("integer", "number", "percent")
# What may stand right before a threshold placeholder: a binary operator, optionally `bool`.
_OPERATOR_BEFORE_RE = re.compile(r"(?:==|!=|>=|<=|>|<|\+|-|\*|/|%|\^|\batan2)\s*(?:\bbool\s*)?$")


def template_expr_problem(expr):
    """None, or (what is wrong, how to fix it) for a rule template's expr."""
    aggregating = "${by}" in expr
    if aggregating != ("${route}" in expr):
        return (
            "aggregating templates use both ${by} and ${route}",
            "write e.g. count by (${by}) (my_metric ${route}) > ${limit}, or neither for a per-target template",
        )
    for match in PLACEHOLDER_RE.finditer(expr):
        if match.group(1) in STRUCTURE_PLACEHOLDERS:
            continue
        if not _OPERATOR_BEFORE_RE.search(expr[: match.start()]):
            return (
                "${%s} must stand right after a binary operator (it becomes a join on the target's "
                "threshold series, not a number)" % match.group(1),
                "write the comparison as <expression> > ${%s}" % match.group(1),
            )
    return None


class Catalog:
    """The rule templates and check types a model can use: built-ins plus its own."""

    def __init__(self, rule_templates=None, check_types=None):
        self.rule_templates = dict(BUILTIN_RULE_TEMPLATES)
        if rule_templates:
            self.rule_templates.update(rule_templates)
        self.check_types = dict(check_types or BUILTIN_CHECK_TYPES)
        self._defaults = None

    def defaults(self):
        """The effective policy before any source applies (source `default`)."""
        if self._defaults is None:
            self._defaults = {
                "checks": dict(
                    (name, _defaults_of(spec["parameters"], {"enabled": False}))
                    for name, spec in self.check_types.items()
                ),
                "alert_rules": dict(
                    (
                        name,
                        {
                            "enabled": spec.get("enabled", True),
                            "thresholds": _defaults_of(spec["parameters"], {}),
                            "for": spec["for"],
                            "severity": spec["severity"],
                            "labels": {},
                        },
                    )
                    for name, spec in self.rule_templates.items()
                ),
                "alerting": _defaults_of(ALERTING_PARAMETERS, {}),
            }
        return copy.deepcopy(self._defaults)


def _defaults_of(parameters, base):
    out = dict(base)
    for key, spec in parameters.items():
        out[key] = copy.deepcopy(spec["default"])
    return out


def validate_rule_template(name, spec, source_file=None):
    """Validate a model-defined rule template; return it in catalog form."""
    path = ("rule_templates", name)

    def fail(msg, fix, sub=()):
        raise FleetModelError(
            msg, item="rule template %s" % name, fix=fix, source_file=source_file, path=path + tuple(sub)
        )

    if not TEMPLATE_NAME_RE.fullmatch(str(name)):
        fail("template names are CamelCase identifiers", "rename it, e.g. GpuPowerHigh")
    if name in BUILTIN_RULE_TEMPLATES:
        fail(
            "redefines the built-in template %s" % name,
            "choose another name; tune the built-in through alert_rules thresholds instead",
        )
    if not isinstance(spec, dict):
        fail("must be a mapping", "give expr, parameters, for, severity")
    unknown = sorted(set(spec) - set(TEMPLATE_FIELDS))
    if unknown:
        fail("unknown key(s) %s" % ", ".join(unknown), "allowed keys: %s" % ", ".join(TEMPLATE_FIELDS))
    expr = spec.get("expr")
    if not isinstance(expr, str) or not expr.strip():
        fail("expr is missing", "give the PromQL expression with ${param} placeholders", ("expr",))
    params = spec.get("parameters") or {}
    if not isinstance(params, dict):
        fail("parameters must be a mapping", "write parameters: {name: {type: number, default: 1}}", ("parameters",))
    out_params = {}
    for pname, pspec in params.items():
        if not isinstance(pspec, dict) or "type" not in pspec or "default" not in pspec:
            fail(
                "parameter %s needs type and default" % pname,
                "write %s: {type: number, default: ...}" % pname,
                ("parameters", pname),
            )
        if pspec["type"] not in PARAMETER_TYPES:
            fail(
                "parameter %s has unknown type %r" % (pname, pspec["type"]),
                "use one of: %s" % ", ".join(PARAMETER_TYPES),
                ("parameters", pname, "type"),
            )
        if pspec["type"] not in THRESHOLD_TYPES:
            fail(
                "parameter %s has type %s; a rule threshold is a series value" % (pname, pspec["type"]),
                "use one of: %s" % ", ".join(THRESHOLD_TYPES),
                ("parameters", pname, "type"),
            )
        try:
            validate_value(pspec["type"], pspec["default"])
        except ValueError as exc:
            fail("default of parameter %s: %s" % (pname, exc), "fix the default", ("parameters", pname, "default"))
        out_params[pname] = _p(pspec["type"], pspec["default"], pspec.get("description", ""))
    used = set(PLACEHOLDER_RE.findall(expr)) - set(STRUCTURE_PLACEHOLDERS)
    missing = sorted(used - set(out_params))
    if missing:
        fail(
            "expr uses placeholder(s) %s that are not declared parameters" % ", ".join(missing),
            "declare them under parameters or remove them from expr",
            ("expr",),
        )
    reserved = sorted(set(out_params) & set(STRUCTURE_PLACEHOLDERS))
    if reserved:
        fail(
            "parameter name(s) %s are reserved placeholders" % ", ".join(reserved),
            "rename the parameter, e.g. limit",
            ("parameters", reserved[0]),
        )
    problem = template_expr_problem(expr)
    if problem:
        fail("expr: %s" % problem[0], problem[1], ("expr",))
    severity = spec.get("severity", "warning")
    if severity not in SEVERITIES:
        fail("severity %r is not one of %s" % (severity, ", ".join(SEVERITIES)), "pick one of those", ("severity",))
    for_ = spec.get("for", "5m")
    try:
        validate_value("duration", for_)
    except ValueError as exc:
        fail("for: %s" % exc, "write e.g. for: 5m", ("for",))
    return _rule(out_params, expr, severity, for_, spec.get("summary", name), spec.get("description", ""), "model")
