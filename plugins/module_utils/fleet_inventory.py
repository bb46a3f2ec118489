# -*- coding: utf-8 -*-
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""How a fleet model becomes inventory: groups, hosts, small host variables, policy classes.

Thousands of targets share a few hundred effective policies. Each distinct effective
policy is one synthetic group, `_accelmon_policy_<id>`, carrying `accelmon_effective_policy`
as a group variable; its targets are its members and carry `accelmon_policy_id: <id>`. So
`hostvars[h].accelmon_effective_policy` reads as before, while `ansible-inventory --export`
(what an AWX inventory update stores) holds every distinct policy once. The trace, when
asked for, is shared the same way through `_accelmon_trace_<id>` groups.

Pure data: the inventory plugin applies the plan through Ansible's public inventory API.
"""

from __future__ import annotations

import hashlib
import json

POLICY_GROUP_PREFIX = "_accelmon_policy_"
TRACE_GROUP_PREFIX = "_accelmon_trace_"
POLICY_VAR = "accelmon_effective_policy"
POLICY_ID_VAR = "accelmon_policy_id"
TRACE_VAR = "accelmon_policy_trace"
CONFLICTS_VAR = "accelmon_policy_conflicts"
REGISTERED_SUFFIX = "_registered"
# computed by the model from operator-written groups, even for a registered target
MODEL_DERIVED_VARS = frozenset(("accelmon_provider", POLICY_ID_VAR))


def digest(value):
    """Stable short id of plain data: the first 16 hex digits of the SHA-256 of its canonical JSON."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class HostPlan:
    """One target as inventory: its groups (model paths), variables and class groups.

    untrusted: names of the variables whose values a managed host wrote (registrations).
    """

    __slots__ = ("name", "primary_group", "groups", "variables", "classes", "untrusted")

    def __init__(self, name, primary_group, groups, variables, classes, untrusted=frozenset()):
        self.name = name
        self.primary_group = primary_group
        self.groups = groups
        self.variables = variables
        self.classes = classes
        self.untrusted = untrusted


class InventoryPlan:
    """classes: {group name: (variables, trusted)}; hosts: [HostPlan], sorted by name."""

    __slots__ = ("classes", "hosts")

    def __init__(self, classes, hosts):
        self.classes = classes
        self.hosts = hosts


class _Classes:
    """Names the class of a value once per distinct value.

    Targets without overrides that share their groups share one result object (memo by
    identity); other equal values are recognized by their digest.
    """

    def __init__(self, prefix, variable):
        self.prefix = prefix
        self.variable = variable
        self.groups = {}
        self._by_id = {}

    def name(self, value, trusted):
        known = self._by_id.get((id(value), trusted))
        if known is not None and known[0] is value:
            return known[1], known[2]
        ident = digest(value)
        name = self.prefix + ident + ("" if trusted else REGISTERED_SUFFIX)
        if name not in self.groups:
            self.groups[name] = ({self.variable: value}, trusted)
        self._by_id[(id(value), trusted)] = (value, name, ident)  # holds value: its id stays unique
        return name, ident


def plan(model, with_trace=False):
    """The inventory plan of a FleetModel.

    Computes every target's effective policy first, so an error (a strict conflict) is
    raised before anything is added to an inventory. A registered target (written by the
    managed host itself) is untrusted: the variables it wrote, and a policy class it shapes
    with its own overrides, are marked so; a class of model-only values is trusted.
    """
    policies = _Classes(POLICY_GROUP_PREFIX, POLICY_VAR)
    traces = _Classes(TRACE_GROUP_PREFIX, TRACE_VAR)
    hosts = []
    for name in sorted(model.targets):
        target = model.targets[name]
        policy, trace, conflicts = model.effective(name)
        class_trusted = not (target.registered and target.contributions)
        group, ident = policies.name(policy, class_trusted)
        classes = [group]
        variables = model.target_vars(name)
        variables[POLICY_ID_VAR] = ident
        if with_trace:
            classes.append(traces.name(trace, class_trusted)[0])
        if conflicts:
            variables[CONFLICTS_VAR] = conflicts
        untrusted = frozenset(variables) - MODEL_DERIVED_VARS if target.registered else frozenset()
        hosts.append(HostPlan(name, target.primary_group, target.groups, variables, classes, untrusted))
    merged = dict(policies.groups)
    merged.update(traces.groups)
    return InventoryPlan(dict((k, merged[k]) for k in sorted(merged)), hosts)
