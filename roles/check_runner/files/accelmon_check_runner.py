# -*- coding: utf-8 -*-
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""accelmon custom-check runner: probe what the node's checks policy names, write one
textfile per check type for node_exporter's textfile collector.

    accelmon_check_runner.py --config /etc/accelmon/checks.json --check mount
    accelmon_check_runner.py --config ... --all --stdout      (every enabled type, to stdout)

Run by systemd timers (accelmon-check-<type>.timer), one oneshot service per check type.
The pure parsing and judging lives in check_probes.py next to this file (the collection's
plugins/module_utils/check_probes.py); this file does the I/O:

- mount and parallel_fs probes run in a child process with a hard timeout; mountinfo is
  read first, so a path that is not mounted is never touched. A per-path lock (flock on a
  file under the state directory, inherited by the child) stays held while a child is stuck
  in D state on a hung NFS/Lustre/FUSE mount: the next run reports `in_flight` instead of
  forking another child. At most `max_parallel` children run at once.
- Tools (nvme, smartctl, user commands) run with timeouts; their process group is killed
  when the timeout expires; command output is read up to a size limit.
- A probe that raises reports accelmon_check_runner_success 0 in its own file; other check
  types run in their own services and are not affected (with --all each type is isolated).
- Files are written with prometheus_client's write_to_textfile (temp file in the same
  directory, then rename), so node_exporter never reads a half-written file.
"""

import argparse
import concurrent.futures
import errno
import fcntl
import hashlib
import json
import os
import pwd
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_probes as probes  # noqa: E402  pylint: disable=wrong-import-position


DEFAULTS = {
    "textfile_dir": "/var/lib/node_exporter/textfile",
    "state_dir": "/var/lib/accelmon-check",
    "file_prefix": "accelmon_check_",
    "max_parallel": 4,
    "output_limit_bytes": 65536,
    "command_user": "",
    "mountinfo": "/proc/self/mountinfo",
    "infiniband_sysfs": "/sys/class/infiniband",
    "nvme_sysfs": "/sys/class/nvme",
    "nvme": "nvme",
    "smartctl": "smartctl",
    "checks": {},
}

# Runs in the probe child: only stat/statvfs (and an optional canary read, write+fsync),
# nothing that imports anything slow. argv: path canary_file write_name
PROBE_CODE = r"""
import os, sys, time
path, canary, write_name = sys.argv[1], sys.argv[2], sys.argv[3]
t0 = time.monotonic()
os.stat(path)
os.statvfs(path)
if canary:
    with open(os.path.join(path, canary), "rb") as handle:
        handle.read(4096)
if write_name:
    name = os.path.join(path, write_name)
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, b"accelmon canary\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.unlink(name)
sys.stdout.write("%.6f\n" % (time.monotonic() - t0))
"""


class RunContext:
    """What one check type's run accumulates besides samples."""

    def __init__(self, config, check):
        self.config = config
        self.check = check
        self.timeouts = 0
        self.items = 0
        self.histograms = {}  # item -> observation (parallel_fs)


# ---------------------------------------------------------------- helpers


def _log(msg):
    sys.stderr.write("accelmon-check: %s\n" % msg)


def _lock_path(config, kind, path):
    digest = hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return os.path.join(config["state_dir"], "locks", "%s-%s.lock" % (kind, digest))


def probe_path(config, kind, path, timeout, canary="", write_name=""):
    """Probe one path in a child process. Returns (status, seconds, detail).

    The child inherits the locked lock file; a child stuck in the kernel keeps it locked
    after we SIGKILL it, so the next run sees `in_flight` and forks nothing.
    """
    lock = _lock_path(config, kind, path)
    os.makedirs(os.path.dirname(lock), mode=0o700, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return "in_flight", None, "a probe of %s from an earlier run is still stuck" % path
        raise
    start = time.monotonic()
    try:
        proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, "-I", "-S", "-c", PROBE_CODE, path, canary or "", write_name or ""],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(fd,),
            start_new_session=True,
        )
    finally:
        os.close(fd)  # the child holds the lock from here on
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        try:
            proc.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            pass  # stuck in D state: leave it, its lock tells the next run
        for stream in (proc.stdout, proc.stderr):
            try:
                stream.close()
            except OSError:
                pass
        return "timeout", time.monotonic() - start, "no answer from %s within %ss" % (path, timeout)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        last = (err.decode("utf-8", "replace").strip().splitlines() or ["exit %d" % proc.returncode])[-1]
        return "error", elapsed, last
    try:
        return "responsive", float(out.decode().strip()), ""
    except ValueError:
        return "responsive", elapsed, ""


