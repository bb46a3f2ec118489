"""The emulator serves exactly the names and label sets of the released exporters.

The reference list, tests/emulator/released_surface.py, was read from all-smi v0.25.0 and
dcgm-exporter 4.2.3-4.1.3 and cites file:line for every entry. Every vendor, every fault
that adds series, and a counters file listing every emulated DCGM field are exercised, so a
name or label the releases do not have fails here.
"""

import importlib.util
import json
import os

# The emulator tests' helpers and `start` fixture, loaded by path: ansible-test's pytest does
# not put test directories on sys.path.
_BASE_SPEC = importlib.util.spec_from_file_location(
    "accelmon_emulator_test_base", os.path.join(os.path.dirname(os.path.abspath(__file__)), "test_accel_exporter_emulator.py"))
_base = importlib.util.module_from_spec(_BASE_SPEC)
_BASE_SPEC.loader.exec_module(_base)
ROOT, http, wait_for = _base.ROOT, _base.http, _base.wait_for
start = _base.start  # the fixture

spec = importlib.util.spec_from_file_location(
    "released_surface", ROOT / "tests" / "emulator" / "released_surface.py")
released = importlib.util.module_from_spec(spec)
spec.loader.exec_module(released)

EMULATOR_SPEC = importlib.util.spec_from_file_location(
    "accel_exporter_emulator", ROOT / "tests" / "emulator" / "accel_exporter_emulator.py")
emulator = importlib.util.module_from_spec(EMULATOR_SPEC)
EMULATOR_SPEC.loader.exec_module(emulator)

VENDOR_OF_MODEL = {"NVIDIA H200": "nvidia", "AMD Instinct MI300X": "amd", "HL-225": "gaudi",
                   "RBLN-CA22": "rebellions", "RNGD": "furiosa", "TPU v5e": "tpu",
                   "Tenstorrent Wormhole n300": "tenstorrent"}


def labelsets(samples):
    out = {}
    for name, labels, _unused in samples:
        out.setdefault(name, set()).add(tuple(labels))
    return out


def test_allsmi_names_and_label_sets_match_v0_25_0(start, tmp_path):  # noqa: F811
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"devices": [{"vendor": "nvidia", "count": 2, "nvlink_links": 2}] + [
        {"vendor": v, "count": 1}
        for v in ("amd", "gaudi", "rebellions", "furiosa", "tenstorrent", "tpu")]}))
    emu = start("api", "--port", "{port}", "--interval", "0.2", "--bind", "127.0.0.1",
                "--config", str(config), "--control-file", str(tmp_path / "none"))
    # from the second collection on, the energy counter has a value
    assert wait_for(lambda: "all_smi_energy_consumed_joules_total" in labelsets(emu.metrics()))
    samples = emu.metrics()
    seen = labelsets(samples)
    for name, sets in seen.items():
        assert name not in released.ALLSMI_NEVER_SERVED, (
            name, released.ALLSMI_NEVER_SERVED.get(name))
        if name == "all_smi_energy_consumed_joules_total":
            continue  # label set per scope, below
        assert name in released.ALLSMI, f"{name} is not served by all-smi v0.25.0"
        want, source = released.ALLSMI[name]
        for labels in sets:
            if name == "all_smi_gpu_info":
                assert labels[:5] == want, (name, labels, source)
                continue
            if name == "all_smi_nvlink_remote_device_type":
                assert labels[:6] == want, (name, labels, source)
                continue
            assert labels == want, (name, labels, source)
    # energy rows: label set per scope
    for name, labels, _unused in samples:
        if name == "all_smi_energy_consumed_joules_total":
            want, source = released.ALLSMI_ENERGY[labels["scope"]]
            assert tuple(labels) == want, (labels, source)
    # all_smi_gpu_info's extra labels are the vendor reader's detail keys
    for name, labels, _unused in samples:
        if name == "all_smi_gpu_info":
            vendor = VENDOR_OF_MODEL[labels["gpu"]]
            allowed, source = released.ALLSMI_GPU_INFO_DETAIL[vendor]
            extra = set(list(labels)[5:])
            assert extra <= set(allowed), (vendor, extra - set(allowed), source)
    # and the families a real H200 + Gaudi host serves are all there
    for name in ("all_smi_gpu_utilization", "all_smi_gpu_info", "all_smi_ane_utilization",
                 "all_smi_gpu_mig_mode", "all_smi_gpu_numa_node_id",
                 "all_smi_nvlink_remote_device_type", "all_smi_energy_consumed_joules_total",
                 "all_smi_gaudi_aip_utilization_percent", "all_smi_furiosa_firmware_info",
                 "all_smi_tpu_accelerator_type_info", "all_smi_disk_available_bytes",
                 "all_smi_chassis_power_watts"):
        assert name in seen, name


