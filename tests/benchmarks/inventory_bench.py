#!/usr/bin/env python
"""Benchmark: accelmon.monitoring.fleet vs ansible-core's YAML inventory plugin loading the
same hosts and group tree.

Two measurements per fleet size, each `ansible-inventory` run in a fresh process, printing
seconds, peak RSS, output bytes and the ratios (ours / core):
- `load`: `ansible-inventory --graph`, building the inventory (what every ansible-playbook
  run pays: ours computes every target's effective policy) and printing the group tree;
- `export`: `ansible-inventory --list --export`, what an AWX inventory update runs and
  stores: ours writes each distinct effective policy once, in its policy-class group.
Measured with ansible-core's default inventory plugin order. Targets at 10k: load and
export time <= 1.0x core, export bytes <= 5x core. Not a timed test: figures only.
Usage: inventory_bench.py [SIZES...]   (default 1000 10000 100000)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE)))
import conftest  # noqa: E402,F401  pylint: disable=unused-import
import synthetic_fleet  # noqa: E402

BIN = os.path.dirname(sys.executable)
# Runs the command in a child, counts its output bytes as they stream, and reports the
# child's wall time and peak RSS (RUSAGE_CHILDREN of this small wrapper = the command).
MEASURE = (
    "import resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)\n"
    "size = 0\n"
    "for chunk in iter(lambda: p.stdout.read(1 << 20), b''):\n"
    "    size += len(chunk)\n"
    "err = p.stderr.read()\n"
    "code = p.wait()\n"
    "dt = time.perf_counter() - t\n"
    "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "sys.stderr.write(err.decode()[-2000:] if code else '')\n"
    "print('%.3f %d %d %d' % (dt, rss, size, code))\n"
)


def measure(args, env):
    """(seconds, peak MiB, output bytes) of one run of args."""
    out = subprocess.run([sys.executable, "-c", MEASURE] + args, env=env, capture_output=True, text=True, check=False)
    seconds, rss_kb, size, code = out.stdout.split()
    if int(code) != 0:
        raise SystemExit("command failed: %s\n%s" % (" ".join(args), out.stderr))
    return float(seconds), int(rss_kb) / 1024.0, int(size)


def main(argv):
    sizes = [int(a) for a in argv[1:]] or [1000, 10000, 100000]
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("ANSIBLE_INVENTORY_ENABLED", None)  # ansible-core's default plugin order
    ansible_inventory = os.path.join(BIN, "ansible-inventory")
    rows = []
    print("ansible-inventory, one run each in a fresh process; ratio = fleet / core")
    header = "%-7s %8s  %7s %7s %9s  %7s %7s %9s  %6s %6s %6s"
    print(
        header
        % ("measure", "targets", "core s", "MiB", "bytes", "fleet s", "MiB", "bytes", "time", "memory", "bytes")
    )
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="accelmon-bench-") as tmp:
            t0 = time.perf_counter()
            model, hosts = synthetic_fleet.generate(n)
            source = synthetic_fleet.write_fleet(tmp, model)
            core = synthetic_fleet.write_core_yaml(tmp, model, hosts)
            gen = time.perf_counter() - t0
            cases = [("load", ["--graph"]), ("export", ["--list", "--export"])]
            for label, args in cases:
                core_s, core_mb, core_b = measure([ansible_inventory, "-i", core] + args, env)
                ours_s, ours_mb, ours_b = measure([ansible_inventory, "-i", source] + args, env)
                row = (label, n, core_s, core_mb, core_b, ours_s, ours_mb, ours_b)
                rows.append(row)
                print(
                    "%-7s %8d  %7.2f %7.0f %9d  %7.2f %7.0f %9d  %6.2f %6.2f %6.2f"
                    % (row + (ours_s / core_s, ours_mb / core_mb, float(ours_b) / core_b))
                )
                sys.stdout.flush()
            print("%-7s %8d  (model generation %.1fs, %d groups)" % ("", n, gen, len(model["groups"])))
    loads = [r for r in rows if r[0] == "load"]
    if len(loads) > 1:
        first, last = loads[0], loads[-1]
        growth = (last[5] / first[5]) / (last[1] / first[1])
        print("load time per target at %d vs %d targets: x%.2f (1.00 = linear)" % (last[1], first[1], growth))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
