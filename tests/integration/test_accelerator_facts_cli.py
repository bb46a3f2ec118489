# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""End-to-end: the module through the real `ansible` / `ansible-doc` commands.

Runs `ansible localhost -m accelmon.monitoring.accelerator_facts -a sysfs_root=...` against
unpacked hardware fixtures, so module loading, the module_utils import path, argument
parsing, check mode and fact return are exercised the way a playbook would use them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import ansible_collections.accelmon.monitoring as collection_pkg
import pytest

TESTS_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
FIXTURES_DIR = os.path.join(TESTS_DIR, "fixtures", "hardware")
# <collections root>/ansible_collections/accelmon/monitoring -> <collections root>
COLLECTIONS_ROOT = os.path.abspath(
    os.path.join(next(iter(collection_pkg.__path__)), "..", "..", "..")
)
MODULE = "accelmon.monitoring.accelerator_facts"


def _load_fixture_helper():
    spec = importlib.util.spec_from_file_location(
        "accelmon_sysfs_fixture_cli", os.path.join(FIXTURES_DIR, "sysfs_fixture.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sysfs_fixture = _load_fixture_helper()


def _executable(name):
    beside_python = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.exists(beside_python):
        return beside_python
    found = shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed")
    return found


def _env(tmp_path):
    env = dict(os.environ)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT,
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_STDOUT_CALLBACK="json",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-local"),
        ANSIBLE_REMOTE_TEMP=str(tmp_path / "ansible-remote"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
        ANSIBLE_LOCALHOST_WARNING="0",
    )
    return env


def run_adhoc(tmp_path, module_args, *extra):
    proc = subprocess.run(
        [_executable("ansible"), "localhost", "-m", MODULE, "-a", module_args]
        + list(extra),
        capture_output=True,
        env=_env(tmp_path),
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
    output = json.loads(proc.stdout.decode())
    [play] = output["plays"]
    [task] = play["tasks"]
    return task["hosts"]["localhost"]


def test_h200_snapshot_via_ansible(tmp_path):
    root = sysfs_fixture.materialize("nvidia-h200-vm", str(tmp_path / "h200"))
    result = run_adhoc(tmp_path, f"sysfs_root={root} use_vendor_tools=false")
    facts = result["ansible_facts"]
    assert result["changed"] is False
    [gpu] = facts["accelmon_accelerators"]
    assert (gpu["pci_address"], gpu["device_id"], gpu["class"], gpu["driver"]) == (
        "0000:00:06.0",
        "0x2335",
        "0x030200",
        "nvidia",
    )
    assert (
        gpu["model"] == "NVIDIA H200"
        and gpu["link_gen"] == 5
        and gpu["link_width"] == 16
    )
    assert facts["accelmon_cloud_provider"] == "onprem"
    assert facts["accelmon_exporters_recommended"] == [
        "node_exporter",
        "all_smi",
        "dcgm_exporter",
    ]


def test_hgx_fixture_via_ansible_check_mode(tmp_path):
    root = sysfs_fixture.materialize(
        "hgx-h100-8gpu", str(tmp_path / "hgx"), layout="real"
    )
    result = run_adhoc(tmp_path, f"sysfs_root={root} use_vendor_tools=false", "--check")
    facts = result["ansible_facts"]
    assert result["changed"] is False
    assert [a["vendor"] for a in facts["accelmon_accelerators"]] == ["nvidia"] * 8
    assert len(facts["accelmon_infiniband"]) == 8
    assert len(facts["accelmon_nvme"]) == 2


def test_ansible_doc_renders_module(tmp_path):
    proc = subprocess.run(
        [_executable("ansible-doc"), "--json", MODULE],
        capture_output=True,
        env=_env(tmp_path),
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    doc = json.loads(proc.stdout.decode())[MODULE]
    assert set(doc["doc"]["options"]) == {"sysfs_root", "use_vendor_tools"}
    facts = doc["return"]["ansible_facts"]["contains"]
    assert set(facts) == {
        "accelmon_accelerators",
        "accelmon_infiniband",
        "accelmon_nvme",
        "accelmon_cloud_provider",
        "accelmon_exporters_recommended",
    }
    assert doc["examples"]
