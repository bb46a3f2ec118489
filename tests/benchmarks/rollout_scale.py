#!/usr/bin/env python
"""Rollout at scale: playbooks/rollout.yml over N podman systemd hosts; prints the figures.

    flock /tmp/accelmon-podman.lock .venv/bin/python tests/benchmarks/rollout_scale.py \
        [--hosts 50] [--forks 10] [--concurrency 10] [--keep] [--raise-inotify]
    .venv/bin/python tests/benchmarks/rollout_scale.py --local [--hosts 50] ...

--local (no podman, no lock): the N hosts are inventory hosts on this machine (local
connection), each with its own emulator process on a loopback port, scraped by the same
Prometheus. No systemd there, so the rollout finds nothing installed and changes nothing:
this measures the controller's side at N hosts (plan, per-host tasks at the chosen forks,
silences, the gate over every batch), not the roles' work on the hosts.

Each host is a light systemd container (localhost/accelmon-systemd:bookworm, built by
tests/tools/build_base_image.sh) on its own podman network accelmon-scale, reached with the
podman connection. Debian's Prometheus and Alertmanager run on this machine's loopback
(ephemeral ports); Prometheus scrapes each host's all-smi (the emulator, one device) at its
container address, every 5 s. Two rollouts are measured, both with gates and silences:

1. install all-smi 0.25.0 on every host, all at once;
2. upgrade to 0.26.0 (the emulator reporting 0.26.0), rolling, --concurrency hosts a batch.

Per rollout: wall time in total and per batch (from the progress lines), the controller's
peak memory (ansible-playbook and its forks, RSS summed, sampled every 0.5 s), and the
containers' memory. Removes everything it created unless --keep. Needs root and podman.
Each systemd container holds a few inotify instances, counted against root's
fs.inotify.max_user_instances (128 on Debian: about 20 containers); the run checks first and
stops with the fix, or --raise-inotify raises it for the run and restores it after.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import psutil

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "tools"))
from emulator_builds import write_artifact  # noqa: E402

IMAGE = os.environ.get("ACCELMON_LAB_IMAGE", "localhost/accelmon-systemd:bookworm")
NETWORK = "accelmon-scale"
SUBNET_PREFIX = "10.89.210."
BIN = os.path.dirname(sys.executable)
PROGRESS_RE = re.compile(r"batch \d+/\d+ \(\d+ hosts\): done \d+ \| failed \d+ \| pending \d+")


def sh(*argv, check=True, **kw):
    res = subprocess.run(argv, text=True, capture_output=True, check=False, **kw)
    if check and res.returncode != 0:
        raise SystemExit("failed (%d): %s\n%s" % (res.returncode, " ".join(argv), res.stderr[-2000:]))
    return res


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def names(n):
    return ["accelmon-scale-%02d" % i for i in range(1, n + 1)]


INOTIFY_LIMIT = "/proc/sys/fs/inotify/max_user_instances"
# systemd (PID 1), journald, logind and dbus in each container hold inotify instances, all
# counted against root's fs.inotify.max_user_instances (128 by default on Debian)
INOTIFY_PER_CONTAINER = 8


def inotify_in_use():
    used = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                used += sum(
                    1 for fd in os.listdir("/proc/%s/fd" % pid) if "inotify" in _readlink("/proc/%s/fd/%s" % (pid, fd))
                )
            except OSError:
                pass
    return used


def _readlink(path):
    try:
        return os.readlink(path)
    except OSError:
        return ""


def check_inotify(n, raise_limit):
    """Enough inotify instances for n more systemd containers, or a clear error (the first
    run hung with containers stuck in `initializing` at the default 128). Returns the limit
    to restore at the end, or None."""
    with open(INOTIFY_LIMIT, encoding="utf-8") as fh:
        limit = int(fh.read())
    need = inotify_in_use() + n * INOTIFY_PER_CONTAINER
    if need <= limit:
        return None
    if not raise_limit:
        raise SystemExit(
            "fs.inotify.max_user_instances is %d; %d systemd containers need about %d: "
            "sysctl -w fs.inotify.max_user_instances=%d, or --raise-inotify (raised for the run, "
            "restored after)" % (limit, n, need, max(1024, need))
        )
    with open(INOTIFY_LIMIT, "w", encoding="utf-8") as fh:
        fh.write(str(max(1024, need)))
    print("fs.inotify.max_user_instances %d -> %d for this run" % (limit, max(1024, need)), flush=True)
    return limit


def restore_inotify(limit):
    if limit is not None:
        with open(INOTIFY_LIMIT, "w", encoding="utf-8") as fh:
            fh.write(str(limit))
        print("fs.inotify.max_user_instances restored to %d" % limit, flush=True)


def up_containers(hosts):
    if sh("podman", "network", "exists", NETWORK, check=False).returncode != 0:
        sh("podman", "network", "create", "--subnet", SUBNET_PREFIX + "0/24", NETWORK)
    for i, name in enumerate(hosts):
        sh("podman", "rm", "-f", name, check=False)
        sh(
            "podman",
            "run",
            "-d",
            "--name",
            name,
            "--hostname",
            name,
            "--network",
            NETWORK,
            "--ip",
            SUBNET_PREFIX + str(11 + i),
            "--systemd",
            "always",
            IMAGE,
            "/sbin/init",
        )
    deadline = time.time() + 600
    for name in hosts:
        while True:
            state = sh("podman", "exec", name, "systemctl", "is-system-running", check=False).stdout.strip()
            if state in ("running", "degraded"):
                break
            if time.time() > deadline:
                raise SystemExit("systemd in %s not up (%s)" % (name, state))
            time.sleep(1)


def down_containers(hosts):
    sh("podman", "rm", "-f", "-t", "2", *hosts, check=False, timeout=600)
    left = [h for h in hosts if sh("podman", "container", "exists", h, check=False).returncode == 0]
    for name in left:  # a second try, one by one (a container still starting can refuse the first)
        sh("podman", "rm", "-f", "-t", "2", name, check=False, timeout=120)
    sh("podman", "network", "rm", NETWORK, check=False)


def mem_available_mib():
    with open("/proc/meminfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def container_memory_mib(hosts):
    out = sh("podman", "stats", "--no-stream", "--format", "json", *hosts, check=False).stdout
    try:
        stats = json.loads(out)
    except ValueError:
        return None
    total = 0.0
    for s in stats:
        used = str(s.get("mem_usage", "0B / 0B")).split("/", maxsplit=1)[0].strip()
        num = float("".join(c for c in used if c.isdigit() or c == "."))
        unit = used.lstrip("0123456789.").strip().lower()
        total += num * {
            "b": 1 / 2**20,
            "kb": 1 / 1024,
            "kib": 1 / 1024,
            "mb": 1,
            "mib": 1,
            "gb": 1024,
            "gib": 1024,
        }.get(unit, 0)
    return total


class Central:
    """Prometheus and Alertmanager from Debian on loopback, scraping the containers."""

    def __init__(self, base, hosts, addresses=None):
        self.base, self.hosts = base, hosts
        self.addresses = addresses or ["%s%d:9401" % (SUBNET_PREFIX, 11 + i) for i in range(len(hosts))]
        self.prom_port, self.am_port = free_port(), free_port()
        self.prom = "http://127.0.0.1:%d" % self.prom_port
        self.am = "http://127.0.0.1:%d" % self.am_port
        self.procs = []

    def start(self):
        cfg = {
            "global": {"scrape_interval": "5s", "evaluation_interval": "5s", "scrape_timeout": "4s"},
            "scrape_configs": [
                {
                    "job_name": "allsmi",
                    "static_configs": [
                        {"targets": [addr], "labels": {"instance": h}} for h, addr in zip(self.hosts, self.addresses)
                    ],
                }
            ],
        }
        with open(os.path.join(self.base, "prometheus.yml"), "w", encoding="utf-8") as fh:
            json.dump(cfg, fh)
        with open(os.path.join(self.base, "alertmanager.yml"), "w", encoding="utf-8") as fh:
            fh.write("route: {receiver: none}\nreceivers: [{name: none}]\n")
        log = open(os.path.join(self.base, "central.log"), "w")  # noqa: SIM115
        self.procs.append(
            subprocess.Popen(
                [
                    shutil.which("prometheus") or "/usr/bin/prometheus",
                    "--config.file=" + os.path.join(self.base, "prometheus.yml"),
                    "--storage.tsdb.path=" + os.path.join(self.base, "tsdb"),
                    "--web.listen-address=127.0.0.1:%d" % self.prom_port,
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        self.procs.append(
            subprocess.Popen(
                [
                    shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager",
                    "--config.file=" + os.path.join(self.base, "alertmanager.yml"),
                    "--storage.path=" + os.path.join(self.base, "am"),
                    "--web.listen-address=127.0.0.1:%d" % self.am_port,
                    "--cluster.listen-address=",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        for url in (self.prom + "/-/ready", self.am + "/-/ready"):
            deadline = time.time() + 60
            while True:
                try:
                    urllib.request.urlopen(url, timeout=2).read()  # noqa: S310 (loopback)
                    break
                except OSError:
                    if time.time() > deadline:
                        raise SystemExit("%s not ready" % url)
                    time.sleep(0.5)

    def stop(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait(timeout=15)


def inventory(base, hosts, artifacts):
    inv = {
        "all": {
            "hosts": {
                h: {
                    "accelmon_accelerators": [{"vendor": "nvidia", "model": "NVIDIA H200", "count": 1}],
                }
                for h in hosts
            },
            "vars": {
                "ansible_connection": "containers.podman.podman",
                "ansible_python_interpreter": "/usr/bin/python3",
                "accelmon_artifacts_dir": artifacts,
            },
        }
    }
    path = os.path.join(base, "inventory.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(inv, fh)
    return path


def local_hosts(base, hosts):
    """One emulator per inventory host on a loopback port; the inventory (local connection)."""
    emulator = os.path.join(REPO, "tests", "emulator", "accel_exporter_emulator.py")
    procs, addresses = [], []
    log = open(os.path.join(base, "emulators.log"), "w")  # noqa: SIM115
    for h in hosts:
        port = free_port()
        procs.append(subprocess.Popen(
            [sys.executable, emulator, "api", "--bind", "127.0.0.1", "--port", str(port), "--hostname", h,
             "--devices", "nvidia:1", "--control-file", os.path.join(base, "none.json")],
            stdout=log, stderr=subprocess.STDOUT))  # fmt: skip
        addresses.append("127.0.0.1:%d" % port)
    inv = {
        "all": {
            "hosts": {h: {"accelmon_accelerators": [{"vendor": "nvidia", "count": 1}]} for h in hosts},
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
        }
    }
    path = os.path.join(base, "inventory.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(inv, fh)
    return procs, addresses, path


def run_rollout(label, inv, central, forks, extra):
    argv = [
        os.path.join(BIN, "ansible-playbook"),
        os.path.join(REPO, "playbooks", "rollout.yml"),
        "-i",
        inv,
        "-f",
        str(forks),
        "-e",
        "rollout_target=all",
        "-e",
        "rollout_prometheus_url=" + central.prom,
        "-e",
        "rollout_alertmanager_url=" + central.am,
        "-e",
        "rollout_gate_poll_interval=2",
        *extra,
    ]
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=os.path.join(REPO, "tests", "lab", "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".build", "collections"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORKS=str(forks),
        PATH=BIN + os.pathsep + env.get("PATH", ""),
    )
    start = time.monotonic()
    proc = subprocess.Popen(argv, cwd=REPO, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    peak = [0.0]
    done = threading.Event()

    def sample():
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                rss = sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
                peak[0] = max(peak[0], rss / 2**20)
            except psutil.Error:
                pass
            time.sleep(0.5)

    threading.Thread(target=sample, daemon=True).start()
    batches = []
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            m = PROGRESS_RE.search(line)
            if m:
                batches.append((time.monotonic() - start, m.group(0)))
                print("  %s +%.0fs %s" % (label, batches[-1][0], m.group(0)), flush=True)
    finally:
        if proc.poll() is None:  # interrupted (SIGTERM): no rollout left running
            proc.terminate()
    rc = proc.wait()
    done.set()
    total = time.monotonic() - start
    with open(os.path.join(os.environ.get("TMPDIR", "/tmp"), "rollout-scale-%s.log" % label), "w") as fh:
        fh.writelines(lines)
    if rc != 0:
        sys.stdout.write("".join(lines[-80:]))
        raise SystemExit("%s: ansible-playbook rc %d" % (label, rc))
    ends = [t for t, _line in batches]
    per_batch = [b - a for a, b in zip([0.0] + ends[:-1], ends)]
    print(
        "%s: %.0f s, batches %s, peak RSS %.0f MiB" % (label, total, ["%.0f" % x for x in per_batch], peak[0]),
        flush=True,
    )
    return {"label": label, "total_s": total, "batches": batches, "per_batch_s": per_batch, "peak_rss_mib": peak[0]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--forks", type=int, default=10)
    ap.add_argument("--concurrency", type=int, default=10)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument(
        "--raise-inotify",
        action="store_true",
        help="raise fs.inotify.max_user_instances for the run when the containers need more (restored after)",
    )
    ap.add_argument("--local", action="store_true", help="inventory hosts on this machine, no podman (see above)")
    args = ap.parse_args()
    if args.local:
        return main_local(args)
    if os.geteuid() != 0 or not shutil.which("podman"):
        raise SystemExit("needs root and podman")
    # A timeout's SIGTERM still removes the containers (the finally below).
    signal.signal(signal.SIGTERM, lambda *_unused: sys.exit("terminated"))
    hosts = names(args.hosts)
    base = tempfile.mkdtemp(prefix="rollout-scale-")
    artifacts = os.path.join(base, "artifacts")
    sh("bash", os.path.join(REPO, "tests", "tools", "build_artifacts.sh"), artifacts)
    write_artifact(artifacts, "0.26.0")
    central = Central(base, hosts)
    inotify_restore = check_inotify(len(hosts), args.raise_inotify)
    avail_before = mem_available_mib()
    t0 = time.monotonic()
    try:
        up_containers(hosts)
        t_up = time.monotonic() - t0
        print("%d containers up in %.0f s" % (len(hosts), t_up), flush=True)
        central.start()
        inv = inventory(base, hosts, artifacts)
        comp = ["-e", json.dumps({"rollout_components": ["all_smi"]})]
        first = run_rollout(
            "install",
            inv,
            central,
            args.forks,
            [*comp, "-e", "rollout_action=install", "-e", "rollout_strategy=all_at_once"],
        )
        second = run_rollout(
            "upgrade",
            inv,
            central,
            args.forks,
            [
                "-e",
                json.dumps({"rollout_components": ["all_smi"], "rollout_versions": {"all_smi": "0.26.0"}}),
                "-e",
                "rollout_strategy=rolling",
                "-e",
                "rollout_concurrency=%d" % args.concurrency,
            ],
        )
        mem = container_memory_mib(hosts)
        avail_after = mem_available_mib()
    finally:
        if not args.keep:
            central.stop()
            down_containers(hosts)
            shutil.rmtree(base, ignore_errors=True)
            restore_inotify(inotify_restore)
    print(
        "\n%d hosts (podman systemd containers, 1 emulated GPU each), forks %d, %d CPUs"
        % (args.hosts, args.forks, os.cpu_count())
    )
    print(
        "containers up: %.0f s; their memory after the rollouts: %s MiB (podman stats)"
        % (t_up, "%.0f" % mem if mem else "n/a")
    )
    print(
        "host MemAvailable: %.0f MiB before the containers, %.0f MiB after the rollouts (%.0f MiB used by them)"
        % (avail_before, avail_after, avail_before - avail_after)
    )
    print("| rollout | batches | wall total | per batch (min / median / max) | controller peak RSS |")
    print("| --- | --- | --- | --- | --- |")
    for r in (first, second):
        pb = sorted(r["per_batch_s"]) or [float("nan")]
        print(
            "| %s | %d | %.0f s | %.0f / %.0f / %.0f s | %.0f MiB |"
            % (r["label"], len(pb), r["total_s"], pb[0], pb[len(pb) // 2], pb[-1], r["peak_rss_mib"])
        )
    for r in (first, second):
        for t, line in r["batches"]:
            print("  %s +%.0fs %s" % (r["label"], t, line))


def main_local(args):
    hosts = ["gpu-%03d" % i for i in range(1, args.hosts + 1)]
    base = tempfile.mkdtemp(prefix="rollout-scale-local-")
    procs, addresses, inv = local_hosts(base, hosts)
    central = Central(base, hosts, addresses)
    try:
        central.start()
        extra = [
            "-e", json.dumps({"rollout_components": ["all_smi"]}), "-e", "rollout_action=reconfigure",
            "-e", "rollout_snapshot_dir=" + os.path.join(base, "snapshots"),
        ]  # fmt: skip
        results = [
            run_rollout("rolling-%d" % args.concurrency, inv, central, args.forks,
                        [*extra, "-e", "rollout_strategy=rolling", "-e", "rollout_concurrency=%d" % args.concurrency]),
            run_rollout("canary-1-then-%d" % args.concurrency, inv, central, args.forks,
                        [*extra, "-e", "rollout_strategy=canary", "-e", "rollout_concurrency=%d" % args.concurrency]),
            run_rollout("all_at_once", inv, central, args.forks, [*extra, "-e", "rollout_strategy=all_at_once"]),
        ]  # fmt: skip
        silences = json.loads(urllib.request.urlopen(central.am + "/api/v2/silences", timeout=5).read())  # noqa: S310
    finally:
        central.stop()
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=10)
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    print(
        "\n%d inventory hosts on this machine (local connection, one emulator each, scraped every 5 s),"
        " forks %d, %d CPUs; %d silences created and expired" % (args.hosts, args.forks, os.cpu_count(), len(silences))
    )
    print("| rollout | batches | wall total | per batch (min / median / max) | controller peak RSS |")
    print("| --- | --- | --- | --- | --- |")
    for r in results:
        pb = sorted(r["per_batch_s"]) or [float("nan")]
        print(
            "| %s | %d | %.0f s | %.0f / %.0f / %.0f s | %.0f MiB |"
            % (r["label"], len(pb), r["total_s"], pb[0], pb[len(pb) // 2], pb[-1], r["peak_rss_mib"])
        )


if __name__ == "__main__":
    main()
