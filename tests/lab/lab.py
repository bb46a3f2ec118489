#!/usr/bin/env python
"""The local lab: podman systemd containers from the lab fleet model, site.yml, faults.

    lab.py up [--quiet] [--skip-play]   containers, artifacts, webhook sink, site.yml, summary
    lab.py status                       summary: URLs, targets up, rules loaded, alerts firing
    lab.py fault KIND [HOST] [--device N] [--celsius C] [--code XID]
                                        KIND: gpu-overtemp, gpu-vanish, node-down, clear
    lab.py down                         remove containers, network, webhook sink and ARA
    lab.py wait [--timeout S]           wait until every target is up and rules are loaded
    lab.py env                          `export` lines: ansible-playbook against the lab, into its ARA

Run through tests/lab/lab.sh (root, podman; see docs/lab.md). Every address used is the
lab's own: the containers on the podman network accelmon-lab and its gateway, where the
webhook sink and ARA's server (the history of the lab's playbook runs) listen. tests/e2e
and tests/benchmarks/alert_latency.py import this module.
Standard library only (plus ansible-inventory / ansible-playbook on PATH for `up`, and
ARA in the Python running it: tests/tools/ara_history.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "tools"))
import ara_history  # noqa: E402
import emulator_builds  # noqa: E402

INVENTORY = os.path.join(REPO, "inventory", "examples", "lab", "lab.accelmon.yml")
ANSIBLE_CFG = os.path.join(HERE, "ansible.cfg")
STATE = os.environ.get("ACCELMON_LAB_DIR", "/var/tmp/accelmon-lab")
ARTIFACTS = os.environ.get("ACCELMON_LAB_ARTIFACTS", os.path.join(STATE, "artifacts"))
WEBHOOK_FILE = os.path.join(STATE, "webhook.jsonl")
WEBHOOK_PID = os.path.join(STATE, "webhook.pid")
SITE_LOG = os.path.join(STATE, "site.log")  # the bring-up's site.yml run
PLAY_LOG = os.path.join(STATE, "play.log")  # later plays (tests, faults), so SITE_LOG stays the bring-up's
# SSH like a real fleet: a deploy user with sudo on every node, the lab's deploy key, and the
# nodes' host keys in a known_hosts file (inventory/examples/lab/fleet/groups.yml uses them).
SSH_DIR = os.path.join(STATE, "ssh")
DEPLOY_KEY = os.path.join(SSH_DIR, "id_ed25519")
KNOWN_HOSTS = os.path.join(SSH_DIR, "known_hosts")
DEPLOY_USER = "accelmon"
# ARA's server: every playbook run against the lab (site.yml, rollout.yml, ...) recorded in
# SQLite under ARA_DIR, its web UI on the gateway (tests/tools/ara_history.py).
ARA_DIR = os.path.join(STATE, "ara")
ARA_PID = os.path.join(STATE, "ara.pid")
ARA_LOG = os.path.join(STATE, "ara.log")
ARA_PORT = 8000

IMAGE = os.environ.get("ACCELMON_LAB_IMAGE", "localhost/accelmon-systemd:bookworm")
NETWORK = "accelmon-lab"
# Must match the addresses in inventory/examples/lab/fleet/targets.yml and the webhook URL
# of lab-monitoring's alertmanager_receivers there.
SUBNET = "10.89.200.0/24"
GATEWAY = "10.89.200.1"
WEBHOOK_PORT = 9099
MONITORING = "lab-monitoring"
PROM_PORT = 9090
AM_PORT = 9093
ALLSMI_PORT = 9401
DCGM_PORT = 9400
NODE_EXPORTER_UNIT = "node_exporter"
ALLSMI_UNIT = "all-smi"
FAULT_KINDS = (
    "gpu-overtemp",
    "gpu-vanish",
    "node-down",
    "allsmi-restart",
    "allsmi-stop",
    "gpu-xid",
    "mount-gone",
    "port-closed",
    "command-fails",
    "clear",
)
DEFAULT_FAULT_HOST = "lab-h200"
# The custom checks' faults (docs/checks.md) on a host whose `checks` policy watches them:
# every lab node has a tmpfs at DATASETS_MOUNT standing in for a shared dataset mount
# (mount-gone unmounts it), sshd is the listener port-closed stops, and the lab's command
# check fails while UNHEALTHY_FLAG exists (command-fails creates it).
DATASETS_MOUNT = "/mnt/datasets"
DATASETS_MOUNT_OPTIONS = "rw,nosuid,nodev,size=16m,mode=755"
SSH_UNIT = "ssh"
UNHEALTHY_FLAG = "/run/accelmon-lab/unhealthy"


# ----------------------------------------------------------------------------- helpers
def log(msg):
    print("lab: %s" % msg, flush=True)


def run(argv, check=True, capture=False, input_text=None, timeout=None, env=None):
    res = subprocess.run(
        argv,
        check=False,
        text=True,
        input=input_text,
        timeout=timeout,
        env=env,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.PIPE if capture else None,
    )
    if check and res.returncode != 0:
        detail = ("\n" + (res.stderr or res.stdout or "").strip()) if capture else ""
        raise SystemExit("lab: command failed (%d): %s%s" % (res.returncode, " ".join(argv), detail))
    return res


def _unwrap(value):
    """ansible-inventory (core 2.19) prints inventory strings as {"__ansible_unsafe": ...}."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


