#!/usr/bin/env python
"""Benchmark: accelmon.monitoring.fleet vs ansible-core's YAML inventory plugin loading the
same hosts and group tree.

Two measurements per fleet size, each in a fresh process, printing seconds, peak RSS and
the ratio (ours / core):
- `load`: building the inventory (InventoryManager over the source), what every
  ansible-playbook run pays; ours computes every target's effective policy and trace;
  with ansible-core's default inventory plugin order, and again with the yaml plugin first
  (`load yaml-first`, core's best case);
- `--list`: `ansible-inventory --list`, which also serializes every host variable to JSON.
  With the full trace each host carries ~1,500 JSON nodes, so `--list` with the trace is
  measured only up to BENCH_LIST_TRACE_MAX targets (default 1000); larger sizes are measured
  with `policy_trace: false`, up to BENCH_LIST_MAX targets (default 10000).
Not a timed test: figures only.
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
LIST_TRACE_MAX = int(os.environ.get("BENCH_LIST_TRACE_MAX", "1000"))
LIST_MAX = int(os.environ.get("BENCH_LIST_MAX", "10000"))
MEASURE = (
    "import resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
    "dt = time.perf_counter() - t\n"
    "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "sys.stderr.write(p.stderr.decode()[-2000:] if p.returncode else '')\n"
    "print('%.3f %d %d' % (dt, rss, p.returncode))\n"
)


def measure(args, env):
    out = subprocess.run([sys.executable, "-c", MEASURE] + args, env=env, capture_output=True, text=True, check=False)
    seconds, rss_kb, code = out.stdout.split()
    if int(code) != 0:
        raise SystemExit("command failed: %s\n%s" % (" ".join(args), out.stderr))
    return float(seconds), int(rss_kb) / 1024.0


LOAD = (
    "import sys, time\n"
    "from ansible.parsing.dataloader import DataLoader\n"
    "from ansible.plugins.loader import init_plugin_loader\n"
    "init_plugin_loader()\n"
    "from ansible.inventory.manager import InventoryManager\n"
    "t = time.perf_counter()\n"
    "inv = InventoryManager(loader=DataLoader(), sources=[sys.argv[1]])\n"
    "assert len(inv.hosts) > 0, 'no hosts parsed'\n"
    "print('%d hosts in %.3f s' % (len(inv.hosts), time.perf_counter() - t))\n"
)


def main(argv):
    sizes = [int(a) for a in argv[1:]] or [1000, 10000, 100000]
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("ANSIBLE_INVENTORY_ENABLED", None)  # ansible-core's default plugin order
    # With the default order (host_list, script, auto, yaml, ini, toml) the `auto` plugin
    # loads a plain YAML inventory once before the yaml plugin parses it again. A config
    # that enables the yaml plugin first avoids that: measured too ("core yaml-first").
    yaml_first = dict(env, ANSIBLE_INVENTORY_ENABLED="ansible.builtin.yaml,ansible.builtin.auto")
    rows = []
    print("ansible-inventory --list, one run each; ours computes every target's effective policy and trace")
    print(
        "%-16s %9s  %10s  %10s  %10s  %10s  %7s  %7s"
        % ("measure", "targets", "core s", "core MiB", "fleet s", "fleet MiB", "ratio", "us/tgt")
    )
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="accelmon-bench-") as tmp:
            t0 = time.perf_counter()
            model, hosts = synthetic_fleet.generate(n)
            source = synthetic_fleet.write_fleet(tmp, model)
            core = synthetic_fleet.write_core_yaml(tmp, model, hosts)
            gen = time.perf_counter() - t0
            no_trace = os.path.join(tmp, "notrace.accelmon.yml")
            with open(no_trace, "w") as handle:
                handle.write("plugin: accelmon.monitoring.fleet\nmodel: fleet/\npolicy_trace: false\n")
            ansible_inventory = os.path.join(BIN, "ansible-inventory")
            cases = [
                ("load", [sys.executable, "-c", LOAD, core], [sys.executable, "-c", LOAD, source], env),
                (
                    "load yaml-first",
                    [sys.executable, "-c", LOAD, core],
                    [sys.executable, "-c", LOAD, source],
                    yaml_first,
                ),
            ]
            if n <= LIST_TRACE_MAX:
                cases.append(
                    (
                        "--list",
                        [ansible_inventory, "-i", core, "--list"],
                        [ansible_inventory, "-i", source, "--list"],
                        env,
                    )
                )
            if n <= LIST_MAX:
                cases.append(
                    (
                        "--list no trace",
                        [ansible_inventory, "-i", core, "--list"],
                        [ansible_inventory, "-i", no_trace, "--list"],
                        env,
                    )
                )
            for label, core_cmd, ours_cmd, case_env in cases:
                core_s, core_mb = measure(core_cmd, case_env)
                ours_s, ours_mb = measure(ours_cmd, case_env)
                ratio = ours_s / core_s
                rows.append((label, n, core_s, core_mb, ours_s, ours_mb, ratio))
                print(
                    "%-16s %9d  %10.2f  %10.0f  %10.2f  %10.0f  %7.2f  %7.0f"
                    % (label, n, core_s, core_mb, ours_s, ours_mb, ratio, ours_s / n * 1e6)
                )
                sys.stdout.flush()
            print("%-16s %9d  (model generation %.1fs, %d groups)" % ("", n, gen, len(model["groups"])))
    loads = [r for r in rows if r[0] == "load"]
    if len(loads) > 1:
        first, last = loads[0], loads[-1]
        growth = (last[4] / first[4]) / (last[1] / first[1])
        print("load time per target at %d vs %d targets: x%.2f (1.00 = linear)" % (last[1], first[1], growth))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
