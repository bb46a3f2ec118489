# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""A fresh lab container joins the fleet with the one-liner and is scraped (docs/bootstrap.md).

On the lab that the session fixture brought up: a registrar (the role's TLS tasks, Debian's
gunicorn, its deployer) listens on the lab network's gateway and writes into a copy of the
lab inventory; a new container with nothing of ours installed runs the documented
one-liner with a token; its SSH host key travels with the registration and the deployer
writes it into the lab's known_hosts, then runs site.yml limited to the new host and
lab-monitoring over SSH (the lab's deploy key, which the registration answer installed, host
key checked); the test measures the time until Prometheus scrapes the new node's
node_exporter, up. The same one-liner with an expired token is refused and writes nothing.

It removes its containers afterwards and re-applies site.yml to lab-monitoring with the lab's
own inventory, so no target of it is left for the tests that follow.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

from bootstrap_harness import Registrar, require_tools  # noqa: E402

pytestmark = pytest.mark.e2e

NEW_HOST = "lab-boot01"
NEW_ADDRESS = "10.89.200.21"
LATE_HOST = "lab-boot02"
LATE_ADDRESS = "10.89.200.22"


def _lab_inventory_copy(lab, registrar):
    """The lab source with registrations: registered hosts are reached as the lab's nodes are
    (SSH as the deploy user, the group infrastructure:lab's connection variables)."""
    path = registrar.source
    with open(path) as handle:
        source = yaml.safe_load(handle)
    source["registrations"] = "registrations/"
    with open(path, "w") as handle:
        yaml.safe_dump(source, handle, sort_keys=False)


def _container(lab, name, address):
    lab.podman("rm", "-f", "-t", "1", name, check=False, capture=True)
    lab.run_systemd_container(name, address)
    lab.wait_for(
        "systemd in %s" % name,
        lambda: (
            lab.podman("exec", name, "systemctl", "is-system-running", check=False, capture=True).stdout.strip()
            in ("running", "degraded")
        ),
        90,
        1.0,
    )
    # a server image has sshd running with its own host keys (the lab's base image has it
    # installed, without keys, disabled)
    lab.podman("exec", name, "sh", "-c", "ssh-keygen -A && systemctl enable --now ssh.service", capture=True)


