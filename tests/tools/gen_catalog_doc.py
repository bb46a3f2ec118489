#!/usr/bin/env python
"""Write docs/policy-catalog.md from the built-in catalog (tests check it is current)."""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import conftest  # noqa: E402,F401  pylint: disable=unused-import

from ansible_collections.accelmon.monitoring.plugins.module_utils import policy_catalog as cat  # noqa: E402


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
        "Every rule also has `enabled` (default true), `for`, `severity` (info, warning, critical) and free `labels`.",
        "",
        "| template | thresholds (default) | for | severity | metrics from |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, spec in sorted(cat.BUILTIN_RULE_TEMPLATES.items()):
        params = ", ".join("`%s` %s (%s)" % (k, p["type"], p["default"]) for k, p in spec["parameters"].items())
        out.append(
            "| `%s` | %s | %s | %s | %s |"
            % (name, params or "-", spec["for"], spec["severity"], spec["metrics_source"])
        )
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