def run_tool(argv, timeout, limit, user=None, env=None):
    """Run argv with a timeout (the whole process group is killed) and an output limit.

    Returns (exit_code or None, timed_out, output text, truncated, seconds).
    """
    start = time.monotonic()
    kwargs = {}
    if user:
        info = pwd.getpwnam(user)
        if os.geteuid() == 0 and info.pw_uid != 0:
            kwargs.update(user=info.pw_uid, group=info.pw_gid, extra_groups=[])
        elif info.pw_uid != os.geteuid():
            raise PermissionError("the runner runs as uid %d and cannot switch to user %s" % (os.geteuid(), user))
    with tempfile.TemporaryFile() as sink:
        try:
            proc = subprocess.Popen(  # pylint: disable=consider-using-with
                argv,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env if env is not None else dict(os.environ, LC_ALL="C"),
                cwd="/",
                **kwargs
            )
        except OSError as exc:
            return None, False, str(exc), False, time.monotonic() - start
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
        size = sink.seek(0, os.SEEK_END)
        sink.seek(0)
        data = sink.read(limit)
    elapsed = time.monotonic() - start
    return (None if timed_out else proc.returncode), timed_out, data.decode("utf-8", "replace"), size > limit, elapsed


def tcp_connect(host, port, timeout):
    """(status, seconds) of one TCP connect."""
    start = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return "open", time.monotonic() - start
    except socket.timeout:
        return "timeout", time.monotonic() - start
    except ConnectionRefusedError:
        return "refused", time.monotonic() - start
    except OSError:
        return "error", time.monotonic() - start


def _parallel(config, func, items):
    """func(item) for every item, at most max_parallel at once, results in order."""
    if not items:
        return []
    workers = max(1, min(int(config.get("max_parallel") or 1), len(items)))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(func, items))


def _argv(command):
    return list(command) if isinstance(command, list) else ["/bin/sh", "-c", command]


# ---------------------------------------------------------------- probes


def check_mount(ctx, policy):
    config = ctx.config
    with open(config["mountinfo"]) as handle:
        mounts = probes.parse_mountinfo(handle.read())
    timeout = float(policy.get("timeout_seconds", 10))
    expectations = probes.mount_expectations(policy.get("paths") or [])
    ctx.items = len(expectations)

    def one(expect):
        status, detail = probes.judge_mount(expect, mounts)
        if status:
            return expect["path"], status, None, detail
        status, seconds, detail = probe_path(config, "mount", expect["path"], timeout)
        return expect["path"], status, seconds, detail

    out = []
    for path, status, seconds, detail in _parallel(config, one, expectations):
        if status == "timeout":
            ctx.timeouts += 1
        if detail:
            _log("mount %s: %s (%s)" % (path, status, detail))
        out.extend(probes.item_samples("mount", path, status, seconds))
    return out


def check_parallel_fs(ctx, policy):
    config = ctx.config
    with open(config["mountinfo"]) as handle:
        mounts = probes.parse_mountinfo(handle.read())
    timeout = float(policy.get("timeout_seconds", 10))
    canary = policy.get("canary_file") or ""
    write_name = (".accelmon-canary-%s" % socket.gethostname()) if policy.get("write_test") else ""
    paths = probes.unique(policy.get("paths") or [])
    ctx.items = len(paths)

    def one(path):
        norm = os.path.normpath(path)
        if norm not in mounts:
            return path, "missing", None, "%s is not a mount point" % norm
        status, seconds, detail = probe_path(config, "parallel_fs", norm, timeout, canary, write_name)
        return path, status, seconds, detail

    out = []
    for path, status, seconds, detail in _parallel(config, one, paths):
        if status == "timeout":
            ctx.timeouts += 1
            ctx.histograms[path] = timeout  # the probe took at least this long
        elif status == "responsive":
            ctx.histograms[path] = seconds
        if detail:
            _log("parallel_fs %s: %s (%s)" % (path, status, detail))
        out.extend(probes.item_samples("parallel_fs", path, status, seconds))
    return out


def check_infiniband(ctx, policy):
    ports = probes.read_infiniband(ctx.config["infiniband_sysfs"])
    out = probes.judge_infiniband(ports, policy.get("devices") or [], policy.get("min_rate_gbps") or 0)
    ctx.items = len([s for s in out if s.name == "accelmon_check_ok"])
    return out


