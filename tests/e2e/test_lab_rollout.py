"""Rollouts in the lab: playbooks/rollout.yml over the emulated accelerator nodes.

Uses the session's lab (tests/e2e/conftest.py). The emulated all-smi is upgraded from the
lab's 0.25.0 to 0.26.0 (the emulator reporting 0.26.0) and then to a broken 0.27.0 (the
emulator that loses every device), from offline artifacts this module writes next to the
lab's (lab.sh up writes them). The runs record into the lab's ARA server, as a user's
ansible-playbook does after `eval "$(tests/lab/lab.sh env)"` (docs/lab.md); the failed
canary's page in ARA's web UI is opened in headless Chromium (screenshot
tests/output/browser/ara-rollout-canary.png).

Order matters and the tests run in file order: dry run (all at once), rolling upgrade,
failed canary. The lab stays on all-smi 0.26.0 afterwards (same metrics as 0.25.0).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from webui import Page

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
import ara_history  # noqa: E402
from emulator_builds import ASSET  # noqa: E402

pytestmark = pytest.mark.e2e

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PLAYBOOK = os.path.join(REPO, "playbooks", "rollout.yml")
TARGET = "logical__training"  # lab-h200 and lab-gaudi, in that order (rollout_order=reverse_sorted)
HOSTS = ["lab-h200", "lab-gaudi"]
WATCHED = ["/usr/local/bin/all-smi", "/etc/systemd/system/all-smi.service", "/usr/local/bin/node_exporter"]


def sha256s(lab, host):
    out = lab.podman("exec", host, "sha256sum", *WATCHED, capture=True, check=False).stdout
    return {line.split()[1]: line.split()[0] for line in out.splitlines() if line.strip()}


def version(lab, host):
    return lab.podman("exec", host, "/usr/local/bin/all-smi", "--version", capture=True).stdout.split()[1]


def rollout_silences(lab):
    return [s for s in lab.am("/api/v2/silences") if s.get("createdBy") == "accelmon-rollout"]


@pytest.fixture(scope="module")
def ara_env(lab):
    """The lab's ARA (lab.sh up starts it): the client settings its plays record with."""
    assert lab.ara_running(), "the lab's ARA server is not running (lab.sh up starts it; see %s)" % lab.ARA_LOG
    env = lab._ansible_env()
    assert env.get("ARA_API_SERVER") == lab.ara_url(), "lab plays do not record into the lab's ARA"
    for v in ("0.25.0", "0.26.0", "0.27.0"):
        assert os.path.exists(os.path.join(lab.ARTIFACTS, "all-smi", v, ASSET)), "lab artifact all-smi %s missing" % v
    return ara_history.client_env(lab.ara_url())


def rollout(lab, ara_env, version, *extra, check=False):
    argv = [
        os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
        PLAYBOOK,
        "-i",
        lab.INVENTORY,
        "-e",
        "accelmon_artifacts_dir=%s" % lab.ARTIFACTS,
        "-e",
        "rollout_target=%s" % TARGET,
        "-e",
        json.dumps({"rollout_components": ["all_smi"], "rollout_versions": {"all_smi": version}}),
        "-e",
        "rollout_gate_timeout=60s",
        "-e",
        "rollout_gate_poll_interval=2",
        "-e",
        "rollout_order=reverse_sorted",
        *extra,
    ]
    if check:
        argv += ["--check", "--diff"]
    env = lab._ansible_env()  # SSH to the nodes and the lab's ARA, as `lab.sh env` exports them
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO, env=env, text=True, capture_output=True, timeout=900, check=False)
    out = proc.stdout + proc.stderr
    with open(os.path.join(lab.STATE, "rollout-%s.log" % version), "w", encoding="utf-8") as fh:
        fh.write(out)
    return proc.returncode, out, time.monotonic() - start


def latest_playbook(ara_env):
    return ara_history.latest_playbook(ara_env, path="playbooks/rollout.yml")


def records(ara_env, playbook_id):
    return ara_history.records(ara_env, playbook_id)