_HOSTS = None


def lab_hosts():
    """{inventory name: {address, accelerators, primary_group, team, ...}} from the lab model."""
    global _HOSTS
    if _HOSTS is None:
        cache = os.path.join(STATE, "hosts.json")
        inv_mtime = max(
            os.path.getmtime(os.path.join(dp, f)) for dp, _unused, fs in os.walk(os.path.dirname(INVENTORY)) for f in fs
        )
        if os.path.exists(cache) and os.path.getmtime(cache) >= inv_mtime:
            with open(cache, encoding="utf-8") as fh:
                _HOSTS = json.load(fh)
            # written by an older lab.py (without "checks"): read the inventory again
            if all("checks" in h for h in _HOSTS.values()):
                return _HOSTS
        out = run(["ansible-inventory", "-i", INVENTORY, "--list"], capture=True, env=_ansible_env()).stdout
        data = _unwrap(json.loads(out))
        hostvars = data["_meta"]["hostvars"]
        _HOSTS = {}
        for name, hv in sorted(hostvars.items()):
            policy = hv.get("accelmon_effective_policy") or {}
            _HOSTS[name] = {
                "address": hv["ansible_host"],
                "accelerators": hv.get("accelmon_accelerators") or [],
                "primary_group": hv.get("accelmon_primary_group"),
                "team": (policy.get("alerting") or {}).get("team"),
                "environment": [
                    g.split(":", 1)[1] for g in hv.get("accelmon_groups", []) if g.startswith("environment:")
                ],
                "dcgm": bool(hv.get("dcgm_exporter_force")),
                "checks": {k: v for k, v in (policy.get("checks") or {}).items() if v.get("enabled")},
                "prometheus_version": hv.get("prometheus_version"),
                "prometheus_web_local_assets": hv.get("prometheus_web_local_assets") or "",
                "alert_rules": {
                    k: {
                        "thresholds": v.get("thresholds"),
                        "for": v.get("for"),
                        "severity": v.get("severity"),
                        "enabled": v.get("enabled"),
                    }
                    for k, v in (policy.get("alert_rules") or {}).items()
                },
            }
        os.makedirs(STATE, exist_ok=True)
        with open(cache, "w", encoding="utf-8") as fh:
            json.dump(_HOSTS, fh, indent=1, sort_keys=True)
    return _HOSTS


def address(host):
    return lab_hosts()[host]["address"]


def prom_url():
    return "http://%s:%d" % (address(MONITORING), PROM_PORT)


def am_url():
    return "http://%s:%d" % (address(MONITORING), AM_PORT)


def http(method, url, body=None, timeout=5.0):
    data = None
    headers = {}
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (lab addresses only)
        raw = resp.read()
    try:
        return json.loads(raw.decode() or "null")
    except ValueError:
        return raw.decode()


def prom(path, **params):
    url = prom_url() + path + ("?" + urllib.parse.urlencode(params) if params else "")
    doc = http("GET", url)
    if isinstance(doc, dict) and doc.get("status") == "success":
        return doc["data"]
    raise RuntimeError("Prometheus %s: %r" % (path, doc))


def am(path):
    return http("GET", am_url() + path)


def _ansible_env():
    env = dict(os.environ)
    env.setdefault("ANSIBLE_CONFIG", ANSIBLE_CFG)
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(REPO, ".build", "collections"))
    env.setdefault("ANSIBLE_NOCOLOR", "1")
    env.setdefault("ANSIBLE_FORCE_COLOR", "0")
    # SSH to the nodes with the lab's deploy key, host keys checked against its known_hosts.
    env.setdefault("ANSIBLE_PRIVATE_KEY_FILE", DEPLOY_KEY)
    env.setdefault("ANSIBLE_SSH_COMMON_ARGS", "-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes" % KNOWN_HOSTS)
    # Record into the lab's ARA while it runs (ACCELMON_LAB_ARA=0: do not).
    if env.get("ACCELMON_LAB_ARA") != "0" and ara_running():
        for key, value in ara_history.client_env(ara_url()).items():
            env.setdefault(key, value)
    return env


# Printed by `lab.sh env`: what ansible-playbook needs to reach the lab and record into its ARA.
ENV_KEYS = (
    "ANSIBLE_CONFIG",
    "ANSIBLE_COLLECTIONS_PATH",
    "ANSIBLE_PRIVATE_KEY_FILE",
    "ANSIBLE_SSH_COMMON_ARGS",
    "ANSIBLE_CALLBACK_PLUGINS",
    "ANSIBLE_ACTION_PLUGINS",
    "ARA_API_CLIENT",
    "ARA_API_SERVER",
    "ARA_CALLBACK_THREADS",
)


def cmd_env(_args):
    env = _ansible_env()
    print('export PATH=%s:"$PATH"' % shlex.quote(os.path.dirname(sys.executable)))
    for key in ENV_KEYS:
        if key in env:
            print("export %s=%s" % (key, shlex.quote(env[key])))
    if not ara_running():
        print("# ARA's server is not running (lab.sh up starts it): runs are not recorded")
    return 0


