# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""The bootstrap path end to end on loopback, with the real parts.

The registrar role's TLS tasks (community.crypto) make a CA and a server certificate;
Debian's gunicorn serves the registrar, with exactly the module_utils files the role
installs, on an ephemeral loopback port over TLS; tokens come from the bootstrap_token
playbook; bootstrap.sh (run by dash, fetched with the pinned-CA one-liner) registers a host
whose hardware is a sysfs fixture (an HGX H100); ``ansible-inventory`` then shows the new
host with its groups and accelerators. Refusals (impostor CA, expired, revoked, used-up
tokens, bad names) exit non-zero with the reason and write nothing.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bootstrap_harness import RACK, SCRIPT, Registrar, load_sysfs_fixture, require_tools  # noqa: E402
from ansible_collections.accelmon.monitoring.plugins.module_utils import bootstrap_registrar as reg_module  # noqa: E402
from ansible_collections.accelmon.monitoring.plugins.module_utils import bootstrap_tokens as bt  # noqa: E402
from helpers import inventory_list  # noqa: E402


@pytest.fixture(scope="module")
def registrar(tmp_path_factory):
    require_tools()
    base = tmp_path_factory.mktemp("registrar")
    # the controller's known_hosts, where the deployer trusts each registered host's keys
    reg = Registrar(base, settings={"known_hosts": str(base / "controller_known_hosts")})
    reg.make_tls()
    reg.install_code()
    reg.start()
    sysfs = load_sysfs_fixture()
    reg.sysfs = os.path.join(sysfs.materialize("hgx-h100-8gpu", str(reg.base / "hw"), layout="real"), "sys")
    yield reg
    reg.stop()


def one_liner(reg, host, *args, ca_hash=None, machine_id="0123456789abcdef0123456789abcdef", wait=False):
    """The documented join command, run by dash, for a host whose state lives under the test dir."""
    state = reg.base / ("state-" + host)
    os.makedirs(state, exist_ok=True)
    (state / "machine-id").write_text(machine_id + "\n")
    ssh_dir = state / "ssh"  # the host's own SSH host key, as sshd's package generates it
    if not (ssh_dir / "ssh_host_ed25519_key.pub").exists():
        os.makedirs(ssh_dir, exist_ok=True)
        subprocess.run(
            [
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                "root@" + host,
                "-f",
                str(ssh_dir / "ssh_host_ed25519_key"),
            ],
            check=True,
        )
    ca_tmp = state / "ca-download.pem"
    command = (
        'curl -fsSk "$URL/v1/ca.pem" -o "$CATMP" && echo "$HASH  $CATMP" | sha256sum -c - >/dev/null && '
        'curl -fsSL --cacert "$CATMP" "$URL/bootstrap.sh" | dash -s -- "$@"'
    )
    env = dict(
        os.environ,
        URL=reg.url,
        CATMP=str(ca_tmp),
        HASH=reg.ca_hash,
        TMPDIR=str(state),
    )
    argv = [
        "--token=%s" % args[0],
        "--ca-hash=sha256:%s" % (ca_hash or reg.ca_hash),
        "--hostname=%s" % host,
        "--address=10.20.0.7",
        "--no-ssh",
        "--no-cloud",
        "--no-wait" if not wait else "--wait-timeout=60",
        "--state-dir=%s" % state,
        "--sysfs=%s" % reg.sysfs,
        "--machine-id-file=%s" % (state / "machine-id"),
        "--ssh-dir=%s" % ssh_dir,
        *args[1:],
    ]
    cmd = ["bash", "-c", command, "join", *argv]
    if wait:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_a_new_host_joins_with_the_one_liner_and_the_inventory_sees_it(registrar):
    token = registrar.token("rack-a02", uses=2, playbook=True)
    started = time.monotonic()
    proc = one_liner(registrar, "dc1-a02-gpu09", token)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert "registered as dc1-a02-gpu09" in proc.stderr
    print("bootstrap.sh registration through gunicorn+TLS: %.2f s" % elapsed)
    assert "dc1-a02-gpu09.yml" in registrar.files()

    data = inventory_list(registrar.source)
    hostvars = data["_meta"]["hostvars"]["dc1-a02-gpu09"]
    assert hostvars["ansible_host"] == "10.20.0.7"
    assert hostvars["accelmon_primary_group"] == RACK
    assert hostvars["accelmon_accelerators"] == [{"vendor": "nvidia", "model": "NVIDIA H100 80GB HBM3", "count": 8}]
    assert "dc1-a02-gpu09" in data["environment__staging"]["hosts"]
    assert "dc1-a02-gpu09" in data["infrastructure__onprem__dc1__hall_a__rack_a02"]["hosts"]

    # the same machine running the script again: idempotent, no use counted
    again = one_liner(registrar, "dc1-a02-gpu09", token)
    assert again.returncode == 0, again.stderr
    assert "already registered as dc1-a02-gpu09" in again.stderr
    status = json.loads(registrar.curl("/v1/register/" + _registration_id(registrar, "dc1-a02-gpu09")).stdout)
    assert status["status"] == "registered" and status["name"] == "dc1-a02-gpu09"

    # the host's SSH host key travelled with the registration (without its comment), for
    # the deployer's known_hosts; the inventory's registration file holds none
    pub = (registrar.base / "state-dc1-a02-gpu09" / "ssh" / "ssh_host_ed25519_key.pub").read_text().split()
    conn = bt.connect(registrar.db)
    try:
        keys = reg_module.registered_host_keys(conn, _registration_id(registrar, "dc1-a02-gpu09"))
    finally:
        conn.close()
    assert keys == [" ".join(pub[:2])]
    assert "ssh_host_keys" not in (registrar.registrations / "dc1-a02-gpu09.yml").read_text()


