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
        "AcceleratorOffline": [],
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
    }
    assert dict((k, sorted(v["parameters"])) for k, v in BUILTIN_RULE_TEMPLATES.items()) == want
