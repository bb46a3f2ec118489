"""The alert pack against the real promtool, on series shaped like the released exporters'.

Every defect of issue 8 is a `promtool test rules` case run twice: against the catalog's
template (must pass) and against the template as it was before (must FAIL: the case proves
the defect). The coverage templates get one case each. Rules are compiled by the real rule
compiler with the policy series of one or two targets as input series, so thresholds,
enabled/disabled and routing labels work as in production.

Series shapes (tests/emulator/released_surface.py): all-smi v0.25.0 serves an empty body
before its first collection (the device series go stale for that scrape while up == 1) and
exports failed readings as 0; dcgm-exporter's DCGM_FI_DEV_XID_ERRORS is the sticky last XID
with err_code/err_msg, DCGM_EXP_XID_ERRORS_COUNT{xid} counts the XIDs of its window (one
series of 0 without `xid` when there are none); node_exporter reports a shared filesystem on
every client.
"""

import copy
import os
import shutil
import subprocess

import pytest
import yaml

from ansible_collections.accelmon.monitoring.plugins.module_utils import policy_catalog as cat
from ansible_collections.accelmon.monitoring.plugins.module_utils import policy_series as ps
from ansible_collections.accelmon.monitoring.plugins.module_utils import rule_compiler as rc

PROMTOOL = shutil.which("promtool") or ("/usr/bin/promtool" if os.path.exists("/usr/bin/promtool") else None)
if PROMTOOL is None and os.environ.get("CI"):
    raise RuntimeError("promtool is required in CI (apt-get install prometheus)")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (apt-get install prometheus)")

# The templates as they were before issue 8 (for the "fails on the old rules" half).
_OLD_FS = 'fstype!~"tmpfs|overlay|squashfs|nsfs|ramfs"'
OLD = {
    "NodeDown": ('up{job="node"} == 0', "critical", "15s", {}),
    "AcceleratorOffline": (
        "(max_over_time(all_smi_gpu_info[1h]) unless on (instance, gpu_uuid) all_smi_gpu_info)"
        ' and on (instance) (up{job="allsmi"} == 1)',
        "critical",
        "0s",
        {},
    ),
    "NvidiaXidError": ("DCGM_FI_DEV_XID_ERRORS > 0", "critical", "0s", {}),
    "DiskSpaceLow": (
        "100 * node_filesystem_avail_bytes{%s} / node_filesystem_size_bytes{%s} < ${free_percent}" % (_OLD_FS, _OLD_FS),
        "warning",
        "15m",
        {"free_percent": 10},
    ),
    "AcceleratorHighUtilization": ("all_smi_gpu_utilization > ${utilization_percent}", "info", "30m",
                                   {"utilization_percent": 98}),
    "AcceleratorMemoryHigh": (
        "100 * all_smi_gpu_memory_used_bytes / all_smi_gpu_memory_total_bytes > ${memory_percent}",
        "warning",
        "15m",
        {"memory_percent": 95},
    ),
    "AcceleratorHighTemperature": ("all_smi_gpu_temperature_celsius > ${celsius}", "critical", "15s", {"celsius": 85}),
}

GPU = {"gpu": "NVIDIA H200", "gpu_uuid": "GPU-11111111-2222-3333-4444-555555555555", "gpu_index": "0"}
DCGM = {"gpu": "0", "UUID": GPU["gpu_uuid"], "pci_bus_id": "00000000:00:06.0", "device": "nvidia0",
        "modelName": "NVIDIA H200", "hostname": "gpu-1", "DCGM_FI_DRIVER_VERSION": "580.159.04"}


def catalog(old=None):
    """The built-in catalog, or with `old` templates put back as they were."""
    c = cat.Catalog()
    c.rule_templates = dict(c.rule_templates)
    for name in old or ():
        expr, severity, for_, params = OLD[name]
        spec = copy.deepcopy(c.rule_templates[name])
        spec.update(expr=expr, severity=severity, parameters={
            k: cat._p("number", v, k) for k, v in params.items()})  # pylint: disable=protected-access
        spec["for"] = for_
        spec.pop("enabled", None)
        c.rule_templates[name] = spec
    c._defaults = None  # pylint: disable=protected-access
    return c


