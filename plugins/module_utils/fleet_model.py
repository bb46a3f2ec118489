# -*- coding: utf-8 -*-
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""The fleet model: namespaces, hierarchical groups, targets, and their policies.

Pure data in, validated model out (YAML reading lives in fleet_loader). The model is
built completely before anything uses it, so a bad file never leaves half a fleet.
Effective policies are computed by policy_engine, cached per distinct ordered group set
(thousands of targets usually share a few hundred sets).
"""

from __future__ import annotations

import re

from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_catalog import (
    Catalog,
    validate_rule_template,
)
from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_engine import (
    Engine,
    Source,
    normalize_policy,
)
from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_errors import (
    FleetModelError,
    FleetModelErrors,
    suggest,
)

try:
    import netaddr

    HAS_NETADDR = True
except ImportError:  # pragma: no cover - reported when an address is validated
    HAS_NETADDR = False

DEFAULT_NAMESPACES = {"environment": 10, "logical": 50, "infrastructure": 100}
INFRASTRUCTURE = "infrastructure"
PROVIDERS = ("aws", "gcp", "azure", "onprem", "other")
VENDORS = ("nvidia", "amd", "gaudi", "rebellions", "furiosa", "tenstorrent", "tpu")
MODEL_KEYS = ("namespaces", "groups", "targets", "rule_templates")
GROUP_KEYS = ("description", "provider", "metadata", "checks", "alert_rules", "alerting", "vars")
TARGET_KEYS = (
    "address",
    "primary_group",
    "groups",
    "provider_metadata",
    "accelerators",
    "overrides",
    "vars",
    "description",
)
# What a registration file may hold: exactly what the registrar writes
# (bootstrap_request.registration_document). No vars, no overrides: a managed host never
# sets its own connection variables or policy.
REGISTRATION_KEYS = ("name", "address", "primary_group", "groups", "accelerators", "provider_metadata", "description")
POLICY_KEYS = ("checks", "alert_rules", "alerting")
# host variables the inventory sets (docs/fleet-model.md, "Host variables"): not for vars:
CONTRACT_VARS = (
    "accelmon_groups",
    "accelmon_primary_group",
    "accelmon_provider",
    "accelmon_provider_metadata",
    "accelmon_accelerators",
    "accelmon_policy_id",
    "accelmon_effective_policy",
    "accelmon_policy_trace",
    "accelmon_policy_conflicts",
    "accelmon_rule_templates",
)

# The model grammar: always used with fullmatch (re.match with "$" accepts a trailing newline).
_NAMESPACE_RE = re.compile(r"[a-z][a-z0-9_]*")
_SEGMENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_TARGET_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_HOSTNAME_RE = re.compile(
    r"(?=.{1,253}\Z)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
_IPV4ISH_RE = re.compile(r"[0-9.]+")
_UNSAFE_RE = re.compile(r"[^a-z0-9_]")


def safe_group_name(path):
    """Ansible group name of a model path.

    `infrastructure:aws/us-east-1` -> `infrastructure__aws__us_east_1`: the namespace and
    each segment are joined by a double underscore, segments are lower-cased and every
    character outside [a-z0-9_] becomes `_`. Paths that map to one name are rejected by
    the model (FleetModel checks collisions), so the mapping is unambiguous.
    """
    namespace, _unused, rest = path.partition(":")
    parts = [namespace] + (rest.split("/") if rest else [])
    return "__".join(_UNSAFE_RE.sub("_", p.lower()) for p in parts)


class Group:
    __slots__ = (
        "path",
        "namespace",
        "segments",
        "declared",
        "provider",
        "metadata",
        "contributions",
        "vars",
        "description",
        "source_file",
        "safe_name",
    )

    def __init__(self, path, namespace, segments):
        self.path = path
        self.namespace = namespace
        self.segments = segments
        self.declared = False
        self.provider = None
        self.metadata = {}
        self.contributions = []
        self.vars = {}
        self.description = None
        self.source_file = None
        self.safe_name = safe_group_name(path)

    @property
    def depth(self):
        return len(self.segments)

    @property
    def parent(self):
        if len(self.segments) <= 1:
            return None
        return "%s:%s" % (self.namespace, "/".join(self.segments[:-1]))


class Target:
    __slots__ = (
        "name",
        "address",
        "primary_group",
        "groups",
        "provider_metadata",
        "accelerators",
        "contributions",
        "vars",
        "description",
        "source_file",
        "registered",
    )

    def __init__(self, name):
        self.name = name
        self.address = None
        self.primary_group = None
        self.groups = []
        self.provider_metadata = {}
        self.accelerators = None
        self.contributions = []
        self.vars = {}
        self.description = None
        self.source_file = None
        self.registered = False


class FleetModel:
    """A validated fleet: use effective(), host_vars() and the group maps."""

    def __init__(self, namespaces, groups, targets, catalog, strict, rule_template_specs=None, skipped=None):
        self.namespaces = namespaces
        # registrations left out (untrusted input: a bad file is skipped, never fatal), one
        # FleetModelError each, naming the file, the reason and the fix; the caller warns
        self.skipped = list(skipped or [])
        # the model's own rule templates, validated (catalog form; the rule compiler uses them as they are)
        self.rule_template_specs = rule_template_specs or {}
        self.groups = groups
        self.targets = targets
        self.catalog = catalog
        self.strict = strict
        self._engine = Engine(catalog)

    # -- membership ----------------------------------------------------------------

    def ancestors_and_self(self, path):
        out = []
        while path is not None:
            out.append(path)
            path = self.groups[path].parent
        return out

    def membership(self, target):
        """All groups a target belongs to (own and implicit ancestors), in merge order."""
        seen = set()
        for path in [target.primary_group] + target.groups:
            seen.update(self.ancestors_and_self(path))
        ns = self.namespaces
        return sorted(
            seen, key=lambda p: (-ns[self.groups[p].namespace], self.groups[p].namespace, self.groups[p].depth, p)
        )

    def own_groups(self, target):
        """Full paths of the target's own groups, primary first."""
        out = [target.primary_group]
        out.extend(g for g in target.groups if g != target.primary_group)
        return out

    # -- policy ----------------------------------------------------------------------

    def _group_sources(self, ordered):
        for path in ordered:
            group = self.groups[path]
            if group.contributions:
                yield Source(path, group.contributions, (group.namespace, group.depth))

    def effective(self, name, trace=True):
        """(policy, trace, conflicts) of one target; trace is None when not asked for.

        Results may be shared between targets: do not mutate them.
        """
        target = self.targets[name]
        ordered = tuple(self.membership(target))
        target_source = Source("target:%s" % name, target.contributions) if target.contributions else None
        result = self._engine.effective(ordered, lambda: self._group_sources(ordered), target_source, trace)
        if self.strict and result[2]:
            first = result[2][0]
            raise FleetModelError(
                "conflicting values for %s: %s sets %r, %s sets %r (same namespace and depth)"
                % (first["path"], first["sources"][0], first["values"][0], first["sources"][1], first["values"][1]),
                item="target %s" % name,
                fix="set the value in one of the two groups only, or set it on a deeper group, "
                "or in the target's overrides (strict: true makes this an error)",
                source_file=self.groups[first["sources"][1]].source_file,
            )
        return result

    def policy_key(self, policy):
        """Hashable identity of an effective policy of this model: equal policies, equal keys."""
        return self._engine.policy_key(policy)

    def provider(self, target):
        provider = None
        metadata = {}
        for path in reversed(self.ancestors_and_self(target.primary_group)):
            group = self.groups[path]
            if group.provider:
                provider = group.provider
            metadata.update(group.metadata)
        metadata.update(target.provider_metadata)
        return provider, metadata

    def target_vars(self, name):
        """The target's own host variables: everything of the contract but its policy.

        Small and per host (docs/fleet-model.md, "Host variables"); the effective policy
        is shared by every target of one policy class (see fleet_inventory).
        """
        target = self.targets[name]
        provider, metadata = self.provider(target)
        hv = dict(target.vars)
        if target.address:
            hv["ansible_host"] = target.address
        hv["accelmon_groups"] = self.own_groups(target)
        hv["accelmon_primary_group"] = target.primary_group
        hv["accelmon_provider"] = provider
        hv["accelmon_provider_metadata"] = metadata
        if target.accelerators is not None:
            hv["accelmon_accelerators"] = target.accelerators
        return hv

    def host_vars(self, name):
        """What hostvars[name] holds for one target: its own variables, its effective
        policy, the trace and any conflicts (all of docs/fleet-model.md, "Host variables")."""
        policy, trace, conflicts = self.effective(name)
        hv = self.target_vars(name)
        hv["accelmon_effective_policy"] = policy
        hv["accelmon_policy_trace"] = trace
        if conflicts:
            hv["accelmon_policy_conflicts"] = conflicts
        return hv


