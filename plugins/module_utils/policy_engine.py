# -*- coding: utf-8 -*-
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""The one policy engine: validation of policy blocks, merge order, strategies, trace.

Every consumer (inventory plugin, filters, rule compiler) calls this module; nothing else
merges policies. The semantics are those of the collection's docs/fleet-model.md:

* sources apply from lowest to highest priority: `default`, then each namespace's groups
  (ancestors before descendants, same depth in lexicographic order), then `target:<name>`;
* per item (one check type, one alert rule, or the alerting block) a source uses the
  `merge` strategy (dicts key by key, lists as an ordered union) or `override` (drop what
  accumulated, refill from defaults, apply this source);
* `enabled` is a leaf like any other; a check that a source configures without saying
  `enabled` is switched on by it (configuring a check asks for it);
* groups of one namespace at one depth that set one leaf to different values conflict.
"""

from __future__ import annotations

import copy
import json

from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_catalog import (
    ALERTING_PARAMETERS,
    CHECK_FIELDS,
    RULE_FIELDS,
    SEVERITIES,
    STRATEGIES,
)
from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_errors import (
    FleetModelError,
    suggest,
)
from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_schema import (
    validate_value,
)

POLICY_SECTIONS = ("checks", "alert_rules", "alerting")
DEFAULT_SOURCE = "default"


# --------------------------------------------------------------------------- validation


class Contribution:
    """One source's normalized say about one item."""

    __slots__ = ("prefix", "strategy", "values", "implied_enabled", "_records")

    def __init__(self, prefix, strategy, values, implied_enabled=False):
        self.prefix = prefix
        self.strategy = strategy
        self.values = values
        self.implied_enabled = implied_enabled
        self._records = {}

    def record(self, key, make):
        """The history entry this contribution writes for key, made once and shared.

        A contribution belongs to one source, so its entries are the same for every target
        it applies to; sharing them lets equal histories be recognized by identity.
        """
        entry = self._records.get(key)
        if entry is None:
            entry = self._records[key] = make()
        return entry

    def __repr__(self):
        return "Contribution(%r, %r, %r)" % (self.prefix, self.strategy, self.values)


def normalize_policy(block, catalog, owner, source_file=None, path=()):
    """Validate a policy block ({checks, alert_rules, alerting}) and return contributions.

    owner names the group or target for messages; path locates the block in its file.
    """
    if block is None:
        return []
    path = tuple(path)

    def fail(msg, fix, sub=()):
        raise FleetModelError(msg, item=owner, fix=fix, source_file=source_file, path=path + tuple(sub))

    if not isinstance(block, dict):
        fail("policy must be a mapping", "write checks:, alert_rules: or alerting: under it")
    out = []
    for section in block:
        if section not in POLICY_SECTIONS:
            fail(
                "unknown policy section %r%s" % (section, suggest(section, POLICY_SECTIONS)),
                "use checks, alert_rules or alerting",
                (section,),
            )
    for name, item in (block.get("alert_rules") or {}).items():
        out.append(_normalize_rule(name, item, catalog, fail))
    for name, item in (block.get("checks") or {}).items():
        out.append(_normalize_check(name, item, catalog, fail))
    if block.get("alerting") is not None:
        out.append(_normalize_alerting(block["alerting"], fail))
    return out


def _strategy(item, fail, sub):
    strategy = item.get("strategy", "merge")
    if strategy not in STRATEGIES:
        fail(
            "strategy %r is not valid%s" % (strategy, suggest(strategy, STRATEGIES)),
            "use merge (the default) or override; to switch an item off write enabled: false",
            sub + ("strategy",),
        )
    return strategy


def _enabled(item, values, fail, sub):
    if "enabled" in item:
        try:
            values["enabled"] = validate_value("boolean", item["enabled"])
        except ValueError as exc:
            fail("enabled: %s" % exc, "write enabled: true or enabled: false", sub + ("enabled",))


def _item_header(item, what, fields, example, fail, sub):
    """Shared start of an item: a mapping with known keys; returns (item, strategy, values)."""
    if item is None:
        item = {}
    if not isinstance(item, dict):
        fail("%s must be a mapping" % what, "write e.g. %s" % example, sub)
    unknown = sorted(set(item) - set(fields))
    if unknown:
        fail(
            "unknown key(s) %s in %s%s" % (", ".join(unknown), what, suggest(unknown[0], fields)),
            "allowed keys: %s" % ", ".join(fields),
            sub + (unknown[0],),
        )
    values = {}
    _enabled(item, values, fail, sub)
    return item, _strategy(item, fail, sub), values


