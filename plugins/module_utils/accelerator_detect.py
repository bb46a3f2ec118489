# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""Detect AI accelerators, InfiniBand HCAs, NVMe controllers and the cloud from sysfs.

Pure functions over a sysfs root (``/`` on a host, a fixture directory in tests) with no
Ansible imports, so the same code runs in pytest and inside the ``accelerator_facts``
module. Counting must be exact, so a PCI function is an accelerator only when its vendor
AND its class (or a known device ID) say so: BMC VGA devices, NVSwitch bridges, HDMI audio
functions and cloud NICs of accelerator vendors are not accelerators. The rules and their
reasons are in ``docs/hardware-detection.md``.
"""

from __future__ import annotations

import os
import re
from xml.etree import ElementTree

from ansible_collections.accelmon.monitoring.plugins.module_utils.exporters import recommend_exporters

# PCI vendor ID -> our vendor name. Source: pci-ids database (pci-ids.ucw.cz) and the
# vendors' driver sources (see tests/fixtures/hardware/README.md).
VENDORS = {
    "0x10de": "nvidia",  # NVIDIA Corporation
    "0x1002": "amd",  # Advanced Micro Devices, Inc. [AMD/ATI]
    "0x1da3": "gaudi",  # Habana Labs Ltd. (Intel); kernel drivers/accel/habanalabs
    "0x1f3f": "rebellions",  # Rebellions Inc.
    "0x1ed2": "furiosa",  # FuriosaAI, Inc.
    "0x1e52": "tenstorrent",  # Tenstorrent Inc.; tt-kmd enumerate.h PCI_VENDOR_ID_TENSTORRENT
    "0x1ae0": "tpu",  # Google, Inc.; kernel drivers/net/ethernet/google/gve PCI_VENDOR_ID_GOOGLE
}

# PCI class prefixes (base class + subclass, the programming interface byte ignored).
CLASS_VGA = "0x0300"
CLASS_3D = "0x0302"
CLASS_DISPLAY_OTHER = "0x0380"
CLASS_PROCESSING_ACCEL = "0x1200"

# Which classes count as an accelerator, per vendor. NVIDIA: VGA (consumer and workstation
# cards) and 3D controller (datacenter GPUs); never 0x0680 (NVSwitch) or 0x0403 (audio).
# AMD: Instinct reports 0x0380 (MI200 series) or 0x1200 (MI300 series); 0x0300 VGA counts
# only for the discrete device IDs in AMD_DISCRETE_VGA (see below). NPU vendors: 0x1200.
ACCELERATOR_CLASSES = {
    "nvidia": (CLASS_VGA, CLASS_3D),
    "amd": (CLASS_DISPLAY_OTHER, CLASS_3D, CLASS_PROCESSING_ACCEL),
    "gaudi": (CLASS_PROCESSING_ACCEL,),
    "rebellions": (CLASS_PROCESSING_ACCEL,),
    "furiosa": (CLASS_PROCESSING_ACCEL,),
    "tenstorrent": (CLASS_PROCESSING_ACCEL,),
    "tpu": (CLASS_PROCESSING_ACCEL,),
}

# Known accelerator device IDs -> model. Every entry names its source. A device of a
# vendor in ACCELERATOR_CLASSES whose ID is listed here counts even when its class is
# unexpected (NPU classes are not documented by every vendor), except for NVIDIA, which is
# counted by class only.
KNOWN_MODELS = {
    # NVIDIA. Source: NVIDIA open-gpu-kernel-modules README, "Compatible GPUs" table
    # (product name, device ID) and pci-ids; 0x2335 from the real H200 snapshot in
    # tests/fixtures/hardware/nvidia-h200-vm (nvidia-smi: "NVIDIA H200"). Which IDs
    # were re-read in their source: tests/fixtures/hardware/README.md. The model string is
    # informational; counting never depends on this table for NVIDIA.
    ("0x10de", "0x1eb8"): "NVIDIA T4",
    ("0x10de", "0x20b0"): "NVIDIA A100-SXM4-40GB",
    ("0x10de", "0x20b2"): "NVIDIA A100-SXM4-80GB",
    ("0x10de", "0x20b5"): "NVIDIA A100-PCIE-80GB",
    ("0x10de", "0x2321"): "NVIDIA H100 NVL",
    ("0x10de", "0x2330"): "NVIDIA H100 80GB HBM3",
    ("0x10de", "0x2331"): "NVIDIA H100 PCIe",
    ("0x10de", "0x2335"): "NVIDIA H200",
    ("0x10de", "0x2342"): "NVIDIA GH200 480GB",
    ("0x10de", "0x2684"): "NVIDIA GeForce RTX 4090",
    ("0x10de", "0x26b9"): "NVIDIA L40S",
    ("0x10de", "0x27b8"): "NVIDIA L4",
    # AMD. Source: pci-ids (1002:740c "Aldebaran/MI200 [Instinct MI250X/MI250]",
    # 1002:740f "Aldebaran/MI200 [Instinct MI210]", 1002:74a0/74a1 "Aqua Vanjaram
    # [Instinct MI300A/MI300X]", 1002:744c "Navi 31 [Radeon RX 7900 XT/7900 XTX]",
    # 1002:7448 "Navi 31 [Radeon Pro W7900]"); 0x74a1 also in amd-smi output
    # ("market_name": "Instinct MI300X", "device_id": "0x74a1").
    ("0x1002", "0x740c"): "AMD Instinct MI250X/MI250",
    ("0x1002", "0x740f"): "AMD Instinct MI210",
    ("0x1002", "0x74a0"): "AMD Instinct MI300A",
    ("0x1002", "0x74a1"): "AMD Instinct MI300X",
    ("0x1002", "0x744c"): "AMD Radeon RX 7900 XT/XTX",
    ("0x1002", "0x7448"): "AMD Radeon PRO W7900",
    # Intel Gaudi. Source: Linux kernel drivers/accel/habanalabs (PCI_IDS_GAUDI 0x1000,
    # PCI_IDS_GAUDI2 0x1020) and Habana hl-thunk/SynapseAI headers (PCI_IDS_GAUDI3 0x1060).
    ("0x1da3", "0x1000"): "Intel Gaudi",
    ("0x1da3", "0x1020"): "Intel Gaudi2",
    ("0x1da3", "0x1060"): "Intel Gaudi3",
    # FuriosaAI. Source: FuriosaAI's device documentation (Warboy 0x0000, RNGD 0x0001).
    ("0x1ed2", "0x0000"): "FuriosaAI Warboy",
    ("0x1ed2", "0x0001"): "FuriosaAI RNGD",
    # Tenstorrent. Source: tenstorrent/tt-kmd enumerate.h (PCI_DEVICE_ID_GRAYSKULL 0xFACA,
    # PCI_DEVICE_ID_WORMHOLE 0x401E, PCI_DEVICE_ID_BLACKHOLE 0xB140).
    ("0x1e52", "0xfaca"): "Tenstorrent Grayskull",
    ("0x1e52", "0x401e"): "Tenstorrent Wormhole",
    ("0x1e52", "0xb140"): "Tenstorrent Blackhole",
    # Google TPU. Source: Google's tpu-info (cloud-accelerator-diagnostics,
    # tpu_info/device.py TpuChip.from_pci_device_id). 0x0027 is v2 or v3 by subsystem
    # device (see TPU_SUBSYSTEM_MODELS).
    ("0x1ae0", "0x0027"): "Google TPU v2/v3",
    ("0x1ae0", "0x005e"): "Google TPU v4",
    ("0x1ae0", "0x0062"): "Google TPU v5p",
    ("0x1ae0", "0x0063"): "Google TPU v5e",
    ("0x1ae0", "0x006f"): "Google TPU v6e",
    ("0x1ae0", "0x0076"): "Google TPU7x",
    # Rebellions: no device ID with a citable source yet, so ATOM devices are counted by
    # vendor + class 0x1200 and reported with model None.
}

# Source: tpu-info device.py (subsystem device 0x004e -> v2, 0x004f -> v3).
TPU_SUBSYSTEM_MODELS = {"0x004e": "Google TPU v2", "0x004f": "Google TPU v3"}

# AMD VGA-class (0x0300) devices that count: discrete Radeon cards that ROCm supports.
# Every other AMD VGA function (Ryzen APU integrated graphics, display-only cards) is not
# an accelerator. Source: pci-ids (see KNOWN_MODELS above).
AMD_DISCRETE_VGA = frozenset(["0x744c", "0x7448"])

# PCI functions of accelerator vendors that are known NOT to be accelerators; used only to
# explain decisions in docs and tests. Source: pci-ids (10de:22a3 "GH100 [H100 NVSwitch]",
# 10de:1af1 "GA100 [A100 NVSwitch]", 10de:22ba "AD102 High Definition Audio Controller")
# and kernel gve driver (1ae0:0042 PCI_DEV_ID_GVNIC).
KNOWN_NON_ACCELERATORS = {
    ("0x10de", "0x22a3"): "NVIDIA H100 NVSwitch (bridge)",
    ("0x10de", "0x1af1"): "NVIDIA A100 NVSwitch (bridge)",
    ("0x10de", "0x22ba"): "NVIDIA AD102 HD Audio",
    ("0x1ae0", "0x0042"): "Google gVNIC (Ethernet)",
}

# PCIe link speed in GT/s -> generation.
_PCIE_GEN = {"2.5": 1, "5.0": 2, "8.0": 3, "16.0": 4, "32.0": 5, "64.0": 6}

# DMI files read for cloud detection (under <root>/sys/class/dmi/id/).
DMI_FIELDS = (
    "sys_vendor",
    "product_name",
    "product_version",
    "bios_vendor",
    "bios_version",
    "board_vendor",
    "chassis_vendor",
    "chassis_asset_tag",
)

# Azure writes this chassis asset tag into every VM's DMI data.
AZURE_CHASSIS_ASSET_TAG = "7783-7084-3265-9085-8269-3286-77"


def _read(path):
    """Return a sysfs attribute stripped of whitespace, or None when absent/unreadable."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    return data.decode("utf-8", "replace").strip()


