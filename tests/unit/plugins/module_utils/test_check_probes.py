"""The check probes' pure logic over fixtures (tests/fixtures/checks, sources in its README)."""

import json
import os

import pytest

from ansible_collections.accelmon.monitoring.plugins.module_utils import check_probes as probes
from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_catalog import BUILTIN_CHECK_TYPES

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__)))), "fixtures", "checks")


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def fixture_json(name):
    return json.loads(fixture(name))


def by_name(samples, metric, **labels):
    return [s.value for s in samples if s.name == metric and all(s.labels.get(k) == v for k, v in labels.items())]


def status_of(samples, check, item):
    hits = [s.labels["status"] for s in samples if s.name == "accelmon_check_status" and s.value == 1
            and s.labels["check"] == check and s.labels["item"] == item]
    assert len(hits) == 1, hits
    return hits[0]


def test_check_types_match_the_catalog():
    assert set(probes.CHECK_TYPES) == set(BUILTIN_CHECK_TYPES) == set(probes.STATUSES)


def test_every_sample_name_is_declared():
    for check, statuses in probes.STATUSES.items():
        assert set(statuses) & probes.OK_STATUSES, check
    for name, (mtype, doc) in probes.METRICS.items():
        assert mtype in ("gauge", "counter", "histogram") and doc
        assert name.endswith("_total") == (mtype == "counter"), name


# ---------------------------------------------------------------- mount


def test_parse_mountinfo():
    mounts = probes.parse_mountinfo(fixture("mountinfo.txt"))
    assert mounts["/data"]["fstype"] == "nfs4"
    assert mounts["/data"]["source"] == "nfs1.example.com:/export/data"
    # per-mount and superblock options together
    assert {"rw", "relatime", "hard", "vers=4.2"} <= mounts["/data"]["options"]
    assert mounts["/mnt/with space"]["fstype"] == "tmpfs"
    # the later mount on /scratch is the visible one
    assert mounts["/scratch"]["fstype"] == "xfs"


@pytest.mark.parametrize(
    "entry, status",
    [
        ("/data", None),
        ("/data/", None),
        ({"path": "/data", "fstype": "nfs4", "options": ["hard", "vers=4.2"]}, None),
        ({"path": "/data", "fstype": "nfs4", "options": "rw,hard"}, None),
        ({"path": "/data", "fstype": "lustre"}, "wrong_fstype"),
        ({"path": "/data", "options": ["soft"]}, "wrong_options"),
        ({"path": "/mnt/with space", "options": ["rw"]}, "wrong_options"),
        ("/home", "missing"),
        ("/data/sub", "missing"),
    ],
)
def test_judge_mount(entry, status):
    mounts = probes.parse_mountinfo(fixture("mountinfo.txt"))
    (expect,) = probes.mount_expectations([entry])
    got, detail = probes.judge_mount(expect, mounts)
    assert got == status, detail


def test_mount_expectations_one_per_path_last_wins():
    got = probes.mount_expectations(["/data", {"path": "/data/", "fstype": "nfs4"}, "/lustre"])
    assert got == [
        {"path": "/data", "fstype": "nfs4", "options": []},
        {"path": "/lustre", "fstype": None, "options": []},
    ]


def test_item_samples_one_hot_status():
    samples = probes.item_samples("mount", "/data", "timeout", 10.0)
    assert by_name(samples, "accelmon_check_ok") == [0]
    assert by_name(samples, "accelmon_check_duration_seconds") == [10.0]
    assert status_of(samples, "mount", "/data") == "timeout"
    assert len(by_name(samples, "accelmon_check_status")) == len(probes.STATUSES["mount"])
    assert by_name(probes.item_samples("mount", "/data", "responsive"), "accelmon_check_ok") == [1]


# ---------------------------------------------------------------- parallel_fs


def test_histogram_accumulates_across_runs():
    state = {}
    for value in (0.002, 0.3, 12.0):
        state = probes.histogram_observe(state, value)
    pairs, total = probes.histogram_buckets(state)
    cumulative = dict(pairs)
    assert cumulative["0.0025"] == 1
    assert cumulative["0.5"] == 2
    assert cumulative["10.0"] == 2
    assert cumulative["30.0"] == 3
    assert cumulative["+Inf"] == 3
    assert total == pytest.approx(12.302)
    # monotonic buckets, as Prometheus requires
    counts = [c for _le, c in pairs]
    assert counts == sorted(counts)


def test_histogram_state_with_other_buckets_restarts():
    state = probes.histogram_observe({"counts": [1, 2], "sum": 1.0, "count": 2}, 0.1)
    assert len(state["counts"]) == len(probes.LATENCY_BUCKETS)
    assert state["count"] == 3


# ---------------------------------------------------------------- infiniband


