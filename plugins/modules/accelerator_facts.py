#!/usr/bin/python
# ruff: noqa: EXE001 -- ansible-test wants this shebang on a non-executable module
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: accelerator_facts
short_description: Detect AI accelerators, InfiniBand, NVMe and the cloud provider from sysfs
version_added: 0.1.0
description:
  - Reads C(/sys/bus/pci/devices) and counts accelerators by PCI vendor B(and) class, so
    BMC VGA devices, NVIDIA NVSwitch bridges, HDMI audio functions and cloud NICs of
    accelerator vendors are never counted.
  - Supported vendors are NVIDIA, AMD (Instinct and discrete Radeon), Intel Gaudi,
    Rebellions, FuriosaAI, Tenstorrent and Google TPU.
  - Also reports InfiniBand HCAs and port states from C(/sys/class/infiniband), NVMe
    controllers from C(/sys/class/nvme), the cloud provider from DMI and the exporters the
    collection recommends for the host.
  - When O(use_vendor_tools=true) and C(nvidia-smi) is on E(PATH), NVIDIA GPUs are enriched
    with product name, memory, driver version, serial and UUID from C(nvidia-smi -q -x).
    A missing, failing or hanging tool never fails the module; it adds a warning instead.
  - The detection rules are described in C(docs/hardware-detection.md) of the collection.
author:
  - accelmon maintainers (@accelmon)
options:
  sysfs_root:
    description:
      - Directory that holds the C(sys/) tree to read. V(/) on a real host; a fixture
        directory (for example an unpacked sysfs snapshot) in tests.
    type: path
    default: /
  use_vendor_tools:
    description:
      - Run vendor tools (C(nvidia-smi -q -x)) found on E(PATH) to enrich the facts.
      - Devices are matched by PCI address, so enrichment only touches devices that the
        tool and sysfs both report. Set V(false) when O(sysfs_root) points at a fixture
        on a machine that has real GPUs.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: The module only reads; it runs the same way in check mode.
  diff_mode:
    support: none
    description: Nothing is changed, so there is nothing to diff.
  facts:
    support: full
    description: Everything is returned under RV(ansible_facts).
notes:
  - Counting never depends on vendor tools; they only add detail.
seealso:
  - name: Hardware detection rules
    description: Which PCI vendor and class combinations count, and why.
    link: https://github.com/accelmon/monitoring/blob/main/docs/hardware-detection.md
"""

EXAMPLES = r"""
- name: Gather accelerator facts
  accelmon.monitoring.accelerator_facts:

- name: Apply dcgm-exporter only where it is recommended
  ansible.builtin.debug:
    msg: "dcgm-exporter for {{ ansible_facts.accelmon_accelerators | length }} GPUs"
  when: "'dcgm_exporter' in ansible_facts.accelmon_exporters_recommended"

- name: Read a captured sysfs snapshot instead of the live system, without vendor tools
  accelmon.monitoring.accelerator_facts:
    sysfs_root: /tmp/snapshots/nvidia-h200-vm
    use_vendor_tools: false
