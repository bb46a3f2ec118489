# -*- coding: utf-8 -*-
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""Template trust of inventory values across ansible-core 2.16 to 2.19+.

The fleet model is written by the operator: its values are trusted, like those of a YAML
inventory, so `ansible-inventory --list` shows them as plain values and `{{ ... }}` in a
model variable is templated. Registrations are written by managed hosts: untrusted.

- ansible-core >= 2.19 (data tagging): strings an inventory plugin sets are untrusted
  unless tagged, so model strings get the public `trust_as_template`; untrusted values are
  left as they are.
- older cores: plain strings are trusted and templated, so model values stay plain and
  untrusted values are wrapped with `wrap_var` (AnsibleUnsafe).
"""

from __future__ import annotations

try:
    from ansible.template import trust_as_template as _trust_str

    HAS_DATA_TAGGING = True
except ImportError:  # ansible-core < 2.19
    _trust_str = None
    HAS_DATA_TAGGING = False

if not HAS_DATA_TAGGING:
    from ansible.utils.unsafe_proxy import wrap_var as _wrap_var
else:
    _wrap_var = None


_TRUSTED_STRINGS = {}  # str -> its trusted copy: hosts share most strings (group paths)


def _tag(value):
    if isinstance(value, str):
        known = _TRUSTED_STRINGS.get(value)
        if known is None:
            if len(_TRUSTED_STRINGS) > 100000:
                _TRUSTED_STRINGS.clear()
            known = _TRUSTED_STRINGS[value] = _trust_str(value)
        return known
    if isinstance(value, dict):
        return dict((key, _tag(item)) for key, item in value.items())
    if isinstance(value, list):
        return [_tag(item) for item in value]
    return value


def trusted(value):
    """value (plain data) with every string trusted for templating."""
    if HAS_DATA_TAGGING:
        return _tag(value)
    return value


def untrusted(value):
    """value (plain data) marked as never to be templated."""
    if HAS_DATA_TAGGING:
        return value
    return _wrap_var(value)
