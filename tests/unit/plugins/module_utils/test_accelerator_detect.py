# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""Unit tests for plugins/module_utils/accelerator_detect.py over every hardware fixture."""

from __future__ import annotations

import filecmp
import importlib.util
import os

import pytest
from ansible_collections.accelmon.monitoring.plugins.module_utils import (
    accelerator_detect as ad,
)

TESTS_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
FIXTURES_DIR = os.path.join(TESTS_DIR, "fixtures", "hardware")


def _load_fixture_helper():
    spec = importlib.util.spec_from_file_location(
        "accelmon_sysfs_fixture", os.path.join(FIXTURES_DIR, "sysfs_fixture.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sysfs_fixture = _load_fixture_helper()

ALL_EXPORTERS = ["node_exporter", "all_smi", "dcgm_exporter"]
NO_DCGM = ["node_exporter", "all_smi"]

# fixture -> what detection must report, exactly.
EXPECTED = {
    "nvidia-h200-vm": {
        "vendors": {"nvidia": 1},
        "models": {"NVIDIA H200": 1},
        "addresses": ["0000:00:06.0"],
        "infiniband": 0,
        "nvme": 0,
        "cloud": "onprem",
        "exporters": ALL_EXPORTERS,
    },
    "hgx-h100-8gpu": {
        "vendors": {"nvidia": 8},
        "models": {"NVIDIA H100 80GB HBM3": 8},
        "addresses": [f"0000:{b}:00.0" for b in ("18", "2a", "3a", "5d", "9a", "ab", "ba", "db")],
        "infiniband": 8,
        "nvme": 2,
        "cloud": "onprem",
        "exporters": ALL_EXPORTERS,
    },
    "amd-mi300x-8gpu": {
        "vendors": {"amd": 8},
        "models": {"AMD Instinct MI300X": 8},
        "addresses": [f"0000:{b}:00.0" for b in ("05", "15", "65", "75", "85", "95", "e5", "f5")],
        "infiniband": 0,
        "nvme": 0,
        "cloud": "onprem",
        "exporters": NO_DCGM,
    },
    "amd-mi250x-8gcd": {
        "vendors": {"amd": 8},
        "models": {"AMD Instinct MI250X/MI250": 8},
        "addresses": [f"0000:{b}:00.0" for b in ("c1", "c6", "c9", "ce", "d1", "d6", "d9", "de")],
        "infiniband": 0,
        "nvme": 0,
        "cloud": "onprem",
        "exporters": NO_DCGM,
    },
    "amd-radeon-workstation": {
        "vendors": {"amd": 1},
        "models": {"AMD Radeon RX 7900 XT/XTX": 1},
        "addresses": ["0000:03:00.0"],
        "infiniband": 0,
        "nvme": 0,
        "cloud": "onprem",
        "exporters": NO_DCGM,
    },
    "aws-gaudi2-8": {
        "vendors": {"gaudi": 8},
        "models": {"Intel Gaudi2": 8},
        "addresses": ["0000:%02x:00.0" % (0x10 + i) for i in range(8)],
        "infiniband": 0,
        "nvme": 1,
        "cloud": "aws",
        "exporters": NO_DCGM,
    },
    "rebellions-atom-4": {
        "vendors": {"rebellions": 4},
        "models": {None: 4},
        "addresses": ["0000:17:00.0", "0000:31:00.0", "0000:4b:00.0", "0000:65:00.0"],
        "infiniband": 0,
        "nvme": 0,
        "cloud": "onprem",
        "exporters": NO_DCGM,
    },
    "furiosa-rngd-warboy": {
        "vendors": {"furiosa": 3},
        "models": {"FuriosaAI RNGD": 2, "FuriosaAI Warboy": 1},
        "addresses": ["0000:17:00.0", "0000:31:00.0", "0000:4b:00.0"],
        "infiniband": 0,
        "nvme": 0,
        "cloud": "onprem",
        "exporters": NO_DCGM,
    },
    "tenstorrent-wormhole-blackhole": {
        "vendors": {"tenstorrent": 3},
        "models": {"Tenstorrent Wormhole": 2, "Tenstorrent Blackhole": 1},
        "addresses": ["0000:05:00.0", "0000:06:00.0", "0000:07:00.0"],
        "infiniband": 0,
        "nvme": 0,
        "cloud": "onprem",
        "exporters": NO_DCGM,
    },
    "gcp-tpu-v5e-4": {
        "vendors": {"tpu": 4},
        "models": {"Google TPU v5e": 4},
        "addresses": ["0000:00:05.0", "0000:00:06.0", "0000:00:07.0", "0000:00:08.0"],
        "infiniband": 0,
        "nvme": 0,
        "cloud": "gcp",
        "exporters": NO_DCGM,
    },
    "azure-nd-h100-v5": {
        "vendors": {"nvidia": 8},
        "models": {"NVIDIA H100 80GB HBM3": 8},
        "addresses": ["%04x:00:00.0" % (1 + i) for i in range(8)],
        "infiniband": 0,
        "nvme": 0,
        "cloud": "azure",
        "exporters": ALL_EXPORTERS,
    },
    "consumer-rtx4090": {
        "vendors": {"nvidia": 1},
        "models": {"NVIDIA GeForce RTX 4090": 1},
        "addresses": ["0000:01:00.0"],
        "infiniband": 0,
        "nvme": 0,
        "cloud": "onprem",
        "exporters": ALL_EXPORTERS,
    },
}


def _count(items, key):
    counts = {}
    for item in items:
        counts[item[key]] = counts.get(item[key], 0) + 1
    return counts


def _root(tmp_path, name, layout="flat", from_tsv=False):
    return sysfs_fixture.materialize(name, str(tmp_path / "root"), layout=layout, from_tsv=from_tsv)


def test_every_fixture_has_an_expectation():
    assert sorted(EXPECTED) == sorted(sysfs_fixture.FIXTURES)
    on_disk = sorted(
        name
        for name in os.listdir(FIXTURES_DIR)
        if os.path.isdir(os.path.join(FIXTURES_DIR, name)) and name[0] not in "._"
    )
    assert on_disk == sorted(sysfs_fixture.FIXTURES)


@pytest.mark.parametrize("layout", ["flat", "real"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_counted_exactly(tmp_path, name, layout):
    expected = EXPECTED[name]
    facts = ad.detect_all(_root(tmp_path, name, layout))
    accelerators = facts["accelerators"]
    assert _count(accelerators, "vendor") == expected["vendors"]
    assert _count(accelerators, "model") == expected["models"]
    assert [a["pci_address"] for a in accelerators] == expected["addresses"]
    assert len(facts["infiniband"]) == expected["infiniband"]
    assert len(facts["nvme"]) == expected["nvme"]
    assert facts["cloud_provider"] == expected["cloud"]
    assert facts["exporters_recommended"] == expected["exporters"]
    rows = {row["addr"]: row for row in _fixture_rows(name)}
    for accel in accelerators:
        row = rows[accel["pci_address"]]
        assert accel["vendor_id"] == row["vendor"]
        assert accel["device_id"] == row["device"]
        assert accel["class"] == row["class"]
        assert accel["driver"] == (row["driver"] or None)
        numa = int(row["numa_node"]) if row["numa_node"] else -1
        assert accel["numa_node"] == (None if numa < 0 else numa)


def _fixture_rows(name):
    return sysfs_fixture.read_pci_tsv(os.path.join(FIXTURES_DIR, name, "pci.tsv"))


@pytest.mark.parametrize("layout", ["flat", "real"])
def test_h200_snapshot_exact(tmp_path, layout):
    """The real H200 snapshot: exactly one accelerator, every field as the host reported."""
    facts = ad.detect_all(_root(tmp_path, "nvidia-h200-vm", layout))
    assert facts["accelerators"] == [
        {
            "vendor": "nvidia",
            "model": "NVIDIA H200",
            "pci_address": "0000:00:06.0",
            "vendor_id": "0x10de",
            "device_id": "0x2335",
            "subsystem_vendor_id": "0x10de",
            "subsystem_device_id": "0x18bf",
            "class": "0x030200",
            "numa_node": None,
            "driver": "nvidia",
            "link_speed": "32.0 GT/s PCIe",
            "link_gen": 5,
            "link_width": 16,
            "max_link_speed": "32.0 GT/s PCIe",
            "max_link_width": 16,
        }
    ]
    assert facts["infiniband"] == []
    assert facts["nvme"] == []
    assert facts["cloud_provider"] == "onprem"  # Firecracker VM: empty DMI strings


def test_h200_snapshot_and_its_table_agree(tmp_path):
    from_tar = ad.detect_all(sysfs_fixture.materialize("nvidia-h200-vm", str(tmp_path / "a")))
    from_tsv = ad.detect_all(sysfs_fixture.materialize("nvidia-h200-vm", str(tmp_path / "b"), from_tsv=True))
    assert from_tar == from_tsv
    # the snapshot really holds 7 PCI functions; 6 are virtio/Intel and must not count
    assert len(ad.list_pci_devices(str(tmp_path / "a"))) == 7


def test_h200_local_copy_matches_shared_snapshot():
    shared = os.path.join(TESTS_DIR, "..", "..", "shared", "fixtures", "hardware", "nvidia-h200-vm")
    if not os.path.isdir(shared):
        pytest.skip("../shared is not checked out beside the repository")
    for name in ("sysfs_snapshot.tar.gz", "nvidia-smi-q.xml", "pci.tsv"):
        assert filecmp.cmp(
            os.path.join(shared, name),
            os.path.join(FIXTURES_DIR, "nvidia-h200-vm", name),
            shallow=False,
        ), name


def test_hgx_traps_not_counted(tmp_path):
    root = _root(tmp_path, "hgx-h100-8gpu")
    devices = {d["pci_address"]: d for d in ad.list_pci_devices(root)}
    counted = {a["pci_address"] for a in ad.detect_accelerators(root)}
    nvswitches = [a for a, d in devices.items() if d["device_id"] == "0x22a3"]
    assert len(nvswitches) == 4
    assert all(devices[a]["vendor_id"] == "0x10de" and devices[a]["driver"] == "nvidia" for a in nvswitches)
    assert not counted & set(nvswitches)
    bmc = [a for a, d in devices.items() if d["vendor_id"] == "0x1a03"]
    assert bmc == ["0000:03:00.0"] and devices[bmc[0]]["class"] == "0x030000"
    assert bmc[0] not in counted
    assert [a["numa_node"] for a in ad.detect_accelerators(root)] == [0] * 4 + [1] * 4


def test_hgx_infiniband_ports(tmp_path):
    hcas = ad.detect_infiniband(_root(tmp_path, "hgx-h100-8gpu"))
    assert [h["name"] for h in hcas] == [f"mlx5_{i}" for i in range(8)]
    assert all(len(h["ports"]) == 1 and h["hca_type"] == "MT4129" for h in hcas)
    ports = {h["name"]: h["ports"][0] for h in hcas}
    down = ports.pop("mlx5_5")
    assert down == {
        "port": 1,
        "state": "DOWN",
        "state_id": 1,
        "phys_state": "Disabled",
        "phys_state_id": 3,
        "rate": "10 Gb/sec (4X SDR)",
        "rate_gbps": 10.0,
        "link_layer": "InfiniBand",
        "active": False,
    }
    for port in ports.values():
        assert (port["state"], port["state_id"]) == ("ACTIVE", 4)
        assert (port["phys_state"], port["phys_state_id"]) == ("LinkUp", 5)
        assert port["rate"] == "400 Gb/sec (4X NDR)" and port["rate_gbps"] == 400.0
        assert port["active"] is True


def test_hgx_nvme(tmp_path):
    assert ad.detect_nvme(_root(tmp_path, "hgx-h100-8gpu")) == [
        {
            "name": "nvme0",
            "model": "SAMSUNG MZQL23T8HCLS-00A07",
            "serial": "S64HNE0T100001",
            "firmware_rev": "GDC5602Q",
            "pci_address": "0000:c1:00.0",
            "transport": "pcie",
        },
        {
            "name": "nvme1",
            "model": "SAMSUNG MZQL23T8HCLS-00A07",
            "serial": "S64HNE0T100002",
            "firmware_rev": "GDC5602Q",
            "pci_address": "0000:c2:00.0",
            "transport": "pcie",
        },
    ]


def test_nvme_numeric_order_and_padding(tmp_path):
    base = tmp_path / "sys" / "class" / "nvme"
    for name in ("nvme10", "nvme2", "nvme-subsys0"):
        (base / name).mkdir(parents=True)
        (base / name / "model").write_text(f"Model {name}      \n")
    assert [(c["name"], c["model"]) for c in ad.detect_nvme(str(tmp_path))] == [
        ("nvme2", "Model nvme2"),
        ("nvme10", "Model nvme10"),
    ]


def test_consumer_card_audio_function_not_counted(tmp_path):
    root = _root(tmp_path, "consumer-rtx4090")
    audio = [d for d in ad.list_pci_devices(root) if d["class"].startswith("0x0403")]
    assert [d["pci_address"] for d in audio] == ["0000:01:00.1"]
    assert audio[0]["vendor_id"] == "0x10de"
    assert [a["pci_address"] for a in ad.detect_accelerators(root)] == ["0000:01:00.0"]


def test_amd_apu_graphics_and_audio_not_counted(tmp_path):
    root = _root(tmp_path, "amd-radeon-workstation")
    amd = [d["pci_address"] for d in ad.list_pci_devices(root) if d["vendor_id"] == "0x1002"]
    assert len(amd) == 4
    assert [a["pci_address"] for a in ad.detect_accelerators(root)] == ["0000:03:00.0"]


def test_google_nic_is_not_a_tpu(tmp_path):
    root = _root(tmp_path, "gcp-tpu-v5e-4")
    google = [d for d in ad.list_pci_devices(root) if d["vendor_id"] == "0x1ae0"]
    assert len(google) == 5
    gvnic = [d for d in google if d["device_id"] == "0x0042"]
    assert len(gvnic) == 1 and gvnic[0]["class"] == "0x020000"
    assert gvnic[0]["pci_address"] not in {a["pci_address"] for a in ad.detect_accelerators(root)}


def _device(vendor, device, pci_class, **extra):
    base = {
        "vendor_id": vendor,
        "device_id": device,
        "class": pci_class,
        "subsystem_device_id": None,
    }
    base.update(extra)
    return base


@pytest.mark.parametrize(
    "device, expected",
    [
        (_device("0x10de", "0x2335", "0x030200"), "nvidia"),
        (_device("0x10de", "0x2684", "0x030000"), "nvidia"),
        (_device("0x10de", "0x9999", "0x030200"), "nvidia"),  # unknown ID, GPU class
        (_device("0x10de", "0x22a3", "0x068000"), None),  # NVSwitch
        (_device("0x10de", "0x9998", "0x068000"), None),  # any NVIDIA bridge
        (_device("0x10de", "0x22ba", "0x040300"), None),  # HD audio
        (_device("0x1a03", "0x2000", "0x030000"), None),  # ASPEED BMC VGA
        (_device("0x15b3", "0x1021", "0x020700"), None),  # ConnectX-7 IB
        (_device("0x1002", "0x74a1", "0x120000"), "amd"),
        (_device("0x1002", "0x740c", "0x038000"), "amd"),
        (_device("0x1002", "0x744c", "0x030000"), "amd"),  # discrete Radeon, listed
        (_device("0x1002", "0x164e", "0x030000"), None),  # APU iGPU, not listed
        (_device("0x1002", "0xab30", "0x040300"), None),  # Radeon HDMI audio
        (_device("0x1da3", "0x1020", "0x120000"), "gaudi"),
        (_device("0x1da3", "0x1060", "0xff0000"), "gaudi"),  # known ID, odd class
        (_device("0x1da3", "0x7777", "0xff0000"), None),  # unknown ID, odd class
        (_device("0x1f3f", "0x1220", "0x120000"), "rebellions"),
        (_device("0x1ed2", "0x0000", "0x120000"), "furiosa"),
        (_device("0x1e52", "0xb140", "0x120000"), "tenstorrent"),
        (_device("0x1ae0", "0x0063", "0x120000"), "tpu"),
        (_device("0x1ae0", "0x0063", "0x088000"), "tpu"),  # TPU by known ID, any class
        (_device("0x1ae0", "0x0042", "0x020000"), None),  # gVNIC
        (_device("0x1ae0", "0x0042", "0x120000"), None),  # gVNIC is never a TPU
        (_device("0x8086", "0x0d57", "0x060000"), None),
        (
            _device("0x10de", "0x2330", "0x030200", is_virtfn_on_host=True),
            None,
        ),  # SR-IOV VF
        (_device(None, None, None), None),
    ],
)
def test_classify(device, expected):
    assert ad.classify(device) == expected


_OTHER_VENDORS = ["0x8086", "0x1a03", "0x15b3", "0x1af4", "0x1022", "0x144d"]
_SAMPLE_DEVICES = sorted(
    {d for _v, d in ad.KNOWN_MODELS}
    | {d for _v, d in ad.KNOWN_NON_ACCELERATORS}
    | {"0x0000", "0x1234", "0x7777", "0xffff"}
)
# every PCI base class 0x00-0x13 and 0xff, plus the subclasses the rules name
_SAMPLE_CLASSES = sorted(
    {f"0x{base:02x}{sub:02x}00" for base in [*range(0x14), 0xFF] for sub in (0x00, 0x80)}
    | {
        "0x030000",
        "0x030200",
        "0x038000",
        "0x040300",
        "0x068000",
        "0x020700",
        "0x010802",
    }
    | {"0x120001", "0x030001"}
)


def test_classify_properties_exhaustive():
    """Vendor AND class rules hold over every combination of sampled IDs and classes."""
    checked = 0
    for vendor in sorted(ad.VENDORS) + _OTHER_VENDORS:
        for device in _SAMPLE_DEVICES:
            for pci_class in _SAMPLE_CLASSES:
                result = ad.classify(_device(vendor, device, pci_class))
                checked += 1
                prefix = pci_class[:6]
                key = (vendor, device)
                if vendor not in ad.VENDORS:
                    assert result is None
                    continue
                if result is not None:
                    assert result == ad.VENDORS[vendor]
                if ad.VENDORS[vendor] == "nvidia":
                    # NVIDIA counts by class alone: VGA / 3D controller only
                    assert (result == "nvidia") == (
                        prefix in ("0x0300", "0x0302") and key not in ad.KNOWN_NON_ACCELERATORS
                    ), (vendor, device, pci_class)
                if prefix in ("0x0680", "0x0403", "0x0200", "0x0207", "0x0108"):
                    # bridges, audio, NICs and NVMe never count unless the exact ID is a
                    # known accelerator of a vendor that is not NVIDIA or AMD
                    assert result is None or (key in ad.KNOWN_MODELS and ad.VENDORS[vendor] not in ("nvidia", "amd")), (
                        vendor,
                        device,
                        pci_class,
                    )
                if key in ad.KNOWN_NON_ACCELERATORS:
                    assert result is None
    assert checked > 5000


def test_sriov_virtual_function_on_host_not_counted(tmp_path):
    root = _root(tmp_path, "amd-mi300x-8gpu")
    vf = tmp_path / "root" / "sys" / "bus" / "pci" / "devices" / "0000:05:02.0"
    vf.mkdir()
    for attribute, value in (
        ("vendor", "0x1002"),
        ("device", "0x74b5"),
        ("class", "0x120000"),
    ):
        (vf / attribute).write_text(value + "\n")
    os.symlink("../0000:05:00.0", str(vf / "physfn"))
    assert len(ad.detect_accelerators(root)) == 8
    os.remove(str(vf / "physfn"))  # the same VF passed into a VM has no physfn: it counts
    assert len(ad.detect_accelerators(root)) == 9


def test_driver_symlink_preferred_over_driver_name(tmp_path):
    device = tmp_path / "dev"
    device.mkdir()
    (device / "driver_name").write_text("stale\n")
    assert ad.read_driver(str(device)) == "stale"
    (tmp_path / "drivers" / "vfio-pci").mkdir(parents=True)
    os.symlink("../drivers/vfio-pci", str(device / "driver"))
    assert ad.read_driver(str(device)) == "vfio-pci"


def test_driver_absent_and_empty(tmp_path):
    assert ad.read_driver(str(tmp_path)) is None
    (tmp_path / "driver_name").write_text("\n")
    assert ad.read_driver(str(tmp_path)) is None


def test_dangling_driver_symlink_still_names_driver(tmp_path):
    os.symlink("../../bus/pci/drivers/nvidia", str(tmp_path / "driver"))
    assert ad.read_driver(str(tmp_path)) == "nvidia"


@pytest.mark.parametrize(
    "raw, expected",
    [("-1", None), ("0", 0), ("3", 3), ("", None), (None, None), ("x", None)],
)
def test_parse_numa_node(raw, expected):
    assert ad.parse_numa_node(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("32.0 GT/s PCIe", 5),
        ("16.0 GT/s PCIe", 4),
        ("8.0 GT/s PCIe", 3),
        ("2.5 GT/s PCIe", 1),
        ("64.0 GT/s PCIe", 6),
        ("Unknown", None),
        (None, None),
    ],
)
def test_pcie_generation(raw, expected):
    assert ad.pcie_generation(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("400 Gb/sec (4X NDR)", 400.0),
        ("200 Gb/sec (2X NDR)", 200.0),
        ("56 Gb/sec (4X FDR)", 56.0),
        ("2.5 Gb/sec (1X SDR)", 2.5),
        ("", None),
        ("garbage", None),
    ],
)
def test_parse_rate(raw, expected):
    assert ad.parse_rate(raw) == expected


def test_infiniband_state_without_number(tmp_path):
    port = tmp_path / "sys" / "class" / "infiniband" / "mlx5_0" / "ports" / "1"
    port.mkdir(parents=True)
    (port / "state").write_text("ACTIVE\n")
    (port / "phys_state").write_text("5: LinkUp\n")
    [hca] = ad.detect_infiniband(str(tmp_path))
    assert hca["ports"][0]["state"] == "ACTIVE" and hca["ports"][0]["state_id"] is None
    assert hca["ports"][0]["phys_state_id"] == 5 and hca["ports"][0]["active"] is False
    assert hca["hca_type"] is None and hca["pci_address"] is None


def test_infiniband_pci_address_from_device_link(tmp_path):
    pci = tmp_path / "sys" / "devices" / "pci0000:17" / "0000:1a:00.0"
    pci.mkdir(parents=True)
    hca = tmp_path / "sys" / "class" / "infiniband" / "mlx5_0"
    hca.mkdir(parents=True)
    os.symlink("../../../devices/pci0000:17/0000:1a:00.0", str(hca / "device"))
    assert ad.detect_infiniband(str(tmp_path))[0]["pci_address"] == "0000:1a:00.0"


@pytest.mark.parametrize(
    "dmi, expected",
    [
        ({"sys_vendor": "Amazon EC2", "product_name": "p5.48xlarge"}, "aws"),
        ({"bios_vendor": "Amazon EC2"}, "aws"),
        ({"sys_vendor": "Xen", "bios_version": "4.11.amazon"}, "aws"),
        ({"sys_vendor": "Google", "product_name": "Google Compute Engine"}, "gcp"),
        ({"product_name": "Google Compute Engine"}, "gcp"),
        ({"bios_vendor": "Google"}, "gcp"),
        (
            {"sys_vendor": "Microsoft Corporation", "product_name": "Virtual Machine"},
            "azure",
        ),
        ({"chassis_asset_tag": "7783-7084-3265-9085-8269-3286-77"}, "azure"),
        (
            {"sys_vendor": "Microsoft Corporation", "product_name": "Surface Laptop"},
            "onprem",
        ),
        ({"sys_vendor": "Dell Inc.", "product_name": "PowerEdge XE9680"}, "onprem"),
        ({"sys_vendor": "Supermicro", "chassis_asset_tag": "Default string"}, "onprem"),
        ({}, "onprem"),
    ],
)
def test_cloud_provider_from_dmi(dmi, expected):
    assert ad.cloud_provider_from_dmi(dmi) == expected


def test_empty_root(tmp_path):
    assert ad.detect_all(str(tmp_path)) == {
        "accelerators": [],
        "infiniband": [],
        "nvme": [],
        "cloud_provider": "onprem",
        "exporters_recommended": ["node_exporter"],
    }


@pytest.mark.parametrize(
    "accelerators, expected",
    [
        ([], ["node_exporter"]),
        ([{"vendor": "nvidia", "driver": "nvidia"}], ALL_EXPORTERS),
        ([{"vendor": "nvidia", "driver": "nouveau"}], NO_DCGM),
        ([{"vendor": "nvidia", "driver": "vfio-pci"}], NO_DCGM),
        ([{"vendor": "nvidia", "driver": None}], NO_DCGM),
        ([{"vendor": "amd", "driver": "amdgpu"}], NO_DCGM),
        (
            [
                {"vendor": "amd", "driver": "amdgpu"},
                {"vendor": "nvidia", "driver": "nvidia"},
            ],
            ALL_EXPORTERS,
        ),
    ],
)
def test_recommend_exporters(accelerators, expected):
    assert ad.recommend_exporters(accelerators) == expected


def _h200_xml():
    with open(os.path.join(FIXTURES_DIR, "nvidia-h200-vm", "nvidia-smi-q.xml")) as handle:
        return handle.read()


def test_parse_nvidia_smi_xml_real_h200():
    assert ad.parse_nvidia_smi_xml(_h200_xml()) == {
        "0000:00:06.0": {
            "product_name": "NVIDIA H200",
            "product_architecture": "Hopper",
            "memory_total_mib": 143771,
            "driver_version": "580.159.04",
            "cuda_version": "13.0",
            "vbios_version": "96.00.A5.00.1A",
            "serial": "1653824019022",
            "uuid": "GPU-59536c0c-f28a-9ff8-f55b-d13bae9f150f",
        }
    }


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.",
            "not valid XML",
        ),
        ("<other/>", "expected <nvidia_smi_log>"),
    ],
)
def test_parse_nvidia_smi_xml_rejects_other_text(text, message):
    with pytest.raises(ValueError, match=message):
        ad.parse_nvidia_smi_xml(text)


