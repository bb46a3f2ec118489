# -*- coding: utf-8 -*-
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: fleet
short_description: Accelerator fleet model as inventory, with merged monitoring policies
version_added: 0.1.0
author:
  - accelmon maintainers (@accelmon)
description:
  - Reads an accelmon fleet model (namespaces with priorities, hierarchical groups, targets
    with several memberships, provider metadata, group and target policies) from a file or a
    directory of YAML files, plus an optional directory of self-registered hosts.
  - Every model group becomes an Ansible group named after its path
    (C(infrastructure:aws/us-east-1) becomes C(infrastructure__aws__us_east_1)); child groups are
    children of their parent and every namespace is a group of its own, so
    C(-l 'environment__production:&infrastructure__aws') works.
  - Policy does not travel through Ansible group variables. Each host gets its effective check
    and alert-rule policy, computed by the collection's policy engine, in
    C(accelmon_effective_policy), and where every value came from in C(accelmon_policy_trace).
  - Source files must end in C(accelmon.yml) or C(accelmon.yaml).
extends_documentation_fragment:
  - constructed
  - inventory_cache
options:
  plugin:
    description: Marks this file as a source for this plugin.
    required: true
    type: str
    choices: [accelmon.monitoring.fleet]
  model:
    description:
      - Model file, or directory of C(*.yml)/C(*.yaml)/C(*.json) model files read recursively,
        relative to this source file. A list combines several.
      - A name (group, target, namespace, rule template) defined in two files is an error naming both.
    type: list
    elements: str
    required: true
  registrations:
    description:
      - Directory of host registrations, one file per host (written by the bootstrap playbook),
        relative to this source file. A missing directory means no registrations (with a warning).
    type: str
  strict:
    description:
      - When true, two groups of one namespace and depth that set one policy value differently
        are an error (otherwise a warning recorded in the trace and in C(accelmon_policy_conflicts)),
        and compose/keyed_groups errors fail the parse.
    type: bool
    default: false
  policy_trace:
    description:
      - Set C(accelmon_policy_trace) on every host. Turn off to shrink very large inventories;
        the effective policy is computed either way.
    type: bool
    default: true
notes:
  - The model format and policy semantics are described in the collection's docs/fleet-model.md and
    docs/policy-model.md.
  - With caching enabled the raw model files are cached and re-read when any file's modification time
    changes; groups and policies are recomputed on every run.
seealso:
  - name: Fleet model
    description: Model format, merge order, strategies and host variables.
    link: https://github.com/accelmon/monitoring/blob/main/docs/fleet-model.md
"""

EXAMPLES = r"""
# inventory/production.accelmon.yml
plugin: accelmon.monitoring.fleet
model: fleet/
registrations: registrations/
strict: true

# Constructed options work on top of the model's groups and host variables
---
plugin: accelmon.monitoring.fleet
model: fleet/
keyed_groups:
  - key: accelmon_provider
    prefix: provider
compose:
  cpu_alert_at: accelmon_effective_policy.alert_rules.HighCPUUsage.thresholds.cpu_percent
groups:
  nvidia_hosts: accelmon_accelerators | default([]) | selectattr('vendor', 'equalto', 'nvidia') | list | length > 0