def test_read_infiniband_sysfs():
    ports = probes.read_infiniband(os.path.join(FIXTURES, "sysfs-infiniband"))
    first = ports[0]
    assert first == {
        "device": "mlx5_0",
        "port": "1",
        "link_layer": "InfiniBand",
        "state_id": 4,
        "state": "ACTIVE",
        "physical_state_id": 5,
        "physical_state": "LinkUp",
        "rate_gbps": 400.0,
    }
    assert [p["link_layer"] for p in ports] == ["InfiniBand", "InfiniBand", "InfiniBand", "Ethernet", "Ethernet"]


def test_read_infiniband_without_hcas(tmp_path):
    assert probes.read_infiniband(str(tmp_path / "absent")) == []


def test_judge_infiniband_states_rates_and_missing_hcas():
    ports = probes.read_infiniband(os.path.join(FIXTURES, "sysfs-infiniband"))
    samples = probes.judge_infiniband(ports, [], 200)
    assert status_of(samples, "infiniband", "mlx5_0/1") == "active"
    assert status_of(samples, "infiniband", "mlx5_1/1") == "down"
    assert status_of(samples, "infiniband", "mlx5_2/1") == "slow"  # 100 < 200 Gb/s
    assert status_of(samples, "infiniband", "mlx5_3/1") == "active"
    assert status_of(samples, "infiniband", "mlx5_4/1") == "down"  # RoCE
    assert by_name(samples, "accelmon_check_infiniband_port_info", device="mlx5_3", link_layer="Ethernet") == [1]
    assert by_name(samples, "accelmon_check_infiniband_state_id", device="mlx5_1") == [1]
    assert by_name(samples, "accelmon_check_infiniband_physical_state_id", device="mlx5_1") == [3]
    assert by_name(samples, "accelmon_check_infiniband_rate_gbps", device="mlx5_0") == [400.0]
    # only the named HCAs, and a named HCA that is absent is reported
    named = probes.judge_infiniband(ports, ["mlx5_0", "mlx5_9"], 0)
    items = sorted(s.labels["item"] for s in named if s.name == "accelmon_check_ok")
    assert items == ["mlx5_0/1", "mlx5_9"]
    assert status_of(named, "infiniband", "mlx5_9") == "missing"


# ---------------------------------------------------------------- nvme


def test_nvme_devices_from_list():
    devices = probes.nvme_devices(fixture_json("nvme-list.json"))
    assert [d["device"] for d in devices] == ["/dev/nvme0n1", "/dev/nvme1n1"]
    assert devices[0]["serial"] == "S6EUNA0R000001"
    assert probes.nvme_devices({}) == []


def test_judge_nvme_healthy_with_string_counters():
    samples = probes.judge_nvme("/dev/nvme0n1", fixture_json("nvme-smart-log-healthy.json"), 10, 90)
    assert by_name(samples, "nvme_critical_warning", device="/dev/nvme0n1") == [0]
    assert by_name(samples, "nvme_available_spare_ratio") == [1.0]
    assert by_name(samples, "nvme_available_spare_threshold_ratio") == [0.1]
    assert by_name(samples, "nvme_percentage_used_ratio") == [0.03]
    assert by_name(samples, "nvme_temperature_celsius") == [36]
    assert by_name(samples, "nvme_data_units_written_total") == [184420667.0]
    assert by_name(samples, "nvme_media_errors_total") == [0.0]
    assert status_of(samples, "nvme", "/dev/nvme0n1") == "healthy"


@pytest.mark.parametrize(
    "change, status",
    [
        ({}, "critical_warning"),
        ({"critical_warning": 0}, "low_spare"),
        ({"critical_warning": 0, "avail_spare": 50}, "worn"),
        ({"critical_warning": 0, "avail_spare": 50, "percent_used": 10}, "media_errors"),
        ({"critical_warning": 0, "avail_spare": 50, "percent_used": 10, "media_errors": 0}, "healthy"),
    ],
)
def test_judge_nvme_statuses(change, status):
    log = fixture_json("nvme-smart-log-critical.json")
    log.update(change)
    samples = probes.judge_nvme("/dev/nvme1n1", log, 10, 90)
    assert status_of(samples, "nvme", "/dev/nvme1n1") == status
    assert by_name(samples, "nvme_critical_warning") == [log["critical_warning"]]


# ---------------------------------------------------------------- smart


def test_smart_scan_and_version():
    scan = fixture_json("smartctl-scan-open.json")
    assert probes.smart_devices(scan) == [("/dev/sda", "sat"), ("/dev/sdb", "sat")]
    assert probes.smartctl_version(scan) == "7.3"