def _one_liner(lab, registrar, name, token, timeout=900):
    command = (
        'curl -fsSk "$URL/v1/ca.pem" -o /tmp/accelmon-ca.pem && echo "$HASH  /tmp/accelmon-ca.pem" | sha256sum -c - && '
        'curl -fsSL --cacert /tmp/accelmon-ca.pem "$URL/bootstrap.sh" | '
        'sh -s -- --token="$TOKEN" --ca-hash=sha256:"$HASH" --no-cloud --wait-timeout=600'
    )
    return subprocess.run(
        [
            "podman",
            "exec",
            "-e",
            "URL=" + registrar.url,
            "-e",
            "HASH=" + registrar.ca_hash,
            "-e",
            "TOKEN=" + token,
            name,
            "sh",
            "-c",
            command,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _target(lab, address):
    for target in lab.targets():
        if (
            target["labels"].get("instance", "").startswith(address + ":")
            or target.get("scrapeUrl", "").find("//%s:" % address) >= 0
        ):
            return target
    return None


def _deploy_public_key(lab):
    with open(lab.DEPLOY_KEY + ".pub", encoding="utf-8") as handle:
        return handle.read().strip()


@pytest.fixture(scope="module")
def lab_registrar(lab, tmp_path_factory):
    require_tools()
    tmp_path = tmp_path_factory.mktemp("lab-bootstrap")
    env_extra = lab._ansible_env()
    deploy = [
        os.path.join(REPO, ".venv", "bin", "ansible-playbook"),
        os.path.join(REPO, "playbooks", "site.yml"),
        "-i",
        str(tmp_path / "registrar" / "inv" / "lab.accelmon.yml"),
        "--limit",
        "{host},%s" % lab.MONITORING,
        "-e",
        "accelmon_artifacts_dir=%s" % lab.ARTIFACTS,
    ]
    os.makedirs(tmp_path / "registrar")
    with open(lab.KNOWN_HOSTS, encoding="utf-8") as handle:
        known_hosts = handle.read()  # the deployer adds the registered hosts' keys: put back after
    registrar = Registrar(
        tmp_path / "registrar",
        inventory=os.path.dirname(lab.INVENTORY),
        source="lab.accelmon.yml",
        address=lab.GATEWAY,
        deploy_command=deploy,
        settings={
            "deploy_user": lab.DEPLOY_USER,
            "deploy_ssh_public_key": _deploy_public_key(lab),
            "known_hosts": lab.KNOWN_HOSTS,
        },
    )
    _lab_inventory_copy(lab, registrar)
    registrar.make_tls()
    registrar.install_code()
    registrar.start()
    env = registrar.env()
    env.update({k: v for k, v in env_extra.items() if k.startswith("ANSIBLE_") or k == "PATH"})
    log = open(tmp_path / "deployer.log", "w")
    deployer = subprocess.Popen(
        ["/usr/bin/python3", "-m", "ansible_collections.accelmon.monitoring.plugins.module_utils.bootstrap_deployer"],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    registrar.deployer_log = tmp_path / "deployer.log"
    try:
        yield registrar
    finally:
        deployer.terminate()
        deployer.wait(30)
        log.close()
        registrar.stop()
        lab.podman("rm", "-f", "-t", "1", NEW_HOST, LATE_HOST, check=False, capture=True)
        with open(lab.KNOWN_HOSTS, "w", encoding="utf-8") as handle:
            handle.write(known_hosts)
        # lab-monitoring back to the lab's own inventory: no target left behind for later tests
        rc, _output = lab.site_play(["--limit", lab.MONITORING], quiet=True)
        assert rc == 0, "restoring lab-monitoring failed; see %s" % lab.PLAY_LOG


def test_a_fresh_container_bootstraps_itself_and_is_scraped(lab, lab_registrar):
    registrar = lab_registrar
    token = registrar.token("lab-cpu", uses=1, primary=["infrastructure:lab/cpu"], groups=[], playbook=True)
    _container(lab, NEW_HOST, NEW_ADDRESS)
    # nothing of ours in the fresh container
    assert (
        lab.podman(
            "exec", NEW_HOST, "test", "-e", "/etc/systemd/system/node_exporter.service", check=False, capture=True
        ).returncode
        != 0
    )

    started = time.monotonic()
    proc = _one_liner(lab, registrar, NEW_HOST, token)
    script_s = time.monotonic() - started
    deploy_log = registrar.deployer_log.read_text() if registrar.deployer_log.exists() else ""
    assert proc.returncode == 0, proc.stderr + "\ndeployer:\n" + deploy_log[-3000:]
    assert "monitored: %s" % NEW_HOST in proc.stderr

    target = lab.wait_for(
        "%s scraped and up" % NEW_HOST,
        lambda: (_target(lab, NEW_ADDRESS) or {}).get("health") == "up" and _target(lab, NEW_ADDRESS),
        120,
        1.0,
    )
    total_s = time.monotonic() - started
    print(
        "\nbootstrap in the lab: one-liner to 'done' %.0f s, to Prometheus target up %.0f s (job %s)"
        % (script_s, total_s, target["labels"].get("job"))
    )
    with open(registrar.registrations / (NEW_HOST + ".yml")) as handle:
        doc = yaml.safe_load(handle)
    assert doc["address"] == NEW_ADDRESS and doc["primary_group"] == "infrastructure:lab/cpu"
    assert "vars" not in doc and "overrides" not in doc
    # the deploy user and key the registration answer carried
    keys = lab.podman("exec", NEW_HOST, "cat", "/home/accelmon/.ssh/authorized_keys", capture=True).stdout
    assert keys.strip() == _deploy_public_key(lab)
    # the host key it registered with is the one the controller now checks
    host_key = lab.podman("exec", NEW_HOST, "cat", "/etc/ssh/ssh_host_ed25519_key.pub", capture=True).stdout.split()
    with open(lab.KNOWN_HOSTS, encoding="utf-8") as handle:
        assert "%s,%s %s %s" % (NEW_HOST, NEW_ADDRESS, host_key[0], host_key[1]) in handle.read().splitlines()
    ok = subprocess.run(lab.ssh_argv_to(NEW_ADDRESS, "sudo", "-n", "true"), capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    sudoers = lab.podman("exec", NEW_HOST, "cat", "/etc/sudoers.d/accelmon-deploy", capture=True).stdout
    assert sudoers.strip() == "accelmon ALL=(ALL) NOPASSWD: ALL"


def test_an_expired_token_is_refused_in_the_lab_and_writes_nothing(lab, lab_registrar):
    registrar = lab_registrar
    token = registrar.token("lab-late", uses=1, ttl="1s", primary=["infrastructure:lab/cpu"], groups=[])
    time.sleep(1.5)
    _container(lab, LATE_HOST, LATE_ADDRESS)
    before = registrar.files()
    proc = _one_liner(lab, registrar, LATE_HOST, token, timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert "has expired" in proc.stderr
    assert registrar.files() == before
    assert _target(lab, LATE_ADDRESS) is None