def _parameters(given, parameters, what, setting, fail, sub):
    """Validate a {name: value} mapping against a parameter schema; returns it checked."""
    if not isinstance(given, dict):
        fail(
            "%s must be a mapping" % what,
            "write {%s}" % ", ".join("%s: ..." % k for k in sorted(parameters)),
            sub,
        )
    checked = {}
    for key, value in given.items():
        pspec = parameters.get(key)
        if pspec is None:
            fail(
                "%s has no %s %r%s" % (what, setting, key, suggest(key, parameters)),
                "%ss of %s: %s" % (setting, what, ", ".join(sorted(parameters)) or "none"),
                sub + (key,),
            )
        try:
            checked[key] = validate_value(pspec["type"], value)
        except ValueError as exc:
            fail("%s %s of %s: %s" % (setting, key, what, exc), "give %s as %s" % (key, pspec["type"]), sub + (key,))
    return checked


def _normalize_rule(name, item, catalog, fail):
    sub = ("alert_rules", name)
    spec = catalog.rule_templates.get(name)
    if spec is None:
        fail(
            "unknown alert rule template %r%s" % (name, suggest(name, catalog.rule_templates)),
            "use a built-in template (docs/policy-catalog.md) or define it under rule_templates",
            sub,
        )
    item, strategy, values = _item_header(
        item,
        "alert rule %s" % name,
        RULE_FIELDS,
        "%s: {thresholds: {...}} or %s: {enabled: false}" % (name, name),
        fail,
        sub,
    )
    if item.get("thresholds") is not None:
        checked = _parameters(item["thresholds"], spec["parameters"], name, "threshold", fail, sub + ("thresholds",))
        if checked:
            values["thresholds"] = checked
    if "for" in item:
        try:
            values["for"] = validate_value("duration", item["for"])
        except ValueError as exc:
            fail("for of %s: %s" % (name, exc), "write e.g. for: 5m", sub + ("for",))
    if "severity" in item:
        if item["severity"] not in SEVERITIES:
            fail(
                "severity %r of %s is not one of %s" % (item["severity"], name, ", ".join(SEVERITIES)),
                "pick one of those",
                sub + ("severity",),
            )
        values["severity"] = item["severity"]
    if "labels" in item:
        try:
            values["labels"] = validate_value("label_map", item["labels"])
        except ValueError as exc:
            fail("labels of %s: %s" % (name, exc), "write labels: {team: ml-infra}", sub + ("labels",))
    return Contribution(("alert_rules", name), strategy, values)


def _normalize_check(name, item, catalog, fail):
    sub = ("checks", name)
    spec = catalog.check_types.get(name)
    if spec is None:
        fail(
            "unknown check type %r%s" % (name, suggest(name, catalog.check_types)),
            "use one of: %s" % ", ".join(sorted(catalog.check_types)),
            sub,
        )
    item, strategy, values = _item_header(
        item, "check %s" % name, CHECK_FIELDS, "%s: {config: {...}} (settings go under config:)" % name, fail, sub
    )
    if item.get("config") is not None:
        values.update(
            _parameters(item["config"], spec["parameters"], "check %s" % name, "setting", fail, sub + ("config",))
        )
    return Contribution(("checks", name), strategy, values, implied_enabled="enabled" not in values)


def _normalize_alerting(item, fail):
    sub = ("alerting",)
    if not isinstance(item, dict):
        fail("alerting must be a mapping", "write alerting: {receiver: ..., team: ...}", sub)
    allowed = tuple(ALERTING_PARAMETERS) + ("strategy",)
    unknown = sorted(set(item) - set(allowed))
    if unknown:
        fail(
            "unknown key(s) %s in alerting%s" % (", ".join(unknown), suggest(unknown[0], allowed)),
            "allowed keys: %s" % ", ".join(allowed),
            sub + (unknown[0],),
        )
    strategy = _strategy(item, fail, sub)
    values = {}
    for key, pspec in ALERTING_PARAMETERS.items():
        if key in item:
            try:
                values[key] = validate_value(pspec["type"], item[key])
            except ValueError as exc:
                fail("alerting %s: %s" % (key, exc), "give %s as %s" % (key, pspec["type"]), sub + (key,))
    return Contribution(("alerting",), strategy, values)