def test_dcgm_names_and_label_sets_match_4_2_3(start, tmp_path):  # noqa: F811
    csv = tmp_path / "all.csv"
    csv.write_text("".join("%s, %s, %s\n" % (name, spec[0], spec[1])
                           for name, spec in emulator.DCGM_FIELDS.items())
                   + "DCGM_FI_DRIVER_VERSION, label, Driver Version\n")
    emu = start("--mode", "dcgm", "-a", "127.0.0.1:{port}", "-c", "200", "--devices", "nvidia:2",
                "-f", str(csv), "--control-file", str(tmp_path / "none"))
    http("POST", emu.base + "/-/fault", {"type": "xid", "device": 0, "code": 79})
    samples = emu.metrics()
    assert set(emulator.DCGM_FIELDS) <= set(released.DCGM_FIELDS), (
        set(emulator.DCGM_FIELDS) - set(released.DCGM_FIELDS))
    base = released.DCGM_BASE + ("DCGM_FI_DRIVER_VERSION",)
    for name, labels, _unused in samples:
        assert name in released.DCGM_FIELDS, name
        extra, source = released.DCGM_EXTRA.get(name, ((), ""))
        got = tuple(labels)
        assert got[:len(base)] == base, (name, got)
        assert set(got[len(base):]) <= set(extra), (name, got, source)
    xid = [lab for n, lab, _unused in samples if n == "DCGM_FI_DEV_XID_ERRORS"]
    assert len(xid) == 1 and tuple(xid[0])[-2:] == ("err_code", "err_msg")
    counts = [lab for n, lab, _unused in samples if n == "DCGM_EXP_XID_ERRORS_COUNT"]
    assert sorted(lab.get("xid", "-") for lab in counts) == ["-", "79"]


def test_our_counters_csv_names_released_fields_and_nanoseconds():
    """roles/dcgm_exporter's counters file: every field exists in dcgm-exporter 4.2.3-4.1.3
    (and is emulated), the XID count is enabled, and violations are documented in ns."""
    path = ROOT / "roles" / "dcgm_exporter" / "templates" / "accelmon-counters.csv.j2"
    rows = [ln.split(",", 2) for ln in path.read_text().splitlines()
            if ln.strip() and not ln.startswith(("#", "{"))]
    fields = {r[0].strip(): (r[1].strip(), r[2].strip()) for r in rows}
    assert set(fields) <= set(released.DCGM_FIELDS), set(fields) - set(released.DCGM_FIELDS)
    assert {f for f, (t, _unused) in fields.items() if t != "label"} <= set(emulator.DCGM_FIELDS)
    for name in ("DCGM_EXP_XID_ERRORS_COUNT", "DCGM_FI_DEV_ROW_REMAP_PENDING",
                 "DCGM_FI_DEV_ROW_REMAP_FAILURE", "DCGM_FI_DEV_PCIE_LINK_WIDTH"):
        assert name in fields, name
    for name in ("DCGM_FI_DEV_POWER_VIOLATION", "DCGM_FI_DEV_THERMAL_VIOLATION"):
        assert fields[name][1].endswith("(in ns)."), fields[name]