def test_dry_run_changes_nothing(clean_lab, ara_env):
    lab = clean_lab
    before = {h: sha256s(lab, h) for h in HOSTS}
    silences = len(rollout_silences(lab))
    rc, out, _unused = rollout(lab, ara_env, "0.26.0", "-e", "rollout_strategy=all_at_once", check=True)
    assert rc == 0, out[-4000:]
    assert "strategy all_at_once: 2 hosts in 1 batches, serial [100%]" in out
    assert "batch 1: 2 hosts: lab-h200 lab-gaudi" in out
    assert out.count("batch 1: upgrade all_smi 0.25.0 -> 0.26.0") == 2
    assert "(dry run)" in out
    assert {h: sha256s(lab, h) for h in HOSTS} == before
    assert all(len(v) == len(WATCHED) for v in before.values())
    assert len(rollout_silences(lab)) == silences
    for h in HOSTS:
        assert version(lab, h) == "0.25.0"
        assert lab.podman("exec", h, "test", "-e", "/var/lib/accelmon/rollout/all_smi", check=False).returncode == 1


def test_rolling_upgrade_with_silences_and_gates(clean_lab, ara_env):
    lab = clean_lab
    rc, out, took = rollout(lab, ara_env, "0.26.0", "-e", "rollout_strategy=rolling", "-e", "rollout_concurrency=1")
    assert rc == 0, out[-4000:]
    assert "batch 1/2 (1 hosts): done 1 | failed 0 | pending 1" in out
    assert "batch 2/2 (1 hosts): done 2 | failed 0 | pending 0" in out
    assert out.count("gate passed for 1 hosts") == 2
    for h in HOSTS:
        assert version(lab, h) == "0.26.0"
    # all-smi v0.25.0 exports no build_info series: the hosts' versions above are the check,
    # and the gates proved every host's devices are scraped again after the upgrade.
    mine = rollout_silences(lab)
    batches = sorted(s["comment"] for s in mine if "0.26.0" in s["comment"] or "all_smi" in s["comment"])
    assert len(batches) >= 2 and any("batch 1/2" in c for c in batches) and any("batch 2/2" in c for c in batches)
    assert all(s["status"]["state"] == "expired" for s in mine)
    pb = latest_playbook(ara_env)
    assert pb["status"] == "completed"
    recs = records(ara_env, pb["id"])
    assert recs["rollout"]["action"] == "upgrade" and recs["rollout"]["versions"] == {"all_smi": "0.26.0"}
    assert recs["rollout"]["strategy"] == "rolling" and recs["rollout"]["target"] == TARGET
    assert recs["batch 2"]["gate"]["passed"] is True
    print("rolling upgrade of 2 hosts, 1 per batch: %.0f s" % took)


def test_failed_canary_stops_after_batch_one_and_rolls_back(clean_lab, ara_env, browser):
    lab = clean_lab
    before = {h: sha256s(lab, h) for h in HOSTS}
    rc, out, took = rollout(
        lab,
        ara_env,
        "0.27.0",
        "-e",
        "rollout_strategy=canary",
        "-e",
        "rollout_concurrency=1",
        "-e",
        "rollout_gate_timeout=30s",
    )
    assert rc != 0, out[-4000:]
    assert "strategy canary: 2 hosts in 2 batches, serial [1, 1]" in out
    assert "series all_smi_gpu_info: 0 of 8 expected" in out
    assert "rolling back lab-h200" in out
    assert "batch 1/2 (1 hosts): done 0 | failed 1 | pending 1" in out
    assert "batch 2/2" not in out  # stopped after the canary
    # lab-h200 back on the previous build, byte for byte; lab-gaudi never touched
    assert version(lab, "lab-h200") == "0.26.0"
    assert {h: sha256s(lab, h) for h in HOSTS} == before
    assert version(lab, "lab-gaudi") == "0.26.0"
    # its devices are back in Prometheus, and no rollout silence mutes its alerts any more
    lab.wait_for(
        "8 devices of lab-h200",
        lambda: (
            (lab.prom("/api/v1/query", query='count(all_smi_gpu_info{instance="lab-h200"})')["result"] or [{}])[0].get(
                "value", [0, "0"]
            )[1]
            == "8"
        ),
        60,
    )
    assert all(s["status"]["state"] == "expired" for s in rollout_silences(lab))
    pb = latest_playbook(ara_env)
    assert pb["status"] == "failed"
    recs = records(ara_env, pb["id"])
    assert recs["batch 1"]["gate"]["passed"] is False
    assert recs["batch 1"]["results"][0]["status"] == "rolled_back"
    assert "batch 2" not in recs
    # what a user watching the lab's ARA sees: the failed rollout, its hosts, its records
    browser.check(
        Page(
            "ara-rollout-canary",
            "%s/playbooks/%d.html" % (lab.ara_url(), pb["id"]),
            ("Playbook #%d" % pb["id"], "playbooks/rollout.yml", "lab-h200", "rollout", "batch 1", "FAILED"),
        )
    )
    print("failed canary and rollback: %.0f s" % took)