# ------------------------------------------------------------------------------ merging


def iter_leaves(value, prefix=()):
    """Yield (path, leaf) for every leaf: scalars, lists and empty mappings."""
    if isinstance(value, dict) and value:
        for key, sub in value.items():
            yield from iter_leaves(sub, prefix + (key,))
    else:
        yield prefix, value


def _canon(value):
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=str)
    return (type(value).__name__, value)


def union(first, second):
    """Ordered union: items of first, then new items of second, without duplicates."""
    seen = set(_canon(v) for v in first)
    out = list(first)
    for value in second:
        key = _canon(value)
        if key not in seen:
            seen.add(key)
            out.append(value)
    return out


def _get(tree, path):
    for key in path:
        tree = tree[key]
    return tree


def _set(tree, path, value):
    for key in path[:-1]:
        nxt = tree.get(key)
        if not isinstance(nxt, dict):
            nxt = tree[key] = {}
        tree = nxt
    tree[path[-1]] = value


def _differs(a, b):
    return _canon(a) != _canon(b)


class Source:
    """A named set of contributions at one position of the merge order.

    tier is (namespace, depth) for group sources, None for defaults and targets; two
    sources of one tier that disagree on a leaf are a conflict.
    """

    __slots__ = ("name", "contributions", "tier")

    def __init__(self, name, contributions, tier=None):
        self.name = name
        self.contributions = contributions
        self.tier = tier