# Then:
#   ansible-inventory -i inventory/production.accelmon.yml --graph
#   ansible-playbook -i inventory/production.accelmon.yml -l 'environment__production:&infrastructure__aws' site.yml
"""

import os

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.accelmon.monitoring.plugins.module_utils.fleet_loader import (
    build_located,
    raw_is_fresh,
    read_raw,
    resolve_sources,
)
from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_errors import FleetModelError

SOURCE_SUFFIXES = ("accelmon.yml", "accelmon.yaml")


def _variable_setter(inventory):
    """set_variable for many hosts that share most of their (large) values.

    ansible-core 2.19 wraps the inventory of a plugin in a proxy whose set_variable runs
    every value through a visitor that copies and tags each node (about 40 microseconds a
    node: a policy plus its trace is ~1,500 nodes). Hosts share most policy items and trace
    entries (the engine interns them), so visit each distinct object once and hand the
    visited copy to the wrapped InventoryData. The result is what the public path produces;
    without the proxy (older or newer cores, a plain InventoryData) the public path is used.
    """
    wrapped = getattr(inventory, "__wrapped__", None)
    inspector = getattr(inventory, "_inspector", None) if wrapped is not None else None
    if inspector is None or not callable(getattr(inspector, "visit", None)):
        return inventory.set_variable
    visited = {}  # id(original) -> visited copy
    keep = []  # the originals, so that their ids stay unique while memoized
    get = visited.get

    def visit(obj):
        copy = get(id(obj))
        if copy is None:
            copy = visited[id(obj)] = inspector.visit(obj)
            keep.append(obj)
        return copy

    def visit_trace(trace):
        return dict((leaf, get(id(entry)) or visit(entry)) for leaf, entry in trace.items())

    def visit_policy(policy):
        return dict(
            (
                section,
                visit(items) if section == "alerting" else dict((k, get(id(v)) or visit(v)) for k, v in items.items()),
            )
            for section, items in policy.items()
        )

    shaped = {"accelmon_policy_trace": visit_trace, "accelmon_effective_policy": visit_policy}

    def set_variable(host, name, value):
        shape = shaped.get(name)
        if shape is None:
            value = visit(value)
        else:
            # hosts with the same groups and no overrides share the very same result
            whole = get(id(value))
            if whole is None:
                whole = visited[id(value)] = shape(value)
                keep.append(value)
            value = whole
        wrapped.set_variable(host, name, value)

    return set_variable


def populate(inventory, model, with_trace=True):
    """Create namespace and model groups, link children, then add hosts and variables.

    Returns the list of host names added. Every name used afterwards is the one add_group
    returned (sanitizing may change it).
    """
    # Compute every host's variables first: an error (a strict conflict) then leaves the
    # inventory untouched instead of half-populated.
    prepared = [(name, model.host_vars(name)) for name in sorted(model.targets)]
    names = {}
    for namespace in sorted(model.namespaces):
        names[namespace] = inventory.add_group(namespace)
    for path in sorted(model.groups):
        group = model.groups[path]
        names[path] = inventory.add_group(group.safe_name)
        for key, value in group.vars.items():
            inventory.set_variable(names[path], key, value)
    for path in sorted(model.groups):
        group = model.groups[path]
        parent = group.parent or group.namespace
        inventory.add_child(names[parent], names[path])
    if model.rule_template_specs:
        # Template definitions (not policy) for the alert_rules action: one copy on "all".
        inventory.set_variable("all", "accelmon_rule_templates", model.rule_template_specs)
    hosts = []
    set_variable = _variable_setter(inventory)
    for name, host_vars in prepared:
        target = model.targets[name]
        host = inventory.add_host(name, group=names[target.primary_group])
        for path in target.groups:
            inventory.add_child(names[path], host)
        for key, value in host_vars.items():
            if key == "accelmon_policy_trace" and not with_trace:
                continue
            set_variable(host, key, value)
        hosts.append(host)
    return hosts


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    """Thin adapter: file handling and caching here, everything else in module_utils."""

    NAME = "accelmon.monitoring.fleet"

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(SOURCE_SUFFIXES)

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        self._read_config_data(path)
        base_dir = os.path.dirname(os.path.abspath(path))
        strict = self.get_option("strict")
        try:
            registrations = self.get_option("registrations")
            if registrations and not os.path.exists(os.path.join(base_dir, registrations)):
                self.display.warning(
                    "%s: registrations directory %s does not exist yet; no registered hosts"
                    % (path, os.path.join(base_dir, registrations))
                )
            files, reg_files = resolve_sources(base_dir, self.get_option("model"), registrations)
            raw = None
            cache_key = self.get_cache_key(path)
            use_cache = self.get_option("cache") and cache
            if use_cache:
                try:
                    raw = self._cache[cache_key]
                except KeyError:
                    raw = None
                if raw is not None and not raw_is_fresh(raw, files, reg_files):
                    raw = None
            if raw is None:
                raw = read_raw(files, reg_files)
                if self.get_option("cache"):
                    self._cache[cache_key] = raw
            model = build_located(raw, strict)
            hosts = populate(self.inventory, model, self.get_option("policy_trace"))
        except FleetModelError as exc:
            raise AnsibleParserError("accelmon fleet model: %s" % exc)
        self._construct(hosts, strict)

    def _construct(self, hosts, strict):
        if not (self.get_option("compose") or self.get_option("groups") or self.get_option("keyed_groups")):
            return
        for host in hosts:
            hostvars = self.inventory.get_host(host).get_vars()
            self._set_composite_vars(self.get_option("compose"), hostvars, host, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), hostvars, host, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, host, strict=strict)