def _read_int(path):
    value = _read(path)
    if value is None:
        return None
    try:
        return int(value, 0) if value.lower().startswith("0x") else int(value)
    except ValueError:
        return None


def _listdir(path):
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def _hex_id(value, width):
    """Normalise '0x10DE' / '10de' to '0x10de' (width hex digits); None stays None."""
    if not value:
        return None
    try:
        number = int(value, 16)
    except ValueError:
        return None
    return f"0x{number:0{width}x}"


def _natural_key(name):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def sys_path(sysfs_root, *parts):
    """Join the sysfs root (the directory holding ``sys/``) with a path below ``sys``."""
    return os.path.join(sysfs_root, "sys", *parts)


def read_driver(device_dir):
    """Driver bound to a PCI device: basename of the ``driver`` symlink on a real host,
    or the ``driver_name`` plain file that the fixture snapshots use; None if unbound."""
    link = os.path.join(device_dir, "driver")
    if os.path.islink(link):
        try:
            return os.path.basename(os.readlink(link).rstrip("/")) or None
        except OSError:
            return None
    if os.path.isdir(link):
        return os.path.basename(os.path.realpath(link))
    name = _read(os.path.join(device_dir, "driver_name"))
    return name or None


def parse_numa_node(value):
    """sysfs numa_node: -1 (no affinity, single-node or VM) and garbage become None."""
    if value is None:
        return None
    try:
        node = int(value)
    except (TypeError, ValueError):
        return None
    return None if node < 0 else node


