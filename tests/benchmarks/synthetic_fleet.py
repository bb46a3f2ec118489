"""Synthetic fleets for benchmarks: the same hosts and group tree as a fleet model and as
a plain ansible-core YAML inventory."""

from __future__ import annotations

import os
import random

import yaml

PROVIDERS = [
    ("aws", ["us-east-1", "us-west-2", "eu-west-1"]),
    ("gcp", ["us-central1", "europe-west4"]),
    ("onprem", ["dc1", "dc2", "dc3"]),
]
LOGICAL = [
    "ml-training",
    "ml-training/llm",
    "ml-training/vision",
    "inference",
    "inference/batch",
    "research",
    "data-prep",
]
ENVIRONMENTS = ["production", "staging", "development"]
TEAMS = ["cc-100", "cc-200", "cc-300", "cc-400"]
RULE_KNOBS = [
    ("HighCPUUsage", "cpu_percent"),
    ("HighMemoryUsage", "memory_percent"),
    ("AcceleratorHighTemperature", "celsius"),
    ("DiskSpaceLow", "free_percent"),
]


def infra_paths(racks_per_zone):
    """4-level infrastructure tree: provider/region/zone/rack."""
    out = []
    for provider, regions in PROVIDERS:
        for region in regions:
            for zone in ("a", "b"):
                for rack in range(racks_per_zone):
                    out.append("infrastructure:%s/%s/%s-%s/rack-%02d" % (provider, region, region, zone, rack))
    return out


def generate(n_targets, seed=7):
    """Return (model dict, list of (host, address, group paths)) for n_targets."""
    rnd = random.Random(seed)
    racks = infra_paths(max(1, n_targets // 640))
    groups = {}
    for provider, regions in PROVIDERS:
        groups["infrastructure:%s" % provider] = {"provider": provider}
        for region in regions:
            groups["infrastructure:%s/%s" % (provider, region)] = {"metadata": {"region": region}}
    for rack in racks:
        groups.setdefault(rack, {})
    for name in LOGICAL:
        groups["logical:%s" % name] = {}
    for name in ENVIRONMENTS:
        groups["environment:%s" % name] = {}
    for name in TEAMS:
        groups["cost_center:%s" % name] = {}
    # policies on a few dozen groups
    policy_groups = sorted(groups)
    rnd.shuffle(policy_groups)
    for path in policy_groups[:36]:
        rule, knob = RULE_KNOBS[rnd.randrange(len(RULE_KNOBS))]
        groups[path]["alert_rules"] = {rule: {"thresholds": {knob: rnd.randrange(60, 96)}}}
        if path.startswith("logical:"):
            groups[path]["checks"] = {"mount": {"config": {"paths": ["/%s" % path.split(":")[1].split("/")[0]]}}}
    groups["environment:staging"]["alert_rules"] = {"NodeDown": {"enabled": False}}
    groups["environment:production"].setdefault("alert_rules", {})["HighCPUUsage"] = {
        "thresholds": {"cpu_percent": 70},
        "strategy": "override",
    }
    targets = {}
    hosts = []
    for i in range(n_targets):
        name = "gpu-%06d" % i
        primary = racks[i % len(racks)]
        member = [
            "logical:%s" % LOGICAL[rnd.randrange(len(LOGICAL))],
            "environment:%s" % ENVIRONMENTS[rnd.randrange(len(ENVIRONMENTS))],
            "cost_center:%s" % TEAMS[rnd.randrange(len(TEAMS))],
        ]
        address = "10.%d.%d.%d" % (i // 65536 % 256, i // 256 % 256, i % 256)
        spec = {"address": address, "primary_group": primary, "groups": member}
        if rnd.random() < 0.02:
            spec["overrides"] = {
                "alert_rules": {"HighCPUUsage": {"thresholds": {"cpu_percent": rnd.randrange(50, 99)}}}
            }
        targets[name] = spec
        hosts.append((name, address, [primary] + member))
    model = {
        "namespaces": {
            "environment": {"priority": 10},
            "logical": {"priority": 50},
            "cost_center": {"priority": 70},
            "infrastructure": {"priority": 100},
        },
        "groups": groups,
        "targets": targets,
    }
    return model, hosts


def _safe(path):
    from ansible_collections.accelmon.monitoring.plugins.module_utils.fleet_model import safe_group_name

    return safe_group_name(path)


def write_fleet(directory, model):
    os.makedirs(os.path.join(directory, "fleet"), exist_ok=True)
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    with open(os.path.join(directory, "fleet", "groups.yml"), "w") as handle:
        yaml.dump({"namespaces": model["namespaces"], "groups": model["groups"]}, handle, Dumper=dumper)
    with open(os.path.join(directory, "fleet", "targets.yml"), "w") as handle:
        yaml.dump({"targets": model["targets"]}, handle, Dumper=dumper)
    source = os.path.join(directory, "bench.accelmon.yml")
    with open(source, "w") as handle:
        handle.write("plugin: accelmon.monitoring.fleet\nmodel: fleet/\n")
    return source


def write_core_yaml(directory, model, hosts):
    """The same hosts and group tree as ansible-core's YAML inventory format."""
    tree = {}

    def node(name):
        return tree.setdefault(name, {"hosts": {}, "children": {}})

    for path in model["groups"]:
        ns, _unused, rest = path.partition(":")
        parts = rest.split("/")
        parent = ns
        node(ns)
        for depth in range(1, len(parts) + 1):
            sub = "%s:%s" % (ns, "/".join(parts[:depth]))
            node(parent)["children"][_safe(sub)] = None
            node(_safe(sub))
            parent = _safe(sub)
    for name, address, paths in hosts:
        node(_safe(paths[0]))["hosts"][name] = {"ansible_host": address}
        for path in paths[1:]:
            node(_safe(path))["hosts"][name] = None
    doc = {"all": {"children": dict((k, None) for k in ("infrastructure", "logical", "environment", "cost_center"))}}
    for name, body in tree.items():
        entry = {}
        if body["hosts"]:
            entry["hosts"] = body["hosts"]
        if body["children"]:
            entry["children"] = body["children"]
        doc[name] = entry or None
    path = os.path.join(directory, "core.yml")
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    with open(path, "w") as handle:
        yaml.dump(doc, handle, Dumper=dumper)
    return path