def _tool_json(ctx, argv, timeout):
    code, timed_out, output, truncated, _unused = run_tool(argv, timeout, 16 * 1024 * 1024)
    if timed_out:
        ctx.timeouts += 1
        raise TimeoutError("%s timed out after %ss" % (" ".join(argv), timeout))
    if code is None:
        raise OSError("%s could not run: %s" % (argv[0], output.strip()))
    if truncated:
        raise ValueError("%s printed more than 16 MiB" % " ".join(argv))
    try:
        return code, json.loads(output)
    except ValueError:
        raise ValueError("%s exited %s without JSON: %s" % (" ".join(argv), code, output.strip()[:200]))


def check_nvme(ctx, policy):
    tool = ctx.config["nvme"]
    timeout = float(policy.get("timeout_seconds", 10))
    devices = probes.unique("/dev/" + d if not d.startswith("/") else d for d in policy.get("devices") or [])
    info = {}
    out = []
    sysfs = ctx.config["nvme_sysfs"]
    # No controller at all (a VM, a CPU node): nothing to ask nvme-cli, which would fail.
    if not devices and os.path.isdir(sysfs) and os.listdir(sysfs):
        _code, listing = _tool_json(ctx, [tool, "list", "-o", "json"], timeout)
        for dev in probes.nvme_devices(listing):
            info[dev["device"]] = dev
        devices = sorted(info)
    ctx.items = len(devices)

    def one(device):
        try:
            _code, log = _tool_json(ctx, [tool, "smart-log", device, "-o", "json"], timeout)
            return probes.judge_nvme(
                device,
                log,
                policy.get("min_available_spare_percent", 10),
                policy.get("max_percentage_used", 90),
            )
        except Exception as exc:  # pylint: disable=broad-exception-caught
            _log("nvme %s: %s" % (device, exc))
            return probes.item_samples("nvme", device, "error")

    for samples in _parallel(ctx.config, one, devices):
        out.extend(samples)
    for dev in info.values():
        out.append(
            probes.Sample(
                "nvme_device_info",
                {"device": dev["device"], "model": dev["model"], "firmware": dev["firmware"], "serial": dev["serial"]},
                1,
            )
        )
    return out


def check_smart(ctx, policy):
    tool = ctx.config["smartctl"]
    timeout = float(policy.get("timeout_seconds", 10))
    devices = probes.unique(
        ((d if d.startswith("/") else "/dev/" + d, "auto") for d in policy.get("devices") or []), key=lambda t: t[0]
    )
    _code, scan = _tool_json(ctx, [tool, "--scan-open", "--json"], timeout)
    if not devices:
        devices = probes.smart_devices(scan)
    out = []
    version = probes.smartctl_version(scan)
    if version:
        out.append(probes.Sample("smartmon_smartctl_version", {"version": version}, 1))
    ctx.items = len(devices)
    now = time.time()

    def one(pair):
        disk, dev_type = pair
        try:
            _code, report = _tool_json(
                ctx, [tool, "--json", "--info", "--health", "--attributes", "-d", dev_type, disk], timeout
            )
            return probes.judge_smart(disk, dev_type, report, now)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            _log("smart %s: %s" % (disk, exc))
            return probes.item_samples("smart", disk, "error")

    for samples in _parallel(ctx.config, one, devices):
        out.extend(samples)
    return out


def check_port(ctx, policy):
    timeout = float(policy.get("timeout_seconds", 10))
    targets = probes.port_targets(policy.get("ports") or [])
    ctx.items = len(targets)
    out = []
    for (item, _host, _port), (status, seconds) in zip(
        targets, _parallel(ctx.config, lambda t: tcp_connect(t[1], t[2], timeout), targets)
    ):
        if status == "timeout":
            ctx.timeouts += 1
        out.extend(probes.item_samples("port", item, status, seconds))
    return out


def _command_user(ctx, entry):
    return entry.get("user") or ctx.config.get("command_user") or None


def check_command(ctx, policy):
    config = ctx.config
    default_timeout = float(policy.get("timeout_seconds", 10))
    commands = probes.unique(policy.get("commands") or [], key=lambda c: c["name"])
    ctx.items = len(commands)

    def one(entry):
        timeout = float(entry.get("timeout_seconds", default_timeout))
        try:
            code, timed_out, output, truncated, seconds = run_tool(
                _argv(entry["command"]), timeout, int(config["output_limit_bytes"]), user=_command_user(ctx, entry)
            )
        except Exception as exc:  # pylint: disable=broad-exception-caught
            _log("command %s: %s" % (entry["name"], exc))
            return probes.judge_command(entry["name"], None, False, "", None, False, None)
        if timed_out:
            ctx.timeouts += 1
        if code not in (0, None):
            _log("command %s exited %d: %s" % (entry["name"], code, output.strip()[-300:]))
        return probes.judge_command(entry["name"], code, timed_out, output, entry.get("value_regex"), truncated, seconds)

    out = []
    for samples in _parallel(config, one, commands):
        out.extend(samples)
    return out


