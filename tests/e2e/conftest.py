"""Fixtures of the end-to-end lab test: the lab (tests/lab/lab.sh) up for the session.

Needs root, podman (tests/tools/setup_podman.sh installs it) and the venv (make venv).
Without root or podman the tests skip, unless ACCELMON_E2E_REQUIRED=1 (CI), which makes
that a failure. ACCELMON_E2E_REUSE=1 uses a lab that is already up (no `lab.sh up`);
ACCELMON_LAB_KEEP=1 leaves the lab up afterwards (default: `lab.sh down`).
`browser`: headless Chromium (tests/e2e/webui.py) for the web UI checks, screenshots in
tests/output/browser/; without chromium it skips, unless ACCELMON_E2E_REQUIRED=1 or CI=true.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
LAB_SH = os.path.join(REPO, "tests", "lab", "lab.sh")
sys.path.insert(0, os.path.join(REPO, "tests", "lab"))

import lab as labmod  # noqa: E402
import webui  # noqa: E402

UP_TIMEOUT = int(os.environ.get("ACCELMON_E2E_UP_TIMEOUT", "900"))
SCREENSHOTS = os.environ.get("ACCELMON_E2E_SCREENSHOTS", os.path.join(REPO, "tests", "output", "browser"))


def _missing_prerequisite():
    if os.geteuid() != 0:
        return "needs root (podman containers with systemd)"
    if shutil.which("podman") is None:
        return "needs podman (tests/tools/setup_podman.sh)"
    venv_bin = os.path.join(REPO, ".venv", "bin")
    if shutil.which("ansible-playbook", path=venv_bin + os.pathsep + os.environ.get("PATH", "")) is None:
        return "needs ansible-playbook (make venv)"
    return None


def _lab_usable():
    try:
        return labmod.all_targets_up() and labmod.webhook_running()
    except Exception:  # noqa: BLE001 (any failure means: not usable)
        return False


def _failed_tasks(log_path, limit=6000):
    """The failed tasks of a play log (`lab.sh up --quiet` prints only the recap)."""
    try:
        with open(log_path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return ""
    out = []
    for i, line in enumerate(lines):
        if line.startswith(("fatal:", "failed:")) or "FAILED!" in line:
            task = next((lines[j] for j in range(i, -1, -1) if lines[j].startswith("TASK [")), "")
            out += [task, *lines[i : i + 6]]
    return "\n".join(out)[-limit:]


@pytest.fixture(scope="session")
def lab():
    """The lab module (tests/lab/lab.py) with the lab up; torn down at the end."""
    reason = _missing_prerequisite()
    if reason:
        if os.environ.get("ACCELMON_E2E_REQUIRED") == "1":
            pytest.fail("end-to-end lab test " + reason)
        pytest.skip("end-to-end lab test " + reason)
    reuse = os.environ.get("ACCELMON_E2E_REUSE") == "1" and _lab_usable()
    if not reuse:
        start = time.monotonic()
        res = subprocess.run(
            ["bash", LAB_SH, "up", "--quiet"],
            text=True,
            timeout=UP_TIMEOUT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            check=False,
        )
        sys.stdout.write(res.stdout[-4000:])
        if res.returncode != 0:
            failed = _failed_tasks(labmod.SITE_LOG)
            if os.environ.get("ACCELMON_LAB_KEEP") != "1":
                subprocess.run(["bash", LAB_SH, "down"], check=False, timeout=300)
            pytest.fail(
                "lab.sh up failed (rc %d) after %.0f s; see %s\n%s\n%s"
                % (res.returncode, time.monotonic() - start, labmod.SITE_LOG, failed, res.stdout[-4000:])
            )
    labmod.clear()
    try:
        yield labmod
    finally:
        if os.environ.get("ACCELMON_LAB_KEEP") != "1":
            subprocess.run(["bash", LAB_SH, "down"], check=False, timeout=300)


@pytest.fixture
def clean_lab(lab):
    """Every fault removed before and after the test, and every target up again."""
    lab.clear()
    lab.wait_for("every target up", lab.all_targets_up, 60, 1.0)
    yield lab
    lab.clear()
    lab.wait_for("every target up", lab.all_targets_up, 60, 1.0)


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium (webui.Browser) writing its screenshots to SCREENSHOTS."""
    reason = webui.missing()
    if reason:
        if os.environ.get("ACCELMON_E2E_REQUIRED") == "1" or os.environ.get("CI") == "true":
            pytest.fail("browser test: " + reason)
        pytest.skip("browser test: " + reason)
    if os.path.isdir(SCREENSHOTS):
        shutil.rmtree(SCREENSHOTS)
    with webui.Browser(SCREENSHOTS) as b:
        yield b


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: end-to-end test in the podman lab (tests/lab)")


def pytest_collection_modifyitems(config, items):
    """test_getting_started.py runs last: the guide deploys its own fleet's configuration to
    the lab's monitoring host (docs/getting-started.md, "How this page is tested")."""
    last = [i for i in items if i.nodeid.split("::")[0].endswith("test_getting_started.py")]
    if last:
        items[:] = [i for i in items if i not in last] + last
