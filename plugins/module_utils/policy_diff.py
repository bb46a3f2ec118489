# -*- coding: utf-8 -*-
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""Which targets' effective values a model change moves, from what to what.

The review step before applying a change: diff two FleetModels target by target, leaf by
leaf of the effective policy, with the winning source on each side.
"""

from __future__ import annotations

from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_series import (
    ROUTE_METRIC,
    THRESHOLD_METRIC,
    routes_needed,
    series_text,
    threshold_series_text,
)


def _series_of(target, leaf, templates):
    """The policy series (docs/alert-rules.md) a leaf change moves, or None: a threshold's
    series, else the target's route series of the template, or its threshold series where
    the template has no route series (the usual shape, policy_series.routes_needed)."""
    parts = leaf.split(".")
    if parts[0] != "alert_rules" or len(parts) < 3:
        return None
    if parts[2] == "thresholds" and len(parts) == 4:
        return threshold_series_text(target, parts[1], parts[3])
    spec = templates.get(parts[1])
    metric = THRESHOLD_METRIC if spec is not None and not routes_needed(spec) else ROUTE_METRIC
    return series_text(metric, {"instance": target, "alertname": parts[1]})


def policy_diff(old_model, new_model):
    """Return {"added_targets", "removed_targets", "changed": {target: {leaf: change}}}.

    A change is {"old", "new", "old_source", "new_source"}; a leaf missing on one side
    (a template added or removed) has None there. Alert-rule leaves also name the policy
    series they move ("series": the threshold series of a threshold, else the route series,
    or the threshold series of templates without route series).
    """
    templates = dict(old_model.catalog.rule_templates, **new_model.catalog.rule_templates)
    old_names = set(old_model.targets)
    new_names = set(new_model.targets)
    changed = {}
    for name in sorted(old_names & new_names):
        _unused, old_trace, _unused = old_model.effective(name)
        _unused, new_trace, _unused = new_model.effective(name)
        if old_trace is new_trace:
            continue
        leaves = {}
        for leaf in sorted(set(old_trace) | set(new_trace)):
            before = old_trace.get(leaf)
            after = new_trace.get(leaf)
            old_value = before["value"] if before else None
            new_value = after["value"] if after else None
            if (
                before is not None
                and after is not None
                and old_value == new_value
                and type(old_value) is type(new_value)
            ):
                continue
            leaves[leaf] = {
                "old": old_value,
                "new": new_value,
                "old_source": before["source"] if before else None,
                "new_source": after["source"] if after else None,
            }
            series = _series_of(name, leaf, templates)
            if series:
                leaves[leaf]["series"] = series
        if leaves:
            changed[name] = leaves
    return {
        "added_targets": sorted(new_names - old_names),
        "removed_targets": sorted(old_names - new_names),
        "changed": changed,
    }