def pcie_generation(link_speed):
    """'32.0 GT/s PCIe' -> 5; None when unknown."""
    if not link_speed:
        return None
    match = re.match(r"\s*([\d.]+)\s*GT/s", link_speed)
    if not match:
        return None
    return _PCIE_GEN.get(match.group(1))


def read_pci_device(device_dir):
    """All attributes the detector uses for one PCI function, normalised."""
    raw_class = _read(os.path.join(device_dir, "class"))
    link_speed = _read(os.path.join(device_dir, "current_link_speed"))
    return {
        "pci_address": os.path.basename(device_dir.rstrip("/")),
        "vendor_id": _hex_id(_read(os.path.join(device_dir, "vendor")), 4),
        "device_id": _hex_id(_read(os.path.join(device_dir, "device")), 4),
        "subsystem_vendor_id": _hex_id(_read(os.path.join(device_dir, "subsystem_vendor")), 4),
        "subsystem_device_id": _hex_id(_read(os.path.join(device_dir, "subsystem_device")), 4),
        "class": _hex_id(raw_class, 6),
        "numa_node": parse_numa_node(_read(os.path.join(device_dir, "numa_node"))),
        "driver": read_driver(device_dir),
        "link_speed": link_speed,
        "link_gen": pcie_generation(link_speed),
        "link_width": _read_int(os.path.join(device_dir, "current_link_width")),
        "max_link_speed": _read(os.path.join(device_dir, "max_link_speed")),
        "max_link_width": _read_int(os.path.join(device_dir, "max_link_width")),
        "is_virtfn_on_host": os.path.lexists(os.path.join(device_dir, "physfn")),
    }


def list_pci_devices(sysfs_root):
    """Every PCI function under <root>/sys/bus/pci/devices, sorted by address."""
    base = sys_path(sysfs_root, "bus", "pci", "devices")
    return [read_pci_device(os.path.join(base, name)) for name in _listdir(base)]


