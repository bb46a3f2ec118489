"""The hung-mount scenario, run by test_check_runner_hung_mount.py inside a private mount
namespace (`unshare --mount --propagation private`), so no other process on the machine
ever sees the hanging mount.

    hung_mount_scenario.py WORKDIR RUNNER_DIR

Mounts hang_fs.py (FUSE) and a tmpfs, makes the FUSE mount hang, runs the real check runner
three times (hung, still hung, released) with the interpreter and prometheus_client a
Debian node has, and prints what it measured as JSON: wall time of each run, the status of
every mount, the runner's timeout counter, and the probe children alive (with their
process state) after each run. The test asserts on that.
"""

import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
STATUS_RE = re.compile(r'^accelmon_check_status\{check="mount",item="([^"]*)",status="([^"]*)"\} 1(\.0)?$')
TIMEOUTS_RE = re.compile(r'^accelmon_check_timeouts_total\{check="mount"\} ([0-9.e+]+)$')
TIMEOUT_SECONDS = 2


def probe_children(path):
    """Probe children (python -I -S -c ... PATH) still alive for path: [(pid, state)]."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as handle:
                argv = handle.read().split(b"\0")
            with open("/proc/%s/stat" % pid) as handle:
                state = handle.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"-S" in argv and b"-c" in argv and path.encode() in argv:
            out.append((int(pid), state))
    return out


def run(runner, config, textfile):
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, runner, "--config", config, "--check", "mount"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    seconds = time.monotonic() - start
    statuses, timeouts = {}, None
    with open(textfile) as handle:
        text = handle.read()
    for line in text.splitlines():
        match = STATUS_RE.match(line)
        if match:
            statuses[match.group(1)] = match.group(2)
        match = TIMEOUTS_RE.match(line)
        if match:
            timeouts = float(match.group(1))
    return {"seconds": seconds, "rc": proc.returncode, "stderr": proc.stderr, "statuses": statuses, "timeouts_total": timeouts}


def main():
    work, runner_dir = sys.argv[1], sys.argv[2]
    hung = os.path.join(work, "mnt", "hung")
    good = os.path.join(work, "mnt", "good")
    flag = os.path.join(work, "hang.flag")
    textfile_dir = os.path.join(work, "textfile")
    for d in (hung, good, textfile_dir, os.path.join(work, "state")):
        os.makedirs(d, exist_ok=True)
    runner = os.path.join(runner_dir, "accelmon_check_runner.py")
    config = os.path.join(work, "checks.json")
    with open(config, "w") as handle:
        json.dump(
            {
                "textfile_dir": textfile_dir,
                "state_dir": os.path.join(work, "state"),
                "max_parallel": 2,
                "checks": {
                    "mount": {
                        "enabled": True,
                        "timeout_seconds": TIMEOUT_SECONDS,
                        "paths": [hung, {"path": good, "fstype": "tmpfs"}, "/", os.path.join(work, "mnt", "absent")],
                    }
                },
            },
            handle,
        )
    textfile = os.path.join(textfile_dir, "accelmon_check_mount.prom")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "accelmon-good", good], check=True)
    server = subprocess.Popen([sys.executable, os.path.join(HERE, "hang_fs.py"), hung, flag])  # pylint: disable=consider-using-with
    result = {"timeout_seconds": TIMEOUT_SECONDS, "hung": hung, "good": good}
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with open("/proc/self/mountinfo") as handle:
                if " %s " % hung in handle.read():
                    break
            time.sleep(0.1)
        else:
            raise SystemExit("hang_fs did not mount %s" % hung)
        result["before"] = run(runner, config, textfile)
        with open(flag, "w"):
            pass
        result["run1"] = run(runner, config, textfile)
        time.sleep(0.3)
        result["children_after_run1"] = probe_children(hung)
        result["run2"] = run(runner, config, textfile)
        result["children_after_run2"] = probe_children(hung)
        os.unlink(flag)
        deadline = time.monotonic() + 10
        while probe_children(hung) and time.monotonic() < deadline:
            time.sleep(0.1)
        result["children_after_release"] = probe_children(hung)
        result["run3"] = run(runner, config, textfile)
    finally:
        if os.path.exists(flag):
            os.unlink(flag)
        subprocess.run(["umount", "-l", hung], check=False)
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        subprocess.run(["umount", "-l", good], check=False)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