def hosts_for(c, names, templates, thresholds=None):
    """host_entry()-shaped policies: the catalog defaults (what a fleet without overrides gets)."""
    defaults = c.defaults()
    out = {}
    for host in names:
        rules = {t: copy.deepcopy(defaults["alert_rules"][t]) for t in templates}
        for (t, param), value in (thresholds or {}).items():
            rules[t]["thresholds"][param] = value
        out[host] = {"alert_rules": rules, "alerting": defaults["alerting"], "primary_group": None}
    return out


def series(metric, labels, values):
    return {"series": ps.series_text(metric, labels), "values": values}


def scraped(values, offset=1):
    """Samples of a 15 s scrape at 5 s resolution, `offset` steps after the evaluations (scrape
    and evaluation phases differ in a real Prometheus)."""
    return " ".join(["_"] * offset + [" ".join([str(v), "_", "_"]) for v in values]).rstrip(" _")


def run_case(tmp_path, templates, names, inputs, checks, interval="15s", old=(), thresholds=None,
             evaluation_interval="15s"):
    """Compile `templates` for hosts `names`, run one promtool test; returns (ok, output)."""
    c = catalog(old)
    hosts = hosts_for(c, names, templates, thresholds)
    plan, pseries = rc.plan_rules(c, hosts)
    rules = rc.render_plan(c, plan)
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "rules.yml").write_text(rc.dump_rules_yaml(rules))
    check = subprocess.run([PROMTOOL, "check", "rules", "rules.yml"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=60, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    n = 2000
    policy = [series(m, lab, "%sx%d" % (ps.format_value(v), n)) for m, lab, v in pseries]
    alerts = []
    for eval_time, alertname, exp in checks:
        exp_alerts = []
        for labels in exp:
            full = dict(labels)
            full.setdefault("severity", c.rule_templates[alertname]["severity"])
            full.setdefault("accelmon_receiver", "default")
            exp_alerts.append({"exp_labels": full})
        alerts.append({"eval_time": eval_time, "alertname": alertname, "exp_alerts": exp_alerts})
    doc = {"rule_files": ["rules.yml"], "evaluation_interval": evaluation_interval,
           "tests": [{"interval": interval, "input_series": policy + inputs, "alert_rule_test": alerts}]}
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(doc, sort_keys=False, width=1 << 20))
    res = subprocess.run([PROMTOOL, "test", "rules", "tests.yml"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120, check=False)
    return res.returncode == 0, res.stdout + res.stderr


def new_passes_old_fails(tmp_path, template, *args, **kwargs):
    (tmp_path / "new").mkdir()
    (tmp_path / "old").mkdir()
    ok, out = run_case(tmp_path / "new", *args, **kwargs)
    assert ok, "the catalog's %s fails the case:\n%s" % (template, out)
    ok, out = run_case(tmp_path / "old", *args, old=(template,), **kwargs)
    assert not ok, "the case does not show the defect of the old %s:\n%s" % (template, out)
    assert "FAILED" in out, out


# ------------------------------------------------------------------------- defect 1


@pytest.mark.parametrize("info_values,up_values", [
    # systemctl restart between two scrapes: one empty 200 body (up == 1, device series stale)
    ("1x20 stale 1x40", "1x61"),
    # a slower restart: one refused scrape (up == 0, stale), then the empty body, then data
    ("1x20 stale _ 1x40", "1x20 0 1x41"),
])
@needs_promtool
def test_offline_silent_through_allsmi_restart(tmp_path, info_values, up_values):
    """all-smi v0.25.0 answers /metrics with an empty body before its first collection: every
    device series is missing for that scrape while up == 1. The old rule paged on it."""
    info = dict(GPU, instance="gpu-1", job="allsmi", type="GPU")
    inputs = [
        series("all_smi_gpu_info", info, info_values),
        series("up", {"instance": "gpu-1", "job": "allsmi"}, up_values),
    ]
    checks = [(t, "AcceleratorOffline", []) for t in ("5m15s", "5m30s", "5m45s", "6m", "6m15s", "7m")]
    new_passes_old_fails(tmp_path, "AcceleratorOffline", ["AcceleratorOffline"], ["gpu-1"], inputs, checks)


@needs_promtool
def test_offline_keeps_firing_for_hours_with_the_expected_count(tmp_path):
    """A device lost for 3 hours while node and exporter are up: the old rule resolved itself
    after an hour (max_over_time[1h]); with expected_devices (the inventory's count) the new
    one fires until the device is back."""
    info = dict(GPU, instance="gpu-1", job="allsmi", type="GPU")
    other = dict(info, gpu_uuid="GPU-99999999-2222-3333-4444-555555555555", gpu_index="1")
    inputs = [
        series("all_smi_gpu_info", info, "1x10 stale"),
        series("all_smi_gpu_info", other, "1x200"),
        series("up", {"instance": "gpu-1", "job": "allsmi"}, "1x200"),
    ]
    lost = {"instance": "gpu-1", "job": "allsmi", "gpu_uuid": info["gpu_uuid"], "gpu": "NVIDIA H200"}
    checks = [
        ("5m", "AcceleratorOffline", []),
        ("15m", "AcceleratorOffline", [lost, {"instance": "gpu-1", "job": "allsmi"}]),
        ("2h", "AcceleratorOffline", [{"instance": "gpu-1", "job": "allsmi"}]),
        ("3h", "AcceleratorOffline", [{"instance": "gpu-1", "job": "allsmi"}]),
    ]
    new_passes_old_fails(tmp_path, "AcceleratorOffline", ["AcceleratorOffline"], ["gpu-1"], inputs, checks,
                         interval="1m", evaluation_interval="1m",
                         thresholds={("AcceleratorOffline", "expected_devices"): 2})


@needs_promtool
def test_offline_quiet_while_the_exporter_is_down_and_fires_on_a_real_loss(tmp_path):
    info = dict(GPU, instance="gpu-1", job="allsmi", type="GPU")
    inputs = [
        series("all_smi_gpu_info", info, "1x20 stale"),
        series("up", {"instance": "gpu-1", "job": "allsmi"}, "1x20 0x20"),
        series("all_smi_gpu_info", dict(info, instance="gpu-2"), "1x20 stale"),
        series("up", {"instance": "gpu-2", "job": "allsmi"}, "1x60"),
    ]
    lost = {"instance": "gpu-2", "job": "allsmi", "gpu_uuid": info["gpu_uuid"], "gpu": "NVIDIA H200"}
    ok, out = run_case(tmp_path, ["AcceleratorOffline"], ["gpu-1", "gpu-2"], inputs,
                       [("5m15s", "AcceleratorOffline", []), ("6m", "AcceleratorOffline", [lost])])
    assert ok, out


@needs_promtool
def test_offline_names_only_the_lost_device_when_indexes_shift(tmp_path):
    """all-smi numbers devices by position: when device 0 drops out, device 1 becomes index 0
    (a new all_smi_gpu_info series). Only the lost uuid alerts, and the count of distinct
    uuids (not of series) is compared with expected_devices."""
    a = dict(GPU, instance="gpu-1", job="allsmi", type="GPU")
    b = dict(a, gpu_uuid="GPU-99999999-2222-3333-4444-555555555555", gpu_index="1")
    inputs = [
        series("all_smi_gpu_info", a, "1x20 stale"),
        series("all_smi_gpu_info", b, "1x20 stale"),
        series("all_smi_gpu_info", dict(b, gpu_index="0"), "_x20 1x40"),
        series("up", {"instance": "gpu-1", "job": "allsmi"}, "1x61"),
    ]
    lost = {"instance": "gpu-1", "job": "allsmi", "gpu_uuid": a["gpu_uuid"], "gpu": "NVIDIA H200"}
    ok, out = run_case(tmp_path, ["AcceleratorOffline"], ["gpu-1"], inputs, [
        ("5m15s", "AcceleratorOffline", []),
        ("6m", "AcceleratorOffline", [lost, {"instance": "gpu-1", "job": "allsmi"}]),
    ], thresholds={("AcceleratorOffline", "expected_devices"): 2})
    assert ok, out


@needs_promtool
def test_windows_with_a_60s_scrape_interval_neither_fire_nor_flap(tmp_path):
    """A site scraping every 60 s: the 30 s windows often hold no sample. The rules then use
    the latest sample: no offline alert for present devices, a hot GPU alerts at every
    evaluation (not every other one)."""
    info = dict(GPU, instance="gpu-1", job="allsmi", type="GPU")
    lab = dict(GPU, instance="gpu-1", job="allsmi")
    inputs = [
        series("all_smi_gpu_info", info, "1x20"),
        series("up", {"instance": "gpu-1", "job": "allsmi"}, "1x20"),
        series("all_smi_gpu_temperature_celsius", lab, "40x5 95x15"),
    ]
    checks = [(t, "AcceleratorOffline", []) for t in ("5m", "5m15s", "5m30s", "5m45s")]
    checks += [(t, "AcceleratorHighTemperature", [lab]) for t in ("7m", "7m15s", "7m30s", "7m45s")]
    ok, out = run_case(tmp_path, ["AcceleratorOffline", "AcceleratorHighTemperature"], ["gpu-1"], inputs, checks,
                       interval="1m", thresholds={("AcceleratorOffline", "expected_devices"): 1})
    assert ok, out


# ------------------------------------------------------------------------- defect 2


@needs_promtool
def test_exporter_down_fires_for_allsmi_and_dcgm(tmp_path):
    # scrapes at 5 s past each evaluation; all-smi stops answering after the scrape of 5m05s,
    # dcgm-exporter fails one scrape (7m35s)
    inputs = [
        series("up", {"instance": "gpu-1", "job": "allsmi"}, scraped([1] * 21 + [0] * 20)),
        series("up", {"instance": "gpu-1", "job": "dcgm"}, scraped([1] * 31 + [0] + [1] * 9)),
        series("up", {"instance": "gpu-1", "job": "node"}, scraped([1] * 41)),
    ]
    down = {"instance": "gpu-1", "job": "allsmi"}
    ok, out = run_case(tmp_path, ["AcceleratorExporterDown"], ["gpu-1"], inputs, [
        ("5m15s", "AcceleratorExporterDown", []),
        ("5m30s", "AcceleratorExporterDown", []),  # one failed scrape (5m20s): nothing
        ("5m45s", "AcceleratorExporterDown", [down]),  # two (5m35s): fires, 40 s after the stop
        ("7m45s", "AcceleratorExporterDown", [down]),  # dcgm's single failure: nothing
        ("8m", "AcceleratorExporterDown", [down]),
    ], interval="5s")
    assert ok, out


# ------------------------------------------------------------------------- defect 3


def _xid_inputs(code, start, window=20, total=80):
    """dcgm-exporter: the windowed count for `code` from `start` (in scrapes) for `window`
    scrapes (5 min at 15 s); the 0 series without xid otherwise; the sticky last XID."""
    base = dict(DCGM, instance="gpu-1", job="dcgm")
    count = dict(base, window_size_in_ms="300000")
    zero_values = "0x%d stale _x%d 0x%d" % (start - 1, window - 1, total - start - window)
    return [
        series("DCGM_EXP_XID_ERRORS_COUNT", count, zero_values),
        series("DCGM_EXP_XID_ERRORS_COUNT", dict(count, xid=code), "_x%d 1x%d stale" % (start - 1, window)),
        series("DCGM_FI_DEV_XID_ERRORS", dict(base, err_code=code, err_msg="GPU has fallen off the bus"),
               "_x%d %sx%d" % (start - 1, code, total - start)),
    ]


@needs_promtool
def test_xid_79_pages_and_resolves_when_no_new_xid_arrives(tmp_path):
    """The old rule read the sticky last-XID gauge: it never resolved."""
    alert = dict(DCGM, instance="gpu-1", job="dcgm", window_size_in_ms="300000", xid="79")
    checks = [
        ("2m", "NvidiaXidError", []),
        ("6m", "NvidiaXidError", [alert]),
        ("12m", "NvidiaXidError", []),
        ("19m", "NvidiaXidError", []),
    ]
    new_passes_old_fails(tmp_path, "NvidiaXidError", ["NvidiaXidError"], ["gpu-1"], _xid_inputs("79", 21), checks)


@needs_promtool
def test_application_xid_does_not_page(tmp_path):
    """XID 13 (graphics engine exception: the job's fault) is info, never critical; the old
    rule paged on it."""
    alert = dict(DCGM, instance="gpu-1", job="dcgm", window_size_in_ms="300000", xid="13")
    inputs = _xid_inputs("13", 21)
    checks = [("6m", "NvidiaXidError", []), ("6m", "NvidiaXidApplication", [alert]),
              ("12m", "NvidiaXidApplication", [])]
    (tmp_path / "a").mkdir()
    ok, out = run_case(tmp_path / "a", ["NvidiaXidError", "NvidiaXidApplication"], ["gpu-1"], inputs, checks)
    assert ok, out
    (tmp_path / "b").mkdir()
    ok, out = run_case(tmp_path / "b", ["NvidiaXidError"], ["gpu-1"], inputs, [("6m", "NvidiaXidError", [])],
                       old=("NvidiaXidError",))
    assert not ok and "FAILED" in out, out


# ------------------------------------------------------------------------- defect 4


def _fs(host, device, mountpoint, fstype, size, avail, files=1000000, files_free=500000, readonly=0):
    lab = {"instance": host, "job": "node", "device": device, "mountpoint": mountpoint, "fstype": fstype}
    return [
        series("node_filesystem_size_bytes", lab, "%dx80" % size),
        series("node_filesystem_avail_bytes", lab, "%dx80" % avail),
        series("node_filesystem_files", lab, "%dx80" % files),
        series("node_filesystem_files_free", lab, "%dx80" % files_free),
        series("node_filesystem_readonly", lab, "%dx80" % readonly),
    ]


@needs_promtool
def test_full_shared_filesystem_does_not_page_every_client(tmp_path):
    """A 97% full Lustre mounted on two clients and a full read-only ext4: the old rule fired
    three times; the new one only for the local full disk. Inodes are covered."""
    inputs = []
    for host in ("gpu-1", "gpu-2"):
        inputs += _fs(host, "10.0.0.5@tcp:/scratch", "/lustre", "lustre", 10 ** 15, 3 * 10 ** 13)
        inputs += _fs(host, "/dev/nvme0n1p1", "/", "ext4", 10 ** 12, 5 * 10 ** 11)
        inputs += _fs(host, "/dev/loop3", "/opt/image", "ext4", 10 ** 9, 0, readonly=1)
    inputs += _fs("gpu-1", "/dev/nvme1n1", "/scratch", "xfs", 10 ** 12, 5 * 10 ** 10, files_free=1000)
    local = {"instance": "gpu-1", "job": "node", "device": "/dev/nvme1n1", "mountpoint": "/scratch", "fstype": "xfs"}
    new_passes_old_fails(tmp_path, "DiskSpaceLow", ["DiskSpaceLow", "DiskInodesLow"], ["gpu-1", "gpu-2"], inputs,
                         [("16m", "DiskSpaceLow", [local]), ("16m", "DiskInodesLow", [local])])


# ------------------------------------------------------------------------- defect 5


@needs_promtool
def test_one_slow_scrape_never_pages(tmp_path):
    """Scrapes every 15 s (samples at 5 s resolution): one failed scrape at 30 s, the next one
    slow (its sample lands at 50 s instead of 45 s). The old `up == 0` with `for: 15s` saw
    0 at the evaluations of 30 s and 45 s and paged. A node really down from 2 min on pages
    within 60 s."""
    up = "1 _ _ 1 _ _ 0 _ _ _ 1 _ _ 1 _ _ 1 _ _ 1 _ _ 1 _ _ 0 _ _ 0 _ _ 0 _ _ 0 _ _ 0 _ _ 0"
    inputs = [series("up", {"instance": "n-1", "job": "node"}, up)]
    down = {"instance": "n-1", "job": "node"}
    checks = [(t, "NodeDown", []) for t in ("30s", "45s", "1m", "1m15s")]
    checks += [("2m30s", "NodeDown", [down])]
    new_passes_old_fails(tmp_path, "NodeDown", ["NodeDown"], ["n-1"], inputs, checks, interval="5s")


@needs_promtool
def test_one_hot_reading_never_pages(tmp_path):
    """One 90 C reading (then a late normal one) must not page; 30 s above 85 C does."""
    lab = dict(GPU, instance="gpu-1", job="allsmi")
    temp = "40 _ _ 40 _ _ 90 _ _ _ 40 _ _ 40 _ _ 40 _ _ 40 _ _ 40 _ _ 91 _ _ 92 _ _ 93 _ _ 93 _ _ 93"
    inputs = [series("all_smi_gpu_temperature_celsius", lab, temp)]
    checks = [(t, "AcceleratorHighTemperature", []) for t in ("30s", "45s", "1m", "2m15s")]
    checks += [("2m30s", "AcceleratorHighTemperature", [lab])]
    new_passes_old_fails(tmp_path, "AcceleratorHighTemperature", ["AcceleratorHighTemperature"], ["gpu-1"], inputs,
                         checks, interval="5s")


# ------------------------------------------------------------------------- defect 6


@pytest.mark.parametrize("template,metric_values", [
    ("AcceleratorHighUtilization", {"all_smi_gpu_utilization": "99x200"}),
    ("AcceleratorMemoryHigh", {"all_smi_gpu_memory_used_bytes": "97x200", "all_smi_gpu_memory_total_bytes": "100x200"}),
])
@needs_promtool
def test_noisy_defaults_are_off(tmp_path, template, metric_values):
    """A training GPU at 99% utilization with 97% of its memory reserved by the framework, for
    hours: healthy. The old defaults fired."""
    lab = dict(GPU, instance="gpu-1", job="allsmi")
    inputs = [series(m, lab, v) for m, v in metric_values.items()]
    # the catalog default is off: no route series, no alert
    assert cat.BUILTIN_RULE_TEMPLATES[template].get("enabled") is False
    c = catalog()
    assert c.defaults()["alert_rules"][template]["enabled"] is False
    (tmp_path / "old").mkdir()
    ok, out = run_case(tmp_path / "old", [template], ["gpu-1"], inputs, [("2h", template, [])], interval="1m",
                       evaluation_interval="1m", old=(template,))
    assert not ok and "FAILED" in out, out


# ------------------------------------------------------------------------- coverage


@needs_promtool
def test_nvidia_depth(tmp_path):
    base = dict(DCGM, instance="gpu-1", job="dcgm")
    inputs = [
        series("DCGM_FI_DEV_ROW_REMAP_PENDING", base, "0x20 1x80"),
        series("DCGM_FI_DEV_ROW_REMAP_FAILURE", base, "0x30 1x70"),
        series("DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", base, "0x20 1x80"),
        series("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", base, "0+0x20 0+5x80"),  # 20/min from 5m on
        series("DCGM_FI_DEV_PCIE_LINK_WIDTH", base, "16x10 8x90"),
        # nanoseconds: 15 s of throttling per 15 s scrape from 5 m on = 100%
        series("DCGM_FI_DEV_THERMAL_VIOLATION", base, "0+0x20 0+15000000000x80"),
        series("DCGM_FI_DEV_POWER_VIOLATION", base, "0+15000000000x100"),
    ]
    checks = [
        ("4m", "NvidiaRowRemapPending", []), ("6m30s", "NvidiaRowRemapPending", [base]),
        ("7m", "NvidiaRowRemapFailure", []), ("8m", "NvidiaRowRemapFailure", [base]),
        ("6m", "NvidiaUncorrectableRemappedRows", [base]),
        ("19m", "NvidiaPcieReplays", [base]),
        ("13m", "NvidiaPcieLinkDowntrained", [base]),
        ("21m", "NvidiaThermalThrottling", [base]),
        ("19m", "NvidiaPowerThrottling", []),  # off by default: a GPU at its power cap is normal
    ]
    ok, out = run_case(tmp_path, ["NvidiaRowRemapPending", "NvidiaRowRemapFailure", "NvidiaUncorrectableRemappedRows",
                                  "NvidiaPcieReplays", "NvidiaPcieLinkDowntrained", "NvidiaThermalThrottling",
                                  "NvidiaPowerThrottling"], ["gpu-1"], inputs, checks)
    assert ok, out


@needs_promtool
def test_temperature_relative_to_the_device_slowdown_threshold(tmp_path):
    lab = dict(GPU, instance="gpu-1", job="allsmi")
    inputs = [
        series("all_smi_gpu_temperature_celsius", lab, "80x20 86x40"),
        series("all_smi_gpu_temperature_threshold_slowdown_celsius", lab, "89x60"),
        # a device without thresholds (non-NVIDIA): never
        series("all_smi_gpu_temperature_celsius", dict(lab, gpu_uuid="x", gpu_index="1", gpu="HL-225"), "95x60"),
    ]
    ok, out = run_case(tmp_path, ["AcceleratorNearSlowdownTemperature"], ["gpu-1"], inputs, [
        ("4m", "AcceleratorNearSlowdownTemperature", []),
        ("11m", "AcceleratorNearSlowdownTemperature", [lab]),
    ])
    assert ok, out


@needs_promtool
def test_nvlink_links_lost_and_silent_through_restart(tmp_path):
    lab = dict(GPU, instance="gpu-1", job="allsmi")
    inputs = [series("all_smi_gpu_info", dict(lab, type="GPU"), "1x20 stale 1x60")]
    for link in range(4):
        values = "1x20 stale 1x60" if link < 3 else "1x20 stale 1x9 stale"  # link 3 lost at 7m45s
        inputs.append(series("all_smi_nvlink_remote_device_type",
                             dict(lab, link_index=str(link), remote_type="switch"), values))
    lost = {"instance": "gpu-1", "job": "allsmi", "gpu_uuid": GPU["gpu_uuid"]}
    ok, out = run_case(tmp_path, ["NvlinkLinksLost"], ["gpu-1"], inputs, [
        ("5m15s", "NvlinkLinksLost", []),  # the restart's empty scrape
        ("7m", "NvlinkLinksLost", []),
        ("10m", "NvlinkLinksLost", [lost]),
    ])
    assert ok, out


@needs_promtool
def test_rebellions_status(tmp_path):
    info = {"gpu": "RBLN-CA22", "instance": "npu-1", "gpu_uuid": "u-1", "gpu_index": "0", "job": "allsmi",
            "type": "NPU", "lib_name": "RBLN-SDK"}
    inputs = [
        series("all_smi_gpu_info", dict(info, status="normal"), "1x10 stale"),
        series("all_smi_gpu_info", dict(info, status="error"), "_x10 1x20"),
        # an NVIDIA device has no status label: never
        series("all_smi_gpu_info", dict(GPU, instance="npu-1", job="allsmi", type="GPU"), "1x30"),
    ]
    ok, out = run_case(tmp_path, ["RebellionsNpuUnhealthy"], ["npu-1"], inputs, [
        ("2m", "RebellionsNpuUnhealthy", []),
        ("5m30s", "RebellionsNpuUnhealthy", [dict(info, status="error")]),
    ])
    assert ok, out
