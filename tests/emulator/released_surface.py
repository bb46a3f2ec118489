"""The metric surface of the exporter releases the collection installs, read from their source.

Data only (no logic): tests/unit/emulator/test_released_surface.py checks the emulator's
names and label sets against it, and tests/unit/plugins/module_utils/test_catalog_metrics.py
checks every metric name the alert-rule catalog uses. Each entry cites file:line in the
released tree (`fetch github:lablup/all-smi`, tag v0.25.0; `fetch github:NVIDIA/dcgm-exporter`,
tag 4.2.3-4.1.3). Label sets are the label NAMES; order is the exporters' own.
"""

ALLSMI_TAG = "lablup/all-smi v0.25.0"
DCGM_TAG = "NVIDIA/dcgm-exporter 4.2.3-4.1.3"

_GPU = ("gpu", "instance", "gpu_uuid", "gpu_index")
_NPU = ("npu", "instance", "npu_uuid", "npu_index")
_CPU = ("cpu_model", "instance", "hostname", "index")
_MEM = ("instance", "hostname", "index")

# name -> (labels, source). All gauges except the energy counter.
ALLSMI = {
    # src/api/metrics/gpu.rs: every GPU/NPU/TPU row (collect_rows, gpu.rs:412-424)
    "all_smi_gpu_utilization": (_GPU, "src/api/metrics/gpu.rs:41"),
    "all_smi_gpu_memory_used_bytes": (_GPU, "src/api/metrics/gpu.rs:48"),
    "all_smi_gpu_memory_total_bytes": (_GPU, "src/api/metrics/gpu.rs:60"),
    "all_smi_gpu_temperature_celsius": (_GPU, "src/api/metrics/gpu.rs:73"),
    "all_smi_gpu_power_consumption_watts": (_GPU, "src/api/metrics/gpu.rs:86"),
    "all_smi_gpu_frequency_mhz": (_GPU, "src/api/metrics/gpu.rs:95"),
    "all_smi_ane_utilization": (_GPU, "src/api/metrics/gpu.rs:102 (every row, 0 off Apple)"),
    "all_smi_gpu_info": (_GPU + ("type",), "src/api/metrics/gpu.rs:177-212 (+ detail labels)"),
    # export_cuda_metrics: emitted when the reader's detail map has the key
    "all_smi_gpu_clock_graphics_max_mhz": (_GPU, "src/api/metrics/gpu.rs:253"),
    "all_smi_gpu_clock_memory_max_mhz": (_GPU, "src/api/metrics/gpu.rs:265"),
    "all_smi_gpu_power_limit_current_watts": (_GPU, "src/api/metrics/gpu.rs:278"),
    "all_smi_gpu_power_limit_max_watts": (_GPU, "src/api/metrics/gpu.rs:290 (Gaudi too)"),
    "all_smi_gpu_performance_state": (_GPU, "src/api/metrics/gpu.rs:307"),
    "all_smi_gpu_temperature_threshold_slowdown_celsius": (_GPU, "src/api/metrics/gpu.rs:351"),
    "all_smi_gpu_temperature_threshold_shutdown_celsius": (_GPU, "src/api/metrics/gpu.rs:368"),
    "all_smi_gpu_temperature_threshold_max_operating_celsius": (
        _GPU, "src/api/metrics/gpu.rs:385"),
    # src/api/metrics/npu/gaudi.rs (name contains "Gaudi" or "HL-", npu/mod.rs:81)
    "all_smi_gaudi_device_info": (_NPU, "src/api/metrics/npu/gaudi.rs:49"),
    "all_smi_gaudi_internal_name_info": (_NPU + ("internal_name",),
                                         "src/api/metrics/npu/gaudi.rs:66"),
    "all_smi_gaudi_driver_info": (_NPU + ("version",), "src/api/metrics/npu/gaudi.rs:88"),
    "all_smi_gaudi_aip_utilization_percent": (_NPU, "src/api/metrics/npu/gaudi.rs:109"),
    "all_smi_gaudi_memory_used_bytes": (_NPU, "src/api/metrics/npu/gaudi.rs:132"),
    "all_smi_gaudi_memory_total_bytes": (_NPU, "src/api/metrics/npu/gaudi.rs:145"),
    "all_smi_gaudi_memory_utilization_percent": (_NPU, "src/api/metrics/npu/gaudi.rs:163"),
    "all_smi_gaudi_power_draw_watts": (_NPU, "src/api/metrics/npu/gaudi.rs:186"),
    "all_smi_gaudi_power_max_watts": (_NPU, "src/api/metrics/npu/gaudi.rs:201"),
    "all_smi_gaudi_power_utilization_percent": (_NPU, "src/api/metrics/npu/gaudi.rs:216"),
    "all_smi_gaudi_temperature_celsius": (_NPU, "src/api/metrics/npu/gaudi.rs:245"),
    # Furiosa: the only vendor series whose detail key (firmware_version) the reader writes
    # (src/device/readers/furiosa.rs:188, 237)
    "all_smi_furiosa_firmware_info": (_NPU + ("version",), "src/api/metrics/npu/furiosa.rs:93"),
    # src/api/metrics/npu/google_tpu.rs
    "all_smi_tpu_utilization_percent": (_NPU, "src/api/metrics/npu/google_tpu.rs:72"),
    "all_smi_tpu_memory_used_bytes": (_NPU, "src/api/metrics/npu/google_tpu.rs:85"),
    "all_smi_tpu_memory_total_bytes": (_NPU, "src/api/metrics/npu/google_tpu.rs:97"),
    "all_smi_tpu_memory_utilization_percent": (_NPU, "src/api/metrics/npu/google_tpu.rs:115"),
    "all_smi_tpu_chip_version_info": (_NPU + ("version",),
                                      "src/api/metrics/npu/google_tpu.rs:135"),
    "all_smi_tpu_accelerator_type_info": (_NPU + ("type",),
                                          "src/api/metrics/npu/google_tpu.rs:152"),
    # src/api/metrics/cpu.rs
    "all_smi_cpu_info": (_CPU + ("architecture", "platform_type"), "src/api/metrics/cpu.rs:48"),
    "all_smi_cpu_utilization": (_CPU, "src/api/metrics/cpu.rs:54"),
    "all_smi_cpu_socket_count": (_CPU, "src/api/metrics/cpu.rs:60"),
    "all_smi_cpu_core_count": (_CPU, "src/api/metrics/cpu.rs:66"),
    "all_smi_cpu_thread_count": (_CPU, "src/api/metrics/cpu.rs:72"),
    "all_smi_cpu_frequency_mhz": (_CPU, "src/api/metrics/cpu.rs:79"),
    "all_smi_cpu_socket_utilization": (("cpu_model", "instance", "hostname", "cpu_index",
                                        "socket_id"), "src/api/metrics/cpu.rs:109-125"),
    "all_smi_cpu_socket_frequency_mhz": (("cpu_model", "instance", "hostname", "cpu_index",
                                          "socket_id"), "src/api/metrics/cpu.rs:138"),
    # src/api/metrics/memory.rs
    "all_smi_memory_total_bytes": (_MEM, "src/api/metrics/memory.rs:38"),
    "all_smi_memory_used_bytes": (_MEM, "src/api/metrics/memory.rs:44"),
    "all_smi_memory_available_bytes": (_MEM, "src/api/metrics/memory.rs:54"),
    "all_smi_memory_free_bytes": (_MEM, "src/api/metrics/memory.rs:63"),
    "all_smi_memory_utilization": (_MEM, "src/api/metrics/memory.rs:72"),
    "all_smi_swap_total_bytes": (_MEM, "src/api/metrics/memory.rs:91"),
    "all_smi_swap_used_bytes": (_MEM, "src/api/metrics/memory.rs:101"),
    "all_smi_swap_free_bytes": (_MEM, "src/api/metrics/memory.rs:111"),
    "all_smi_memory_buffers_bytes": (_MEM, "src/api/metrics/memory.rs:138"),
    "all_smi_memory_cached_bytes": (_MEM, "src/api/metrics/memory.rs:153"),
    # src/api/metrics/disk.rs:30-34: no hostname label, mount_point not mountpoint
    "all_smi_disk_total_bytes": (("instance", "mount_point", "index"),
                                 "src/api/metrics/disk.rs:40"),
    "all_smi_disk_available_bytes": (("instance", "mount_point", "index"),
                                     "src/api/metrics/disk.rs:50"),
    "all_smi_chassis_power_watts": (("hostname", "instance"), "src/api/metrics/chassis.rs:156"),
    # src/api/metrics/mig.rs:64-75: `host`, one row per MIG-capable GPU (0 when disabled)
    "all_smi_gpu_mig_mode": (("gpu_index", "gpu_uuid", "gpu", "instance", "host"),
                             "src/api/metrics/mig.rs:74"),
    # src/api/metrics/hardware.rs
    "all_smi_gpu_numa_node_id": (_GPU, "src/api/metrics/hardware.rs:105"),
    "all_smi_nvlink_remote_device_type": (_GPU + ("link_index", "remote_type"),
                                          "src/api/metrics/hardware.rs:193 (+ bandwidth_mb_s)"),
}

