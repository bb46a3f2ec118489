"""The lab deploys like a real fleet: over SSH as a deploy user with sudo, host keys checked
against the known_hosts file the lab writes; every deploy ends in a verification from the
Prometheus host that catches a stopped exporter (playbooks/verify.yml, roles/verify)."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

pytestmark = pytest.mark.e2e


def _inventory_hostvars(lab):
    out = lab.run(["ansible-inventory", "-i", lab.INVENTORY, "--list"], capture=True, env=lab._ansible_env()).stdout
    return lab._unwrap(json.loads(out))["_meta"]["hostvars"]


def test_every_node_is_reached_over_ssh_with_checked_host_keys(lab, tmp_path):
    hostvars = _inventory_hostvars(lab)
    assert set(hostvars) == set(lab.lab_hosts())
    for name, hv in hostvars.items():
        assert hv["ansible_connection"] == "ssh", name
        assert hv["ansible_user"] == lab.DEPLOY_USER, name
        assert hv["ansible_become"] is True, name
        assert "StrictHostKeyChecking" not in json.dumps(hv), name
    env = lab._ansible_env()
    assert env["ANSIBLE_SSH_COMMON_ARGS"] == "-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes" % lab.KNOWN_HOSTS
    assert env["ANSIBLE_PRIVATE_KEY_FILE"] == lab.DEPLOY_KEY
    with open(lab.KNOWN_HOSTS, encoding="utf-8") as fh:
        known = {line.split()[0] for line in fh if line.strip()}
    assert known == {h["address"] for h in lab.lab_hosts().values()}

    # Ansible itself goes over SSH (sshd on port 22 of each node's address) and sudo gives root.
    res = lab.run(
        [
            "ansible",
            "-i",
            lab.INVENTORY,
            "all",
            "-e",
            "ansible_become=false",
            "-m",
            "ansible.builtin.shell",
            "-a",
            'echo "ssh: $SSH_CONNECTION"; echo "root: $(sudo -n id -u)"',
        ],
        capture=True,
        env=lab._ansible_env(),
        check=False,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    seen = set(re.findall(r"ssh: \S+ \d+ (\S+) 22\s*\nroot: 0\s*$", res.stdout, re.M))
    assert seen == {h["address"] for h in lab.lab_hosts().values()}, res.stdout

    # The deploy key and user work outside Ansible too; an unknown host key is refused.
    for name in lab.lab_hosts():
        ok = subprocess.run(lab.ssh_argv(name, "sudo", "-n", "id", "-u"), capture_output=True, text=True, check=False)
        assert (ok.returncode, ok.stdout.strip()) == (0, "0"), (name, ok.stderr)
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    refused = subprocess.run(
        lab.ssh_argv("lab-cpu", "true", known_hosts=str(empty)), capture_output=True, text=True, check=False
    )
    assert refused.returncode != 0
    assert "Host key verification failed" in refused.stderr


def test_site_yml_ended_with_a_verification_of_every_host(lab):
    with open(lab.SITE_LOG, encoding="utf-8") as fh:
        log = " ".join(fh.read().split())  # the yaml callback may fold long messages
    for name in lab.lab_hosts():
        assert "accelmon verify: %s OK:" % name in log, name
    assert (
        "accelmon verify: lab-h200 OK: node_exporter, all_smi, dcgm_exporter answer, scraped by lab-monitoring, 8 accelerators"
        in log
    )
    for phase in ("detecting hardware on 4 hosts", "installing node_exporter on 4 hosts", "verifying 4 hosts"):
        assert "accelmon progress: %s" % phase in log, phase
    assert "accelmon progress: done on 4 hosts; failed on 0 hosts" in log


def test_verification_names_the_host_and_the_stopped_exporter(clean_lab, tmp_path):
    lab = clean_lab
    host = "lab-gaudi"
    lab.podman("exec", host, "systemctl", "stop", "all-smi", capture=True)
    try:
        rc, out = lab.site_play(
            ["--limit", host, "-e", "verify_timeout=10"],
            quiet=True,
            logfile=str(tmp_path / "verify.log"),
            playbook="verify.yml",
        )
        assert rc != 0, out[-3000:]
        assert re.search(r"^%s\s*:.* failed=1 " % host, out, re.M), out[-3000:]
        out = " ".join(out.split())
        assert (
            "accelmon verify: %s FAILED: all_smi: does not answer at http://%s:%d/metrics from lab-monitoring"
            % (host, lab.address(host), lab.ALLSMI_PORT)
        ) in out, out[-3000:]
    finally:
        lab.podman("exec", host, "systemctl", "start", "all-smi", capture=True)
    lab.wait_for("all-smi of %s scraped again" % host, lab.all_targets_up, 60, 1.0)
    rc, out = lab.site_play(
        ["--limit", host], quiet=True, logfile=str(tmp_path / "verify-ok.log"), playbook="verify.yml"
    )
    assert rc == 0, out[-3000:]
    out = " ".join(out.split())
    assert (
        "accelmon verify: %s OK: node_exporter, all_smi answer, scraped by lab-monitoring, 8 accelerators" % host in out
    )