def _registration_id(reg, host):
    with open(reg.base / ("state-" + host) / "registration.json") as handle:
        return json.load(handle)["id"]


def test_an_impostor_ca_is_refused_before_anything_is_sent(registrar):
    token = registrar.token("impostor")
    before = registrar.files()
    proc = one_liner(registrar, "dc1-a02-gpu10", token, ca_hash="0" * 64)
    # the documented one-liner stops at sha256sum -c; the script itself refuses too
    assert proc.returncode != 0
    script = subprocess.run(
        [
            "dash",
            SCRIPT,
            "--token=%s" % token,
            "--registrar=%s" % registrar.url,
            "--ca-hash=sha256:" + "0" * 64,
            "--no-wait",
            "--state-dir=%s" % (registrar.base / "state-impostor"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert script.returncode == 2, script.stderr
    assert "not the pinned" in script.stderr and "nothing was sent" in script.stderr
    assert registrar.files() == before


@pytest.mark.parametrize(
    ("case", "exit_code", "fragment"),
    [
        ("expired", 3, "has expired"),
        ("revoked", 3, "has been revoked"),
        ("used_up", 3, "has no uses left"),
        ("unknown", 3, "not known to this registrar"),
        ("out_of_scope", 3, "outside the token's scope"),
        ("traversal", 3, "not a valid inventory name"),
        ("template", 3, "not a valid inventory name"),
        ("model_name", 3, "already belongs to a target"),
    ],
)
def test_refusals_exit_with_the_reason_and_write_nothing(registrar, case, exit_code, fragment):
    host, extra = "dc1-a02-refused", []
    if case == "expired":
        token = registrar.token("exp-%d" % time.time_ns(), ttl="1s")
        time.sleep(1.5)
    elif case == "revoked":
        token = registrar.token("rev", playbook=True)
        registrar.token_playbook(bootstrap_token_state="absent", bootstrap_token_id=token[:6])
    elif case == "used_up":
        token = registrar.token("once")
        assert one_liner(registrar, "dc1-a02-once", token, machine_id="1" * 32).returncode == 0
    elif case == "unknown":
        token = "zzzzzz.0123456789abcdef"
    else:
        token = registrar.token("scope-%s" % case, uses=5)
        if case == "out_of_scope":
            extra = ["--group=environment:production"]
        elif case == "traversal":
            host = "../../../etc/cron.d/x"
        elif case == "template":
            host = "{{lookup('pipe','id')}}"
        elif case == "model_name":
            host = "dc1-a01-gpu01"
    before = registrar.files()
    proc = one_liner(registrar, host, token, *extra, machine_id="2" * 32)
    assert proc.returncode == exit_code, proc.stderr
    assert "registration refused" in proc.stderr and fragment in proc.stderr, proc.stderr
    assert registrar.files() == before
    inventory_list(registrar.source)  # the inventory still loads


def test_hostile_http_is_refused_by_the_served_app(registrar):
    big = registrar.base / "big.json"
    big.write_bytes(b'{"token": "' + b"a" * 70000 + b'"}')
    proc = registrar.curl(
        "/v1/register",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        "@%s" % big,
    )
    assert proc.stdout.decode() == "413"
    proc = registrar.curl(
        "/v1/register",
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        '{"token": "abcdef.0123456789abcdef", "hostname": "x", "machine_id": "%s", "addresses": ["10.0.0.1"],'
        ' "vars": {"ansible_connection": "local"}}' % ("3" * 32),
    )
    assert json.loads(proc.stdout)["error"] == "forbidden_field"
    proc = registrar.curl("/v1/register/..%2F..%2Fetc%2Fpasswd", "-o", "/dev/null", "-w", "%{http_code}")
    assert proc.stdout.decode() == "404"


def test_concurrent_registrations_never_exceed_max_uses(registrar):
    token = registrar.token("burst", uses=3)

    def attempt(index):
        return one_liner(registrar, "dc1-a02-burst%02d" % index, token, machine_id="%032x" % (0xB000 + index))

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(attempt, range(8)))
    print("8 concurrent registrations through 2 gunicorn workers: %.2f s" % (time.monotonic() - started))
    assert sorted(r.returncode for r in results) == [0, 0, 0, 3, 3, 3, 3, 3]
    assert all("has no uses left" in r.stderr for r in results if r.returncode)
    assert len([f for f in registrar.files() if f.startswith("dc1-a02-burst")]) == 3


def test_metrics_count_what_happened(registrar):
    text = registrar.curl("/metrics").stdout.decode()
    assert 'accelmon_registrar_registration_requests_total{result="registered"}' in text
    assert 'accelmon_registrar_registration_requests_total{result="used_up"}' in text
    assert 'accelmon_registrar_tokens{state="active"}' in text


def test_bootstrap_script_is_posix_sh_by_shellcheck():
    shellcheck = shutil.which("shellcheck")
    if not shellcheck:
        if os.environ.get("CI") == "true":
            pytest.fail("shellcheck is missing (bash tests/tools/install_system_deps.sh)")
        pytest.skip("shellcheck is not installed")
    proc = subprocess.run([shellcheck, "-s", "sh", SCRIPT], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout


def test_the_script_waits_for_the_deployment_and_reports_it(registrar):
    token = registrar.token("deploy", uses=2)
    ok = one_liner(registrar, "dc1-a02-done01", token, machine_id="4" * 32, wait=True)
    bad = one_liner(registrar, "dc1-a02-fail01", token, machine_id="5" * 32, wait=True)
    deadline = time.time() + 30
    while not {"dc1-a02-done01.yml", "dc1-a02-fail01.yml"} <= set(registrar.files()):
        assert time.time() < deadline, "the scripts did not register"
        time.sleep(0.2)
    env = dict(os.environ, PYTHONPATH=str(registrar.lib), ACCELMON_REGISTRAR_CONFIG=registrar.config)
    deployer = subprocess.run(
        [
            "/usr/bin/python3",
            "-m",
            "ansible_collections.accelmon.monitoring.plugins.module_utils.bootstrap_deployer",
            "--once",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert deployer.returncode == 0, deployer.stderr
    assert "dc1-a02-done01 done" in deployer.stderr and "dc1-a02-fail01 failed" in deployer.stderr
    _out, err = ok.communicate(timeout=60)
    assert ok.returncode == 0, err
    assert "status: registered" in err and "monitored: dc1-a02-done01" in err
    _out, err = bad.communicate(timeout=60)
    assert bad.returncode == 4, err
    assert "deployment failed: deployment exited 1: node_exporter: port 9100 in use" in err
    # before deploying each host, the deployer wrote the SSH host key it registered with for
    # its name and address; both hosts said 10.20.0.7, so the one deployed last replaced the
    # other's key (a re-used address never keeps a stale key)
    known = (registrar.base / "controller_known_hosts").read_text().splitlines()
    lines = {}
    for host in ("dc1-a02-done01", "dc1-a02-fail01"):
        pub = (registrar.base / ("state-" + host) / "ssh" / "ssh_host_ed25519_key.pub").read_text().split()
        lines[host] = "%s,10.20.0.7 %s %s" % (host, pub[0], pub[1])
    assert len(known) == 1 and known[0] in lines.values(), known
