"""The built-in catalog's template names and threshold keys are a public contract."""


def test_contract_names_and_threshold_keys():
    from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_catalog import BUILTIN_RULE_TEMPLATES

    want = {
        "HighCPUUsage": ["cpu_percent"],
        "HighMemoryUsage": ["memory_percent"],
        "DiskSpaceLow": ["free_percent"],
        "NodeDown": [],
        "ManyNodesDown": ["percent"],
        "AcceleratorHighTemperature": ["celsius"],
        "AcceleratorHighUtilization": ["utilization_percent"],
        "AcceleratorMemoryHigh": ["memory_percent"],
        "AcceleratorOffline": ["expected_devices"],
        "NvidiaXidError": [],
        "NvidiaEccDoubleBitError": [],
        "NvlinkErrors": [],
        "InfinibandLinkDown": [],
        "NvmeCriticalWarning": [],
        "MountCheckFailed": [],
        "ParallelFsSlow": ["latency_seconds"],
        "CheckRunnerStale": ["max_age_seconds"],
        "RoceLinkDown": [],
        "InfinibandLinkSlow": [],
        "SmartDiskUnhealthy": [],
        "PortUnreachable": [],
        "LicenseExpiring": ["days"],
        "CheckCommandFailed": [],
        # issue 8: the alert pack (AcceleratorOffline gained expected_devices)
        "DiskInodesLow": ["free_percent"],
        "AcceleratorExporterDown": [],
        "AcceleratorNearSlowdownTemperature": ["margin_celsius"],
        "NvidiaXidApplication": [],
        "NvidiaXidOther": [],
        "NvidiaRowRemapPending": [],
        "NvidiaRowRemapFailure": [],
        "NvidiaUncorrectableRemappedRows": [],
        "NvidiaPcieReplays": ["replays_per_minute"],
        "NvidiaPcieLinkDowntrained": ["min_width"],
        "NvidiaThermalThrottling": ["percent"],
        "NvidiaPowerThrottling": ["percent"],
        "NvlinkLinksLost": [],
        "RebellionsNpuUnhealthy": [],
    }
    assert dict((k, sorted(v["parameters"])) for k, v in BUILTIN_RULE_TEMPLATES.items()) == want
