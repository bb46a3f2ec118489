#!/usr/bin/env python
"""Print one target's groups, effective policy and trace as readable tables (make demo).

Usage: show_target.py SOURCE.accelmon.yml [TARGET]
Without TARGET it lists the fleet's targets.
"""

from __future__ import annotations

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import conftest  # noqa: E402,F401  pylint: disable=unused-import

from ansible_collections.accelmon.monitoring.plugins.module_utils.fleet_loader import load_fleet  # noqa: E402
from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_errors import (  # noqa: E402
    FleetModelError,
)


def fmt(value):
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return json.dumps(value) if isinstance(value, str) or value is None else str(value)


def table(rows, headers):
    widths = [max(len(str(r[i])) for r in rows + [headers]) for i in range(len(headers))]
    line = "  ".join("%-*s" % (w, h) for w, h in zip(widths, headers))
    out = [line, "  ".join("-" * w for w in widths)]
    for row in rows:
        out.append("  ".join("%-*s" % (w, c) for w, c in zip(widths, row)).rstrip())
    return "\n".join(out)


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    try:
        model = load_fleet(argv[1])
    except FleetModelError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 1
    if len(argv) < 3:
        print("targets: %s" % ", ".join(sorted(model.targets)))
        return 0
    name = argv[2]
    if name not in model.targets:
        print("error: no target %r; targets: %s" % (name, ", ".join(sorted(model.targets))), file=sys.stderr)
        return 1
    try:
        hv = model.host_vars(name)
    except FleetModelError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 1
    target = model.targets[name]
    print("Target %s (%s) from %s" % (name, hv.get("ansible_host", "no address"), target.source_file))
    print("")
    rows = []
    for path in hv["accelmon_groups"]:
        rows.append((path, model.groups[path].safe_name, "primary" if path == target.primary_group else ""))
    print(table(rows, ("group", "ansible group", "")))
    print("")
    print("provider: %s  metadata: %s" % (hv["accelmon_provider"], fmt(hv["accelmon_provider_metadata"])))
    print(
        "merge order: %s"
        % " -> ".join(["default"] + model.membership(target) + (["target:%s" % name] if target.contributions else []))
    )
    print("")
    policy = hv["accelmon_effective_policy"]
    rows = []
    for rule, spec in sorted(policy["alert_rules"].items()):
        rows.append(
            (
                rule,
                "on" if spec["enabled"] else "off",
                fmt(spec["thresholds"]) if spec["thresholds"] else "",
                spec["for"],
                spec["severity"],
                fmt(spec["labels"]) if spec["labels"] else "",
            )
        )
    print(table(rows, ("alert rule", "enabled", "thresholds", "for", "severity", "labels")))
    print("")
    rows = []
    for check, spec in sorted(policy["checks"].items()):
        config = dict((k, v) for k, v in spec.items() if k != "enabled")
        rows.append((check, "on" if spec["enabled"] else "off", fmt(config)))
    print(table(rows, ("check", "enabled", "config")))
    print("")
    print("alerting: %s" % fmt(policy["alerting"]))
    print("")
    rows = []
    for leaf, entry in sorted(hv["accelmon_policy_trace"].items()):
        if entry["source"] == "default" and len(entry["history"]) == 1:
            continue
        chain = " -> ".join(
            "%s=%s%s"
            % (h["source"], fmt(h["value"]), "" if h["strategy"] in ("merge", "default") else " (%s)" % h["strategy"])
            for h in entry["history"]
        )
        rows.append((leaf, fmt(entry["value"]), entry["source"], chain))
    print("Trace (values not left at their built-in default):")
    print(table(rows, ("leaf", "value", "winning source", "history")))
    conflicts = hv.get("accelmon_policy_conflicts")
    if conflicts:
        print("")
        print("Conflicts (same namespace and depth):")
        for c in conflicts:
            print(
                "  %s: %s=%s vs %s=%s, %s wins"
                % (c["path"], c["sources"][0], fmt(c["values"][0]), c["sources"][1], fmt(c["values"][1]), c["winner"])
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
