#!/usr/bin/env python
"""Write docs/policy-catalog.md from the built-in catalog (tests check it is current)."""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import conftest  # noqa: E402,F401  pylint: disable=unused-import

from ansible_collections.accelmon.monitoring.plugins.module_utils import policy_catalog as cat  # noqa: E402


NOTES = """
Paging (`critical`) templates reach a webhook within 60 s of the fault with the defaults
(scrape and evaluation 15 s, Alertmanager `group_wait` 10 s), and none pages on one failed
or slow scrape: instead of a `for` equal to one scrape interval they test a 30 s window
(the last two scrapes at 15 s), so the bound is 15 + 15 (two scrapes) + 15 (evaluation) +
10 = 55 s. Event rules (counter increases, the exporter's XID window, latched hardware
states) keep `for: 0s`: a slow scrape cannot invent an event. Warning and info templates
keep longer windows; they are not paged.

Vendor scope: a template only ever fires on hosts that export its series, so the NVIDIA
(dcgm-exporter, all-smi NVLink/threshold series) and Rebellions templates apply to those
hosts only. all-smi v0.25.0 exports no health series for Gaudi, AMD, Furiosa or Tenstorrent
that its released readers fill (its Furiosa status/ready and Tenstorrent heartbeat, faults
and throttler exporters read keys the readers never write; see docs/emulator.md), so the
catalog has no template on them: one would never fire.

Shared filesystems (nfs, lustre, gpfs, beegfs, wekafs, cifs, ceph, fuse.*) are left out of
the per-node disk rules: every client reports the same filesystem. Watch them once, from the
storage system or a central probe (the check runner's `parallel_fs` and `mount` checks cover
reachability and latency per node).
"""


def render():
    out = [
        "# Policy catalog",
        "",
        "Generated from `plugins/module_utils/policy_catalog.py` by `tests/tools/gen_catalog_doc.py`.",
        "Template names and threshold keys are a contract. A `${threshold}` placeholder becomes a join on",
        "each target's own threshold series; `${by}`/`${route}` mark aggregating templates (alert-rules.md).",
        "",
        "## Alert-rule templates",
        "",
        "Every rule also has `enabled`, `for`, `severity` (info, warning, critical) and free `labels`.",
        "Every metric name is checked against the exporters' released source",
        "(`tests/emulator/released_surface.py`) and the check runner's names by",
        "`tests/unit/plugins/module_utils/test_catalog_metrics.py`; every template has a",
        "`promtool test rules` case with series shaped like the real exporters'",
        "(`tests/integration/test_alert_pack_promtool.py`).",
        "",
        "| template | on by default | thresholds (default) | for | severity | metrics from |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, spec in sorted(cat.BUILTIN_RULE_TEMPLATES.items()):
        params = ", ".join("`%s` %s (%s)" % (k, p["type"], p["default"]) for k, p in spec["parameters"].items())
        out.append(
            "| `%s` | %s | %s | %s | %s | %s |"
            % (name, "yes" if spec.get("enabled", True) else "**no**", params or "-", spec["for"],
               spec["severity"], spec["metrics_source"])
        )
    out += ["", "### Why these defaults", ""]
    out += [line.rstrip() for line in NOTES.strip("\n").splitlines()]
    out += [""]
    for name, spec in sorted(cat.BUILTIN_RULE_TEMPLATES.items()):
        if spec.get("why"):
            out += ["- **%s**: %s" % (name, spec["why"])]
    out += ["", "Expressions:", ""]
    for name, spec in sorted(cat.BUILTIN_RULE_TEMPLATES.items()):
        out += ["- `%s`: `%s`" % (name, spec["expr"].replace("|", "\\|"))]
    out += [
        "",
        "## Check types",
        "",
        "Checks are off until a source configures them "
        "(see fleet-model.md). Every check has `interval` and `timeout_seconds`.",
        "",
        "| check | settings (type, default) | what it checks |",
        "| --- | --- | --- |",
    ]
    for name, spec in sorted(cat.BUILTIN_CHECK_TYPES.items()):
        params = ", ".join(
            "`%s` %s (%s)" % (k, p["type"], p["default"])
            for k, p in spec["parameters"].items()
            if k not in ("interval", "timeout_seconds")
        )
        out.append("| `%s` | %s | %s |" % (name, params, spec["description"]))
    out += ["", "## Alerting", "", "| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    for name, p in cat.ALERTING_PARAMETERS.items():
        out.append("| `%s` | %s | %s | %s |" % (name, p["type"], p["default"], p["description"]))
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    path = os.path.join(ROOT, "docs", "policy-catalog.md")
    with open(path, "w") as handle:
        handle.write(render())
    print("wrote %s" % path)
