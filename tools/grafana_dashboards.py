#!/usr/bin/env python
"""The Grafana dashboards of accelmon.monitoring, as code: one module, committed JSON.

    .venv/bin/python tools/grafana_dashboards.py           # write roles/grafana/files/dashboards/
    .venv/bin/python tools/grafana_dashboards.py --check   # exit 1 when the JSON is stale

Built with Grafana's own grafana-foundation-sdk (requirements/test.txt pins
1769699379!11.6.0: the SDK publishes every Grafana version under one epoch per release, and
pip's newest is the 10.1 build of the newest epoch, so the pin names both). Its builders
give typed panels (timeseries, stat, table, state-timeline only: no Angular `graph` or
`singlestat`) and its models read the JSON back (tests/unit/test_grafana_dashboards.py).

Label contract (read from roles/prometheus/templates/file_sd.json.j2 and
the released exporters, tests/emulator/released_surface.py):

- every scraped series carries the target labels instance (inventory name), group (primary
  group path such as infrastructure:aws/us-east-1), provider, environment and team;
- all-smi device series carry gpu (the model string: there is no vendor label), gpu_uuid and
  gpu_index; NPU-specific series npu, npu_uuid and npu_index (same uuid as gpu_uuid);
- dcgm-exporter series carry gpu (the index), UUID, modelName, device.

Every query filters on the template variables, and the datasource of every panel and query
is the `${datasource}` variable, so one dashboard serves every Prometheus (HA replica,
shard or long-term store) that roles/grafana provisions.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus as pb
from grafana_foundation_sdk.builders import stat as statb
from grafana_foundation_sdk.builders import statetimeline as stlb
from grafana_foundation_sdk.builders import table as tableb
from grafana_foundation_sdk.builders import timeseries as tsb
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as pm

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "roles" / "grafana" / "files" / "dashboards"

DS = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")

# Filters every query applies (a host that lacks a label matches `.*`, i.e. "All").
HOST_SEL = 'group=~"$group", environment=~"$environment", team=~"$team", provider=~"$provider", instance=~"$instance"'
FLEET_GPU_SEL = HOST_SEL + ', gpu=~"$vendor"'
GPU_SEL = FLEET_GPU_SEL + ', gpu_uuid=~"$device"'
NPU_SEL = HOST_SEL + ', npu=~"$vendor", npu_uuid=~"$device"'
DCGM_SEL = HOST_SEL + ', modelName=~"$vendor", UUID=~"$device"'
FS_EXCLUDE = 'fstype!~"tmpfs|overlay|squashfs|nsfs|ramfs"'
NETWORK_FS = 'fstype=~"nfs.*|lustre|gpfs|beegfs|wekafs|cifs|fuse\\\\..*"'

GPU_LEGEND = "{{instance}} / {{gpu_index}}"
NPU_LEGEND = "{{instance}} / {{npu_index}}"
DCGM_LEGEND = "{{instance}} / {{gpu}}"

# Vendor -> regex over the model string all-smi puts in `gpu`/`npu` (and dcgm-exporter in
# modelName). Model strings: "NVIDIA H200", "AMD Instinct MI300X", "HL-225" (Gaudi 2),
# "RBLN-CA22", "RNGD"/"Warboy", "Tenstorrent Wormhole n300", "TPU v5e".
VENDORS = [
    ("All", ".*"),
    ("NVIDIA", "NVIDIA.*"),
    ("AMD", "AMD.*"),
    ("Intel Gaudi", "HL-.*|.*Gaudi.*"),
    ("Rebellions", "RBLN.*"),
    ("FuriosaAI", "RNGD.*|Warboy.*|Furiosa.*"),
    ("Tenstorrent", "Tenstorrent.*"),
    ("Google TPU", "TPU.*"),
]

UP_DOWN = [dm.ValueMap(options={"0": dm.ValueMappingResult(text="down", color="red", index=0),
                                "1": dm.ValueMappingResult(text="up", color="green", index=1)})]
OK_FAIL = [dm.ValueMap(options={"0": dm.ValueMappingResult(text="failed", color="red", index=0),
                                "1": dm.ValueMappingResult(text="ok", color="green", index=1)})]
ERR_OK = [dm.ValueMap(options={"0": dm.ValueMappingResult(text="ok", color="green", index=0),
                               "1": dm.ValueMappingResult(text="error", color="red", index=1)})]
IB_STATE = [dm.ValueMap(options={
    "1": dm.ValueMappingResult(text="DOWN", color="red", index=0),
    "2": dm.ValueMappingResult(text="INIT", color="orange", index=1),
    "3": dm.ValueMappingResult(text="ARMED", color="yellow", index=2),
    "4": dm.ValueMappingResult(text="ACTIVE", color="green", index=3),
    "5": dm.ValueMappingResult(text="ACTIVE_DEFER", color="yellow", index=4),
})]


@dataclass(frozen=True)
class Q:
    """One query of a panel: PromQL, its legend, and whether it is an instant query."""

    expr: str
    legend: str = ""
    instant: bool = False
    table: bool = False


def _target(q, ref):
    t = pb.Dataquery().expr(q.expr).ref_id(ref).datasource(DS).legend_format(q.legend or "__auto")
    t = t.instant() if q.instant else t.range()
    if q.table:
        t = t.format(pm.PromQueryFormat.TABLE)
    return t


def _targets(builder, queries):
    for i, q in enumerate(queries):
        builder = builder.with_target(_target(q, chr(ord("A") + i)))
    return builder


def _common(builder, title, desc, unit, w, h):
    return builder.title(title).description(desc).datasource(DS).unit(unit).span(w).height(h)


def timeseries(title, desc, unit, queries, w=12, h=8, min_val=None, max_val=None, thresholds=None):
    b = _common(tsb.Panel(), title, desc, unit, w, h)
    b = b.legend(cb.VizLegendOptions().display_mode(cm.LegendDisplayMode.TABLE)
                 .placement(cm.LegendPlacement.BOTTOM).show_legend(True).calcs(["lastNotNull", "max"]))
    b = b.tooltip(cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.DESCENDING))
    b = b.line_width(1).fill_opacity(10).show_points(cm.VisibilityMode.NEVER)
    if min_val is not None:
        b = b.min(min_val)
    if max_val is not None:
        b = b.max(max_val)
    if thresholds:
        b = b.thresholds(_thresholds(thresholds)).thresholds_style(
            cb.GraphThresholdsStyleConfig().mode(cm.GraphThresholdsStyleMode.LINE))
    return _targets(b, queries)


def stat(title, desc, unit, queries, w=4, h=4, thresholds=None, mappings=None):
    b = _common(statb.Panel(), title, desc, unit, w, h)
    b = b.reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    b = b.graph_mode(cm.BigValueGraphMode.AREA).color_mode(cm.BigValueColorMode.VALUE)
    b = b.text_mode(cm.BigValueTextMode.AUTO)
    b = b.thresholds(_thresholds(thresholds or [(None, "green")]))
    if mappings:
        b = b.mappings(mappings)
    return _targets(b, queries)


def table(title, desc, unit, queries, w=12, h=8, hide=("Time",), sort=None):
    b = _common(tableb.Panel(), title, desc, unit, w, h)
    b = b.show_header(True).cell_height(cm.TableCellHeight.SM)
    if sort:
        b = b.sort_by([cb.TableSortByFieldState().display_name(sort).desc(True)])
    b = b.with_transformation(dm.DataTransformerConfig(
        id_val="organize", options={"excludeByName": {name: True for name in hide}}))
    return _targets(b, [Q(q.expr, q.legend, instant=True, table=True) for q in queries])


def timeline(title, desc, unit, queries, mappings, w=12, h=8):
    b = _common(stlb.Panel(), title, desc, unit, w, h)
    b = b.mappings(mappings).show_value(cm.VisibilityMode.NEVER).merge_values(True).row_height(0.8)
    b = b.legend(cb.VizLegendOptions().display_mode(cm.LegendDisplayMode.LIST)
                 .placement(cm.LegendPlacement.BOTTOM).show_legend(True))
    b = b.thresholds(_thresholds([(None, "green")]))
    return _targets(b, queries)


def _thresholds(steps):
    return db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps(
        [dm.Threshold(value=v, color=c) for v, c in steps])


# ----------------------------------------------------------------------------- variables

def _query_var(name, label, query, desc, include_all=True):
    v = (db.QueryVariable(name).label(label).description(desc).datasource(DS).multi(True)
         .query(query).refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED).sort(dm.VariableSort.ALPHABETICAL_ASC))
    if not include_all:
        return v  # Grafana preselects the first value
    return v.include_all(True).all_value(".*").current(dm.VariableOption(selected=True, text="All", value="$__all"))


def variables(kind, all_hosts):
    """The variables of a dashboard.

    kind: 'node' (hosts), 'fleet' (hosts and vendor) or 'device' (accelerator hosts, vendor and
    device). Group, environment, team and provider come from the node job, which every host runs.
    all_hosts: the Host variable offers "All" (aggregating dashboards). Per-host dashboards
    start on one host and take several, never all: at 10,000 hosts a per-host panel over all
    of them is 10,000 series and tens of seconds (docs/performance.md).
    """
    base = 'up{job="node"'
    out = [
        db.DatasourceVariable("datasource").label("Prometheus").type("prometheus")
        .description("The Prometheus server, shard or long-term store to read (one per provisioned datasource)."),
        _query_var("group", "Group", "label_values(%s}, group)" % base,
                   "Primary group path of the host (namespace:path, e.g. infrastructure:aws/us-east-1)."),
        _query_var("environment", "Environment", 'label_values(%s, group=~"$group"}, environment)' % base,
                   "environment: groups of the host."),
        _query_var("team", "Team", 'label_values(%s, group=~"$group", environment=~"$environment"}, team)' % base,
                   "Owning team from the host's alerting policy."),
        _query_var("provider", "Provider", 'label_values(%s, group=~"$group"}, provider)' % base,
                   "Cloud provider or onprem."),
    ]
    if kind in ("fleet", "device"):
        out.append(db.CustomVariable("vendor").label("Vendor")
                   .description("Accelerator vendor, matched on the model string (all-smi has no vendor label).")
                   .values(",".join("%s : %s" % (text, value) for text, value in VENDORS))
                   .options([dm.VariableOption(selected=text == "All", text=text, value=value) for text, value in VENDORS])
                   .current(dm.VariableOption(selected=True, text="All", value=".*")))
    hosts = 'up{job="allsmi"' if kind == "device" else base
    out.append(_query_var(
        "instance", "Host",
        'label_values(%s, group=~"$group", environment=~"$environment", team=~"$team", provider=~"$provider"}, instance)'
        % hosts, "Inventory name of the host.", include_all=all_hosts))
    if kind == "device":
        out.append(_query_var(
            "device", "Device",
            'label_values(all_smi_gpu_info{instance=~"$instance", gpu=~"$vendor"}, gpu_uuid)',
            "Accelerator by UUID (stable across reboots; gpu_index shifts when a device drops out)."))
    return out


def dashboard(uid, title, desc, tags, kind, rows, all_hosts=False):
    d = (db.Dashboard(title).uid(uid).description(desc).tags(["accelmon"] + tags).editable()
         .tooltip(dm.DashboardCursorSync.CROSSHAIR).time("now-6h", "now").refresh("1m")
         .timezone("browser").variables(variables(kind, all_hosts)))
    for row_title, panels in rows:
        d = d.with_row(db.Row(row_title))
        for panel in panels:
            d = d.with_panel(panel)
    model = d.build()
    # Panel ids in grid order: stable across regenerations, unique per dashboard.
    for i, panel in enumerate(model.panels, 1):
        panel.id_val = i
    return model


# ----------------------------------------------------------------------------- dashboards

def fleet_overview():
    acc = "all_smi_gpu_info{%s}" % FLEET_GPU_SEL
    seen = "count by (instance) (count by (instance, gpu_uuid) (max_over_time(%s[1d])))" % acc
    now = "count by (instance) (%s)" % acc
    rows = [
        ("Fleet", [
            stat("Accelerators", "Devices all-smi reports now.", "none", [Q("count(%s) or vector(0)" % acc)]),
            stat("Hosts up", "node_exporter targets that answer.", "none",
                 [Q('sum(up{job="node", %s})' % HOST_SEL)]),
            stat("Hosts down", "node_exporter targets that do not answer.", "none",
                 [Q('count(up{job="node", %s} == 0) or vector(0)' % HOST_SEL)],
                 thresholds=[(None, "green"), (1, "red")]),
            stat("Accelerator exporters down", "all-smi and dcgm-exporter targets that do not answer.", "none",
                 [Q('count(up{job=~"allsmi|dcgm", %s} == 0) or vector(0)' % HOST_SEL)],
                 thresholds=[(None, "green"), (1, "red")]),
            stat("Firing alerts", "Alerts firing now (all severities).", "none",
                 [Q('count(ALERTS{alertstate="firing", %s}) or vector(0)' % HOST_SEL)],
                 thresholds=[(None, "green"), (1, "orange")]),
            stat("Critical alerts", "Critical alerts firing now.", "none",
                 [Q('count(ALERTS{alertstate="firing", severity="critical", %s}) or vector(0)' % HOST_SEL)],
                 thresholds=[(None, "green"), (1, "red")]),
        ]),
        ("Accelerators", [
            table("Accelerators per model and group", "Device count per model string (vendor) and primary group.",
                  "none", [Q("count by (gpu, group) (%s)" % acc)], sort="Value"),
            timeseries("Accelerators per model", "Device count over time: a drop is a device that vanished.",
                       "none", [Q("count by (gpu) (%s)" % acc, "{{gpu}}")], min_val=0),
            table("Hosts missing accelerators",
                  "Hosts where all-smi reports fewer devices than it did in the last day, and how many are missing. "
                  "The inventory's declared count is not in Prometheus: this compares with the host's own history.",
                  "none", [Q("%s - (%s or %s * 0) > 0" % (seen, now, seen))], sort="Value"),
            timeseries("Hosts down per group", "node_exporter targets not answering, per primary group.", "none",
                       [Q('count by (group) (up{job="node", %s} == 0)' % HOST_SEL, "{{group}}")], min_val=0),
            table("Hosts down now", "Which hosts do not answer node_exporter scrapes, and their group and team.",
                  "none", [Q('up{job="node", %s} == 0' % HOST_SEL)], hide=("Time", "Value", "__name__")),
        ]),
        ("Hot spots", [
            table("Hottest devices", "Top 10 device temperatures now.", "celsius",
                  [Q("topk(10, all_smi_gpu_temperature_celsius{%s})" % FLEET_GPU_SEL)], sort="Value"),
            table("Busiest devices", "Top 10 device utilizations now.", "percent",
                  [Q("topk(10, all_smi_gpu_utilization{%s})" % FLEET_GPU_SEL)], sort="Value"),
            table("Firing alerts by severity and team", "Alerts firing now, counted per severity and owning team.",
                  "none", [Q('count by (severity, team) (ALERTS{alertstate="firing", %s})' % HOST_SEL)],
                  sort="Value"),
            timeseries("Firing alerts by severity", "Firing alerts over time.", "none",
                       [Q('count by (severity) (ALERTS{alertstate="firing", %s})' % HOST_SEL, "{{severity}}")],
                       min_val=0),
        ]),
    ]
    return dashboard("accelmon-fleet-overview", "Accelmon / Fleet overview",
                     "The whole accelerator fleet: devices per vendor and group, hosts up, alerts, hot spots.",
                     ["fleet"], "fleet", rows, all_hosts=True)


def accelerator_detail():
    mem_pct = "100 * all_smi_gpu_memory_used_bytes{%s} / all_smi_gpu_memory_total_bytes{%s}" % (GPU_SEL, GPU_SEL)
    rows = [
        ("All vendors (all-smi)", [
            timeseries("Utilization", "Device utilization (all-smi).", "percent",
                       [Q("all_smi_gpu_utilization{%s}" % GPU_SEL, GPU_LEGEND)], min_val=0, max_val=100),
            timeseries("Memory used", "Device memory in use.", "bytes",
                       [Q("all_smi_gpu_memory_used_bytes{%s}" % GPU_SEL, GPU_LEGEND)], min_val=0),
            timeseries("Memory used (share)", "Device memory in use, share of its total.", "percent",
                       [Q(mem_pct, GPU_LEGEND)], min_val=0, max_val=100),
            timeseries("Temperature against slowdown threshold",
                       "Device temperature and, where the vendor reports it (NVIDIA), its slowdown threshold.",
                       "celsius",
                       [Q("all_smi_gpu_temperature_celsius{%s}" % GPU_SEL, GPU_LEGEND),
                        Q("all_smi_gpu_temperature_threshold_slowdown_celsius{%s}" % GPU_SEL,
                          GPU_LEGEND + " slowdown")]),
            timeseries("Headroom to slowdown", "Slowdown threshold minus temperature (NVIDIA); below 5 C throttling is near.",
                       "celsius",
                       [Q("all_smi_gpu_temperature_threshold_slowdown_celsius{%s} - all_smi_gpu_temperature_celsius{%s}"
                          % (GPU_SEL, GPU_SEL), GPU_LEGEND)],
                       thresholds=[(None, "red"), (5, "orange"), (10, "green")]),
            timeseries("Power against limit", "Power draw and the current power limit (NVIDIA).", "watt",
                       [Q("all_smi_gpu_power_consumption_watts{%s}" % GPU_SEL, GPU_LEGEND),
                        Q("all_smi_gpu_power_limit_current_watts{%s}" % GPU_SEL, GPU_LEGEND + " limit")]),
            timeseries("Clock", "Graphics/core clock (all-smi reports MHz).", "hertz",
                       [Q("all_smi_gpu_frequency_mhz{%s} * 1e6" % GPU_SEL, GPU_LEGEND)], min_val=0),
            timeseries("Energy rate", "Average power from the energy counter (NVIDIA).", "watt",
                       [Q('rate(all_smi_energy_consumed_joules_total{scope!~"cpu|chassis", %s, gpu_uuid=~"$device"}'
                          '[$__rate_interval])' % HOST_SEL, GPU_LEGEND)]),
            table("Devices", "Model, driver and type of each device (read at exporter start).", "none",
                  [Q("all_smi_gpu_info{%s}" % GPU_SEL)], hide=("Time", "Value", "__name__", "job")),
        ]),
        ("NVIDIA depth (dcgm-exporter)", [
            timeseries("XID errors (last code)", "The last XID code per GPU (sticky until the exporter restarts); "
                       "48, 63, 64, 74, 79, 92, 94, 95, 119, 120 are hardware faults.", "none",
                       [Q("DCGM_FI_DEV_XID_ERRORS{%s}" % DCGM_SEL, DCGM_LEGEND)]),
            timeseries("ECC errors", "Double-bit (uncorrectable) and single-bit volatile ECC errors in the interval.",
                       "none",
                       [Q("increase(DCGM_FI_DEV_ECC_DBE_VOL_TOTAL{%s}[$__rate_interval])" % DCGM_SEL,
                          DCGM_LEGEND + " DBE"),
                        Q("increase(DCGM_FI_DEV_ECC_SBE_VOL_TOTAL{%s}[$__rate_interval])" % DCGM_SEL,
                          DCGM_LEGEND + " SBE")], min_val=0),
            timeseries("Row remapping", "Remapped rows for uncorrectable errors, and remapping failures (RMA).",
                       "none",
                       [Q("DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS{%s}" % DCGM_SEL, DCGM_LEGEND + " uncorrectable"),
                        Q("DCGM_FI_DEV_ROW_REMAP_FAILURE{%s}" % DCGM_SEL, DCGM_LEGEND + " failure")], min_val=0),
            timeseries("NVLink errors", "NVLink CRC flit, replay and recovery errors per second.", "cps",
                       [Q("rate(DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL{%s}[$__rate_interval])" % DCGM_SEL,
                          DCGM_LEGEND + " CRC"),
                        Q("rate(DCGM_FI_DEV_NVLINK_REPLAY_ERROR_COUNT_TOTAL{%s}[$__rate_interval])" % DCGM_SEL,
                          DCGM_LEGEND + " replay"),
                        Q("rate(DCGM_FI_DEV_NVLINK_RECOVERY_ERROR_COUNT_TOTAL{%s}[$__rate_interval])" % DCGM_SEL,
                          DCGM_LEGEND + " recovery")], min_val=0),
            timeseries("Throttled time", "Share of time clocks were held back for thermal or power reasons "
                       "(the violation counters count nanoseconds).", "percentunit",
                       [Q("rate(DCGM_FI_DEV_THERMAL_VIOLATION{%s}[$__rate_interval]) / 1e9" % DCGM_SEL,
                          DCGM_LEGEND + " thermal"),
                        Q("rate(DCGM_FI_DEV_POWER_VIOLATION{%s}[$__rate_interval]) / 1e9" % DCGM_SEL,
                          DCGM_LEGEND + " power")], min_val=0),
            timeseries("Tensor and DRAM activity", "Ratio of cycles the tensor pipe and the memory interface are active.",
                       "percentunit",
                       [Q("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE{%s}" % DCGM_SEL, DCGM_LEGEND + " tensor"),
                        Q("DCGM_FI_PROF_DRAM_ACTIVE{%s}" % DCGM_SEL, DCGM_LEGEND + " DRAM")], min_val=0, max_val=1),
            timeseries("PCIe replays", "PCIe retries per second (a rising rate is a bad link or riser).", "cps",
                       [Q("rate(DCGM_FI_DEV_PCIE_REPLAY_COUNTER{%s}[$__rate_interval])" % DCGM_SEL, DCGM_LEGEND)],
                       min_val=0),
            timeseries("Framebuffer used", "Framebuffer in use (dcgm-exporter reports MiB).", "bytes",
                       [Q("DCGM_FI_DEV_FB_USED{%s} * 1048576" % DCGM_SEL, DCGM_LEGEND)], min_val=0),
        ]),
        ("NPU health", [
            timeseries("Gaudi AIP utilization", "Intel Gaudi AIP utilization.", "percent",
                       [Q("all_smi_gaudi_aip_utilization_percent{%s}" % NPU_SEL, NPU_LEGEND)], min_val=0, max_val=100),
            timeseries("Gaudi power against maximum", "Intel Gaudi power draw and its maximum.", "watt",
                       [Q("all_smi_gaudi_power_draw_watts{%s}" % NPU_SEL, NPU_LEGEND),
                        Q("all_smi_gaudi_power_max_watts{%s}" % NPU_SEL, NPU_LEGEND + " max")]),
            # all-smi v0.25.0 fills no Rebellions, FuriosaAI or Tenstorrent health series (its
            # readers write other keys; tests/emulator/released_surface.py cites the lines): the
            # Rebellions `status` label of all_smi_gpu_info is the one vendor health signal.
            timeline("Rebellions status", "Rebellions device status from rbln-stat (the status label of "
                     "all_smi_gpu_info; 1 = normal).", "none",
                     [Q('(all_smi_gpu_info{%s, status="normal"} * 0 + 1)'
                        ' or (all_smi_gpu_info{%s, status!="", status!="normal"} * 0)' % (GPU_SEL, GPU_SEL),
                        "{{instance}} / {{gpu_index}} {{status}}")], OK_FAIL),
            timeseries("TPU utilization and HBM", "Google TPU utilization and HBM in use.", "percent",
                       [Q("all_smi_tpu_utilization_percent{%s}" % NPU_SEL, NPU_LEGEND),
                        Q("100 * all_smi_tpu_memory_used_bytes{%s} / all_smi_tpu_memory_total_bytes{%s}"
                          % (NPU_SEL, NPU_SEL), NPU_LEGEND + " HBM")], min_val=0, max_val=100),
        ]),
    ]
    return dashboard("accelmon-accelerator-detail", "Accelmon / Accelerator detail",
                     "Every accelerator through all-smi; NVIDIA depth from dcgm-exporter where it runs; NPU health.",
                     ["accelerators"], "device", rows)


def node():
    fs = "%s, %s" % (FS_EXCLUDE, HOST_SEL)
    rows = [
        ("Compute", [
            timeseries("CPU busy", "Share of CPU time not idle.", "percent",
                       [Q('100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle", %s}[$__rate_interval])))'
                          % HOST_SEL, "{{instance}}")], min_val=0, max_val=100),
            timeseries("Memory used", "Memory in use (total minus available).", "bytes",
                       [Q("node_memory_MemTotal_bytes{%s} - node_memory_MemAvailable_bytes{%s}" % (HOST_SEL, HOST_SEL),
                          "{{instance}}")], min_val=0),
            timeseries("Load (1 min)", "Run-queue length averaged over one minute.", "short",
                       [Q("node_load1{%s}" % HOST_SEL, "{{instance}}")], min_val=0),
        ]),
        ("Disks", [
            timeseries("Filesystem used", "Share of each filesystem in use.", "percent",
                       [Q("100 * (1 - node_filesystem_avail_bytes{%s} / node_filesystem_size_bytes{%s})" % (fs, fs),
                          "{{instance}} {{mountpoint}}")], min_val=0, max_val=100),
            timeseries("Disk throughput", "Bytes read and written per second.", "Bps",
                       [Q("rate(node_disk_read_bytes_total{%s}[$__rate_interval])" % HOST_SEL,
                          "{{instance}} {{device}} read"),
                        Q("rate(node_disk_written_bytes_total{%s}[$__rate_interval])" % HOST_SEL,
                          "{{instance}} {{device}} write")], min_val=0),
        ]),
        ("Network", [
            timeseries("Network throughput", "Bytes received and sent per second (loopback excluded).", "Bps",
                       [Q('rate(node_network_receive_bytes_total{device!="lo", %s}[$__rate_interval])' % HOST_SEL,
                          "{{instance}} {{device}} in"),
                        Q('rate(node_network_transmit_bytes_total{device!="lo", %s}[$__rate_interval])' % HOST_SEL,
                          "{{instance}} {{device}} out")], min_val=0),
            timeseries("Network errors", "Receive and transmit errors per second.", "cps",
                       [Q('rate(node_network_receive_errs_total{device!="lo", %s}[$__rate_interval])' % HOST_SEL,
                          "{{instance}} {{device}} rx"),
                        Q('rate(node_network_transmit_errs_total{device!="lo", %s}[$__rate_interval])' % HOST_SEL,
                          "{{instance}} {{device}} tx")], min_val=0),
        ]),
        ("InfiniBand / RoCE", [
            timeline("Port state", "Logical port state (4 = ACTIVE).", "none",
                     [Q("node_infiniband_state_id{%s}" % HOST_SEL, "{{instance}} {{device}}:{{port}}")], IB_STATE),
            timeseries("Port rate", "Negotiated link rate.", "Bps",
                       [Q("node_infiniband_rate_bytes_per_second{%s}" % HOST_SEL, "{{instance}} {{device}}:{{port}}")],
                       min_val=0),
            timeseries("Port throughput", "Bytes received and sent per second.", "Bps",
                       [Q("rate(node_infiniband_port_data_received_bytes_total{%s}[$__rate_interval])" % HOST_SEL,
                          "{{instance}} {{device}}:{{port}} in"),
                        Q("rate(node_infiniband_port_data_transmitted_bytes_total{%s}[$__rate_interval])" % HOST_SEL,
                          "{{instance}} {{device}}:{{port}} out")], min_val=0),
            timeseries("Port errors", "Symbol errors, receive errors, link-downed and link-recovery events per second.",
                       "cps",
                       [Q("rate(node_infiniband_symbol_error_total{%s}[$__rate_interval])" % HOST_SEL,
                          "{{instance}} {{device}}:{{port}} symbol"),
                        Q("rate(node_infiniband_port_errors_received_total{%s}[$__rate_interval])" % HOST_SEL,
                          "{{instance}} {{device}}:{{port}} rcv"),
                        Q("rate(node_infiniband_link_downed_total{%s}[$__rate_interval])" % HOST_SEL,
                          "{{instance}} {{device}}:{{port}} downed"),
                        Q("rate(node_infiniband_link_error_recovery_total{%s}[$__rate_interval])" % HOST_SEL,
                          "{{instance}} {{device}}:{{port}} recovery")], min_val=0),
        ]),
    ]
    return dashboard("accelmon-node", "Accelmon / Node",
                     "Host resources: CPU, memory, disks, network, InfiniBand/RoCE ports and their errors.",
                     ["nodes"], "node", rows)


def storage_checks():
    rows = [
        ("Mounts and shared filesystems", [
            timeline("Filesystem errors", "1 when node_exporter could not stat the mount (a hung mount reads "
                     "'mountpoint timeout' after 5 s).", "none",
                     [Q("max by (instance, mountpoint) (node_filesystem_device_error{%s})" % HOST_SEL,
                        "{{instance}} {{mountpoint}}")], ERR_OK),
            timeseries("Shared and parallel filesystems used", "NFS, Lustre, GPFS, BeeGFS, WEKA, CIFS and FUSE mounts: "
                       "one filesystem appears once per client host.", "percent",
                       [Q("100 * (1 - max by (device, mountpoint) (node_filesystem_avail_bytes{%s, %s}) / "
                          "max by (device, mountpoint) (node_filesystem_size_bytes{%s, %s}))"
                          % (NETWORK_FS, HOST_SEL, NETWORK_FS, HOST_SEL), "{{device}} {{mountpoint}}")],
                       min_val=0, max_val=100),
            timeline("Mount checks", "Check runner: mount present with the expected type and options.", "none",
                     [Q('accelmon_check_ok{check="mount", %s}' % HOST_SEL, "{{instance}} {{path}}")], OK_FAIL),
            timeseries("Parallel filesystem probe latency", "Check runner: metadata latency of each parallel filesystem.",
                       "s", [Q('accelmon_check_duration_seconds{check="parallel_fs", %s}' % HOST_SEL,
                               "{{instance}} {{path}}")], min_val=0),
        ]),
        ("Disks", [
            timeline("NVMe critical warning", "NVMe SMART critical-warning bits (0 = none).", "none",
                     [Q("nvme_critical_warning{%s}" % HOST_SEL, "{{instance}} {{device}}")], ERR_OK),
            timeseries("NVMe spare and wear", "Available spare and percentage used (endurance).", "percentunit",
                       [Q("nvme_available_spare_ratio{%s}" % HOST_SEL, "{{instance}} {{device}} spare"),
                        Q("nvme_percentage_used_ratio{%s}" % HOST_SEL, "{{instance}} {{device}} used")],
                       min_val=0, max_val=1),
            timeseries("NVMe media errors", "New media errors in the interval.", "none",
                       [Q("increase(nvme_media_errors_total{%s}[$__rate_interval])" % HOST_SEL, "{{instance}} {{device}}")],
                       min_val=0),
            timeseries("NVMe temperature", "Composite temperature.", "celsius",
                       [Q("nvme_temperature_celsius{%s}" % HOST_SEL, "{{instance}} {{device}}")]),
            timeline("SMART health", "SATA/SAS disks: SMART overall health (1 = passed).", "none",
                     [Q("smartmon_device_smart_healthy{%s}" % HOST_SEL, "{{instance}} {{disk}}")], OK_FAIL),
        ]),
        ("Checks", [
            timeline("Licence servers", "Check runner: licence servers reachable.", "none",
                     [Q('accelmon_check_ok{check="license", %s}' % HOST_SEL, "{{instance}} {{server}}")], OK_FAIL),
            timeseries("Check runner age", "Seconds since the check runner last completed a run.", "s",
                       [Q("time() - accelmon_check_last_run_timestamp_seconds{%s}" % HOST_SEL, "{{instance}}")],
                       min_val=0, thresholds=[(None, "green"), (300, "red")]),
            timeseries("Textfile age", "Seconds since each textfile-collector file was written.", "s",
                       [Q("time() - node_textfile_mtime_seconds{%s}" % HOST_SEL, "{{instance}} {{file}}")], min_val=0),
            stat("Textfile scrape errors", "Hosts where node_exporter could not read a textfile (a writer that does "
                 "not rename a finished file).", "none",
                 [Q("sum(node_textfile_scrape_error{%s}) or vector(0)" % HOST_SEL)],
                 thresholds=[(None, "green"), (1, "red")]),
        ]),
    ]
    return dashboard("accelmon-storage-checks", "Accelmon / Storage and checks",
                     "Mounts, parallel filesystems, NVMe and SMART health, check-runner results and freshness.",
                     ["storage", "checks"], "node", rows)


def alerts():
    rows = [
        ("Now", [
            stat("Firing", "Alerts firing now.", "none",
                 [Q('count(ALERTS{alertstate="firing", %s}) or vector(0)' % HOST_SEL)],
                 w=6, thresholds=[(None, "green"), (1, "orange")]),
            stat("Pending", "Alerts whose condition holds but whose `for` has not elapsed.", "none",
                 [Q('count(ALERTS{alertstate="pending", %s}) or vector(0)' % HOST_SEL)], w=6),
            stat("Silences in effect", "Active silences in Alertmanager (per Alertmanager: an HA pair counts each).",
                 "none", [Q('max(alertmanager_silences{state="active"}) or vector(0)')], w=6),
            stat("Failed notifications", "Notifications Alertmanager failed to deliver in the range.", "none",
                 [Q("sum(increase(alertmanager_notifications_failed_total[$__range])) or vector(0)")],
                 w=6, thresholds=[(None, "green"), (1, "red")]),
            table("Firing alerts", "Every alert firing now with its labels.", "none",
                  [Q('ALERTS{alertstate="firing", %s}' % HOST_SEL)],
                  w=24, hide=("Time", "Value", "__name__", "alertstate")),
        ]),
        ("History", [
            timeline("Alert history", "When each alert fired over the range.", "none",
                     [Q('ALERTS{alertstate="firing", %s}' % HOST_SEL, "{{alertname}} {{instance}} {{gpu_index}}")],
                     [dm.ValueMap(options={"1": dm.ValueMappingResult(text="firing", color="red", index=0)})], w=24),
            timeseries("Time active", "How long each alert has been active (from ALERTS_FOR_STATE).", "s",
                       [Q("time() - ALERTS_FOR_STATE{%s}" % HOST_SEL, "{{alertname}} {{instance}} {{gpu_index}}")],
                       min_val=0),
            timeseries("Notifications sent", "Notifications per second per integration.", "cps",
                       [Q("sum by (integration) (rate(alertmanager_notifications_total[$__rate_interval]))",
                          "{{integration}}")], min_val=0),
        ]),
        ("Rules", [
            table("Rule groups", "Rule groups loaded by the Prometheus server and their last evaluation time.", "s",
                  [Q("prometheus_rule_group_last_duration_seconds")], hide=("Time", "__name__")),
            timeseries("Rule evaluation failures", "Failed rule evaluations per second.", "cps",
                       [Q("sum by (rule_group) (rate(prometheus_rule_evaluation_failures_total[$__rate_interval]))",
                          "{{rule_group}}")], min_val=0),
        ]),
    ]
    return dashboard("accelmon-alerts", "Accelmon / Alerts",
                     "Firing alerts, their history, silences in effect and the health of rule evaluation.",
                     ["alerts"], "node", rows, all_hosts=True)


# ----------------------------------------------------------------------------- query expansion

def grafana_regex_escape(value):
    """prometheusSpecialRegexEscape of Grafana's Prometheus datasource (multi-value variables)."""
    return re.sub(r"[$^*{}\[\]'+?.()|]", lambda m: "\\\\" + m.group(0), value.replace("\\", "\\\\\\\\"))