def check_license(ctx, policy):
    config = ctx.config
    timeout = float(policy.get("timeout_seconds", 10))
    now = time.time()
    out = []
    servers = probes.license_servers(policy.get("servers") or [])
    files = probes.unique(policy.get("files") or [])
    commands = probes.unique(policy.get("commands") or [], key=lambda c: c["name"])
    ctx.items = len(servers) + len(files) + len(commands)
    for (item, _host, _port), (status, seconds) in zip(
        servers, _parallel(config, lambda t: tcp_connect(t[1], t[2], timeout), servers)
    ):
        if status == "timeout":
            ctx.timeouts += 1
        out.extend(probes.item_samples("license", item, "reachable" if status == "open" else "unreachable", seconds))
    for path in files:
        try:
            with open(path, "rb") as handle:
                text = handle.read(int(config["output_limit_bytes"])).decode("utf-8", "replace")
        except OSError as exc:
            _log("license file %s: %s" % (path, exc))
            out.extend(probes.item_samples("license", path, "error"))
            continue
        out.extend(probes.judge_license(path, probes.parse_expiry(text), now))

    def one(entry):
        try:
            code, timed_out, output, _trunc, _secs = run_tool(
                _argv(entry["command"]),
                float(entry.get("timeout_seconds", timeout)),
                int(config["output_limit_bytes"]),
                user=_command_user(ctx, entry),
            )
        except Exception as exc:  # pylint: disable=broad-exception-caught
            _log("license command %s: %s" % (entry["name"], exc))
            return probes.item_samples("license", entry["name"], "error")
        if timed_out:
            ctx.timeouts += 1
        if timed_out or code is None:
            return probes.item_samples("license", entry["name"], "error")
        return probes.judge_license(entry["name"], probes.parse_expiry(output), now)

    for samples in _parallel(config, one, commands):
        out.extend(samples)
    return out


PROBES = {
    "command": check_command,
    "infiniband": check_infiniband,
    "license": check_license,
    "mount": check_mount,
    "nvme": check_nvme,
    "parallel_fs": check_parallel_fs,
    "port": check_port,
    "smart": check_smart,
}
assert set(PROBES) == set(probes.CHECK_TYPES)


# ---------------------------------------------------------------- state and output


def _load_state(config, check):
    path = os.path.join(config["state_dir"], "%s.json" % check)
    try:
        with open(path) as handle:
            state = json.load(handle)
        return state if isinstance(state, dict) else {}
    except (OSError, ValueError):
        return {}


def _save_state(config, check, state):
    path = os.path.join(config["state_dir"], "%s.json" % check)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as handle:
        json.dump(state, handle, sort_keys=True)
    os.replace(tmp, path)


class _Families:
    """A prometheus_client collector over a list of probe samples."""

    def __init__(self, samples, histograms):
        self.samples = samples
        self.histograms = histograms

    def collect(self):
        from prometheus_client.core import Metric  # pylint: disable=import-outside-toplevel

        families = {}
        for sample in self.samples:
            mtype, doc = probes.METRICS[sample.name]
            fname = sample.name[: -len("_total")] if mtype == "counter" and sample.name.endswith("_total") else sample.name
            if fname not in families:
                families[fname] = Metric(fname, doc, mtype)
            labels = dict((k, str(v)) for k, v in sample.labels.items())
            families[fname].add_sample(sample.name, labels, float(sample.value))
        name = "accelmon_check_parallel_fs_latency_seconds"
        for item, hist in sorted(self.histograms.items()):
            if name not in families:
                families[name] = Metric(name, probes.METRICS[name][1], "histogram")
            pairs, total = probes.histogram_buckets(hist)
            labels = {"check": "parallel_fs", "item": item}
            for le, count in pairs:
                families[name].add_sample(name + "_bucket", dict(labels, le=le), count)
            families[name].add_sample(name + "_count", labels, pairs[-1][1])
            families[name].add_sample(name + "_sum", labels, total)
        return [families[k] for k in sorted(families)]