def classify(device):
    """Return our vendor name when a PCI function is an accelerator, else None.

    Decided by vendor AND class, never by vendor alone (see module docstring).
    SR-IOV virtual functions seen on the host (they have a ``physfn`` link) are not
    counted: their physical function already is. Inside a VM a passed-through VF has no
    ``physfn`` and counts normally.
    """
    vendor = VENDORS.get(device.get("vendor_id"))
    if vendor is None or device.get("is_virtfn_on_host"):
        return None
    pci_class = device.get("class") or ""
    prefix = pci_class[:6]
    key = (device.get("vendor_id"), device.get("device_id"))
    if key in KNOWN_NON_ACCELERATORS:
        return None
    if prefix in ACCELERATOR_CLASSES[vendor]:
        return vendor
    if vendor == "amd" and prefix == CLASS_VGA:
        return vendor if device.get("device_id") in AMD_DISCRETE_VGA else None
    if vendor not in ("nvidia", "amd") and key in KNOWN_MODELS:
        return vendor
    return None


def model_for(device):
    """Model name from the known device ID table, or None."""
    key = (device.get("vendor_id"), device.get("device_id"))
    if key == ("0x1ae0", "0x0027"):
        return TPU_SUBSYSTEM_MODELS.get(device.get("subsystem_device_id"), KNOWN_MODELS[key])
    return KNOWN_MODELS.get(key)


def detect_accelerators(sysfs_root):
    """One dict per accelerator, sorted by PCI address."""
    result = []
    for device in list_pci_devices(sysfs_root):
        vendor = classify(device)
        if vendor is None:
            continue
        entry = {"vendor": vendor, "model": model_for(device)}
        entry.update((k, v) for k, v in device.items() if k != "is_virtfn_on_host")
        result.append(entry)
    return result


def _split_numbered(value):
    """'4: ACTIVE' -> (4, 'ACTIVE'); 'ACTIVE' -> (None, 'ACTIVE')."""
    if value is None:
        return None, None
    match = re.match(r"\s*(\d+)\s*:\s*(.*)$", value)
    if match:
        return int(match.group(1)), match.group(2).strip() or None
    return None, value.strip() or None


def parse_rate(value):
    """'400 Gb/sec (4X NDR)' -> 400.0; None when unparseable."""
    if not value:
        return None
    match = re.match(r"\s*([\d.]+)\s*Gb/sec", value)
    return float(match.group(1)) if match else None


def detect_infiniband(sysfs_root):
    """HCAs under <root>/sys/class/infiniband with their ports' state, physical state
    and rate, in the ids node_exporter uses (state 4 = ACTIVE, phys_state 5 = LinkUp)."""
    base = sys_path(sysfs_root, "class", "infiniband")
    hcas = []
    for name in sorted(_listdir(base), key=_natural_key):
        hca_dir = os.path.join(base, name)
        ports = []
        ports_dir = os.path.join(hca_dir, "ports")
        for port in sorted(_listdir(ports_dir), key=_natural_key):
            port_dir = os.path.join(ports_dir, port)
            state_id, state = _split_numbered(_read(os.path.join(port_dir, "state")))
            phys_id, phys = _split_numbered(_read(os.path.join(port_dir, "phys_state")))
            rate = _read(os.path.join(port_dir, "rate"))
            ports.append(
                {
                    "port": int(port) if port.isdigit() else port,
                    "state": state,
                    "state_id": state_id,
                    "phys_state": phys,
                    "phys_state_id": phys_id,
                    "rate": rate,
                    "rate_gbps": parse_rate(rate),
                    "link_layer": _read(os.path.join(port_dir, "link_layer")),
                    "active": state_id == 4 and phys_id == 5,
                }
            )
        device_link = os.path.join(hca_dir, "device")
        pci_address = None
        if os.path.exists(device_link):
            pci_address = os.path.basename(os.path.realpath(device_link))
        hcas.append(
            {
                "name": name,
                "hca_type": _read(os.path.join(hca_dir, "hca_type")),
                "board_id": _read(os.path.join(hca_dir, "board_id")),
                "fw_ver": _read(os.path.join(hca_dir, "fw_ver")),
                "node_guid": _read(os.path.join(hca_dir, "node_guid")),
                "pci_address": pci_address,
                "ports": ports,
            }
        )
    return hcas


def detect_nvme(sysfs_root):
    """NVMe controllers under <root>/sys/class/nvme (nvme0, nvme1, ... in numeric order)."""
    base = sys_path(sysfs_root, "class", "nvme")
    controllers = []
    for name in sorted(_listdir(base), key=_natural_key):
        if not re.match(r"^nvme\d+$", name):
            continue
        ctrl = os.path.join(base, name)
        controllers.append(
            {
                "name": name,
                "model": _read(os.path.join(ctrl, "model")),
                "serial": _read(os.path.join(ctrl, "serial")),
                "firmware_rev": _read(os.path.join(ctrl, "firmware_rev")),
                "pci_address": _read(os.path.join(ctrl, "address")),
                "transport": _read(os.path.join(ctrl, "transport")),
            }
        )
    return controllers


