# -*- coding: utf-8 -*-
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)

from __future__ import annotations

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
  - Each target's effective check and alert-rule policy is computed by the collection's policy
    engine. Targets with the same effective policy form one policy class, a synthetic group
    C(_accelmon_policy_<id>) that carries C(accelmon_effective_policy) as a group variable;
    each host carries its own small variables and C(accelmon_policy_id). So
    C(hostvars[host].accelmon_effective_policy) is the host's policy, and
    C(ansible-inventory --list --export) (an AWX inventory update) holds each distinct policy once.
    Provider and provider metadata that come from the primary group's path alone are shared
    the same way (C(_accelmon_provider_<id>)).
  - Model values are trusted like a YAML inventory's (plain values in C(--list), templates in
    model C(vars) work); values from registrations, written by managed hosts, are not.
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
      - Only C(*.yml)/C(*.yaml) files directly in the directory are read (not subdirectories, not
        C(*.json)). Registrations are untrusted, so a file may hold only C(name), C(address),
        C(primary_group), C(groups), C(accelerators), C(provider_metadata) and C(description);
        a file that cannot be read, holds another key, more than one host, or a name taken by the
        model or another registration is skipped with a warning, never failing the inventory.
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
      - Also set C(accelmon_policy_trace), where every policy value came from, shared like the
        policy through C(_accelmon_trace_<id>) groups. Off by default, as the trace is large and
        available on demand from the P(accelmon.monitoring.policy_trace#filter) filter or
        C(make policy POLICY_SOURCE=<source> POLICY_TARGET=<target>).
    type: bool
    default: false
notes:
  - The model format, the policy semantics and the host variables are described in the
    collection's docs/fleet-model.md.
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
from ansible.inventory.helpers import get_group_vars
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.vars import combine_vars

from ansible_collections.accelmon.monitoring.plugins.module_utils.fleet_loader import (
    build_located,
    raw_is_fresh,
    read_raw,
    resolve_sources,
)
from ansible_collections.accelmon.monitoring.plugins.module_utils import fleet_inventory
from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_errors import FleetModelError
from ansible_collections.accelmon.monitoring.plugins.plugin_utils.trust import trusted, untrusted

SOURCE_SUFFIXES = ("accelmon.yml", "accelmon.yaml")


def populate(inventory, model, with_trace=False):
    """Create namespace, model and policy-class groups, then hosts and their variables.

    Public inventory API only (add_group, add_child, add_host, set_variable). Returns the
    host names added; every name used afterwards is the one add_group/add_host returned
    (sanitizing may change it).
    """
    # Plan every host first: an error (a strict conflict) then leaves the inventory
    # untouched instead of half-populated.
    layout = fleet_inventory.plan(model, with_trace)
    names = {}
    for namespace in sorted(model.namespaces):
        names[namespace] = inventory.add_group(namespace)
    for path in sorted(model.groups):
        group = model.groups[path]
        names[path] = inventory.add_group(group.safe_name)
        for key, value in group.vars.items():
            inventory.set_variable(names[path], key, trusted(value))
    for path in sorted(model.groups):
        group = model.groups[path]
        parent = group.parent or group.namespace
        inventory.add_child(names[parent], names[path])
    if model.rule_template_specs:
        # Template definitions (not policy) for the alert_rules action: one copy on "all".
        # They hold Prometheus's own {{ $labels.x }} templates: never templated by Ansible.
        inventory.set_variable("all", "accelmon_rule_templates", untrusted(model.rule_template_specs))
    for class_name, (class_vars, is_trusted) in layout.classes.items():
        names[class_name] = inventory.add_group(class_name)
        mark = trusted if is_trusted else untrusted
        for key, value in class_vars.items():
            inventory.set_variable(names[class_name], key, mark(value))
    hosts = []
    for entry in layout.hosts:
        host = inventory.add_host(entry.name, group=names[entry.primary_group])
        for path in entry.groups:
            inventory.add_child(names[path], host)
        for class_name in entry.classes:
            inventory.add_child(names[class_name], host)
        for key, value in entry.variables.items():
            inventory.set_variable(host, key, untrusted(value) if key in entry.untrusted else trusted(value))
        hosts.append(host)
    return hosts


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    """Thin adapter: file handling and caching here, everything else in module_utils."""

    NAME = "accelmon.monitoring.fleet"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(SOURCE_SUFFIXES)

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
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
            ignored = []
            files, reg_files = resolve_sources(base_dir, self.get_option("model"), registrations, ignored)
            for entry, reason in ignored:
                self.display.warning(
                    "%s: registrations: %s is not read: %s. Fix: registrations are *.yml/*.yaml files directly "
                    "in the directory, one host each; move or remove it" % (path, entry, reason)
                )
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
            for skipped in model.skipped:
                # untrusted input: a bad registration is left out, never fatal
                self.display.warning("%s: registration skipped: %s" % (path, skipped))
            hosts = populate(self.inventory, model, self.get_option("policy_trace"))
        except FleetModelError as exc:
            raise AnsibleParserError("accelmon fleet model: %s" % exc)
        self._construct(hosts, strict)

    def _construct(self, hosts, strict):
        if not (self.get_option("compose") or self.get_option("groups") or self.get_option("keyed_groups")):
            return
        for host in hosts:
            # group variables too: the effective policy is a variable of the host's policy class
            entity = self.inventory.get_host(host)
            hostvars = combine_vars(get_group_vars(entity.get_groups()), entity.get_vars())
            self._set_composite_vars(self.get_option("compose"), hostvars, host, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), hostvars, host, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, host, strict=strict)