def expand_query(expr, variables, rate_interval, range_, chosen=None):
    """A panel query as Grafana sends it to Prometheus.

    variables: {name: variable JSON} of the dashboard; chosen: {name: single value}, others
    are "All" (the allValue of query variables, the current value of custom ones).
    """
    chosen = chosen or {}

    def value(match):
        name = match.group(1) or match.group(2)
        if name == "__rate_interval":
            return rate_interval
        if name == "__range":
            return range_
        var = variables[name]
        if name in chosen:
            multi = var.get("multi") or var.get("includeAll")
            return grafana_regex_escape(chosen[name]) if multi else chosen[name]
        if var["type"] == "custom":
            return var["current"]["value"]
        if not var.get("includeAll"):
            raise KeyError("variable %s has no All: choose a value" % name)
        return var["allValue"]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


# family (folder) -> dashboards; roles/grafana provisions one folder per family.
FAMILIES = {
    "fleet": [fleet_overview],
    "accelerators": [accelerator_detail],
    "nodes": [node],
    "storage": [storage_checks],
    "alerts": [alerts],
}


QUESTIONS = {
    "accelmon-fleet-overview": "Is the fleet healthy this morning? How many accelerators of each vendor and group "
                               "are there, which hosts and exporters are down, what is firing for which team, "
                               "which devices run hottest and busiest, and which hosts lost devices?",
    "accelmon-accelerator-detail": "What is this host's (or group's) accelerator doing: utilization, memory, "
                                   "temperature against its slowdown threshold, power against its limit, clocks; "
                                   "for NVIDIA the XID/ECC/row-remapping/NVLink/throttling depth from dcgm-exporter; "
                                   "for NPUs (Gaudi, Rebellions, FuriosaAI, Tenstorrent, TPU) their own health series?",
    "accelmon-node": "Is the host itself the problem: CPU, memory, load, disks, network, InfiniBand/RoCE port "
                     "state, rate, throughput and errors?",
    "accelmon-storage-checks": "Are mounts and shared filesystems reachable and fast, are NVMe and SATA disks "
                               "healthy, are the check runner and the textfile writers fresh?",
    "accelmon-alerts": "What is firing and since when, what fired in the range, which silences are in effect, "
                       "are notifications delivered and do the rules evaluate?",
}

