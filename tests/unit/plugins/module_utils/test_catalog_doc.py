"""docs/policy-catalog.md is generated from the catalog and must be current."""

import os
import runpy

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))


def test_catalog_doc_is_current():
    tool = runpy.run_path(os.path.join(ROOT, "tests", "tools", "gen_catalog_doc.py"))
    with open(os.path.join(ROOT, "docs", "policy-catalog.md")) as handle:
        assert handle.read() == tool["render"](), "run tests/tools/gen_catalog_doc.py"


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
    }
    assert dict((k, sorted(v["parameters"])) for k, v in BUILTIN_RULE_TEMPLATES.items()) == want
