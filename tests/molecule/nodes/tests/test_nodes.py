"""Verify the node exporters on the molecule hosts (run by `molecule verify -s nodes`).

gpu-node runs node_exporter, the all-smi test double (emulating 8x NVIDIA H200) and the
dcgm-exporter test double; cpu-node runs node_exporter only. Metric names are the real
exporters' (shared/reference/exporters.md).
"""

import os
import time

import pytest
import testinfra.utils.ansible_runner

# Host names come from molecule's inventory; commands go straight through `podman exec`
# (testinfra's ansible backend costs one ansible run, ~5 s here, per command).
testinfra_hosts = [
    "podman://" + name
    for name in testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts("all")
]

NODE_EXPORTER_PORT = 9100
ALL_SMI_PORT = 9401
DCGM_PORT = 9400


def is_gpu(host):
    return host.backend.get_hostname() == "gpu-node"


def fetch(host, port, path="/metrics", tries=30):
    """GET a local endpoint from inside the host, retrying while the service starts."""
    url = "http://127.0.0.1:%d%s" % (port, path)
    last = None
    for _unused in range(tries):
        last = host.run("curl -fsS --max-time 5 %s", url)
        if last.rc == 0:
            return last.stdout
        time.sleep(1)
    pytest.fail("%s on %s: rc=%s %s" % (url, host.backend.get_hostname(), last.rc, last.stderr))


def metric_names(text):
    names = set()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            names.add(line.split("{", 1)[0].split(" ", 1)[0])
    return names


def test_node_exporter_running(host):
    svc = host.service("node_exporter")
    assert svc.is_running
    assert svc.is_enabled
    assert host.socket("tcp://%d" % NODE_EXPORTER_PORT).is_listening


def test_node_exporter_runs_as_dedicated_user(host):
    proc = host.process.get(comm="node_exporter")
    assert proc.user == "node-exp"


def test_node_exporter_unit_is_hardened(host):
    unit = host.file("/etc/systemd/system/node_exporter.service").content_string
    for setting in ("NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes"):
        assert setting in unit


def test_node_exporter_serves_textfile_metrics(host):
    names = metric_names(fetch(host, NODE_EXPORTER_PORT))
    assert "node_textfile_scrape_error" in names
    assert "node_cpu_seconds_total" in names


def test_textfile_directory(host):
    d = host.file("/var/lib/node_exporter/textfile")
    assert d.is_directory
    assert d.user == "root"
    assert d.mode == 0o775


def test_textfile_collector_reads_prom_files(host):
    host.run_expect(
        [0],
        "printf 'accelmon_molecule_probe 1\\n' > /var/lib/node_exporter/textfile/.probe.tmp"
        " && mv /var/lib/node_exporter/textfile/.probe.tmp /var/lib/node_exporter/textfile/probe.prom",
    )
    try:
        text = fetch(host, NODE_EXPORTER_PORT)
        assert "accelmon_molecule_probe 1" in text
        assert "node_textfile_scrape_error 0" in text
    finally:
        host.run("rm -f /var/lib/node_exporter/textfile/probe.prom")


def test_all_smi(host):
    svc = host.service("all-smi")
    if not is_gpu(host):
        assert not svc.is_running
        assert not host.file("/etc/systemd/system/all-smi.service").exists
        assert not host.file("/usr/local/bin/all-smi").exists
        return
    assert svc.is_running
    assert svc.is_enabled
    assert host.socket("tcp://0.0.0.0:%d" % ALL_SMI_PORT).is_listening
    assert not [s for s in host.socket.get_listening_sockets() if s.endswith(":9090")]
    text = fetch(host, ALL_SMI_PORT)
    names = metric_names(text)
    for name in (
        "all_smi_gpu_temperature_celsius",
        "all_smi_gpu_utilization",
        "all_smi_gpu_memory_total_bytes",
        "all_smi_gpu_power_consumption_watts",
    ):
        assert name in names, name
    temps = [ln for ln in text.splitlines() if ln.startswith("all_smi_gpu_temperature_celsius{")]
    assert len(temps) == 8, temps
    assert all('gpu="NVIDIA H200"' in ln for ln in temps)


def test_all_smi_runs_as_dedicated_user(host):
    if not is_gpu(host):
        pytest.skip("no all-smi on cpu-node")
    assert host.user("all-smi").exists
    pid = host.check_output("systemctl show -p MainPID --value all-smi")
    assert host.check_output("ps -o user= -p %s", pid).strip() == "all-smi"
    unit = host.file("/etc/systemd/system/all-smi.service").content_string
    assert "--port 9401 --interval 3" in unit
    assert "ACCEL_EMULATOR_CONFIG=/etc/accel-emulator/h200x8.json" in unit


def test_dcgm_exporter(host):
    svc = host.service("dcgm-exporter")
    if not is_gpu(host):
        assert not svc.is_running
        assert not host.file("/etc/systemd/system/dcgm-exporter.service").exists
        return
    assert svc.is_running
    assert svc.is_enabled
    assert host.socket("tcp://0.0.0.0:%d" % DCGM_PORT).is_listening
    names = metric_names(fetch(host, DCGM_PORT))
    # DCGM_FI_DEV_XID_ERRORS is absent until the first XID; the windowed count is always there
    for name in ("DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_FB_TOTAL", "DCGM_EXP_XID_ERRORS_COUNT"):
        assert name in names, name


def test_dcgm_counters_csv_has_alert_fields(host):
    if not is_gpu(host):
        pytest.skip("no dcgm-exporter on cpu-node")
    csv = host.file("/etc/dcgm-exporter/accelmon-counters.csv")
    assert csv.exists
    fields = {
        ln.split(",", 1)[0].strip() for ln in csv.content_string.splitlines() if ln.strip() and not ln.startswith("#")
    }
    for field in (
        "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL",
        "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",
        "DCGM_FI_DEV_RETIRED_DBE",
        "DCGM_FI_DEV_XID_ERRORS",
        "DCGM_EXP_XID_ERRORS_COUNT",
        "DCGM_FI_DEV_ROW_REMAP_PENDING",
        "DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL",
        "DCGM_FI_DEV_NVLINK_REPLAY_ERROR_COUNT_TOTAL",
        "DCGM_FI_DEV_NVLINK_RECOVERY_ERROR_COUNT_TOTAL",
        "DCGM_FI_DEV_THERMAL_VIOLATION",
        "DCGM_FI_DEV_POWER_VIOLATION",
        "DCGM_FI_DEV_FB_TOTAL",
    ):
        assert field in fields, field