DOC_HEAD = """# Dashboards

Generated by `tools/grafana_dashboards.py` (with `--doc`), like the dashboards themselves:
edit the generator, then run `.venv/bin/python tools/grafana_dashboards.py` and
`.venv/bin/python tools/grafana_dashboards.py --doc > docs/dashboards.md`. The role
`accelmon.monitoring.grafana` provisions them ([grafana.md](grafana.md)).

Every dashboard has these variables, fed by the target labels Prometheus already carries
(roles/prometheus `file_sd`): **Prometheus** (`$datasource`: server, shard or long-term
store), **Group** (primary group path, `group`), **Environment**, **Team**, **Provider**,
**Host** (`instance`, the inventory name). Accelerator dashboards add **Vendor** (all-smi has
no vendor label: the choice is a regex over the model string in `gpu`/`npu`/`modelName`) and
the detail dashboard **Device** (`gpu_uuid`: stable when `gpu_index` shifts). The per-host
dashboards (Accelerator detail, Node, Storage and checks) open on one host and take several,
but offer no "All": at 10,000 hosts one per-host panel over every host is 10,000 series and
10-60 s of Prometheus time; the Fleet overview and Alerts aggregate and do offer "All".
Legends name
host and device: `{{instance}} / {{gpu_index}}` (all-smi), `{{instance}} / {{npu_index}}`
(NPU series), `{{instance}} / {{gpu}}` (dcgm-exporter's index). Panel types: timeseries, stat,
table, state timeline; every panel has a unit.

Proof: `tests/integration/test_grafana_dashboards_live.py` runs every panel query with the
variables substituted against a real Prometheus fed by the exporter emulator and
node_exporter, and fails on a query that returns nothing unless the panel is listed there
with its reason (today: the check runner's `accelmon_check_*` panels, which wait for the
check runner; shared/parallel filesystems, absent on the test machine; pending alerts).
Query cost at 10,000 targets: [performance.md](performance.md).
"""


