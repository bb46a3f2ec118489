"""A small, obviously-correct merger of the documented policy semantics (docs/fleet-model.md),
written from the documentation and not from the engine, to check the optimised engine against.

No caching, no sharing, no history: defaults, then every source in merge order, item by item.
"""

from __future__ import annotations

import copy

PRIORITY = {"environment": 10, "logical": 50, "infrastructure": 100}


def merge_order(primary, groups):
    """A target's groups and their ancestors: namespaces from the highest priority number
    (lowest priority) to the lowest; inside one, by depth, then path."""
    paths = set()
    for path in [primary] + list(groups):
        namespace, _unused, rest = path.partition(":")
        segments = rest.split("/")
        for depth in range(1, len(segments) + 1):
            paths.add("%s:%s" % (namespace, "/".join(segments[:depth])))

    def key(path):
        namespace, _unused, rest = path.partition(":")
        return (-PRIORITY[namespace], namespace, len(rest.split("/")), path)

    return sorted(paths, key=key)


def _merge_into(current, given, strategy):
    for key, value in given.items():
        if isinstance(value, dict):
            if value == {}:
                continue
            if not isinstance(current.get(key), dict):
                current[key] = {}
            _merge_into(current[key], value, strategy)
        elif isinstance(value, list) and strategy == "merge":
            out = list(current.get(key) or []) if isinstance(current.get(key), list) else []
            for entry in value:
                if entry not in out:
                    out.append(entry)
            current[key] = out
        else:
            current[key] = copy.deepcopy(value)


def _apply_item(policy, defaults, section, name, item, is_check):
    item = dict(item or {})
    strategy = item.pop("strategy", "merge")
    if section == "alerting":
        current = policy["alerting"]
        if strategy == "override":
            current = policy["alerting"] = copy.deepcopy(defaults["alerting"])
        _merge_into(current, item, strategy)
        return
    if strategy == "override":
        policy[section][name] = copy.deepcopy(defaults[section][name])
    current = policy[section][name]
    values = {}
    if "enabled" in item:
        values["enabled"] = item["enabled"]
    if is_check:
        values.update(item.get("config") or {})
    else:
        for field in ("thresholds", "for", "severity", "labels"):
            if field in item and item[field] is not None:
                values[field] = item[field]
    _merge_into(current, values, strategy)
    if is_check and "enabled" not in item:
        current["enabled"] = True  # configuring a check switches it on


def _apply_block(policy, defaults, block):
    for name, item in (block.get("alert_rules") or {}).items():
        _apply_item(policy, defaults, "alert_rules", name, item, False)
    for name, item in (block.get("checks") or {}).items():
        _apply_item(policy, defaults, "checks", name, item, True)
    if block.get("alerting") is not None:
        _apply_item(policy, defaults, "alerting", None, block["alerting"], False)


def effective_policy(defaults, group_blocks, target):
    """defaults: the catalog's defaults; group_blocks: {path: policy block};
    target: {primary_group, groups, overrides}."""
    policy = copy.deepcopy(defaults)
    for path in merge_order(target["primary_group"], target.get("groups") or []):
        _apply_block(policy, defaults, group_blocks.get(path) or {})
    _apply_block(policy, defaults, target.get("overrides") or {})
    return policy