# ------------------------------------------------------------------------------ building


class _Builder:
    def __init__(self, strict):
        self.strict = strict
        self.errors = []
        self.namespaces = dict(DEFAULT_NAMESPACES)
        self.namespace_files = {}
        self.rule_templates = {}
        self.rule_template_specs = {}
        self.parsed_paths = {}
        self.template_files = {}
        self.group_specs = {}  # path -> (spec, file)
        self.target_specs = {}  # name -> (spec, file, path-in-doc prefix)
        self.registered = set()  # targets from registrations (written by managed hosts)
        self.skipped = []  # registrations left out, one FleetModelError each
        self.registered_names = {}  # lower-cased registered name -> its file
        self.model_names = {}  # lower-cased model target name -> where it is defined

    def error(self, exc):
        self.errors.append(exc)

    # -- pass 1: collect ---------------------------------------------------------------

    def add_document(self, data, source_file):
        if data is None:
            return
        if not isinstance(data, dict):
            self.error(
                FleetModelError(
                    "a model file must be a mapping with namespaces, groups, targets",
                    fix="see docs/fleet-model.md",
                    source_file=source_file,
                )
            )
            return
        for key in data:
            if key not in MODEL_KEYS:
                self.error(
                    FleetModelError(
                        "unknown top-level key %r%s" % (key, suggest(key, MODEL_KEYS)),
                        fix="top-level keys are: %s" % ", ".join(MODEL_KEYS),
                        source_file=source_file,
                        path=(key,),
                    )
                )
        for section in MODEL_KEYS:
            if section in data and data[section] is not None and not isinstance(data[section], dict):
                self.error(
                    FleetModelError(
                        "%s must be a mapping" % section,
                        fix="write %s: {name: {...}}" % section,
                        source_file=source_file,
                        path=(section,),
                    )
                )
                return
        for name, spec in (data.get("namespaces") or {}).items():
            self._add_namespace(name, spec, source_file)
        for name, spec in (data.get("rule_templates") or {}).items():
            if name in self.template_files:
                self.error(
                    FleetModelError(
                        "rule template defined twice (also in %s)" % self.template_files[name],
                        item="rule template %s" % name,
                        fix="keep one definition",
                        source_file=source_file,
                        path=("rule_templates", name),
                    )
                )
                continue
            self.template_files[name] = source_file
            try:
                self.rule_templates[name] = self.rule_template_specs[name] = validate_rule_template(
                    name, spec, source_file
                )
            except FleetModelError as exc:
                self.error(exc)
        for path, spec in (data.get("groups") or {}).items():
            if path in self.group_specs:
                self.error(
                    FleetModelError(
                        "group defined twice (also in %s)" % self.group_specs[path][1],
                        item="group %s" % path,
                        fix="merge the two definitions into one file",
                        source_file=source_file,
                        path=("groups", path),
                    )
                )
                continue
            self.group_specs[path] = (spec, source_file)
        for name, spec in (data.get("targets") or {}).items():
            self.add_target_spec(name, spec, source_file, ("targets", name))

    def add_target_spec(self, name, spec, source_file, doc_path, registered=False):
        name = str(name)
        if name in self.target_specs:
            self.error(
                FleetModelError(
                    "target defined twice (also in %s)" % self.target_specs[name][1],
                    item="target %s" % name,
                    fix="remove one of the definitions (a registered host must not also be in the model)",
                    source_file=source_file,
                    path=doc_path,
                )
            )
            return
        self.target_specs[name] = (spec, source_file, doc_path)
        if registered:
            self.registered.add(name)

    def _add_namespace(self, name, spec, source_file):
        where = dict(item="namespace %s" % name, source_file=source_file, path=("namespaces", name))
        if not isinstance(name, str) or not _NAMESPACE_RE.fullmatch(name):
            self.error(
                FleetModelError(
                    "namespace names are lower-case identifiers", fix="rename it, e.g. tenant or cost_center", **where
                )
            )
            return
        if name in self.namespace_files:
            self.error(
                FleetModelError(
                    "namespace defined twice (also in %s)" % self.namespace_files[name],
                    fix="keep one definition",
                    **where,
                )
            )
            return
        self.namespace_files[name] = source_file
        priority = spec.get("priority") if isinstance(spec, dict) else None
        if isinstance(priority, bool) or not isinstance(priority, int):
            self.error(
                FleetModelError(
                    "priority %r is not an integer" % (priority,),
                    fix="write %s: {priority: 50} (lower number = higher priority)" % name,
                    **where,
                )
            )
            return
        unknown = set(spec) - {"priority", "description"}
        if unknown:
            self.error(
                FleetModelError(
                    "unknown key(s) %s" % ", ".join(sorted(unknown)),
                    fix="namespaces take priority and description",
                    **where,
                )
            )
        self.namespaces[name] = priority

    # -- pass 2: groups --------------------------------------------------------------------

    def parse_path(self, path, source_file, doc_path, item):
        """Split and check a group path; returns (namespace, segments) or raises."""
        known = self.parsed_paths.get(path) if isinstance(path, str) else None
        if known is not None:  # thousands of targets name the same few hundred groups
            return known
        if not isinstance(path, str) or ":" not in path:
            raise FleetModelError(
                "group path %r has no namespace" % (path,),
                item=item,
                fix="write namespace:segment/segment, e.g. infrastructure:aws/us-east-1",
                source_file=source_file,
                path=doc_path,
            )
        namespace, _unused, rest = path.partition(":")
        if namespace not in self.namespaces:
            raise FleetModelError(
                "unknown namespace %r in %r%s" % (namespace, path, suggest(namespace, self.namespaces)),
                item=item,
                fix="use one of %s, or declare it under namespaces: with a priority"
                % ", ".join(sorted(self.namespaces)),
                source_file=source_file,
                path=doc_path,
            )
        segments = rest.split("/") if rest else []
        if not segments or not all(_SEGMENT_RE.fullmatch(s) for s in segments):
            raise FleetModelError(
                "group path %r has an empty or invalid segment" % path,
                item=item,
                fix="segments are letters, digits, '.', '_' and '-', separated by '/'",
                source_file=source_file,
                path=doc_path,
            )
        self.parsed_paths[path] = (namespace, segments)
        return namespace, segments

    def build_groups(self, catalog):
        groups = {}
        for path, (spec, source_file) in self.group_specs.items():
            doc_path = ("groups", path)
            item = "group %s" % path
            try:
                namespace, segments = self.parse_path(path, source_file, doc_path, item)
                for depth in range(1, len(segments) + 1):
                    sub = "%s:%s" % (namespace, "/".join(segments[:depth]))
                    if sub not in groups:
                        groups[sub] = Group(sub, namespace, segments[:depth])
                group = groups[path]
                group.declared = True
                group.source_file = source_file
                self._fill_group(group, spec or {}, catalog, source_file, doc_path, item)
            except FleetModelError as exc:
                self.error(exc)
        return groups

    def _fill_group(self, group, spec, catalog, source_file, doc_path, item):
        def fail(msg, fix, sub=()):
            raise FleetModelError(msg, item=item, fix=fix, source_file=source_file, path=doc_path + tuple(sub))

        if not isinstance(spec, dict):
            fail("a group must be a mapping", "write {} for a group without settings")
        for key in spec:
            if key not in GROUP_KEYS:
                fail(
                    "unknown key %r%s" % (key, suggest(key, GROUP_KEYS)),
                    "group keys are: %s" % ", ".join(GROUP_KEYS),
                    (key,),
                )
        if "provider" in spec:
            if group.namespace != INFRASTRUCTURE:
                fail(
                    "provider is only allowed on infrastructure groups",
                    "move provider to the infrastructure group this belongs to",
                    ("provider",),
                )
            if spec["provider"] not in PROVIDERS:
                fail(
                    "provider %r is not one of %s%s"
                    % (spec["provider"], ", ".join(PROVIDERS), suggest(spec["provider"], PROVIDERS)),
                    "pick one of those (other for anything else)",
                    ("provider",),
                )
            group.provider = spec["provider"]
        if "metadata" in spec:
            if group.namespace != INFRASTRUCTURE:
                fail(
                    "metadata is only allowed on infrastructure groups",
                    "provider metadata comes from the infrastructure path; use vars: for other data",
                    ("metadata",),
                )
            if not isinstance(spec["metadata"], dict):
                fail("metadata must be a mapping", "write metadata: {region: us-east-1}", ("metadata",))
            group.metadata = spec["metadata"]
        if "vars" in spec:
            if not isinstance(spec["vars"], dict):
                fail("vars must be a mapping", "write vars: {ansible_user: ubuntu}", ("vars",))
            _check_vars(spec["vars"], fail)
            group.vars = spec["vars"]
        group.description = spec.get("description")
        policy = dict((k, spec[k]) for k in POLICY_KEYS if k in spec)
        group.contributions = normalize_policy(policy, catalog, item, source_file, doc_path)

    def check_safe_names(self, groups):
        seen = dict((ns, "%s (namespace)" % ns) for ns in self.namespaces)
        for path in sorted(groups):
            group = groups[path]
            other = seen.get(group.safe_name)
            if other is not None:
                self.error(
                    FleetModelError(
                        "Ansible group name %s of %r collides with %s" % (group.safe_name, path, other),
                        item="group %s" % path,
                        fix="rename one of the two segments so that they differ after lower-casing and "
                        "replacing characters other than letters, digits and '_' by '_'",
                        source_file=group.source_file,
                        path=("groups", path),
                    )
                )
            else:
                seen[group.safe_name] = repr(path)

    # -- pass 3: targets ----------------------------------------------------------------------

    def build_target(self, name, spec, source_file, doc_path, groups, catalog):
        item = "target %s" % name

        def fail(msg, fix, sub=()):
            raise FleetModelError(msg, item=item, fix=fix, source_file=source_file, path=doc_path + tuple(sub))

        if not _TARGET_RE.fullmatch(name):
            fail("target names are letters, digits, '.', '_' and '-'", "rename the target")
        if not isinstance(spec, dict):
            fail("a target must be a mapping", "give at least primary_group")
        for key in spec:
            if key not in TARGET_KEYS:
                fail(
                    "unknown key %r%s" % (key, suggest(key, TARGET_KEYS)),
                    "target keys are: %s" % ", ".join(TARGET_KEYS),
                    (key,),
                )
        target = Target(name)
        target.source_file = source_file
        if spec.get("address") is not None:
            target.address = _check_address(spec["address"], fail)
        primary = spec.get("primary_group")
        if not primary:
            fail(
                "primary_group is missing",
                "give the target's infrastructure group, e.g. primary_group: infrastructure:onprem/dc1/rack-a01",
            )
        ns, _unused = self.parse_path(primary, source_file, doc_path + ("primary_group",), item)
        if ns != INFRASTRUCTURE:
            fail(
                "primary group %r is outside the infrastructure namespace" % primary,
                "make primary_group an infrastructure:... group and list %r under groups" % primary,
                ("primary_group",),
            )
        self._require_group(primary, groups, fail, ("primary_group",))
        target.primary_group = primary
        member = spec.get("groups") or []
        if not isinstance(member, list):
            fail("groups must be a list of group paths", "write groups: [logical:ml-training]", ("groups",))
        for index, path in enumerate(member):
            self.parse_path(path, source_file, doc_path + ("groups", index), item)
            self._require_group(path, groups, fail, ("groups", index))
            if path not in target.groups and path != primary:
                target.groups.append(path)
        pm = spec.get("provider_metadata") or {}
        if not isinstance(pm, dict):
            fail(
                "provider_metadata must be a mapping",
                "write provider_metadata: {instance_type: p5.48xlarge}",
                ("provider_metadata",),
            )
        target.provider_metadata = pm
        if "accelerators" in spec:
            target.accelerators = _check_accelerators(spec["accelerators"], fail)
        tvars = spec.get("vars") or {}
        if not isinstance(tvars, dict):
            fail("vars must be a mapping", "write vars: {ansible_user: ubuntu}", ("vars",))
        _check_vars(tvars, fail)
        target.vars = tvars
        target.description = spec.get("description")
        target.contributions = normalize_policy(
            spec.get("overrides"), catalog, item, source_file, doc_path + ("overrides",)
        )
        return target

    def _require_group(self, path, groups, fail, sub):
        if path not in groups:
            declared = [p for p in groups if groups[p].declared]
            fail(
                "group %r is not declared%s" % (path, suggest(path, declared)),
                "declare it under groups: (an empty mapping {} is enough) or fix the path",
                sub,
            )