def read_dmi(sysfs_root):
    """DMI strings that cloud detection uses; missing files read as ''."""
    base = sys_path(sysfs_root, "class", "dmi", "id")
    return {field: _read(os.path.join(base, field)) or "" for field in DMI_FIELDS}


def cloud_provider_from_dmi(dmi):
    """'aws', 'gcp', 'azure' or 'onprem' (no cloud marker found) from DMI strings."""

    def low(field):
        return (dmi.get(field) or "").strip().lower()

    if "amazon ec2" in (low("sys_vendor"), low("bios_vendor"), low("board_vendor")):
        return "aws"
    # Xen-based EC2 generations: sys_vendor 'Xen', version strings end in '.amazon'.
    if "amazon" in low("bios_version") or "amazon" in low("product_version"):
        return "aws"
    if (
        low("sys_vendor") == "google"
        or low("product_name") == "google compute engine"
        or low("bios_vendor") == "google"
    ):
        return "gcp"
    if low("chassis_asset_tag") == AZURE_CHASSIS_ASSET_TAG:
        return "azure"
    if low("sys_vendor") == "microsoft corporation" and low("product_name") == "virtual machine":
        return "azure"
    return "onprem"


def detect_cloud_provider(sysfs_root):
    return cloud_provider_from_dmi(read_dmi(sysfs_root))


def normalize_bus_id(bus_id):
    """'00000000:1B:00.0' (nvidia-smi) -> '0000:1b:00.0' (sysfs)."""
    if not bus_id:
        return None
    text = bus_id.strip().lower()
    domain, sep, rest = text.partition(":")
    if not sep:
        return text
    try:
        return f"{int(domain, 16):04x}:{rest}"
    except ValueError:
        return text


def _text(element, path):
    found = element.find(path)
    if found is None or found.text is None:
        return None
    value = found.text.strip()
    return None if value in ("", "N/A") else value


def _mib(value):
    if not value:
        return None
    match = re.match(r"\s*(\d+)\s*MiB", value)
    return int(match.group(1)) if match else None


def parse_nvidia_smi_xml(text):
    """Parse ``nvidia-smi -q -x`` output into {sysfs PCI address: info}.

    Raises ValueError with a readable message when the text is not that XML, so callers
    can turn it into a warning.
    """
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise ValueError(f"nvidia-smi -q -x output is not valid XML: {exc}") from exc
    if root.tag != "nvidia_smi_log":
        raise ValueError(f"nvidia-smi -q -x output has root <{root.tag}>, expected <nvidia_smi_log>")
    driver_version = _text(root, "driver_version")
    cuda_version = _text(root, "cuda_version")
    gpus = {}
    for gpu in root.findall("gpu"):
        address = normalize_bus_id(_text(gpu, "pci/pci_bus_id") or gpu.get("id"))
        if not address:
            continue
        gpus[address] = {
            "product_name": _text(gpu, "product_name"),
            "product_architecture": _text(gpu, "product_architecture"),
            "memory_total_mib": _mib(_text(gpu, "fb_memory_usage/total")),
            "driver_version": driver_version,
            "cuda_version": cuda_version,
            "vbios_version": _text(gpu, "vbios_version"),
            "serial": _text(gpu, "serial"),
            "uuid": _text(gpu, "uuid"),
        }
    return gpus


def enrich_accelerators(accelerators, vendor, info_by_address):
    """Merge vendor-tool facts into the accelerators of one vendor, matched by PCI address.

    Returns a new list; devices the tool did not report are left as they are. A model
    unknown to the device ID table is filled from the tool's product name.
    """
    result = []
    for accel in accelerators:
        merged = dict(accel)
        info = info_by_address.get(accel["pci_address"]) if accel["vendor"] == vendor else None
        if info:
            merged.update(info)
            if not merged.get("model") and info.get("product_name"):
                merged["model"] = info["product_name"]
        result.append(merged)
    return result


def detect_all(sysfs_root):
    """Every fact the module returns, from sysfs alone (no vendor tools)."""
    accelerators = detect_accelerators(sysfs_root)
    return {
        "accelerators": accelerators,
        "infiniband": detect_infiniband(sysfs_root),
        "nvme": detect_nvme(sysfs_root),
        "cloud_provider": detect_cloud_provider(sysfs_root),
        "exporters_recommended": recommend_exporters(accelerators),
    }
