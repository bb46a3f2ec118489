# -*- coding: utf-8 -*-
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""Prometheus's own grammar for durations, label names and listen addresses: the one copy.

Model validation, the rule compiler, the filters and the roles' preflight checks (through
the collection's Jinja tests) all use these, so a value the model accepts is one Prometheus
accepts, and the reverse.

- Durations follow prometheus/common model.ParseDuration: one or more of
  `<int>y <int>w <int>d <int>h <int>m <int>s <int>ms`, each unit at most once and in that
  order (`1h30m`, `1w`, `0s`; not `5m1h`, `1.5h`, `-1m`), or the bare `0`.
- Label names are the classic Prometheus ones, `[a-zA-Z_][a-zA-Z0-9_]*`; names starting with
  `__` are reserved for Prometheus's internal use.
- Listen addresses are Go's `host:port` (`:9100`, `0.0.0.0:9100`, `[::1]:9100`), port 0-65535.
"""

from __future__ import annotations

import re

DURATION_UNITS = (("y", 365 * 86400), ("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1), ("ms", 0.001))
DURATION_RE = re.compile("^" + "".join("(?:([0-9]+)%s)?" % unit for unit, _unused in DURATION_UNITS) + "$")
LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
LISTEN_ADDRESS_RE = re.compile(r"^(\[[0-9A-Za-z:.%]+\]|[^:\[\]\s]*):([0-9]{1,5})$")


def duration_seconds(text):
    """Seconds in a Prometheus duration, or None if text is not one."""
    if not isinstance(text, str):
        return None
    if text == "0":
        return 0
    match = DURATION_RE.match(text)
    if match is None or not any(match.groups()):
        return None
    return sum(int(count) * factor for count, (_unit, factor) in zip(match.groups(), DURATION_UNITS) if count)


def is_duration(text):
    """True when text is a Prometheus duration (see the module docstring)."""
    return duration_seconds(text) is not None


def is_label_name(name, allow_reserved=False):
    """True when name is a valid Prometheus label name (not `__`-prefixed unless allowed)."""
    if not isinstance(name, str) or not LABEL_NAME_RE.match(name):
        return False
    return allow_reserved or not name.startswith("__")


def listen_port(address):
    """The port of a Go `host:port` listen address, or None if address is not one."""
    if not isinstance(address, str):
        return None
    match = LISTEN_ADDRESS_RE.match(address)
    if match is None:
        return None
    port = int(match.group(2))
    return port if port <= 65535 else None


def is_listen_address(address):
    """True when address is a `host:port` listen address with a port of 0-65535."""
    return listen_port(address) is not None