def _check_vars(given, fail):
    taken = sorted(k for k in given if k in CONTRACT_VARS)
    if taken:
        fail(
            "vars must not set %s: the inventory sets it from the model" % ", ".join(taken),
            "use the model's own keys (address, provider, metadata, policies) or another variable name",
            ("vars", taken[0]),
        )


def _check_address(address, fail):
    if not isinstance(address, str):
        fail("address %r is not a string" % (address,), 'quote it: address: "10.0.1.50"', ("address",))
    looks_ip = ":" in address or _IPV4ISH_RE.fullmatch(address)
    if looks_ip:
        if not HAS_NETADDR:
            fail(
                "cannot validate address without the netaddr Python library",
                "pip install netaddr on the controller",
                ("address",),
            )
        try:
            netaddr.IPAddress(address, flags=netaddr.INET_PTON if hasattr(netaddr, "INET_PTON") else 0)
        except (netaddr.AddrFormatError, ValueError, TypeError):
            fail(
                "address %r is not a valid IPv4/IPv6 address" % address,
                "give a valid IP address or a DNS name",
                ("address",),
            )
        return address
    if not _HOSTNAME_RE.fullmatch(address):
        fail(
            "address %r is neither an IP address nor a valid DNS name" % address,
            "give a valid IP address or a DNS name",
            ("address",),
        )
    return address