def test_parse_nvidia_smi_xml_no_gpus():
    assert ad.parse_nvidia_smi_xml("<nvidia_smi_log><attached_gpus>0</attached_gpus></nvidia_smi_log>") == {}


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("00000000:00:06.0", "0000:00:06.0"),
        ("00000000:1B:00.0", "0000:1b:00.0"),
        ("00000001:C3:00.0", "0001:c3:00.0"),
        ("0000:17:00.0", "0000:17:00.0"),
        ("", None),
    ],
)
def test_normalize_bus_id(raw, expected):
    assert ad.normalize_bus_id(raw) == expected


def test_enrich_matches_by_address_and_vendor(tmp_path):
    accelerators = ad.detect_accelerators(_root(tmp_path, "nvidia-h200-vm"))
    other = dict(accelerators[0], pci_address="0000:00:07.0", model=None)
    amd = dict(accelerators[0], vendor="amd", model=None)
    info = ad.parse_nvidia_smi_xml(_h200_xml())
    info["0000:00:07.0"] = dict(info["0000:00:06.0"], product_name="Some Future GPU")
    enriched = ad.enrich_accelerators(accelerators + [other, amd], "nvidia", info)
    assert enriched[0]["memory_total_mib"] == 143771
    assert enriched[0]["uuid"] == "GPU-59536c0c-f28a-9ff8-f55b-d13bae9f150f"
    assert enriched[0]["model"] == "NVIDIA H200"
    assert enriched[1]["model"] == "Some Future GPU"  # unknown ID: model from the tool
    assert "uuid" not in enriched[2]  # only the named vendor is enriched
    assert "uuid" not in accelerators[0]  # input not mutated


def test_unreadable_attributes_are_none(tmp_path):
    device = tmp_path / "sys" / "bus" / "pci" / "devices" / "0000:00:01.0"
    device.mkdir(parents=True)
    (device / "vendor").write_text("0x10de\n")
    (device / "class").write_text("0x030200\n")
    (device / "current_link_width").write_text("x\n")
    [gpu] = ad.detect_accelerators(str(tmp_path))
    assert gpu["device_id"] is None and gpu["model"] is None
    assert gpu["link_width"] is None and gpu["numa_node"] is None and gpu["driver"] is None


def test_every_known_model_names_a_supported_vendor():
    for vendor_id, device_id in ad.KNOWN_MODELS:
        assert vendor_id in ad.VENDORS
        assert len(device_id) == 6 and device_id == device_id.lower()