def wait_for(what, fn, timeout, interval=1.0):
    """Poll fn() until it returns a truthy value; SystemExit/AssertionError-free: raise TimeoutError."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = fn()
            if value:
                return value
        except (OSError, urllib.error.URLError, RuntimeError, ValueError) as exc:
            last_exc = exc
        if time.monotonic() >= deadline:
            raise TimeoutError(
                "timed out after %ss waiting for %s%s"
                % (timeout, what, " (last error: %s)" % last_exc if last_exc else "")
            )
        time.sleep(interval)


# ----------------------------------------------------------------------------- webhook
def read_webhook():
    """Every notification received so far: [{received_at, path, payload}]."""
    if not os.path.exists(WEBHOOK_FILE):
        return []
    out = []
    with open(WEBHOOK_FILE, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out


def webhook_alerts(since=0.0):
    """Flattened alerts of the notifications received at or after `since` (unix time):
    [{received_at, status, labels, annotations, startsAt}]."""
    out = []
    for note in read_webhook():
        if note["received_at"] < since:
            continue
        for alert in (note.get("payload") or {}).get("alerts") or []:
            out.append(
                {
                    "received_at": note["received_at"],
                    "status": alert.get("status"),
                    "labels": alert.get("labels") or {},
                    "annotations": alert.get("annotations") or {},
                    "startsAt": alert.get("startsAt"),
                }
            )
    return out


def webhook_alert(since, status="firing", **labels):
    """The first alert received at or after `since` (unix time) with this status and these
    labels, or None: what the end-to-end tests wait for."""
    for alert in webhook_alerts(since):
        if alert["status"] == status and all(alert["labels"].get(k) == v for k, v in labels.items()):
            return alert
    return None


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def webhook_running():
    try:
        with open(WEBHOOK_PID, encoding="utf-8") as fh:
            pid = int(fh.read().strip())
    except (OSError, ValueError):
        return None
    return pid if _pid_alive(pid) else None


def start_webhook():
    if webhook_running():
        return
    os.makedirs(STATE, exist_ok=True)
    logf = open(os.path.join(STATE, "webhook.log"), "a", encoding="utf-8")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            os.path.join(HERE, "webhook_sink.py"),
            "--bind",
            GATEWAY,
            "--port",
            str(WEBHOOK_PORT),
            "--out",
            WEBHOOK_FILE,
        ],
        stdout=logf,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    with open(WEBHOOK_PID, "w", encoding="utf-8") as fh:
        fh.write(str(proc.pid))
    wait_for("the webhook sink", lambda: http("GET", "http://%s:%d/" % (GATEWAY, WEBHOOK_PORT)) == "ok\n", 15, 0.2)
    log("webhook sink on http://%s:%d (pid %d) -> %s" % (GATEWAY, WEBHOOK_PORT, proc.pid, WEBHOOK_FILE))


def stop_webhook():
    pid = webhook_running()
    if pid:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    for path in (WEBHOOK_PID,):
        if os.path.exists(path):
            os.remove(path)


# ----------------------------------------------------------------------------- ARA
def ara_url():
    return "http://%s:%d" % (GATEWAY, ARA_PORT)


def ara_running():
    try:
        with open(ARA_PID, encoding="utf-8") as fh:
            pid = int(fh.read().strip())
    except (OSError, ValueError):
        return None
    return pid if _pid_alive(pid) else None


def start_ara():
    """ARA's server on the gateway (needs the network), SQLite in ARA_DIR; idempotent."""
    if ara_running():
        return
    if not ara_history.available():
        raise SystemExit("lab: ARA is not installed in %s; pip install -r requirements/test.txt" % sys.executable)
    proc = ara_history.start_server(ARA_DIR, GATEWAY, ARA_PORT, ARA_LOG, detach=True)
    with open(ARA_PID, "w", encoding="utf-8") as fh:
        fh.write(str(proc.pid))
    log("ARA on %s/ (pid %d), playbook runs recorded in %s" % (ara_url(), proc.pid, ARA_DIR))


def stop_ara():
    pid = ara_running()
    if pid:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    if os.path.exists(ARA_PID):
        os.remove(ARA_PID)


def ara_run_count():
    """How many playbook runs ARA holds (None when it does not answer)."""
    try:
        return http("GET", ara_url() + "/api/v1/playbooks?limit=1")["count"]
    except (OSError, urllib.error.URLError, KeyError, TypeError):
        return None


# ----------------------------------------------------------------------------- containers
def podman(*args, **kw):
    return run(["podman", *args], **kw)


def container_state(name):
    res = podman("container", "inspect", "--format", "{{.State.Status}}", name, check=False, capture=True)
    return res.stdout.strip() if res.returncode == 0 else None


def ensure_network():
    if podman("network", "exists", NETWORK, check=False).returncode != 0:
        podman("network", "create", "--subnet", SUBNET, "--gateway", GATEWAY, NETWORK, capture=True)
        log("network %s (%s) created" % (NETWORK, SUBNET))


def run_systemd_container(name, address, network=NETWORK, image=IMAGE, extra=()):
    """Start a systemd host (the lab's base image) named name at address on network;
    extra: more `podman run` options."""
    podman(
        "run", "-d", "--name", name, "--hostname", name, "--network", network, "--ip", address,
        "--systemd", "always", *extra, image, "/sbin/init", capture=True,
    )  # fmt: skip