def _check_accelerators(value, fail):
    if not isinstance(value, list):
        fail(
            "accelerators must be a list",
            "write accelerators: [{vendor: nvidia, model: H100, count: 8}]",
            ("accelerators",),
        )
    for index, entry in enumerate(value):
        sub = ("accelerators", index)
        if not isinstance(entry, dict) or entry.get("vendor") not in VENDORS:
            fail(
                "accelerator vendor must be one of %s" % ", ".join(VENDORS),
                "write {vendor: nvidia, model: H100, count: 8}",
                sub,
            )
        count = entry.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            fail("accelerator count %r is not a positive integer" % (count,), "write count: 8", sub + ("count",))
        unknown = set(entry) - {"vendor", "model", "count"}
        if unknown:
            fail(
                "unknown accelerator key(s) %s" % ", ".join(sorted(unknown)),
                "accelerators take vendor, model, count",
                sub,
            )
    return value


def build_model(documents, registrations=(), strict=False):
    """Build a FleetModel from [(data, source_file)] model documents and registrations.

    Model documents are trusted and strict: a problem raises FleetModelError (one problem)
    or FleetModelErrors (several), never returning a partial model. Registrations are
    untrusted input: (data, source_file) or (None, source_file, error) where the file could
    not be read (error: {message, line, fix}); a bad one is left out and recorded in the
    model's ``skipped``, never fatal.
    """
    builder = _Builder(strict)
    for data, source_file in documents:
        builder.add_document(data, source_file)
    _raise(builder.errors)  # model names must be known before registrations are checked against them
    builder.model_names = dict(
        (name.lower(), "the model target %s in %s" % (name, spec[1])) for name, spec in builder.target_specs.items()
    )
    for entry in registrations:
        try:
            _add_registration(builder, *entry)
        except FleetModelError as exc:
            builder.skipped.append(exc)
    priorities = {}
    for ns, prio in builder.namespaces.items():
        if prio in priorities:
            builder.error(
                FleetModelError(
                    "namespaces %s and %s share priority %d" % (priorities[prio], ns, prio),
                    item="namespace %s" % ns,
                    fix="give every namespace its own priority (lower = higher priority)",
                    source_file=builder.namespace_files.get(ns),
                    path=("namespaces", ns),
                )
            )
        priorities[prio] = ns
    _raise(builder.errors)
    catalog = Catalog(builder.rule_templates)
    groups = builder.build_groups(catalog)
    builder.check_safe_names(groups)
    _raise(builder.errors)
    targets = {}
    for name, (spec, source_file, doc_path) in builder.target_specs.items():
        registered = name in builder.registered
        try:
            targets[name] = builder.build_target(name, spec, source_file, doc_path, groups, catalog)
            targets[name].registered = registered
        except FleetModelError as exc:
            if registered:
                builder.skipped.append(exc)
            else:
                builder.error(exc)
    _raise(builder.errors)
    model = FleetModel(
        builder.namespaces, groups, targets, catalog, strict, builder.rule_template_specs, builder.skipped
    )
    if strict:
        # a registration must not fail a strict inventory through the groups it joined:
        # one effective() per registered target, cached per group set like every other
        for name in sorted(builder.registered):
            if name in targets:
                try:
                    model.effective(name, trace=False)
                except FleetModelError as exc:
                    del targets[name]
                    model.skipped.append(
                        FleetModelError(
                            "%s (groups of %s)" % (exc.message, exc.source_file),
                            item=exc.item,
                            fix="register the host without one of the conflicting groups, or resolve the conflict "
                            "in the model",
                            source_file=builder.target_specs[name][1],
                        )
                    )
    return model