class PolicyState:
    """Accumulated values plus per-leaf history; cheap to copy for caching."""

    __slots__ = (
        "values",
        "history",
        "conflicts",
        "tier",
        "tier_leaves",
        "defaults",
        "_owned",
        "_lists",
        "_touched",
    )

    def __init__(self, defaults, values, history, conflicts=None, lists=None, touched=None):
        self.defaults = defaults
        self.values = values
        self.history = history
        self.conflicts = conflicts or []
        self.tier = None
        self.tier_leaves = {}
        self._owned = set()  # item prefixes this state copied (copy-on-write)
        # History lists are hash-consed: appending one shared entry to one shared list gives
        # the same new list in every state, so equal histories are one object (shared by
        # every copy of a state; keys are ids, values hold the objects so ids stay unique).
        self._lists = {} if lists is None else lists
        # item prefixes any source has applied to (inherited by copies): the others still
        # hold their defaults, and their trace is the same in every state
        self._touched = set(touched or ())

    @classmethod
    def initial(cls, catalog):
        defaults = catalog.defaults()
        history = dict(
            (path, [{"source": DEFAULT_SOURCE, "strategy": "default", "value": value}])
            for path, value in iter_leaves(defaults)
        )
        return cls(defaults, copy.deepcopy(defaults), history)

    def copy(self):
        # History lists are shared copy-on-write (_record never mutates one), so states
        # that share a prefix share its lists and the trace entries built from them.
        # Items are shared the same way: a state copies an item before changing it.
        values = dict(
            (section, dict(items) if section != "alerting" else items) for section, items in self.values.items()
        )
        return PolicyState(self.defaults, values, dict(self.history), list(self.conflicts), self._lists, self._touched)

    def _own(self, prefix):
        """The item at prefix, copied first if it may be shared with another state."""
        if prefix not in self._owned:
            _set(self.values, prefix, copy.deepcopy(_get(self.values, prefix)))
            self._owned.add(prefix)
        return _get(self.values, prefix)

    # -- applying -------------------------------------------------------------------

    def apply(self, source):
        if source.tier != self.tier:
            self.tier = source.tier
            self.tier_leaves = {}
        for contribution in source.contributions:
            self._apply_one(source, contribution)

    def end_tier(self):
        """Close the current tier: a later source never conflicts with an earlier one."""
        self.tier = None
        self.tier_leaves = {}

    def _record(self, path, entry):
        old = self.history.get(path, _EMPTY)
        key = (id(old), id(entry))
        known = self._lists.get(key)
        if known is None:
            known = self._lists[key] = (old, entry, old + [entry])
        self.history[path] = known[2]

    def _apply_one(self, source, contribution):
        prefix = contribution.prefix
        self._touched.add(prefix)
        strategy = contribution.strategy
        name = source.name
        if source.tier is not None:
            self._check_conflicts(source, contribution)
        if strategy == "override":
            item = _get(self.values, prefix)
            fresh = copy.deepcopy(_get(self.defaults, prefix))
            self._owned.add(prefix)
            given = set(path for path, _unused in iter_leaves(contribution.values))
            for path, _old in iter_leaves(item):
                if path not in given and _get_default(fresh, path) is _MISSING:
                    self._record(
                        prefix + path,
                        contribution.record(
                            ("dropped", path),
                            lambda: {"source": name, "strategy": "override", "value": None, "dropped": True},
                        ),
                    )
            for path, value in iter_leaves(fresh):
                if path not in given:
                    self._record(
                        prefix + path,
                        contribution.record(
                            ("reset", path),
                            lambda value=value: {
                                "source": DEFAULT_SOURCE,
                                "strategy": "reset",
                                "value": copy.deepcopy(value),
                                "reset_by": name,
                            },
                        ),
                    )
            _set(self.values, prefix, fresh)
        item = self._own(prefix)
        for path, value in iter_leaves(contribution.values):
            if value == {}:
                continue
            if isinstance(value, list) and strategy == "merge":
                current = _get_default(item, path)
                new = union(current if isinstance(current, list) else [], value)
            else:
                new = copy.deepcopy(value)
            _set(item, path, new)
            self._record(
                prefix + path,
                contribution.record(
                    ("set", path), lambda value=value: {"source": name, "strategy": strategy, "value": value}
                ),
            )
        if contribution.implied_enabled and item.get("enabled") is not True:
            item["enabled"] = True
            self._record(
                prefix + ("enabled",),
                contribution.record(("implied",), lambda: {"source": name, "strategy": "implied", "value": True}),
            )

    def _check_conflicts(self, source, contribution):
        prefix = contribution.prefix
        given = dict((prefix + p, v) for p, v in iter_leaves(contribution.values) if v != {})
        for path, value in given.items():
            seen = self.tier_leaves.get(path)
            if seen is None or seen[0] == source.name:
                continue
            both_merged_lists = (
                isinstance(value, list)
                and isinstance(seen[1], list)
                and contribution.strategy == "merge"
                and seen[2] == "merge"
            )
            if not both_merged_lists and _differs(seen[1], value):
                self._conflict(path, seen[0], seen[1], source.name, value)
        if contribution.strategy == "override":
            for path, seen in list(self.tier_leaves.items()):
                if path[: len(prefix)] == prefix and path not in given and seen[0] != source.name:
                    self._conflict(path, seen[0], seen[1], source.name, "(dropped by override)")
        for path, value in given.items():
            self.tier_leaves[path] = (source.name, value, contribution.strategy)

    def _conflict(self, path, first, first_value, second, second_value):
        self.conflicts.append(
            {
                "path": ".".join(path),
                "sources": [first, second],
                "values": [first_value, second_value],
                "winner": second,
            }
        )

    # -- results --------------------------------------------------------------------

    def result(self, interner=None, trace=True):
        """Return (effective_policy, trace, conflicts) as plain data (trace None if not asked for).

        With an Interner, equal policy items and trace entries of many targets are one
        object each (a fleet of thousands shares most of them), which keeps memory and
        downstream serialization proportional to distinct values, not to targets.
        """
        interner = interner or Interner()
        policy = interner.policy(self.values)
        if not trace:
            return policy, None, list(self.conflicts)
        conflicts_by_path = {}
        for conflict in self.conflicts:
            conflicts_by_path.setdefault(conflict["path"], []).append(conflict)
        trace = {}
        touched = self._touched
        for prefix, item in _items(policy):
            if prefix not in touched:
                trace.update(interner.untouched(prefix, item, self.history))
                continue
            for path, dotted, value in interner.leaves(prefix, item):
                history = self.history.get(path) or []
                if dotted in conflicts_by_path:
                    entry = {
                        "value": value,
                        "source": history[-1]["source"] if history else DEFAULT_SOURCE,
                        "history": history,
                        "conflicts": conflicts_by_path[dotted],
                    }
                else:
                    entry = interner.entry(dotted, history, value)
                trace[dotted] = entry
        return policy, trace, list(self.conflicts)


