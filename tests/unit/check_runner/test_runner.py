"""The check runner (roles/check_runner/files/accelmon_check_runner.py) end to end on this
machine: real files, real child processes, fake nvme/smartctl that print the fixtures, and
every written textfile checked with the real promtool.

The hung-mount behaviour (D-state child, per-mount lock) is tested against a real FUSE mount
in tests/integration/test_check_runner_hung_mount.py.
"""

import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "checks")
RUNNER = os.path.join(ROOT, "roles", "check_runner", "files", "accelmon_check_runner.py")


@pytest.fixture(scope="module")
def runner():
    # On a node check_probes.py sits next to the runner; here it is the module_utils file.
    sys.path.insert(0, os.path.join(ROOT, "plugins", "module_utils"))
    spec = importlib.util.spec_from_file_location("accelmon_check_runner", RUNNER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def promtool_ok(path):
    promtool = shutil.which("promtool")
    if not promtool:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("promtool missing (tests/tools/install_system_deps.sh)")
        pytest.skip("promtool missing")
    with open(path) as handle:
        proc = subprocess.run([promtool, "check", "metrics"], stdin=handle, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, "%s: %s" % (path, proc.stderr)


def lines(path):
    with open(path) as handle:
        return [ln for ln in handle.read().splitlines() if ln and not ln.startswith("#")]


def value(path, prefix):
    hits = [float(ln.rsplit(" ", 1)[1]) for ln in lines(path) if ln.startswith(prefix + " ")]
    assert len(hits) == 1, (prefix, lines(path))
    return hits[0]


def fake_tool(tmp_path, name, outputs):
    """A script printing the fixture chosen by its arguments (first matching key)."""
    script = tmp_path / name
    cases = "\n".join(
        '  *"%s"*) cat "%s"; exit %d ;;' % (key, os.path.join(FIXTURES, fname), code) for key, (fname, code) in outputs
    )
    script.write_text('#!/bin/sh\ncase "$*" in\n%s\n  *) echo "unexpected: $*" >&2; exit 64 ;;\nesac\n' % cases)
    script.chmod(0o755)
    return str(script)


@pytest.fixture
def config(tmp_path):
    (tmp_path / "textfile").mkdir()
    (tmp_path / "state").mkdir()
    (tmp_path / "nvme-class" / "nvme0").mkdir(parents=True)

    def write(checks, **extra):
        data = {
            "textfile_dir": str(tmp_path / "textfile"),
            "state_dir": str(tmp_path / "state"),
            "infiniband_sysfs": os.path.join(FIXTURES, "sysfs-infiniband"),
            "nvme_sysfs": str(tmp_path / "nvme-class"),
            "checks": checks,
        }
        data.update(extra)
        path = tmp_path / "checks.json"
        path.write_text(json.dumps(data))
        return str(path)

    write.tf = tmp_path / "textfile"
    return write


def test_every_type_writes_a_valid_textfile(runner, config, tmp_path):
    nvme = fake_tool(
        tmp_path,
        "nvme",
        [("list", ("nvme-list.json", 0)), ("nvme0n1", ("nvme-smart-log-healthy.json", 0)),
         ("nvme1n1", ("nvme-smart-log-critical.json", 0))],
    )
    smartctl = fake_tool(
        tmp_path,
        "smartctl",
        [("--scan-open", ("smartctl-scan-open.json", 0)), ("/dev/sda", ("smartctl-sda-passed.json", 0)),
         ("/dev/sdb", ("smartctl-sdb-failed.json", 8))],
    )
    licence = tmp_path / "licence"
    licence.write_text("expires 2099-01-01\n")
    path = config(
        {
            "mount": {"enabled": True, "timeout_seconds": 5, "paths": ["/", "/proc", "/accelmon-absent"]},
            "parallel_fs": {"enabled": True, "timeout_seconds": 5, "paths": ["/"], "write_test": False},
            "infiniband": {"enabled": True, "devices": [], "min_rate_gbps": 200},
            "nvme": {"enabled": True, "devices": []},
            "smart": {"enabled": True, "devices": []},
            "port": {"enabled": True, "timeout_seconds": 1, "ports": [1]},
            "license": {"enabled": True, "files": [str(licence)], "servers": ["1@127.0.0.1"]},
            "command": {"enabled": True, "commands": [{"name": "true", "command": ["true"]}]},
        },
        nvme=nvme,
        smartctl=smartctl,
    )
    assert runner.main(["--config", path, "--all"]) == 0
    files = sorted(os.listdir(config.tf))
    assert files == ["accelmon_check_%s.prom" % t for t in sorted(runner.PROBES)]  # no temp file left behind
    for name in files:
        full = os.path.join(config.tf, name)
        promtool_ok(full)
        assert stat.S_IMODE(os.stat(full).st_mode) == 0o644 or os.geteuid() != 0
        check = name[len("accelmon_check_") : -len(".prom")]
        assert value(full, 'accelmon_check_runner_success{check="%s"}' % check) == 1
        assert value(full, 'accelmon_check_last_run_timestamp_seconds{check="%s"}' % check) > time.time() - 60
    tf = str(config.tf)
    assert value(tf + "/accelmon_check_nvme.prom", 'nvme_critical_warning{device="/dev/nvme1n1"}') == 4
    assert value(tf + "/accelmon_check_nvme.prom", 'accelmon_check_ok{check="nvme",item="/dev/nvme0n1"}') == 1
    assert value(tf + "/accelmon_check_smart.prom", 'smartmon_device_smart_healthy{disk="/dev/sdb",type="sat"}') == 0
    assert value(tf + "/accelmon_check_smart.prom", 'smartmon_smartctl_version{version="7.3"}') == 1
    assert value(
        tf + "/accelmon_check_infiniband.prom",
        'accelmon_check_ok{check="infiniband",device="mlx5_2",item="mlx5_2/1",link_layer="InfiniBand",port="1"}',
    ) == 0
    assert value(tf + "/accelmon_check_mount.prom", 'accelmon_check_ok{check="mount",item="/accelmon-absent"}') == 0
    assert value(tf + "/accelmon_check_port.prom", 'accelmon_check_status{check="port",item="127.0.0.1:1",status="refused"}') == 1
    assert value(tf + "/accelmon_check_license.prom", 'accelmon_check_ok{check="license",item="1@127.0.0.1"}') == 0


def test_a_crashing_probe_reports_itself_and_the_others_run(runner, config, monkeypatch):
    def boom(ctx, policy):
        raise RuntimeError("probe bug")

    monkeypatch.setitem(runner.PROBES, "port", boom)
    path = config(
        {
            "mount": {"enabled": True, "paths": ["/"]},
            "port": {"enabled": True, "ports": [1]},
            "command": {"enabled": True, "commands": [{"name": "t", "command": ["true"]}]},
        }
    )
    assert runner.main(["--config", path, "--all"]) == 1
    tf = str(config.tf)
    assert value(tf + "/accelmon_check_port.prom", 'accelmon_check_runner_success{check="port"}') == 0
    assert value(tf + "/accelmon_check_mount.prom", 'accelmon_check_runner_success{check="mount"}') == 1
    assert value(tf + "/accelmon_check_command.prom", 'accelmon_check_ok{check="command",item="t"}') == 1
    promtool_ok(tf + "/accelmon_check_port.prom")


def test_missing_tool_is_a_probe_failure(runner, config, tmp_path):
    path = config({"nvme": {"enabled": True, "devices": []}}, nvme=str(tmp_path / "no-such-nvme"))
    assert runner.main(["--config", path, "--check", "nvme"]) == 1
    assert value(str(config.tf) + "/accelmon_check_nvme.prom", 'accelmon_check_runner_success{check="nvme"}') == 0


def test_nvme_without_controllers_is_not_a_failure(runner, config, tmp_path):
    shutil.rmtree(tmp_path / "nvme-class")
    path = config({"nvme": {"enabled": True, "devices": []}}, nvme=str(tmp_path / "no-such-nvme"))
    assert runner.main(["--config", path, "--check", "nvme"]) == 0
    assert value(str(config.tf) + "/accelmon_check_nvme.prom", 'accelmon_check_items{check="nvme"}') == 0


def test_command_timeout_kills_the_process_group_and_limits_output(runner, config, tmp_path):
    marker = tmp_path / "grandchild-survived"
    path = config(
        {
            "command": {
                "enabled": True,
                "commands": [
                    # the shell's background child must die with it
                    {"name": "hang", "command": "(sleep 2; touch %s) & sleep 30" % marker, "timeout_seconds": 0.5},
                    {"name": "chatty", "command": "yes | head -c 200000"},
                    {"name": "value", "command": "echo 'errors: 7'", "value_regex": "errors: ([0-9]+)"},
                    {"name": "exit3", "command": "exit 3"},
                ],
            }
        },
        output_limit_bytes=1024,
    )
    start = time.monotonic()
    assert runner.main(["--config", path, "--check", "command"]) == 0
    assert time.monotonic() - start < 5
    prom = str(config.tf) + "/accelmon_check_command.prom"
    promtool_ok(prom)
    assert value(prom, 'accelmon_check_status{check="command",item="hang",status="timeout"}') == 1
    assert value(prom, 'accelmon_check_command_output_truncated{check="command",item="chatty"}') == 1
    assert value(prom, 'accelmon_check_command_value{check="command",item="value"}') == 7
    assert value(prom, 'accelmon_check_command_exit_code{check="command",item="exit3"}') == 3
    assert value(prom, 'accelmon_check_timeouts_total{check="command"}') == 1
    time.sleep(2.5)
    assert not marker.exists()
    # the timeout counter persists across runs
    runner.main(["--config", path, "--check", "command"])
    assert value(prom, 'accelmon_check_timeouts_total{check="command"}') == 2


def test_parallel_fs_histogram_accumulates(runner, config):
    path = config({"parallel_fs": {"enabled": True, "paths": ["/"]}})
    for _unused in range(3):
        runner.main(["--config", path, "--check", "parallel_fs"])
    prom = str(config.tf) + "/accelmon_check_parallel_fs.prom"
    promtool_ok(prom)
    assert value(prom, 'accelmon_check_parallel_fs_latency_seconds_count{check="parallel_fs",item="/"}') == 3
    assert value(prom, 'accelmon_check_parallel_fs_latency_seconds_bucket{check="parallel_fs",item="/",le="+Inf"}') == 3


def test_validate_refuses_bad_configs(runner, config, capsys):
    good = config({"mount": {"enabled": True, "paths": ["/"]}})
    assert runner.main(["--config", good, "--validate"]) == 0
    bad = config(
        {
            "bogus": {"enabled": True},
            "license": {"servers": ["lic1"]},
            "command": {"commands": [{"name": "x", "command": "y", "value_regex": "("}]},
        }
    )
    assert runner.main(["--config", bad, "--validate"]) == 1
    err = capsys.readouterr().err
    assert "check type 'bogus' is unknown" in err
    assert "license: licence server 'lic1' is not port@host" in err
    assert "command:" in err
