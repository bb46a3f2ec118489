# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""Unit tests for the accelerator_facts module: main() run with patched module args."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import stat

import pytest
from ansible.module_utils.basic import AnsibleModule

try:  # ansible-core >= 2.19
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core 2.16-2.18: the module reads its arguments from _ANSIBLE_ARGS
    import contextlib

    from ansible.module_utils import basic
    from ansible.module_utils.common.text.converters import to_bytes

    @contextlib.contextmanager
    def patch_module_args(args):
        old = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = old

from ansible_collections.accelmon.monitoring.plugins.modules import accelerator_facts

TESTS_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
FIXTURES_DIR = os.path.join(TESTS_DIR, "fixtures", "hardware")
H200_XML = os.path.join(FIXTURES_DIR, "nvidia-h200-vm", "nvidia-smi-q.xml")


def _load_fixture_helper():
    spec = importlib.util.spec_from_file_location(
        "accelmon_sysfs_fixture_mod", os.path.join(FIXTURES_DIR, "sysfs_fixture.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sysfs_fixture = _load_fixture_helper()


@pytest.fixture(autouse=True)
def warnings(monkeypatch):
    """Warnings the module raised in this test.

    Recorded at AnsibleModule.warn: where the controller's collection loader is installed
    in the test process (tests/conftest.py, ansible-test units) module warnings go to the
    controller's display instead of the result JSON, so the result cannot be relied on."""
    recorded = []

    def record(self, warning, *args, **kwargs):
        recorded.append(warning)

    monkeypatch.setattr(AnsibleModule, "warn", record)
    return recorded


def run_module(capsys, args, check_mode=False):
    """Run main() like Ansible would; return (exit code, parsed JSON result)."""
    if check_mode:
        args = dict(args, _ansible_check_mode=True)
    with patch_module_args(args), pytest.raises(SystemExit) as exc:
        accelerator_facts.main()
    out = capsys.readouterr().out
    return exc.value.code, json.loads(out)


@pytest.fixture
def h200_root(tmp_path):
    return sysfs_fixture.materialize("nvidia-h200-vm", str(tmp_path / "h200"))


@pytest.fixture
def fake_bin(tmp_path, monkeypatch):
    """An empty directory first on PATH; tests drop fake vendor tools into it."""
    path = tmp_path / "bin"
    path.mkdir()
    monkeypatch.setenv("PATH", str(path) + os.pathsep + os.environ.get("PATH", ""))
    return path


def _tool(directory, name, body):
    script = directory / name
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


def _system_has(name):
    """True if a real tool exists in PATH or the sbin dirs get_bin_path also searches."""
    found = shutil.which(name)
    return bool(found) or any(os.path.exists(os.path.join(d, name)) for d in ("/sbin", "/usr/sbin", "/usr/local/sbin"))


EXPECTED_H200 = {
    "accelmon_accelerators": [
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
    ],
    "accelmon_infiniband": [],
    "accelmon_nvme": [],
    "accelmon_cloud_provider": "onprem",
    "accelmon_exporters_recommended": ["node_exporter", "all_smi", "dcgm_exporter"],
}


@pytest.mark.parametrize("check_mode", [False, True])
def test_h200_snapshot_without_vendor_tools(capsys, warnings, h200_root, check_mode):
    code, result = run_module(
        capsys,
        {"sysfs_root": h200_root, "use_vendor_tools": False},
        check_mode=check_mode,
    )
    assert code == 0
    assert result["changed"] is False
    assert result["ansible_facts"] == EXPECTED_H200
    assert not warnings


def test_h200_enriched_by_nvidia_smi(capsys, warnings, h200_root, fake_bin):
    _tool(fake_bin, "nvidia-smi", f'[ "$1 $2" = "-q -x" ] || exit 2\ncat "{H200_XML}"')
    code, result = run_module(capsys, {"sysfs_root": h200_root})
    assert code == 0 and not warnings
    [gpu] = result["ansible_facts"]["accelmon_accelerators"]
    assert gpu["pci_address"] == "0000:00:06.0"
    assert gpu["product_name"] == "NVIDIA H200"
    assert gpu["memory_total_mib"] == 143771
    assert gpu["driver_version"] == "580.159.04"
    assert gpu["serial"] == "1653824019022"
    assert gpu["uuid"] == "GPU-59536c0c-f28a-9ff8-f55b-d13bae9f150f"
    assert result["ansible_facts"]["accelmon_exporters_recommended"] == EXPECTED_H200["accelmon_exporters_recommended"]


@pytest.mark.parametrize(
    "body, warning",
    [
        (
            "echo 'NVIDIA-SMI has failed because it could not communicate' >&2; exit 9",
            "exited with 9",
        ),
        ("echo 'not xml at all'", "not valid XML"),
    ],
)
def test_failing_nvidia_smi_only_warns(capsys, warnings, h200_root, fake_bin, body, warning):
    _tool(fake_bin, "nvidia-smi", body)
    code, result = run_module(capsys, {"sysfs_root": h200_root})
    assert code == 0 and "failed" not in result
    assert any(warning in w for w in warnings)
    assert result["ansible_facts"] == EXPECTED_H200


def test_hanging_nvidia_smi_times_out_and_warns(capsys, warnings, h200_root, fake_bin, monkeypatch):
    monkeypatch.setattr(accelerator_facts, "VENDOR_TOOL_TIMEOUT", 1)
    _tool(fake_bin, "nvidia-smi", "exec sleep 30")
    code, result = run_module(capsys, {"sysfs_root": h200_root})
    assert code == 0
    assert any("timed out" in w for w in warnings)
    assert result["ansible_facts"] == EXPECTED_H200


def test_missing_nvidia_smi_only_warns(capsys, warnings, h200_root, tmp_path, monkeypatch):
    if _system_has("nvidia-smi"):
        pytest.skip("this machine has a real nvidia-smi")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    code, result = run_module(capsys, {"sysfs_root": h200_root})
    assert code == 0
    assert any("nvidia-smi is not on PATH" in w for w in warnings)
    assert result["ansible_facts"] == EXPECTED_H200


def test_vendor_tool_not_run_without_nvidia_gpus(capsys, warnings, tmp_path, fake_bin):
    marker = tmp_path / "ran"
    _tool(fake_bin, "nvidia-smi", f'touch "{marker}"; exit 1')
    root = sysfs_fixture.materialize("amd-mi300x-8gpu", str(tmp_path / "amd"))
    code, result = run_module(capsys, {"sysfs_root": root})
    assert code == 0 and not warnings
    assert not marker.exists()
    facts = result["ansible_facts"]
    assert len(facts["accelmon_accelerators"]) == 8
    assert facts["accelmon_exporters_recommended"] == ["node_exporter", "all_smi"]


def test_use_vendor_tools_false_never_runs_tool(capsys, h200_root, tmp_path, fake_bin):
    marker = tmp_path / "ran"
    _tool(fake_bin, "nvidia-smi", f'touch "{marker}"; cat "{H200_XML}"')
    code, result = run_module(capsys, {"sysfs_root": h200_root, "use_vendor_tools": False})
    assert code == 0 and not marker.exists()
    assert "uuid" not in result["ansible_facts"]["accelmon_accelerators"][0]


def test_hgx_fixture_in_real_layout(capsys, tmp_path):
    root = sysfs_fixture.materialize("hgx-h100-8gpu", str(tmp_path / "hgx"), layout="real")
    code, result = run_module(capsys, {"sysfs_root": root, "use_vendor_tools": False})
    facts = result["ansible_facts"]
    assert code == 0
    assert len(facts["accelmon_accelerators"]) == 8
    assert {a["driver"] for a in facts["accelmon_accelerators"]} == {"nvidia"}
    assert len(facts["accelmon_infiniband"]) == 8
    assert sum(1 for h in facts["accelmon_infiniband"] for p in h["ports"] if p["active"]) == 7
    assert [n["name"] for n in facts["accelmon_nvme"]] == ["nvme0", "nvme1"]
    assert facts["accelmon_cloud_provider"] == "onprem"


def test_root_without_sys_fails_with_fix(capsys, tmp_path):
    code, result = run_module(capsys, {"sysfs_root": str(tmp_path)})
    assert code == 1 and result["failed"] is True
    assert "has no sys/ directory" in result["msg"]