def ensure_containers():
    for name, host in lab_hosts().items():
        state = container_state(name)
        if state == "running":
            continue
        if state is not None:
            podman("start", name, capture=True)
            log("container %s started" % name)
            continue
        # every lab node has the tmpfs the lab's mount check watches (a dataset mount's stand-in)
        run_systemd_container(name, host["address"], extra=("--tmpfs", "%s:%s" % (DATASETS_MOUNT, DATASETS_MOUNT_OPTIONS)))
        log("container %s (%s) created" % (name, host["address"]))
    for name in lab_hosts():
        wait_for(
            "systemd in %s" % name,
            lambda n=name: (
                podman("exec", n, "systemctl", "is-system-running", check=False, capture=True).stdout.strip()
                in ("running", "degraded")
            ),
            90,
            1.0,
        )


def write_emulator_configs():
    """/etc/accel-emulator/config.json on every accelerator host: its declared devices."""
    for name, host in lab_hosts().items():
        if not host["accelerators"]:
            continue
        cfg = {
            "devices": [
                {"vendor": a["vendor"], "model": a["model"], "count": a.get("count", 1)} for a in host["accelerators"]
            ],
            "seed": sum(ord(c) for c in name),
            # all-smi serves an empty body until its first collection: make it last longer
            # than one scrape (5 s) so every restart shows it to Prometheus
            "startup_delay": 6,
        }
        podman(
            "exec",
            "-i",
            name,
            "sh",
            "-c",
            "mkdir -p /etc/accel-emulator && cat >/etc/accel-emulator/config.json.tmp"
            " && mv /etc/accel-emulator/config.json.tmp /etc/accel-emulator/config.json",
            input_text=json.dumps(cfg, indent=1) + "\n",
            capture=True,
        )


# Debian builds Alertmanager to read its default notification templates from this
# directory instead of embedding them (upstream embeds them). The lab's "upstream" archive
# holds Debian's binary (build_central_artifacts.sh), so the monitoring host gets the files.
DEBIAN_AM_ASSETS = "/usr/share/prometheus/alertmanager"


def seed_debian_assets():
    seed_prometheus_web()
    files = [f for f in ("default.tmpl", "email.tmpl") if os.path.exists(os.path.join(DEBIAN_AM_ASSETS, f))]
    if not files:
        return
    podman("exec", MONITORING, "mkdir", "-p", DEBIAN_AM_ASSETS, capture=True)
    for name in files:
        podman(
            "cp", os.path.join(DEBIAN_AM_ASSETS, name), "%s:%s/%s" % (MONITORING, DEBIAN_AM_ASSETS, name), capture=True
        )


def seed_prometheus_web():
    """Debian's Prometheus has no embedded UI: copy the web assets that
    build_central_artifacts.sh carried into the artifacts (links resolved) to the directory
    the monitoring host's prometheus_web_local_assets names (the role passes it as
    --web.local-assets)."""
    host = lab_hosts()[MONITORING]
    dest = host.get("prometheus_web_local_assets")
    if not dest:
        return
    src = os.path.join(ARTIFACTS, "prometheus", str(host.get("prometheus_version")), "web")
    if not os.path.isdir(os.path.join(src, "templates")):
        raise SystemExit(
            "lab: %s has prometheus_web_local_assets=%s but %s has no web assets; "
            "run tests/lab/build_central_artifacts.sh %s" % (MONITORING, dest, src, ARTIFACTS)
        )
    podman("exec", MONITORING, "mkdir", "-p", dest, capture=True)
    podman("cp", src + "/.", "%s:%s/" % (MONITORING, dest), capture=True)


def ssh_argv(host, *command, known_hosts=KNOWN_HOSTS):
    """ssh to a lab node as the deploy user, host key checked against `known_hosts`."""
    return ssh_argv_to(address(host), *command, known_hosts=known_hosts)


def ssh_argv_to(addr, *command, known_hosts=KNOWN_HOSTS):
    """ssh to an address as the lab's deploy user, host key checked against `known_hosts`."""
    return [
        "ssh",
        "-i",
        DEPLOY_KEY,
        "-o",
        "UserKnownHostsFile=%s" % known_hosts,
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=5",
        "%s@%s" % (DEPLOY_USER, addr),
        *command,
    ]


def ensure_deploy_key():
    os.makedirs(SSH_DIR, mode=0o700, exist_ok=True)
    if not os.path.exists(DEPLOY_KEY):
        run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "accelmon-lab-deploy", "-f", DEPLOY_KEY], capture=True
        )
        log("deploy key %s generated" % DEPLOY_KEY)
    with open(DEPLOY_KEY + ".pub", encoding="utf-8") as fh:
        return fh.read().strip()


# Run in each container through podman (it has no SSH identity yet): its own host keys,
# the deploy user with passwordless sudo and the deploy key, sshd started.
_SSHD_SETUP = r"""set -e
ssh-keygen -A >/dev/null
id -u {user} >/dev/null 2>&1 || useradd --create-home --shell /bin/bash {user}
install -d -m 0700 -o {user} -g {user} /home/{user}/.ssh
printf '%s\n' "$1" >/home/{user}/.ssh/authorized_keys
chown {user}:{user} /home/{user}/.ssh/authorized_keys
chmod 0600 /home/{user}/.ssh/authorized_keys
printf '{user} ALL=(ALL) NOPASSWD:ALL\n' >/etc/sudoers.d/{user}
chmod 0440 /etc/sudoers.d/{user}
systemctl enable --now ssh.service >/dev/null 2>&1
systemctl is-active --quiet ssh.service
cat /etc/ssh/ssh_host_ed25519_key.pub
""".format(user=DEPLOY_USER)