# all_smi_energy_consumed_joules_total (counter), src/api/metrics/energy.rs:84-127:
# scope="gpu" rows carry gpu_index and gpu_uuid, scope="cpu"|"chassis" rows only host, scope.
ALLSMI_ENERGY = {
    "gpu": (("host", "scope", "gpu_index", "gpu_uuid"), "src/api/metrics/energy.rs:100-110"),
    "chassis": (("host", "scope"), "src/api/metrics/energy.rs:120-126"),
    "cpu": (("host", "scope"), "src/api/metrics/energy.rs:112-118"),
}

# Detail labels each vendor reader puts on all_smi_gpu_info (keys through
# sanitize_label_name, src/parsing/common.rs:90-110).
ALLSMI_GPU_INFO_DETAIL = {
    "nvidia": (("driver_version", "cuda_version", "lib_name", "lib_version", "brand",
                "architecture", "pcie_generation", "pcie_width", "pcie_gen_max",
                "pcie_width_max", "compute_mode", "performance_state", "power_limit_current",
                "power_limit_default", "power_limit_min", "power_limit_max",
                "clock_graphics_max", "clock_memory_max", "ecc_mode_current",
                "ecc_mode_pending", "mig_mode_current", "mig_mode_pending", "vbios_version"),
               "src/device/readers/nvidia.rs:649-746"),
    "amd": (("device_name", "pci_bus", "rocm_version", "lib_name", "lib_version", "device_id",
             "revision_id", "asic_name", "vbios_version", "vbios_date", "power_cap",
             "power_cap__min_", "power_cap__max_", "max_gpu_link", "max_system_link",
             "min_dpm_link", "max_dpm_link", "driver_version", "current_link", "fan_speed",
             "memory_clock"), "src/device/readers/amd.rs:174-421"),
    "gaudi": (("device_index", "internal_name", "max_power", "total_memory", "lib_name",
               "lib_version", "current_power", "used_memory", "free_memory", "power_limit_max"),
              "src/device/readers/gaudi.rs:225-253"),
    # `status` (from rbln-stat) is the only Rebellions health signal v0.25.0 exports
    "rebellions": (("serial_id", "firmware_version", "device_path", "board_info", "pci_bus_id",
                    "pcie_generation", "pcie_link_width", "pci_link_speed", "pci_numa_node",
                    "kmd_version", "status", "performance_state", "lib_name", "lib_version"),
                   "src/device/readers/rebellions.rs:370-392"),
    "furiosa": (("serial_number", "firmware_version", "architecture", "core_count", "bdf",
                 "numa_node", "governor", "frequency", "lib_name", "lib_version", "pci_bdf",
                 "pci_dev", "pe_count", "memory_bandwidth", "on_chip_sram", "pert_version"),
                "src/device/readers/furiosa.rs:187-200, 619-641"),
    "tenstorrent": (("board_type", "board_id", "arc_fw_version", "eth_fw_version", "fw_date",
                     "pcie_address", "pcie_vendor_id", "pcie_device_id", "vdd_voltage",
                     "current", "asic_temperature", "vr_temperature", "inlet_temperature",
                     "ai_clock", "arc_clock", "axi_clock", "lib_name", "lib_version"),
                    "src/device/readers/tenstorrent.rs:326-344, 461-501"),
    "tpu": (("chip_version", "accelerator_type"), "src/device/readers/google_tpu.rs:313-314"),
}