def render_doc():
    """docs/dashboards.md: what each dashboard answers and what each panel shows."""
    out = [DOC_HEAD]
    for family, builders in FAMILIES.items():
        for build in builders:
            model = build()
            out.append("\n## %s\n\nuid `%s`, folder family `%s`. %s\n" % (
                model.title, model.uid, family, QUESTIONS[model.uid]))
            out.append("| row | panel | type | unit | shows | series |\n| --- | --- | --- | --- | --- | --- |")
            row = ""
            for panel in model.panels:
                if not hasattr(panel, "targets"):  # a RowPanel
                    row = panel.title
                    continue
                names = sorted({n for t in panel.targets for n in re.findall(r"\b([A-Za-z_][A-Za-z0-9_]*)\{", t.expr)})
                out.append("| %s | %s | %s | `%s` | %s | %s |" % (
                    row, panel.title, panel.type_val, panel.field_config.defaults.unit,
                    panel.description.replace("|", "\\|"), ", ".join("`%s`" % n for n in names)))
    return "\n".join(out) + "\n"


def render_all():
    """{relative path: JSON text} of every dashboard."""
    out = {}
    for family, builders in FAMILIES.items():
        for build in builders:
            model = build()
            text = json.dumps(model, cls=JSONEncoder, indent=2, sort_keys=True) + "\n"
            out["%s/%s.json" % (family, model.uid)] = text
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed files, write nothing")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--doc", action="store_true", help="print docs/dashboards.md")
    args = parser.parse_args(argv)
    if args.doc:
        sys.stdout.write(render_doc())
        return 0
    wanted = render_all()
    present = {str(p.relative_to(args.out)): p.read_text() for p in args.out.rglob("*.json")} if args.out.is_dir() else {}
    stale = sorted(set(wanted.items()) ^ set(present.items()))
    if args.check:
        for name in sorted({item[0] for item in stale}):
            print("stale: %s (run tools/grafana_dashboards.py)" % (args.out / name))
        return 1 if stale else 0
    for name in set(present) - set(wanted):
        (args.out / name).unlink()
    for name, text in wanted.items():
        path = args.out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if present.get(name) != text:
            path.write_text(text)
    print("%d dashboards in %s" % (len(wanted), args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
