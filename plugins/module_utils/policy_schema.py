# -*- coding: utf-8 -*-
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""Parameter types for check configs, rule thresholds and alerting settings.

Each validator returns the normalized value or raises ValueError with a sentence that
says what was expected; callers wrap it into a FleetModelError naming file and item.
"""

from __future__ import annotations

import re

from ansible_collections.accelmon.monitoring.plugins.module_utils.prometheus_grammar import (
    is_duration,
    is_label_name,
)


def _type_name(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("expected a number, got %s %r" % (_type_name(value), value))
    return value


def _integer(value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("expected an integer, got %s %r" % (_type_name(value), value))
    return value


def _percent(value):
    _number(value)
    if value < 0 or value > 100:
        raise ValueError("expected a percentage between 0 and 100, got %r" % (value,))
    return value


def _boolean(value):
    if not isinstance(value, bool):
        raise ValueError("expected true or false, got %s %r" % (_type_name(value), value))
    return value


def _string(value):
    if not isinstance(value, str):
        raise ValueError("expected a string, got %s %r" % (_type_name(value), value))
    return value


def _optional_string(value):
    if value is None:
        return None
    return _string(value)


def _duration(value):
    if not is_duration(value):
        raise ValueError(
            "expected a Prometheus duration such as 30s, 5m, 1h30m or 1w (units y, w, d, h, m, s, ms, "
            "largest first, each once), got %r" % (value,)
        )
    return value


def _string_list(value):
    if not isinstance(value, list):
        raise ValueError("expected a list of strings, got %s %r" % (_type_name(value), value))
    for entry in value:
        if not isinstance(entry, str):
            raise ValueError("expected a list of strings; entry %r is a %s" % (entry, _type_name(entry)))
    return value


def _label_map(value):
    if not isinstance(value, dict):
        raise ValueError("expected a mapping of label names to strings, got %s" % _type_name(value))
    for key, val in value.items():
        if not is_label_name(key):
            raise ValueError(
                "label name %r is not a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"
                % (key,)
            )
        if not isinstance(val, str):
            raise ValueError("label %s must be a string, got %s %r" % (key, _type_name(val), val))
    return value


def _mount_paths(value):
    """Mount paths: strings, or {path, fstype, options} mappings."""
    if not isinstance(value, list):
        raise ValueError("expected a list of mount paths, got %s" % _type_name(value))
    for entry in value:
        if isinstance(entry, str):
            if not entry.startswith("/"):
                raise ValueError("mount path %r must be absolute (start with /)" % (entry,))
            continue
        if not isinstance(entry, dict) or "path" not in entry:
            raise ValueError("mount path entries are strings or {path, fstype, options} mappings, got %r" % (entry,))
        unknown = set(entry) - {"path", "fstype", "options"}
        if unknown:
            raise ValueError(
                "unknown key(s) %s in mount path %r (allowed: path, fstype, options)"
                % (", ".join(sorted(unknown)), entry)
            )
        _string(entry["path"])
        if not entry["path"].startswith("/"):
            raise ValueError("mount path %r must be absolute (start with /)" % (entry["path"],))
        if "fstype" in entry:
            _string(entry["fstype"])
        if "options" in entry:
            opts = entry["options"]
            if isinstance(opts, str):
                continue
            _string_list(opts)
    return value


def _port_list(value):
    """Ports: integers (local) or {host, port} mappings."""
    if not isinstance(value, list):
        raise ValueError("expected a list of ports, got %s" % _type_name(value))
    for entry in value:
        port = entry.get("port") if isinstance(entry, dict) else entry
        if isinstance(entry, dict):
            unknown = set(entry) - {"host", "port", "name"}
            if unknown:
                raise ValueError(
                    "unknown key(s) %s in port entry %r (allowed: host, port, name)"
                    % (", ".join(sorted(unknown)), entry)
                )
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError("port entries are 1-65535 or {host, port}, got %r" % (entry,))
    return value


_COMMAND_KEYS = ("name", "command", "timeout_seconds", "user", "value_regex")


def _command_list(value):
    """Commands: {name, command, timeout_seconds?, user?, value_regex?} mappings."""
    if not isinstance(value, list):
        raise ValueError("expected a list of {name, command} mappings, got %s" % _type_name(value))
    for entry in value:
        if not isinstance(entry, dict) or "name" not in entry or "command" not in entry:
            raise ValueError("command entries need name and command, got %r" % (entry,))
        unknown = set(entry) - set(_COMMAND_KEYS)
        if unknown:
            raise ValueError(
                "unknown key(s) %s in command %r (allowed: %s)"
                % (", ".join(sorted(unknown)), entry.get("name"), ", ".join(_COMMAND_KEYS))
            )
        _string(entry["name"])
        if not isinstance(entry["command"], (str, list)):
            raise ValueError("command %r must be a string or a list of arguments" % entry["name"])
        if "timeout_seconds" in entry:
            _number(entry["timeout_seconds"])
        if "user" in entry and (not isinstance(entry["user"], str) or not entry["user"]):
            raise ValueError("user of command %r must be a user name on the node" % entry["name"])
        if "value_regex" in entry:
            try:
                re.compile(_string(entry["value_regex"]))
            except re.error as exc:
                raise ValueError("value_regex of command %r is not a regular expression: %s" % (entry["name"], exc))
    return value


VALIDATORS = {
    "number": _number,
    "integer": _integer,
    "percent": _percent,
    "boolean": _boolean,
    "string": _string,
    "optional_string": _optional_string,
    "duration": _duration,
    "string_list": _string_list,
    "label_map": _label_map,
    "mount_paths": _mount_paths,
    "port_list": _port_list,
    "command_list": _command_list,
}

PARAMETER_TYPES = tuple(sorted(VALIDATORS))


def validate_value(type_name, value):
    """Validate value against a named parameter type; return it or raise ValueError."""
    try:
        validator = VALIDATORS[type_name]
    except KeyError:
        raise ValueError("unknown parameter type %r (known: %s)" % (type_name, ", ".join(PARAMETER_TYPES)))
    return validator(value)