def ensure_ssh():
    """sshd, the deploy user and key on every node; KNOWN_HOSTS from ssh-keyscan, each key
    checked against the one the container holds (read through podman, out of band)."""
    for tool in ("ssh", "ssh-keygen", "ssh-keyscan"):
        if not shutil.which(tool):
            raise SystemExit("lab: %s not found; install openssh-client (make system-deps)" % tool)
    pubkey = ensure_deploy_key()
    expected = {}
    for name in lab_hosts():
        res = podman("exec", name, "sh", "-c", _SSHD_SETUP, "sshd-setup", pubkey, capture=True, check=False)
        if res.returncode != 0 or not res.stdout.strip():
            raise SystemExit(
                "lab: sshd set-up failed in %s (rc %d): %s; is openssh-server in %s? "
                "(FORCE=1 tests/tools/build_base_image.sh)" % (name, res.returncode, res.stderr.strip(), IMAGE)
            )
        keytype, key = res.stdout.split()[:2]
        expected[address(name)] = (keytype, key)
    lines = []
    for addr, (keytype, key) in sorted(expected.items()):
        scanned = wait_for(
            "sshd on %s" % addr,
            lambda a=addr: run(
                ["ssh-keyscan", "-T", "3", "-t", "ed25519", a], capture=True, check=False
            ).stdout.strip(),
            30,
            0.5,
        )
        got = [ln.split()[1:3] for ln in scanned.splitlines() if ln and not ln.startswith("#")]
        if [keytype, key] not in got:
            raise SystemExit(
                "lab: the host key %s presents (%s) is not the container's own (%s %s)" % (addr, got, keytype, key)
            )
        lines.append("%s %s %s" % (addr, keytype, key))
    tmp = KNOWN_HOSTS + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    os.replace(tmp, KNOWN_HOSTS)
    log("sshd on %d nodes, deploy user %s, host keys in %s" % (len(lines), DEPLOY_USER, KNOWN_HOSTS))


def build_artifacts():
    os.makedirs(ARTIFACTS, exist_ok=True)
    run(["bash", os.path.join(REPO, "tests", "tools", "build_artifacts.sh"), ARTIFACTS], capture=True)
    run(["bash", os.path.join(HERE, "build_central_artifacts.sh"), ARTIFACTS], capture=True)
    # the all-smi releases a rollout in the lab upgrades to (docs/rollouts.md): 0.26.0, and a
    # broken 0.27.0 (every device lost) that a canary must catch and roll back
    emulator_builds.write_artifact(ARTIFACTS, "0.26.0")
    emulator_builds.write_artifact(ARTIFACTS, "0.27.0", broken=True)
    log("offline artifacts in %s" % ARTIFACTS)


def site_play(extra_args=(), quiet=False, logfile=PLAY_LOG, inventory=INVENTORY, playbook="site.yml"):
    """Run playbooks/site.yml (or another of playbooks/) against the lab; returns (rc, output)."""
    argv = [
        "ansible-playbook",
        os.path.join(REPO, "playbooks", playbook),
        "-i",
        inventory,
        "-e",
        "accelmon_artifacts_dir=%s" % ARTIFACTS,
        *extra_args,
    ]
    os.makedirs(STATE, exist_ok=True)
    start = time.monotonic()
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_ansible_env(), cwd=REPO
    )
    lines = []
    with open(logfile, "w", encoding="utf-8") as fh:
        for line in proc.stdout:
            lines.append(line)
            fh.write(line)
            if not quiet:
                sys.stdout.write(line)
                sys.stdout.flush()
    rc = proc.wait()
    output = "".join(lines)
    if quiet:
        recap = output[output.rfind("PLAY RECAP") :] if "PLAY RECAP" in output else output[-3000:]
        sys.stdout.write(recap)
    log("%s rc=%d in %.0f s (log: %s)" % (playbook, rc, time.monotonic() - start, logfile))
    return rc, output


# ----------------------------------------------------------------------------- status
def targets():
    return prom("/api/v1/targets", state="active")["activeTargets"]


def rules_loaded():
    groups = prom("/api/v1/rules")["groups"]
    return len(groups), sum(len(g["rules"]) for g in groups)


def all_targets_up():
    tg = targets()
    return bool(tg) and all(t["health"] == "up" for t in tg)


def wait_ready(timeout=120):
    wait_for("every target up", all_targets_up, timeout, 2.0)
    wait_for("rules loaded", lambda: rules_loaded()[1] > 0, timeout, 2.0)


def firing_alerts():
    return [a for a in prom("/api/v1/alerts")["alerts"] if a["state"] == "firing"]


# The pages the summary sends a user to, per UI flavour: (kind, path, what the page shows).
# Upstream Prometheus embeds its React UI (/targets, /alerts, /graph); Debian's build serves
# the classic UI under /classic/ from --web.local-assets (prometheus_web_local_assets).
PROM_UI_FLAVOURS = (
    ("react", (("targets", "/targets"), ("alerts", "/alerts"), ("rules", "/rules"), ("graph", "/graph"))),
    (
        "classic",
        (
            ("targets", "/classic/targets"),
            ("alerts", "/classic/alerts"),
            ("rules", "/classic/rules"),
            ("graph", "/classic/graph"),
        ),
    ),
)
# Alertmanager's own UI (upstream embeds it; Debian's package has none, see docs/lab.md).
AM_UI_PATH = "/#/alerts"