"""

RETURN = r"""
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: dict
  contains:
    accelmon_accelerators:
      description:
        - One entry per accelerator, sorted by PCI address.
        - Keys from sysfs are always present (V(null) when the attribute is missing).
          After NVIDIA enrichment a GPU also has C(product_name), C(product_architecture),
          C(memory_total_mib), C(driver_version), C(cuda_version), C(vbios_version),
          C(serial) and C(uuid).
      returned: always
      type: list
      elements: dict
      sample:
        - vendor: nvidia
          model: NVIDIA H200
          pci_address: "0000:00:06.0"
          vendor_id: "0x10de"
          device_id: "0x2335"
          subsystem_vendor_id: "0x10de"
          subsystem_device_id: "0x18bf"
          class: "0x030200"
          numa_node: null
          driver: nvidia
          link_speed: 32.0 GT/s PCIe
          link_gen: 5
          link_width: 16
          max_link_speed: 32.0 GT/s PCIe
          max_link_width: 16
      contains:
        vendor:
          description: One of V(nvidia), V(amd), V(gaudi), V(rebellions), V(furiosa), V(tenstorrent), V(tpu).
          type: str
        model:
          description: Model from the known device ID table, else from the vendor tool, else V(null).
          type: str
        pci_address:
          description: PCI address as in sysfs, for example V(0000:17:00.0).
          type: str
        vendor_id:
          description: PCI vendor ID, for example V(0x10de).
          type: str
        device_id:
          description: PCI device ID, for example V(0x2335).
          type: str
        subsystem_vendor_id:
          description: PCI subsystem vendor ID.
          type: str
        subsystem_device_id:
          description: PCI subsystem device ID.
          type: str
        class:
          description: PCI class code, for example V(0x030200) (3D controller).
          type: str
        numa_node:
          description: NUMA node of the device; V(null) when sysfs says V(-1) or has no value.
          type: int
        driver:
          description: Kernel driver bound to the device (V(nvidia), V(amdgpu), V(habanalabs), ...); V(null) when unbound.
          type: str
        link_speed:
          description: Current PCIe link speed as sysfs reports it.
          type: str
        link_gen:
          description: PCIe generation derived from the current link speed.
          type: int
        link_width:
          description: Current PCIe link width (lanes).
          type: int
        max_link_speed:
          description: Maximum PCIe link speed.
          type: str
        max_link_width:
          description: Maximum PCIe link width.
          type: int
    accelmon_infiniband:
      description: InfiniBand HCAs with their ports.
      returned: always
      type: list
      elements: dict
      sample:
        - name: mlx5_0
          hca_type: MT4129
          board_id: MT_0000000838
          fw_ver: 28.39.1002
          node_guid: "a088:c203:0012:3400"
          pci_address: null
          ports:
            - port: 1
              state: ACTIVE
              state_id: 4
              phys_state: LinkUp
              phys_state_id: 5
              rate: 400 Gb/sec (4X NDR)
              rate_gbps: 400.0
              link_layer: InfiniBand
              active: true
    accelmon_nvme:
      description: NVMe controllers.
      returned: always
      type: list
      elements: dict
      sample:
        - name: nvme0
          model: SAMSUNG MZQL23T8HCLS-00A07
          serial: S64HNE0T100001
          firmware_rev: GDC5602Q
          pci_address: "0000:c1:00.0"
          transport: pcie
    accelmon_cloud_provider:
      description: V(aws), V(gcp), V(azure) from DMI, or V(onprem) when no cloud marker is found.
      returned: always
      type: str
      sample: onprem
    accelmon_exporters_recommended:
      description:
        - V(node_exporter) always, V(all_smi) when any accelerator is present, V(dcgm_exporter)
          when an NVIDIA GPU is bound to the V(nvidia) driver.
      returned: always
      type: list
      elements: str
      sample: [node_exporter, all_smi, dcgm_exporter]
"""

import os
import subprocess

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.accelmon.monitoring.plugins.module_utils.accelerator_detect import (
    detect_all,
    enrich_accelerators,
    parse_nvidia_smi_xml,
    recommend_exporters,
)

VENDOR_TOOL_TIMEOUT = 60


def _run_tool(argv):
    """Run a vendor tool with a timeout (a wedged GPU can make nvidia-smi hang).

    Returns (stdout, error message or None)."""
    command = " ".join(argv)
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            timeout=VENDOR_TOOL_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None, f"{command} timed out after {VENDOR_TOOL_TIMEOUT} s"
    except OSError as exc:
        return None, f"{command} could not run: {exc}"
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout or b"").decode("utf-8", "replace").strip()
        return None, f"{command} exited with {proc.returncode}: {detail[:300]}"
    return proc.stdout.decode("utf-8", "replace"), None


def enrich_nvidia(module, accelerators):
    """Add nvidia-smi facts to NVIDIA GPUs; warn, never fail, when that is not possible."""
    if not any(a["vendor"] == "nvidia" for a in accelerators):
        return accelerators
    tool = module.get_bin_path("nvidia-smi")
    if not tool:
        module.warn(
            "NVIDIA GPUs found but nvidia-smi is not on PATH; facts come from sysfs only "
            "(install the NVIDIA driver utilities to get memory, serial and UUID)."
        )
        return accelerators
    output, error = _run_tool([tool, "-q", "-x"])
    if error:
        module.warn(f"nvidia-smi enrichment skipped: {error}")
        return accelerators
    try:
        info = parse_nvidia_smi_xml(output)
    except ValueError as exc:
        module.warn(f"nvidia-smi enrichment skipped: {exc}")
        return accelerators
    return enrich_accelerators(accelerators, "nvidia", info)


def main():
    module = AnsibleModule(
        argument_spec={
            "sysfs_root": {"type": "path", "default": "/"},
            "use_vendor_tools": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    root = module.params["sysfs_root"]
    if not os.path.isdir(os.path.join(root, "sys")):
        module.fail_json(
            msg=f"sysfs_root {root} has no sys/ directory; point it at the directory that holds "
            "sys/ (/ on a live host, the unpacked snapshot directory for a fixture)"
        )
    facts = detect_all(root)
    if module.params["use_vendor_tools"]:
        facts["accelerators"] = enrich_nvidia(module, facts["accelerators"])
        facts["exporters_recommended"] = recommend_exporters(facts["accelerators"])
    module.exit_json(
        changed=False,
        ansible_facts={f"accelmon_{key}": value for key, value in facts.items()},
    )


if __name__ == "__main__":
    main()
