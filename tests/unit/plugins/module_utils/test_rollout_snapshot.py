"""Snapshot helpers: what systemd says a component is made of, and what a rollback does."""

from __future__ import annotations

from ansible_collections.accelmon.monitoring.plugins.module_utils.rollout_snapshot import (
    exec_path,
    parse_show,
    parse_version,
    restore_plan,
    unit_files,
    verify,
)

SHOW = """LoadState=loaded
FragmentPath=/etc/systemd/system/all-smi.service
DropInPaths=/etc/systemd/system/all-smi.service.d/accelmon.conf
ExecStart={ path=/usr/local/bin/all-smi ; argv[]=/usr/local/bin/all-smi api --port 9401 ; ignore_errors=no ; start_time=[n/a] }
ActiveState=active
UnitFileState=enabled
"""


def test_unit_files_from_systemctl_show():
    show = parse_show(SHOW)
    assert show["ActiveState"] == "active"
    assert exec_path(show["ExecStart"]) == "/usr/local/bin/all-smi"
    assert unit_files(show) == (
        True,
        [
            "/etc/systemd/system/all-smi.service",
            "/etc/systemd/system/all-smi.service.d/accelmon.conf",
            "/usr/local/bin/all-smi",
        ],
    )


def test_unit_files_of_missing_or_container_services():
    assert unit_files(parse_show("LoadState=not-found\nFragmentPath=\nActiveState=inactive\n")) == (False, [])
    podman = parse_show(
        "LoadState=loaded\nFragmentPath=/etc/systemd/system/dcgm-exporter.service\n"
        "ExecStart={ path=/usr/bin/podman ; argv[]=/usr/bin/podman run ... }\n"
    )
    # a system tool is not the component's to save or remove
    assert unit_files(podman) == (True, ["/etc/systemd/system/dcgm-exporter.service"])


def test_parse_version():
    assert parse_version("node_exporter, version 1.5.0 (branch: debian/sid, revision: 1.5.0-1+b6)") == "1.5.0"
    assert parse_version("all-smi 0.25.0 (accel-exporter-emulator, TEST DOUBLE)") == "0.25.0"
    assert parse_version("dcgm-exporter version 4.2.3-4.1.3 (emulator)") == "4.2.3-4.1.3"
    assert parse_version("usage: x") is None


def test_restore_plan_and_verify():
    saved = {
        "/bin/x": {"existed": True, "sha256": "aa"},
        "/etc/x.service": {"existed": True, "sha256": "bb"},
        "/etc/x/new.yml": {"existed": False, "sha256": None},
    }
    restore, remove = restore_plan(saved, ["/bin/x", "/etc/x.service", "/etc/x.service.d/added.conf"])
    assert restore == ["/bin/x", "/etc/x.service"]
    assert remove == ["/etc/x.service.d/added.conf", "/etc/x/new.yml"]
    assert verify(saved, {"/bin/x": "aa", "/etc/x.service": "bb", "/etc/x/new.yml": None}) == []
    problems = verify(saved, {"/bin/x": "cc", "/etc/x/new.yml": "dd"})
    assert problems == [
        "/bin/x: checksum cc after restore, expected aa",
        "/etc/x.service: checksum missing after restore, expected bb",
        "/etc/x/new.yml: still present after restore, but did not exist before the change",
    ]