def http_status(url, timeout=5.0):
    """(status, content type) of a GET, following redirects; (None, error) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (lab addresses only)
            resp.read(65536)
            return resp.status, resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", "") if exc.headers else ""
    except (OSError, urllib.error.URLError) as exc:
        return None, str(exc)


def _answers_html(url):
    status, ctype = http_status(url)
    return status == 200 and ctype.startswith("text/html")


def _has_am_ui():
    """Upstream's Alertmanager serves its Elm app at /; Debian's build answers 404 there."""
    status, ctype = http_status(am_url() + "/")
    return status == 200 and ctype.startswith("text/html")


def amtool_commands():
    """The amtool commands the summary prints where Alertmanager has no UI (amtool from
    Debian's prometheus-alertmanager package on the host, make system-deps)."""
    base = ["amtool", "--alertmanager.url=%s" % am_url()]
    return [base + ["alert", "query"], base + ["silence", "query"]]


def web_links():
    """Every URL the summary prints, each answering now:
    [{"name", "kind", "url"}]; kind is <component>-<page>[-<flavour>] (tests/e2e/test_lab_web.py
    opens each in a browser and checks what it shows). Pages that do not answer are left out."""
    links = []
    for flavour, pages in PROM_UI_FLAVOURS:
        if _answers_html(prom_url() + pages[0][1]):
            for page, path in pages:
                url = prom_url() + path
                if _answers_html(url):
                    links.append(
                        {"name": "Prometheus %s" % page, "kind": "prometheus-%s-%s" % (page, flavour), "url": url}
                    )
            break
    if _has_am_ui():
        links.append({"name": "Alertmanager alerts", "kind": "alertmanager-alerts-ui", "url": am_url() + AM_UI_PATH})
    elif http_status(am_url() + "/api/v2/alerts")[0] == 200:
        links.append({"name": "Alertmanager API", "kind": "alertmanager-api", "url": am_url() + "/api/v2/alerts"})
    if ara_running() and _answers_html(ara_url() + "/"):
        links.append({"name": "ARA playbook runs", "kind": "ara-playbooks", "url": ara_url() + "/"})
    return links


def summary_text():
    """The summary `lab.sh up` and `lab.sh status` print; (text, rc)."""
    out = []
    p = out.append
    hosts = lab_hosts()
    p("\n== accelmon lab ==")
    for name, host in hosts.items():
        state = container_state(name) or "absent"
        acc = ", ".join("%sx %s" % (a.get("count", 1), a["model"]) for a in host["accelerators"]) or "no accelerators"
        p(
            "  %-15s %-13s %-9s %-26s team=%s (%s)"
            % (name, host["address"], state, host["primary_group"], host["team"], acc)
        )
    links = web_links()
    prom_links = [lk for lk in links if lk["kind"].startswith("prometheus-")]
    if prom_links:
        p("  Prometheus UI:")
        for lk in prom_links:
            p("    %-8s %s" % (lk["name"].split()[-1], lk["url"]))
    else:
        p("  Prometheus UI: none answers at %s (API: %s/api/v1/)" % (prom_url(), prom_url()))
    am_links = [lk for lk in links if lk["kind"].startswith("alertmanager-")]
    if any(lk["kind"] == "alertmanager-alerts-ui" for lk in am_links):
        p("  Alertmanager UI: %s" % am_links[0]["url"])
    else:
        p("  Alertmanager: no web UI in this build (Debian's); alerts and silences with amtool:")
        for argv in amtool_commands():
            p("    %s" % " ".join(argv))
        for lk in am_links:
            p("    API: %s" % lk["url"])
    p(
        "  Webhook sink: Alertmanager's receiver on %s:%d -> %s (%s, %d notifications)"
        % (GATEWAY, WEBHOOK_PORT, WEBHOOK_FILE, "running" if webhook_running() else "STOPPED", len(read_webhook()))
    )
    ara_links = [lk for lk in links if lk["kind"] == "ara-playbooks"]
    if ara_links:
        p("  ARA (history of the lab's playbook runs): %s (%d runs)" % (ara_links[0]["url"], ara_run_count() or 0))
        p('    record your own: eval "$(bash tests/lab/lab.sh env)"; ansible-playbook ... (docs/lab.md)')
    else:
        p("  ARA: not running (lab.sh up starts it); playbook runs are not recorded")
    try:
        tg = targets()
    except (OSError, urllib.error.URLError, RuntimeError) as exc:
        p("  Prometheus not reachable: %s" % exc)
        return "\n".join(out), 1
    by_job = {}
    for t in tg:
        by_job.setdefault(t["labels"].get("job"), []).append(t)
    up = sum(1 for t in tg if t["health"] == "up")
    p("  Targets up: %d/%d" % (up, len(tg)))
    for job in sorted(by_job):
        ts = by_job[job]
        p(
            "    %-13s %d/%d  %s"
            % (
                job,
                sum(1 for t in ts if t["health"] == "up"),
                len(ts),
                " ".join(
                    "%s%s" % (t["labels"].get("instance"), "" if t["health"] == "up" else "(DOWN)")
                    for t in sorted(ts, key=lambda t: t["labels"].get("instance", ""))
                ),
            )
        )
    ngroups, nrules = rules_loaded()
    p("  Rules loaded: %d rules in %d groups" % (nrules, ngroups))
    alerts = prom("/api/v1/alerts")["alerts"]
    firing = [a for a in alerts if a["state"] == "firing"]
    pending = [a for a in alerts if a["state"] == "pending"]
    p("  Alerts firing: %d (pending: %d)" % (len(firing), len(pending)))
    for a in sorted(
        firing + pending, key=lambda a: (a["state"], a["labels"].get("alertname"), a["labels"].get("instance", ""))
    ):
        lb = a["labels"]
        extra = " gpu_index=%s" % lb["gpu_index"] if "gpu_index" in lb else ""
        p(
            "    %-8s %-28s instance=%s severity=%s team=%s%s"
            % (a["state"], lb.get("alertname"), lb.get("instance"), lb.get("severity"), lb.get("team"), extra)
        )
    try:
        am_alerts = am("/api/v2/alerts")
        sup = sum(1 for a in am_alerts if a["status"]["state"] == "suppressed")
        p("  Alertmanager: %d alerts (%d suppressed by inhibition/silence)" % (len(am_alerts), sup))
    except (OSError, urllib.error.URLError) as exc:
        p("  Alertmanager not reachable: %s" % exc)
    return "\n".join(out), 0


def summary():
    text, rc = summary_text()
    print(text, flush=True)
    return rc


# ----------------------------------------------------------------------------- faults
def _exporter_ports(host):
    h = lab_hosts()[host]
    ports = []
    if h["accelerators"]:
        ports.append(ALLSMI_PORT)
    if h["dcgm"]:
        ports.append(DCGM_PORT)
    return ports


def post_fault(host, fault):
    ports = _exporter_ports(host)
    if not ports:
        raise SystemExit("lab: %s has no accelerator exporter (no accelerators)" % host)
    for port in ports:
        http("POST", "http://%s:%d/-/fault" % (address(host), port), fault)


def inject(kind, host=DEFAULT_FAULT_HOST, device=0, celsius=92.0, code=79):
    """Inject a fault; returns the unix time just before the fault took effect."""
    if kind == "clear":
        t0 = time.time()
        clear(host)
        return t0
    if host not in lab_hosts():
        raise SystemExit("lab: unknown host %s (one of %s)" % (host, ", ".join(lab_hosts())))
    t0 = time.time()
    if kind == "gpu-overtemp":
        post_fault(host, {"type": "temperature", "device": device, "celsius": celsius})
    elif kind == "gpu-vanish":
        post_fault(host, {"type": "vanish", "device": device})
    elif kind == "node-down":
        podman("exec", host, "systemctl", "stop", NODE_EXPORTER_UNIT, capture=True)
    elif kind == "allsmi-restart":
        podman("exec", host, "systemctl", "restart", ALLSMI_UNIT, capture=True)
    elif kind == "allsmi-stop":
        podman("exec", host, "systemctl", "stop", ALLSMI_UNIT, capture=True)
    elif kind == "gpu-xid":
        if not lab_hosts()[host]["dcgm"]:
            raise SystemExit("lab: %s has no dcgm-exporter" % host)
        http("POST", "http://%s:%d/-/fault" % (address(host), DCGM_PORT), {"type": "xid", "device": device, "code": code})
    elif kind == "mount-gone":
        if podman("exec", host, "mountpoint", "-q", DATASETS_MOUNT, check=False, capture=True).returncode != 0:
            raise SystemExit("lab: %s is not mounted on %s (lab.sh fault clear mounts it)" % (DATASETS_MOUNT, host))
        in_mount_ns(host, "umount", DATASETS_MOUNT)
    elif kind == "port-closed":
        podman("exec", host, "systemctl", "stop", SSH_UNIT, capture=True)
    elif kind == "command-fails":
        flag_dir = os.path.dirname(UNHEALTHY_FLAG)
        podman("exec", host, "sh", "-c", 'mkdir -p "$1" && touch "$2"', "fault", flag_dir, UNHEALTHY_FLAG, capture=True)
    else:
        raise SystemExit("lab: unknown fault %s (one of %s)" % (kind, ", ".join(FAULT_KINDS)))
    return t0


def clear(host=None):
    """Remove every fault (HTTP faults, stopped units, stopped container, the checks' faults)."""
    for name in [host] if host and host != "all" else list(lab_hosts()):
        if container_state(name) != "running":
            podman("start", name, capture=True)
        for port in _exporter_ports(name):
            try:
                http("DELETE", "http://%s:%d/-/fault" % (address(name), port))
            except (OSError, urllib.error.URLError):
                pass
        # one exec per host: the stopped units started, the command check's flag removed;
        # exit 3 when the dataset mount is gone (mounted again from outside, below)
        units = [NODE_EXPORTER_UNIT, SSH_UNIT] + ([ALLSMI_UNIT] if lab_hosts()[name]["accelerators"] else [])
        res = podman(
            "exec",
            name,
            "sh",
            "-c",
            'for u in $1; do systemctl start "$u"; done; rm -f "$2"; mountpoint -q "$3" || exit 3',
            "clear",
            " ".join(units),
            UNHEALTHY_FLAG,
            DATASETS_MOUNT,
            capture=True,
            check=False,
        )
        if res.returncode == 3:
            in_mount_ns(
                name,
                "sh",
                "-c",
                'mkdir -p "$1" && mount -t tmpfs -o "$2" tmpfs "$1"',
                "mount",
                DATASETS_MOUNT,
                DATASETS_MOUNT_OPTIONS,
            )


def in_mount_ns(host, *argv):
    """Run argv (the container's own binaries) in the container's mount namespace with the
    host's root privileges: a container has no CAP_SYS_ADMIN to (un)mount by itself."""
    pid = podman("container", "inspect", "--format", "{{.State.Pid}}", host, capture=True).stdout.strip()
    return run(["nsenter", "--target", pid, "--mount", "--", *argv], capture=True)


# ----------------------------------------------------------------------------- commands
def cmd_up(args):
    if os.geteuid() != 0:
        raise SystemExit("lab: must run as root (podman, debootstrap)")
    t0 = time.monotonic()
    run(["bash", os.path.join(REPO, "tests", "tools", "setup_podman.sh")], capture=True)
    run(["bash", os.path.join(REPO, "tests", "tools", "build_base_image.sh")], capture=True)
    lab_hosts()
    ensure_network()
    ensure_containers()
    write_emulator_configs()
    ensure_ssh()
    build_artifacts()
    seed_debian_assets()
    start_webhook()
    start_ara()
    if not args.skip_play:
        rc, _unused = site_play(quiet=args.quiet, logfile=SITE_LOG)
        if rc != 0:
            raise SystemExit("lab: site.yml failed (rc %d); log: %s" % (rc, SITE_LOG))
        wait_ready(args.timeout)
    log("lab up in %.0f s" % (time.monotonic() - t0))
    return summary()


def cmd_down(_args):
    stop_webhook()
    stop_ara()
    names = [n for n in lab_hosts() if container_state(n) is not None]
    if names:
        podman("rm", "-f", "-t", "2", *names, capture=True)
        log("removed %s" % " ".join(names))
    if podman("network", "exists", NETWORK, check=False).returncode == 0:
        podman("network", "rm", NETWORK, capture=True, check=False)
        log("network %s removed" % NETWORK)
    for name in ("webhook.jsonl", "hosts.json", os.path.join("ssh", "known_hosts")):
        path = os.path.join(STATE, name)
        if os.path.exists(path):
            os.remove(path)
    shutil.rmtree(ARA_DIR, ignore_errors=True)
    return 0


def cmd_fault(args):
    host = args.host or (None if args.kind == "clear" else DEFAULT_FAULT_HOST)
    t0 = inject(args.kind, host, args.device, args.celsius, args.code)
    target = args.host or DEFAULT_FAULT_HOST
    what = {
        "gpu-overtemp": "device %d of %s pinned at %s C" % (args.device, target, args.celsius),
        "gpu-vanish": "device %d of %s vanished" % (args.device, target),
        "node-down": "%s stopped on %s" % (NODE_EXPORTER_UNIT, target),
        "allsmi-restart": "%s restarted on %s" % (ALLSMI_UNIT, target),
        "allsmi-stop": "%s stopped on %s" % (ALLSMI_UNIT, target),
        "gpu-xid": "XID %d on device %d of %s (dcgm-exporter)" % (args.code, args.device, target),
        "mount-gone": "%s unmounted on %s" % (DATASETS_MOUNT, target),
        "port-closed": "%s stopped on %s" % (SSH_UNIT, target),
        "command-fails": "%s created on %s" % (UNHEALTHY_FLAG, target),
        "clear": "faults cleared on %s" % (host if host not in (None, "all") else "every host"),
    }[args.kind]
    watch = [lk["url"] for lk in web_links() if lk["kind"].startswith(("prometheus-alerts", "alertmanager-alerts"))]
    log(
        "%s at %s; watch: %s"
        % (what, time.strftime("%H:%M:%S", time.localtime(t0)), ", ".join(watch + [WEBHOOK_FILE, "lab.sh status"]))
    )
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description="accelmon local lab")
    sub = ap.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up")
    up.add_argument("--quiet", action="store_true", help="site.yml output to the log only")
    up.add_argument("--skip-play", action="store_true", help="containers and sink only")
    up.add_argument("--timeout", type=float, default=120)
    sub.add_parser("down")
    sub.add_parser("status")
    sub.add_parser("env")
    w = sub.add_parser("wait")
    w.add_argument("--timeout", type=float, default=120)
    f = sub.add_parser("fault")
    f.add_argument("kind", choices=FAULT_KINDS)
    f.add_argument("host", nargs="?")
    f.add_argument("--device", type=int, default=0)
    f.add_argument("--celsius", type=float, default=92.0)
    f.add_argument("--code", type=int, default=79, help="XID code of gpu-xid")
    args = ap.parse_args(argv)
    if args.cmd == "up":
        return cmd_up(args)
    if args.cmd == "down":
        return cmd_down(args)
    if args.cmd == "status":
        return summary()
    if args.cmd == "env":
        return cmd_env(args)
    if args.cmd == "wait":
        wait_ready(args.timeout)
        return summary()
    return cmd_fault(args)


if __name__ == "__main__":
    sys.exit(main())