def _items(policy):
    """(prefix, item) of every item of a policy, in policy order."""
    for section, content in policy.items():
        if section == "alerting":
            yield (section,), content
        else:
            for name, item in content.items():
                yield (section, name), item


class Interner:
    """Shares equal policy items and trace entries between the results of one model."""

    __slots__ = ("_items", "_entries", "_leaves", "_fragments")

    def __init__(self):
        self._items = {}
        self._entries = {}
        self._leaves = {}
        self._fragments = {}

    def leaves(self, prefix, item):
        """(path, dotted path, value) of every leaf of an interned item."""
        # interned items are shared between prefixes (two checks with equal settings)
        cached = self._leaves.get((prefix, id(item)))
        if cached is None or cached[0] is not item:
            leaves = [(prefix + p, ".".join(prefix + p), v) for p, v in iter_leaves(item)]
            cached = self._leaves[(prefix, id(item))] = (item, leaves)
        return cached[1]

    def untouched(self, prefix, item, history):
        """Trace entries of an item no source applied to: its defaults, the same everywhere."""
        fragment = self._fragments.get(prefix)
        if fragment is None:
            fragment = self._fragments[prefix] = dict(
                (dotted, self.entry(dotted, history.get(path) or [], value))
                for path, dotted, value in self.leaves(prefix, item)
            )
        return fragment

    def _item(self, item):
        # Unchanged items are the very objects of the base state: identity first.
        known = self._items.get(id(item))
        if known is not None and known[0] is item:
            return known[1]
        key = json.dumps(item, sort_keys=True, default=str)
        shared = self._items.get(key)
        if shared is None:
            shared = self._items[key] = item
        self._items[id(item)] = (item, shared)  # holds item: its id is not reused
        return shared

    def policy(self, values):
        out = {}
        for section, content in values.items():
            if section == "alerting":
                out[section] = self._item(content)
            else:
                out[section] = dict((name, self._item(item)) for name, item in content.items())
        return out

    def entry(self, dotted, history, value):
        # Histories are hash-consed lists (PolicyState._record): an equal history is the
        # same list, and an equal history means an equal value. The cached trace entry
        # keeps its history list alive, so its id is not reused.
        key = (dotted, id(history))
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = {
                "value": value,
                "source": history[-1]["source"] if history else DEFAULT_SOURCE,
                "history": history,
            }
        return entry


class Engine:
    """Effective policies of many targets over one catalog; owns every cache it uses.

    Targets that belong to the same ordered list of groups share one merged state (a fleet
    of thousands usually has a few hundred such lists) and, without target overrides, one
    result object; equal policy items and trace entries are shared through an Interner.
    """

    __slots__ = ("_catalog", "_base", "_states", "_results", "_interner")

    def __init__(self, catalog):
        self._catalog = catalog
        self._base = None
        self._states = {}
        self._results = {}
        self._interner = Interner()

    def _state(self, key, sources):
        state = self._states.get(key)
        if state is None:
            if self._base is None:
                self._base = PolicyState.initial(self._catalog)
            state = self._base.copy()
            for source in sources():
                state.apply(source)
            state.end_tier()
            self._states[key] = state
        return state

    def effective(self, key, sources, target_source=None, trace=True):
        """(policy, trace, conflicts) after the group sources, then target_source.

        key: hashable identity of the ordered group list; sources: a callable returning
        that list's Source objects in merge order (called once per key). Without trace the
        trace is None (and not computed). Results may be shared between targets: do not
        mutate them.
        """
        state = self._state(key, sources)
        if target_source is not None and target_source.contributions:
            state = state.copy()
            state.apply(target_source)
            return state.result(self._interner, trace)
        result = self._results.get((key, trace))
        if result is None:
            result = self._results[(key, trace)] = state.result(self._interner, trace)
        return result

    def policy_key(self, policy):
        """Hashable identity of a policy this engine returned: equal policies, equal keys.

        Equal items are one interned object, so a policy is known by its items' identities
        (the interner keeps them alive, so the identities stay unique).
        """
        return tuple(
            (section, id(content))
            if section == "alerting"
            else (section, tuple((name, id(item)) for name, item in sorted(content.items())))
            for section, content in sorted(policy.items())
        )


_MISSING = object()
_EMPTY = []


def _get_default(tree, path):
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return _MISSING
        tree = tree[key]
    return tree
