"""A rollout's history in ARA, down to its web UI in a real headless browser.

playbooks/rollout.yml runs (local connection) over two hosts, one per batch, gated by a
real Prometheus (Debian's) that scrapes the exporter emulator and node_exporter for gpu-a
and nothing for gpu-b (tests/integration/test_rollout_gate.py's Stack): batch 1 passes,
batch 2's gate fails, the batch rolls back and the rollout stops. ARA (offline client,
SQLite) records it; `ara` reads the records back; ARA's own server (ara-manage runserver)
serves the UI and Debian's chromium renders the playbook page, whose text must show the
rollout, its host, its records and the failure. The screenshot is kept in tests/output/.
ARA's environment, server and CLI come from tests/tools/ara_history.py (as for the lab's).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from helpers import BIN, ROOT, ansible_env
from test_rollout_gate import Stack, free_port

sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))
import ara_history  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
OUTPUT = os.path.join(ROOT, "tests", "output")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("ara-gate"))
    s.start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def ara_env(tmp_path_factory):
    return ara_history.offline_env(tmp_path_factory.mktemp("ara"))


@pytest.fixture(scope="module")
def rollout(stack, ara_env, tmp_path_factory):
    base = tmp_path_factory.mktemp("rollout")
    inv = base / "inventory"
    inv.write_text(
        "".join(
            f"{h} ansible_connection=local ansible_python_interpreter={sys.executable}\n" for h in ("gpu-a", "gpu-b")
        )
    )
    proc = subprocess.run(
        [
            os.path.join(BIN, "ansible-playbook"), os.path.join(ROOT, "playbooks", "rollout.yml"), "-i", str(inv),
            "-e", "rollout_target=all", "-e", "rollout_action=reconfigure",
            "-e", json.dumps({"rollout_components": ["all_smi"]}),
            "-e", "rollout_concurrency=1", "-e", "rollout_silence=false",
            "-e", "rollout_prometheus_url=" + stack.url, "-e", "rollout_gate_timeout=8s",
            "-e", "rollout_gate_poll_interval=1", "-e", "rollout_snapshot_dir=" + str(base / "snapshots"),
        ],
        cwd=ROOT, env=ansible_env(**ara_env), text=True, capture_output=True, timeout=600, check=False,
    )  # fmt: skip
    return proc.returncode, proc.stdout + proc.stderr


def test_rollout_stops_at_the_failed_gate(rollout):
    rc, out = rollout
    assert rc == 2, out[-4000:]
    assert "batch 1: gate passed for 1 hosts" in out
    assert "gpu-b: job allsmi: target down" in out
    assert "batch 1/2 (1 hosts): done 1 | failed 0 | pending 1" in out
    assert "batch 2/2 (1 hosts): done 1 | failed 1 | pending 0" in out
    assert "gpu-b failed (nothing to roll back)" in out


def test_ara_records_the_rollout_and_each_batch(rollout, ara_env):
    pb = ara_history.latest_playbook(ara_env)
    assert pb["status"] == "failed" and pb["path"].endswith("playbooks/rollout.yml")
    recs = ara_history.records(ara_env, pb["id"])
    assert recs["rollout"]["action"] == "reconfigure" and recs["rollout"]["serial"] == [1]
    assert recs["batch 1"]["gate"]["passed"] is True
    assert recs["batch 2"]["gate"]["passed"] is False
    assert recs["batch 2"]["gate"]["failed_hosts"] == ["gpu-b"]
    assert recs["batch 2"]["results"] == [
        {"host": "gpu-b", "batch": 2, "status": "rolled_back", "reason": recs["batch 2"]["results"][0]["reason"]}
    ]
    assert recs["batch 2"]["progress"] == "batch 2/2 (1 hosts): done 1 | failed 1 | pending 0"


def test_ara_web_ui_shows_the_rollout(rollout, ara_env, tmp_path):
    if CHROMIUM is None:
        pytest.fail("chromium missing: run tests/tools/install_system_deps.sh")
    pb = ara_history.latest_playbook(ara_env)
    # ARA's server over the offline client's database
    port = free_port()
    server = ara_history.start_server(ara_env["ARA_BASE_DIR"], "127.0.0.1", port, tmp_path / "ara-server.log")
    url = f"http://127.0.0.1:{port}/playbooks/{pb['id']}.html"
    try:
        browser = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,1800",
                   f"--user-data-dir={tmp_path / 'chromium'}"]  # fmt: skip
        dom = subprocess.run([*browser, "--dump-dom", url], text=True, capture_output=True, timeout=120, check=True)
        os.makedirs(OUTPUT, exist_ok=True)
        shot = os.path.join(OUTPUT, "ara-rollout-playbook.png")
        subprocess.run([*browser, f"--screenshot={shot}", url], capture_output=True, timeout=120, check=True)
    finally:
        server.terminate()
        server.wait(timeout=15)
    text = html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom.stdout)))
    assert f"Playbook #{pb['id']}" in text and "playbooks/rollout.yml" in text
    assert "gpu-a" in text and "gpu-b" in text
    assert "failed" in text.lower()
    assert "rollout" in text and "batch 2" in text  # the ara_record keys
    assert os.path.getsize(shot) > 10000
