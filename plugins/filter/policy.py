# -*- coding: utf-8 -*-
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""Filters over the policy engine: effective_policy, policy_trace, policy_diff.

Thin adapters: the model (as data) is built by fleet_model.build_model, the policy comes
from policy_engine through FleetModel.effective; no merging happens here.
"""

from __future__ import annotations

import json

from ansible.errors import AnsibleFilterError

from ansible_collections.accelmon.monitoring.plugins.module_utils.fleet_model import build_model
from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_diff import policy_diff as _diff
from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_errors import FleetModelError

_MODELS = {}  # canonical JSON of the documents -> model
_BY_IDENTITY = {}  # identity key of the input -> (its parts, model)
_MAX_CACHED = 8


def _plain(value):
    """Strip Ansible's tagged/lazy containers down to JSON data."""
    return json.loads(json.dumps(value, default=str))


def _identity_key(data, strict):
    """A cheap key for model data that Ansible hands over again: its top-level parts.

    Ansible passes a fresh lazy wrapper on every call, around the same parts (the groups
    and targets mappings read from the vars file): the parts' identities name the model
    without serialising it. The parts are kept with the entry, so their ids stay unique.
    Returns (key, parts), or None for data that is not a mapping or a list.
    """
    if isinstance(data, dict):
        parts = tuple(dict.items(data))
        return ("dict", bool(strict), tuple((k, id(v)) for k, v in parts)), parts
    if isinstance(data, list):
        parts = tuple(list.__iter__(data))
        return ("list", bool(strict), tuple(id(v) for v in parts)), parts
    return None


def _remember(cache, key, value):
    if len(cache) >= _MAX_CACHED:
        cache.clear()
    cache[key] = value


def _model(data, label, strict=False):
    identity = _identity_key(data, strict)
    if identity is not None:
        known = _BY_IDENTITY.get(identity[0])
        if known is not None:
            return known[1]
    if isinstance(data, dict):
        documents = [data]
    elif isinstance(data, list):
        documents = data
    else:
        raise AnsibleFilterError("%s: the model must be a mapping (one model document) or a list of them" % label)
    plain = _plain(documents)
    key = (json.dumps(plain, sort_keys=True), bool(strict))
    model = _MODELS.get(key)
    if model is None:
        try:
            model = build_model([(doc, "%s[%d]" % (label, i)) for i, doc in enumerate(plain)], strict=strict)
        except FleetModelError as exc:
            raise AnsibleFilterError("%s: %s" % (label, exc))
        _remember(_MODELS, key, model)
    _remember(_BY_IDENTITY, identity[0], (identity[1], model))
    return model


def _effective(model, target, label):
    if target not in model.targets:
        raise AnsibleFilterError(
            "%s: no target %r in the model (known: %s)" % (label, target, ", ".join(sorted(model.targets)[:10]))
        )
    try:
        return model.effective(target)
    except FleetModelError as exc:
        raise AnsibleFilterError("%s: %s" % (label, exc))


def effective_policy(model, target, strict=False):
    """Effective policy of target in model (model data as in the fleet model files)."""
    return _effective(_model(model, "effective_policy", strict), target, "effective_policy")[0]


def policy_trace(model, target, strict=False):
    """Trace of every leaf of target's effective policy: value, winning source, history."""
    return _effective(_model(model, "policy_trace", strict), target, "policy_trace")[1]


def policy_diff(old_model, new_model):
    """For two models: added/removed targets and, per target, changed effective values."""
    return _diff(_model(old_model, "policy_diff old model"), _model(new_model, "policy_diff new model"))


class FilterModule:
    """accelmon policy filters."""

    def filters(self):
        return {
            "effective_policy": effective_policy,
            "policy_trace": policy_trace,
            "policy_diff": policy_diff,
        }