def test_judge_smart_passed():
    samples = probes.judge_smart("/dev/sda", "sat", fixture_json("smartctl-sda-passed.json"), 1000.0)
    labels = {"disk": "/dev/sda", "type": "sat"}
    assert by_name(samples, "smartmon_device_smart_healthy", **labels) == [1]
    assert by_name(samples, "smartmon_device_active", **labels) == [1]
    assert by_name(samples, "smartmon_device_smart_enabled", **labels) == [1]
    assert by_name(samples, "smartmon_smartctl_run", **labels) == [1000]
    assert by_name(samples, "smartmon_attr_raw_value", name="reallocated_sector_ct") == [0]
    assert by_name(samples, "smartmon_attr_threshold", name="reallocated_sector_ct") == [10]
    assert by_name(samples, "smartmon_temperature_celsius") == [33]
    info = [s for s in samples if s.name == "smartmon_device_info"][0]
    assert info.labels["serial_number"] == "S664NE0R000001"
    assert status_of(samples, "smart", "/dev/sda") == "healthy"


def test_judge_smart_failing_and_unopenable():
    failing = probes.judge_smart("/dev/sdb", "sat", fixture_json("smartctl-sdb-failed.json"), 0)
    assert by_name(failing, "smartmon_device_smart_healthy") == [0]
    assert status_of(failing, "smart", "/dev/sdb") == "failing"
    broken = probes.judge_smart("/dev/sdc", "auto", fixture_json("smartctl-sdc-open-failed.json"), 0)
    assert status_of(broken, "smart", "/dev/sdc") == "error"
    assert by_name(broken, "smartmon_device_smart_healthy") == []


# ---------------------------------------------------------------- port, license, command


def test_port_targets():
    got = probes.port_targets([22, {"host": "db1", "port": 5432}, {"host": "db2", "port": 5432, "name": "replica"}, 22])
    assert got == [("127.0.0.1:22", "127.0.0.1", 22), ("db1:5432", "db1", 5432), ("replica", "db2", 5432)]


def test_license_servers():
    assert probes.license_servers(["27000@lic1.example.com"]) == [("27000@lic1.example.com", "lic1.example.com", 27000)]
    with pytest.raises(ValueError, match="port@host"):
        probes.license_servers(["lic1:27000"])


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-12-31\n", "2026-12-31T00:00:00"),
        ("1798675200\n", "2026-12-31T00:00:00"),
        # nvidia-smi -q, vGPU software licensed product
        ("    License Status                    : Licensed (Expiry: 2026-3-9 7:4:5 GMT)", "2026-03-09T07:04:05"),
        # FlexLM lmstat -i: the earliest feature wins; permanent ones have no date
        (
            "NAME   VERSION  #LICENSES EXPIRES   VENDOR\nfeat_a 1.0 10 31-dec-2027 vend\nfeat_b 1.0 5 15-jun-2027 vend\n"
            "feat_c 1.0 5 permanent vend",
            "2027-06-15T23:59:59",
        ),
        ("no date here", None),
        ("permanent", None),
    ],
)
def test_parse_expiry(text, expected):
    import datetime

    got = probes.parse_expiry(text)
    if expected is None:
        assert got is None
    else:
        assert datetime.datetime.fromtimestamp(got, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") == expected


def test_judge_license():
    assert status_of(probes.judge_license("f", 2000.0, 1000.0), "license", "f") == "valid"
    expired = probes.judge_license("f", 500.0, 1000.0)
    assert status_of(expired, "license", "f") == "expired"
    assert by_name(expired, "accelmon_check_license_expiry_timestamp_seconds") == [500.0]
    assert status_of(probes.judge_license("f", None, 1000.0), "license", "f") == "unknown"


def test_judge_command():
    ok = probes.judge_command("gpu-burn", 0, False, "gflops: 51234.5\n", r"gflops: ([0-9.]+)", False, 1.5)
    assert by_name(ok, "accelmon_check_command_value") == [51234.5]
    assert by_name(ok, "accelmon_check_command_exit_code") == [0]
    assert status_of(ok, "command", "gpu-burn") == "ok"
    failed = probes.judge_command("x", 2, False, "boom", None, True, 0.1)
    assert status_of(failed, "command", "x") == "failed"
    assert by_name(failed, "accelmon_check_command_output_truncated") == [1]
    assert by_name(failed, "accelmon_check_command_value") == []
    timed_out = probes.judge_command("x", None, True, "", None, False, 10.0)
    assert status_of(timed_out, "command", "x") == "timeout"
    assert by_name(timed_out, "accelmon_check_command_exit_code") == [-1]


def test_duration_seconds():
    assert probes.duration_seconds("90s") == 90
    assert probes.duration_seconds("1h30m") == 5400
    with pytest.raises(ValueError):
        probes.duration_seconds("5 minutes")