# Names that appear in all-smi's code or docs but that v0.25.0 never serves from real
# hardware, with the reason. Rules must not rely on them.
ALLSMI_NEVER_SERVED = {
    "all_smi_up": "no such series in v0.25.0 (unreleased code)",
    "all_smi_build_info": "no such series in v0.25.0 (unreleased code)",
    "all_smi_gpu_fan_speed_rpm": "no such series in v0.25.0; AMD fan speed is an info label",
    "all_smi_gpu_pcie_gen_current": "gpu.rs:225 reads detail `pcie_gen_current`; the NVIDIA "
                                    "reader writes `PCIe Generation` (nvidia.rs:674)",
    "all_smi_gpu_pcie_width_current": "gpu.rs:234 reads `pcie_width_current`; never written",
    "all_smi_rebellions_status": "rebellions.rs:121 reads detail `status`; the reader writes "
                                 "`Status` (readers/rebellions.rs:387), and only for names "
                                 "containing `Rebellions` (npu/rebellions.rs:137)",
    "all_smi_rebellions_device_info": "reads `device_name`/`serial_id`; reader writes `Serial ID`",
    "all_smi_rebellions_pstate_info": "reads `performance_state`; reader writes "
                                      "`Performance State`",
    "all_smi_rebellions_kmd_info": "reads `kmd_version`; reader writes `KMD Version`",
    "all_smi_furiosa_status": "furiosa.rs:220 reads detail `status`; the Furiosa reader never "
                              "writes it (readers/furiosa.rs:426-441, 619-641)",
    "all_smi_furiosa_ready": "furiosa.rs:231 reads detail `ready`; never written",
    "all_smi_furiosa_utilization_percent": "reads detail `utilization`; never written",
    "all_smi_furiosa_memory_used_bytes": "reads detail `memory_used`; never written",
    "all_smi_furiosa_memory_total_bytes": "reads detail `memory_total`; never written",
    "all_smi_tenstorrent_heartbeat": "tenstorrent.rs:372 reads detail `heartbeat`; the reader "
                                     "writes only display keys (readers/tenstorrent.rs:461-501)",
    "all_smi_tenstorrent_faults": "tenstorrent.rs:491 reads `faults`; never written",
    "all_smi_tenstorrent_throttler": "tenstorrent.rs:501 reads `throttler`; never written",
    "all_smi_tenstorrent_asic_temperature_celsius": "reads `asic_temperature`; the reader "
                                                    "writes `ASIC Temperature` (:476)",
    "all_smi_tenstorrent_eth_status_info": "reads `eth_status0`; never written",
    "all_smi_tenstorrent_pcie_status_info": "reads `pcie_status`; never written",
    "all_smi_tenstorrent_power_raw_watts": "reads `power_watts`; never written",
    "all_smi_tenstorrent_tdp_limit_watts": "reads `tdp_limit`; never written",
}