def run_check(config, check, stdout=False):
    """Run one check type and write its textfile. Returns True if the probe completed."""
    policy = (config.get("checks") or {}).get(check) or {}
    ctx = RunContext(config, check)
    start = time.monotonic()
    success = True
    try:
        samples = PROBES[check](ctx, policy)
    except Exception:  # pylint: disable=broad-exception-caught
        # A crashing probe reports its own failure; the caller goes on with the others.
        _log("%s probe failed:\n%s" % (check, traceback.format_exc().rstrip()))
        samples, success = [], False
    duration = time.monotonic() - start
    state = _load_state(config, check)
    state["timeouts_total"] = int(state.get("timeouts_total", 0)) + ctx.timeouts
    histograms = state.get("histograms") if isinstance(state.get("histograms"), dict) else {}
    if check == "parallel_fs":
        wanted = set(policy.get("paths") or [])
        histograms = dict((k, v) for k, v in histograms.items() if k in wanted)
        for item, value in ctx.histograms.items():
            histograms[item] = probes.histogram_observe(histograms.get(item) or {}, value)
        state["histograms"] = histograms
    self_labels = {"check": check}
    samples = list(samples) + [
        probes.Sample("accelmon_check_runner_success", self_labels, int(success)),
        probes.Sample("accelmon_check_runner_duration_seconds", self_labels, round(duration, 6)),
        probes.Sample("accelmon_check_last_run_timestamp_seconds", self_labels, round(time.time(), 3)),
        probes.Sample("accelmon_check_timeouts_total", self_labels, state["timeouts_total"]),
        probes.Sample("accelmon_check_items", self_labels, ctx.items),
    ]
    # Imported here: --validate (Ansible's validate: on a fresh host) needs no library.
    from prometheus_client import CollectorRegistry, write_to_textfile  # pylint: disable=import-outside-toplevel
    from prometheus_client.exposition import generate_latest  # pylint: disable=import-outside-toplevel

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(samples, histograms if check == "parallel_fs" else {}))
    if stdout:
        sys.stdout.write(generate_latest(registry).decode("utf-8"))
    else:
        try:
            _save_state(config, check, state)
        except OSError as exc:
            _log("cannot save state for %s: %s" % (check, exc))
        path = os.path.join(config["textfile_dir"], "%s%s.prom" % (config["file_prefix"], check))
        write_to_textfile(path, registry)
    return success


def validate_config(config):
    """Errors that would stop a check from running, as sentences naming check and item."""
    errors = []
    checks = config.get("checks")
    if not isinstance(checks, dict):
        return ["checks must be a mapping of check type to settings"]
    for check, policy in sorted(checks.items()):
        if check not in PROBES:
            errors.append("check type %r is unknown (known: %s)" % (check, ", ".join(sorted(PROBES))))
            continue
        if not isinstance(policy, dict):
            errors.append("%s: settings must be a mapping" % check)
            continue
        try:
            probes.duration_seconds(policy.get("interval", "60s"))
            float(policy.get("timeout_seconds", 10))
            if check == "mount":
                probes.mount_expectations(policy.get("paths") or [])
            elif check == "port":
                probes.port_targets(policy.get("ports") or [])
            elif check == "license":
                probes.license_servers(policy.get("servers") or [])
            for entry in policy.get("commands") or []:
                if not entry.get("name") or not entry.get("command"):
                    raise ValueError("command entries need name and command: %r" % (entry,))
                probes.parse_value("", entry.get("value_regex"))
        except (ValueError, TypeError, KeyError, AttributeError, re.error) as exc:
            errors.append("%s: %s" % (check, exc))
    return errors


def load_config(path):
    with open(path) as handle:
        data = json.load(handle)
    config = dict(DEFAULTS)
    config.update(data)
    return config


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--config", default="/etc/accelmon/checks.json")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--check", action="append", choices=sorted(PROBES), help="check type to run (repeatable)")
    group.add_argument("--all", action="store_true", help="every check type the config enables")
    group.add_argument("--validate", action="store_true", help="check the config and exit (Ansible's validate:)")
    parser.add_argument("--stdout", action="store_true", help="print the metrics instead of writing the textfile")
    args = parser.parse_args(argv)
    os.umask(0o022)  # node_exporter reads the files
    try:
        config = load_config(args.config)
    except (OSError, ValueError) as exc:
        _log("cannot read %s: %s" % (args.config, exc))
        return 2
    if args.validate:
        errors = validate_config(config)
        for error in errors:
            _log("%s: %s" % (args.config, error))
        return 1 if errors else 0
    checks = args.check or sorted(k for k, v in (config.get("checks") or {}).items() if v.get("enabled"))
    ok = True
    for check in checks:
        try:
            ok = run_check(config, check, stdout=args.stdout) and ok
        except Exception:  # pylint: disable=broad-exception-caught
            _log("%s: cannot write its metrics:\n%s" % (check, traceback.format_exc().rstrip()))
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
