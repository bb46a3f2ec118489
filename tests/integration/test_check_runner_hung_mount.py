"""A real hung mount: the check runner finishes within its timeout, reports the mount hung,
forks no second probe while the first is stuck in D state, and reports the other mounts.

The FUSE filesystem (check_runner/hang_fs.py, python3-fuse) blocks its statfs/getattr while
a flag file exists; the whole scenario (check_runner/hung_mount_scenario.py) runs in a
private mount namespace so nothing else on the machine sees the mount. Runner and probes
run with /usr/bin/python3 and Debian's python3-prometheus-client, as on a node.

Needs root, /dev/fuse, unshare, python3-fuse and python3-prometheus-client
(tests/tools/install_system_deps.sh). Skips without them, fails under CI=true.
"""

import json
import os
import shutil
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SYSTEM_PYTHON = "/usr/bin/python3"


def _missing():
    if os.geteuid() != 0:
        return "not root"
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse missing"
    if not shutil.which("unshare"):
        return "unshare missing"
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import fuse, prometheus_client"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        return "python3-fuse or python3-prometheus-client missing for %s: %s" % (SYSTEM_PYTHON, probe.stderr.strip())
    return None


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    why = _missing()
    if why:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("hung-mount test cannot run: %s (tests/tools/install_system_deps.sh)" % why)
        pytest.skip(why)
    work = tmp_path_factory.mktemp("hung-mount")
    # The runner as the role installs it: the script next to its probe logic.
    runner_dir = work / "bin"
    runner_dir.mkdir()
    shutil.copy(os.path.join(ROOT, "roles", "check_runner", "files", "accelmon_check_runner.py"), runner_dir)
    shutil.copy(os.path.join(ROOT, "plugins", "module_utils", "check_probes.py"), runner_dir)
    proc = subprocess.run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            SYSTEM_PYTHON,
            os.path.join(HERE, "check_runner", "hung_mount_scenario.py"),
            str(work / "run"),
            str(runner_dir),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_all_mounts_responsive_before_the_hang(scenario):
    before = scenario["before"]["statuses"]
    assert before[scenario["hung"]] == "responsive"
    assert before[scenario["good"]] == "responsive"


def test_runner_finishes_within_its_timeout_and_reports_the_hang(scenario):
    run1 = scenario["run1"]
    # timeout plus interpreter start-up; a runner that waited for the mount would never return
    assert run1["seconds"] < scenario["timeout_seconds"] + 3, run1
    assert run1["statuses"][scenario["hung"]] == "timeout"
    assert run1["timeouts_total"] == 1


def test_other_mounts_reported_normally_while_one_hangs(scenario):
    for run in ("run1", "run2"):
        statuses = scenario[run]["statuses"]
        assert statuses[scenario["good"]] == "responsive", run
        assert statuses["/"] == "responsive", run
        assert statuses[os.path.join(os.path.dirname(scenario["good"]), "absent")] == "missing", run


def test_stuck_probe_is_in_d_state_and_not_forked_again(scenario):
    stuck = scenario["children_after_run1"]
    assert len(stuck) == 1, stuck
    assert stuck[0][1] == "D", stuck  # SIGKILLed, still waiting for the FUSE server
    run2 = scenario["run2"]
    assert run2["statuses"][scenario["hung"]] == "in_flight"
    # the same single child, no second probe of the hung mount
    assert scenario["children_after_run2"] == stuck
    assert run2["seconds"] < scenario["timeout_seconds"], run2
    assert run2["timeouts_total"] == 1


def test_mount_recovers_when_the_server_answers(scenario):
    assert scenario["children_after_release"] == []
    assert scenario["run3"]["statuses"][scenario["hung"]] == "responsive"