# dcgm-exporter: every series carries these, in this order
# (internal/pkg/rendermetrics/render_metrics.go:47), then the counters file's `label` rows
# (DCGM_FI_DRIVER_VERSION) and extra labels sorted, then attributes.
DCGM_BASE = ("gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname")
DCGM_EXTRA = {
    "DCGM_FI_DEV_XID_ERRORS": (("err_code", "err_msg"),
                               "internal/pkg/collector/gpu_collector.go:272-279; blank (no "
                               "series) until the first XID, gpu_collector.go:250-252"),
    "DCGM_EXP_XID_ERRORS_COUNT": (("window_size_in_ms", "xid"),
                                  "internal/pkg/collector/expcollector.go:68-99 and "
                                  "xid_collector.go:68-70; `xid` only on rows with XIDs in "
                                  "the window, one row of 0 without it otherwise"),
}

# Field names dcgm-exporter accepts in a counters file (go-dcgm field names, plus the
# exporter's own DCGM_EXP_*, internal/pkg/counters/const.go:25-27), as far as this collection
# uses them: etc/default-counters.csv lines cited, `#` = commented out there; names only in
# go-dcgm's field table cite it at the commit dcgm-exporter's go.mod pins.
DCGM_FIELDS = {
    "DCGM_FI_DEV_SM_CLOCK": "etc/default-counters.csv:6",
    "DCGM_FI_DEV_MEM_CLOCK": "etc/default-counters.csv:7",
    "DCGM_FI_DEV_MEMORY_TEMP": "etc/default-counters.csv:10",
    "DCGM_FI_DEV_GPU_TEMP": "etc/default-counters.csv:11",
    "DCGM_FI_DEV_POWER_USAGE": "etc/default-counters.csv:14",
    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": "etc/default-counters.csv:15",
    "DCGM_FI_DEV_PCIE_REPLAY_COUNTER": "etc/default-counters.csv:20",
    "DCGM_FI_DEV_GPU_UTIL": "etc/default-counters.csv:23",
    "DCGM_FI_DEV_MEM_COPY_UTIL": "etc/default-counters.csv:24",
    "DCGM_FI_DEV_ENC_UTIL": "etc/default-counters.csv:25",
    "DCGM_FI_DEV_DEC_UTIL": "etc/default-counters.csv:26",
    "DCGM_FI_DEV_XID_ERRORS": "etc/default-counters.csv:29",
    "DCGM_FI_DEV_POWER_VIOLATION": "etc/default-counters.csv:30 (#, ns)",
    "DCGM_FI_DEV_THERMAL_VIOLATION": "etc/default-counters.csv:31 (#, ns)",
    "DCGM_FI_DEV_SYNC_BOOST_VIOLATION": "etc/default-counters.csv:32 (#)",
    "DCGM_FI_DEV_BOARD_LIMIT_VIOLATION": "etc/default-counters.csv:33 (#)",
    "DCGM_FI_DEV_LOW_UTIL_VIOLATION": "etc/default-counters.csv:34 (#)",
    "DCGM_FI_DEV_RELIABILITY_VIOLATION": "etc/default-counters.csv:35 (#)",
    "DCGM_FI_DEV_FB_TOTAL": "go-dcgm 7c92211ba301 (dcgm-exporter go.mod) pkg/dcgm/const_fields.go:1226",
    "DCGM_FI_DEV_FB_FREE": "etc/default-counters.csv:38",
    "DCGM_FI_DEV_FB_USED": "etc/default-counters.csv:39",
    "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL": "etc/default-counters.csv:42 (#)",
    "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL": "etc/default-counters.csv:43 (#)",
    "DCGM_FI_DEV_ECC_SBE_AGG_TOTAL": "etc/default-counters.csv:44 (#)",
    "DCGM_FI_DEV_ECC_DBE_AGG_TOTAL": "etc/default-counters.csv:45 (#)",
    "DCGM_FI_DEV_RETIRED_SBE": "etc/default-counters.csv:48 (#)",
    "DCGM_FI_DEV_RETIRED_DBE": "etc/default-counters.csv:49 (#)",
    "DCGM_FI_DEV_RETIRED_PENDING": "etc/default-counters.csv:50 (#)",
    "DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL": "etc/default-counters.csv:53 (#)",
    "DCGM_FI_DEV_NVLINK_CRC_DATA_ERROR_COUNT_TOTAL": "etc/default-counters.csv:54 (#)",
    "DCGM_FI_DEV_NVLINK_REPLAY_ERROR_COUNT_TOTAL": "etc/default-counters.csv:55 (#)",
    "DCGM_FI_DEV_NVLINK_RECOVERY_ERROR_COUNT_TOTAL": "etc/default-counters.csv:56 (#)",
    "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL": "etc/default-counters.csv:57",
    "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS": "etc/default-counters.csv:64",
    "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS": "etc/default-counters.csv:65",
    "DCGM_FI_DEV_ROW_REMAP_FAILURE": "etc/default-counters.csv:66",
    "DCGM_FI_DEV_ROW_REMAP_PENDING": "go-dcgm 7c92211ba301 (dcgm-exporter go.mod) pkg/dcgm/const_fields.go:1296",
    "DCGM_FI_DEV_PCIE_LINK_GEN": "go-dcgm 7c92211ba301 (dcgm-exporter go.mod) pkg/dcgm/const_fields.go:1216",
    "DCGM_FI_DEV_PCIE_LINK_WIDTH": "go-dcgm 7c92211ba301 (dcgm-exporter go.mod) pkg/dcgm/const_fields.go:1217",
    "DCGM_FI_DEV_CLOCKS_EVENT_REASONS": "go-dcgm 7c92211ba301 (dcgm-exporter go.mod) pkg/dcgm/const_fields.go:1174",
    "DCGM_FI_DEV_SLOWDOWN_TEMP": "go-dcgm 7c92211ba301 (dcgm-exporter go.mod) pkg/dcgm/const_fields.go:1189",
    "DCGM_FI_DEV_SHUTDOWN_TEMP": "go-dcgm 7c92211ba301 (dcgm-exporter go.mod) pkg/dcgm/const_fields.go:1190",
    "DCGM_FI_DEV_POWER_MGMT_LIMIT": "go-dcgm 7c92211ba301 (dcgm-exporter go.mod) pkg/dcgm/const_fields.go:1191",
    "DCGM_FI_DEV_FB_RESERVED": "go-dcgm 7c92211ba301 (dcgm-exporter go.mod) pkg/dcgm/const_fields.go:1229",
    "DCGM_FI_PROF_GR_ENGINE_ACTIVE": "etc/default-counters.csv:81",
    "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": "etc/default-counters.csv:84",
    "DCGM_FI_PROF_DRAM_ACTIVE": "etc/default-counters.csv:85",
    "DCGM_FI_PROF_PCIE_TX_BYTES": "etc/default-counters.csv:89",
    "DCGM_FI_PROF_PCIE_RX_BYTES": "etc/default-counters.csv:90",
    "DCGM_EXP_XID_ERRORS_COUNT": "internal/pkg/counters/const.go:26 (enable in the CSV)",
    "DCGM_FI_DRIVER_VERSION": "etc/default-counters.csv:69 (label)",
}

# node_exporter 1.5.0 (Debian bookworm) names the catalog uses, from the shared reference.
NODE_EXPORTER = (
    "up", "node_cpu_seconds_total", "node_memory_MemAvailable_bytes", "node_memory_MemTotal_bytes",
    "node_filesystem_avail_bytes", "node_filesystem_size_bytes", "node_filesystem_files",
    "node_filesystem_files_free", "node_filesystem_readonly", "node_filesystem_device_error",
    "node_infiniband_state_id", "node_infiniband_physical_state_id",
    "node_textfile_mtime_seconds", "node_textfile_scrape_error",
)