def _add_registration(builder, data, source_file, error=None):
    """Check one registration file against the allow-list; FleetModelError skips it."""

    def skip(msg, fix, sub=()):
        raise FleetModelError(msg, fix=fix, source_file=source_file, path=sub)

    if error is not None:
        raise FleetModelError(
            error.get("message") or "cannot read file",
            fix=error.get("fix"),
            source_file=source_file,
            line=error.get("line"),
        )
    if not isinstance(data, dict):
        skip(
            "a registration must be a mapping with name, address, primary_group (got %s)"
            % ("an empty file" if data is None else type(data).__name__),
            "let the registrar rewrite it (remove the file and register the host again), see docs/fleet-model.md",
        )
    if "targets" in data:
        skip(
            "a registration file holds one host (name: ...), not targets:",
            "put hosts the operator defines in the model; a registration is one file per host",
            ("targets",),
        )
    unknown = sorted((str(k) for k in data if k not in REGISTRATION_KEYS))
    if unknown:
        skip(
            "key %r is not allowed in a registration%s" % (unknown[0], suggest(unknown[0], REGISTRATION_KEYS)),
            "a registration holds only %s; vars and overrides belong in the model" % ", ".join(REGISTRATION_KEYS),
            (unknown[0],),
        )
    name = data.get("name")
    if not isinstance(name, str) or not name:
        skip("registration has no name (a string)", "add name: <inventory hostname>", ("name",))
    if not _TARGET_RE.fullmatch(name):
        skip("target names are letters, digits, '.', '_' and '-'", "rename the host", ("name",))
    lowered = name.lower()
    taken = builder.model_names.get(lowered) or builder.registered_names.get(lowered)
    if taken is not None:
        skip(
            "registration name %r is taken by %s (names are compared case-insensitively)" % (name, taken),
            "a registered host must not also be in the model or registered twice: remove this file, "
            "or the model's target",
            ("name",),
        )
    spec = dict((k, v) for k, v in data.items() if k != "name")
    builder.registered_names[lowered] = "the registration in %s" % source_file
    builder.add_target_spec(name, spec, source_file, (), registered=True)


def _raise(errors):
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise FleetModelErrors(errors)
