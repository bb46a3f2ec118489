# -*- coding: utf-8 -*-
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""How a fleet model becomes inventory: groups, hosts, small host variables, policy classes.

Thousands of targets share a few hundred effective policies. Each distinct effective
policy is one synthetic group, `_accelmon_policy_<id>`, carrying `accelmon_effective_policy`
as a group variable; its targets are its members and carry `accelmon_policy_id: <id>`. So
`hostvars[h].accelmon_effective_policy` reads as before, while `ansible-inventory --export`
(what an AWX inventory update stores) holds every distinct policy once. The trace, when
asked for, is shared the same way through `_accelmon_trace_<id>` groups, and so are a
target's provider and provider metadata (`_accelmon_provider_<id>`) when they come from its
primary group's path alone (a target with its own `provider_metadata` carries both itself).

Pure data: the inventory plugin applies the plan through Ansible's public inventory API.
"""

from __future__ import annotations

import hashlib
import json

POLICY_GROUP_PREFIX = "_accelmon_policy_"
TRACE_GROUP_PREFIX = "_accelmon_trace_"
PROVIDER_GROUP_PREFIX = "_accelmon_provider_"
PROVIDER_VARS = ("accelmon_provider", "accelmon_provider_metadata")
POLICY_VAR = "accelmon_effective_policy"
POLICY_ID_VAR = "accelmon_policy_id"
TRACE_VAR = "accelmon_policy_trace"
CONFLICTS_VAR = "accelmon_policy_conflicts"
REGISTERED_SUFFIX = "_registered"
# computed by the model from operator-written groups, even for a registered target
MODEL_DERIVED_VARS = frozenset(("accelmon_provider", POLICY_ID_VAR))
ID_LENGTH = 12


def digest(value):
    """Stable short id of plain data: the first 12 hex digits of the SHA-256 of its canonical JSON."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:ID_LENGTH]


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

    def __init__(self, prefix, variables, key=None):
        self.prefix = prefix
        self.variables = variables
        self.groups = {}
        self._by_id = {}
        self._by_key = {}
        self._key = key

    def name(self, value, trusted):
        """(group name, id) of the class of value: a variable's value, or a tuple of them."""
        known = self._by_id.get((id(value), trusted))
        if known is not None and known[0] is value:
            return known[1], known[2]
        if self._key is not None:
            key = self._key(value)
            ident = self._by_key.get(key)
            if ident is None:
                ident = self._by_key[key] = digest(value)
        else:
            ident = digest(value)
        name = self.prefix + ident + ("" if trusted else REGISTERED_SUFFIX)
        if name not in self.groups:
            values = value if isinstance(value, tuple) else (value,)
            self.groups[name] = (dict(zip(self.variables, values)), trusted)
        self._by_id[(id(value), trusted)] = (value, name, ident)  # holds value: its id stays unique
        return name, ident


def plan(model, with_trace=False):
    """The inventory plan of a FleetModel.

    Computes every target's effective policy first, so an error (a strict conflict) is
    raised before anything is added to an inventory. A registered target (written by the
    managed host itself) is untrusted: the variables it wrote, and a policy class it shapes
    with its own overrides, are marked so; a class of model-only values is trusted.
    """
    policies = _Classes(POLICY_GROUP_PREFIX, (POLICY_VAR,), model.policy_key)
    traces = _Classes(TRACE_GROUP_PREFIX, (TRACE_VAR,))
    providers = _Classes(PROVIDER_GROUP_PREFIX, PROVIDER_VARS)
    by_primary = {}  # primary group -> its (provider, metadata): one object per path
    hosts = []
    for name in sorted(model.targets):
        target = model.targets[name]
        policy, trace, conflicts = model.effective(name, with_trace)
        class_trusted = not (target.registered and target.contributions)
        group, ident = policies.name(policy, class_trusted)
        classes = [group]
        variables = model.target_vars(name)
        variables[POLICY_ID_VAR] = ident
        if with_trace:
            classes.append(traces.name(trace, class_trusted)[0])
        if not target.provider_metadata and not target.registered:
            shared = by_primary.get(target.primary_group)
            if shared is None:
                shared = by_primary[target.primary_group] = tuple(variables[k] for k in PROVIDER_VARS)
            classes.append(providers.name(shared, True)[0])
            for key in PROVIDER_VARS:
                del variables[key]
        if conflicts:
            variables[CONFLICTS_VAR] = conflicts
        untrusted = frozenset(variables) - MODEL_DERIVED_VARS if target.registered else frozenset()
        hosts.append(HostPlan(name, target.primary_group, target.groups, variables, classes, untrusted))
    merged = dict(policies.groups)
    merged.update(traces.groups)
    merged.update(providers.groups)
    return InventoryPlan(dict((k, merged[k]) for k in sorted(merged)), hosts)
