"""Verify the custom-check runner on the molecule hosts (run by `molecule verify -s nodes`).

gpu-node enables every check type, cpu-node mount and command (molecule.yml host_vars).
The timers run every 10 s; each test waits for the textfile of its check type, checks it
with the real promtool on the controller, and reads it back through node_exporter.
"""

import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest
import testinfra.utils.ansible_runner

testinfra_hosts = [
    "podman://" + name
    for name in testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts("all")
]

TEXTFILE_DIR = "/var/lib/node_exporter/textfile"
ALL_TYPES = ("command", "infiniband", "license", "mount", "nvme", "parallel_fs", "port", "smart")
ROOT_TYPES = ("nvme", "smart")


def enabled(host):
    return ALL_TYPES if host.backend.get_hostname() == "gpu-node" else ("command", "mount")


def textfile(host, check, tries=60):
    """The check type's .prom file once a run has written it."""
    path = "%s/accelmon_check_%s.prom" % (TEXTFILE_DIR, check)
    for _unused in range(tries):
        f = host.file(path)
        if f.exists:
            return f.content_string
        time.sleep(1)
    status = host.run("systemctl status accelmon-check-%s.service; journalctl -u accelmon-check-%s -n 30", check, check)
    pytest.fail("%s never appeared on %s:\n%s" % (path, host.backend.get_hostname(), status.stdout))


def value(text, pattern):
    for line in text.splitlines():
        if re.match(pattern, line):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_runner_user_and_files(host):
    user = host.user("accelmon-check")
    assert user.exists
    assert user.shell == "/usr/sbin/nologin"
    assert host.file("/usr/local/lib/accelmon-check/accelmon_check_runner.py").mode == 0o644
    assert host.file("/usr/local/lib/accelmon-check/check_probes.py").exists
    config = host.file("/etc/accelmon/checks.json")
    assert config.group == "accelmon-check"
    assert config.mode == 0o640
    assert host.file(TEXTFILE_DIR).group == "accelmon-check"


def test_timers_active_for_enabled_types_only(host):
    for check in ALL_TYPES:
        timer = host.service("accelmon-check-%s.timer" % check)
        if check in enabled(host):
            assert timer.is_enabled, check
            assert timer.is_running, check
        else:
            assert not host.file("/etc/systemd/system/accelmon-check-%s.timer" % check).exists, check


def test_services_are_sandboxed_oneshots(host):
    for check in enabled(host):
        props = host.check_output(
            "systemctl show -p Type -p User -p Nice -p IOSchedulingClass -p NoNewPrivileges -p TimeoutStartUSec "
            "-p KillMode accelmon-check-%s.service",
            check,
        )
        assert "Type=oneshot" in props, props
        assert "Nice=10" in props, props
        assert "NoNewPrivileges=yes" in props, props
        assert "IOSchedulingClass=3" in props or "IOSchedulingClass=idle" in props, props
        assert ("User=" if check in ROOT_TYPES else "User=accelmon-check") in props, props
        if check in ROOT_TYPES:
            assert "User=accelmon-check" not in props
        if check in ("mount", "parallel_fs"):
            assert "KillMode=process" in props, props


def test_every_textfile_passes_promtool(host):
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.fail("promtool missing on the controller (tests/tools/install_system_deps.sh)")
    for check in enabled(host):
        text = textfile(host, check)
        with tempfile.NamedTemporaryFile("w", suffix=".prom") as handle:
            handle.write(text)
            handle.flush()
            with open(handle.name) as stdin:
                proc = subprocess.run(
                    [promtool, "check", "metrics"], stdin=stdin, capture_output=True, text=True, check=False
                )
        assert proc.returncode == 0, "%s: %s\n%s" % (check, proc.stderr, text)
        assert value(text, r'accelmon_check_runner_success\{check="%s"\}' % check) == 1, text
        assert value(text, r'accelmon_check_last_run_timestamp_seconds\{check="%s"\}' % check) > time.time() - 120


def test_mount_results(host):
    text = textfile(host, "mount")
    assert value(text, r'accelmon_check_ok\{check="mount",item="/"\}') == 1, text
    assert value(text, r'accelmon_check_status\{check="mount",item="/mnt/accelmon-absent",status="missing"\}') == 1


def test_command_results(host):
    text = textfile(host, "command")
    if host.backend.get_hostname() == "gpu-node":
        assert value(text, r'accelmon_check_ok\{check="command",item="ok"\}') == 1, text
        assert value(text, r'accelmon_check_command_exit_code\{check="command",item="failing"\}') == 3, text
        # commands run as the unprivileged user
        assert value(text, r'accelmon_check_ok\{check="command",item="whoami"\}') == 1, text
    else:
        assert value(text, r'accelmon_check_command_value\{check="command",item="echo"\}') == 42, text


def test_gpu_node_other_checks(host):
    if host.backend.get_hostname() != "gpu-node":
        pytest.skip("cpu-node runs mount and command only")
    port = textfile(host, "port")
    assert value(port, r'accelmon_check_status\{check="port",item="closed",status="refused"\}') == 1, port
    lic = textfile(host, "license")
    assert value(lic, r'accelmon_check_license_expiry_timestamp_seconds\{check="license",item="flexlm"\}') > 4e9
    assert value(lic, r'accelmon_check_ok\{check="license",item="/etc/accelmon/test-licence"\}') == 1, lic
    pfs = textfile(host, "parallel_fs")
    assert value(pfs, r'accelmon_check_parallel_fs_latency_seconds_count\{check="parallel_fs",item="/"\}') >= 1, pfs
    # no NVMe, disk or HCA in a container: the probes run (as root for nvme/smart) and find none
    for check in ("infiniband", "nvme", "smart"):
        text = textfile(host, check)
        assert value(text, r'accelmon_check_items\{check="%s"\}' % check) == 0, text
    assert host.exists("nvme") and host.exists("smartctl")


def test_node_exporter_serves_the_checks(host):
    for _unused in range(30):
        out = host.run("curl -fsS --max-time 5 http://127.0.0.1:9100/metrics")
        if out.rc == 0 and 'accelmon_check_ok{check="mount",item="/"} 1' in out.stdout:
            break
        time.sleep(1)
    assert 'accelmon_check_ok{check="mount",item="/"} 1' in out.stdout
    assert "node_textfile_scrape_error 0" in out.stdout
    for check in enabled(host):
        # node_exporter 1.5 labels the file with its full path
        assert re.search(r'node_textfile_mtime_seconds\{file="(?:.*/)?accelmon_check_%s\.prom"\}' % check, out.stdout), check


def test_timers_keep_running(host):
    before = value(textfile(host, "mount"), r'accelmon_check_last_run_timestamp_seconds\{check="mount"\}')
    for _unused in range(40):
        after = value(textfile(host, "mount"), r'accelmon_check_last_run_timestamp_seconds\{check="mount"\}')
        if after and after > before:
            return
        time.sleep(1)
    pytest.fail("the mount check did not run again within 40 s")
