# -*- coding: utf-8 -*-
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""Jinja tests over Prometheus's grammar (module_utils/prometheus_grammar), for the roles'
preflight checks: the same rules the fleet model and the rule compiler apply."""

from __future__ import annotations

from ansible_collections.accelmon.monitoring.plugins.module_utils.prometheus_grammar import (
    is_duration,
    is_label_name,
    is_listen_address,
)


def prometheus_duration(value):
    """True for a Prometheus duration (30s, 1h30m, 1w, 0)."""
    return is_duration(value)


def prometheus_label_name(value):
    """True for a Prometheus label name that is not reserved (no leading __)."""
    return is_label_name(value)


def listen_address(value):
    """True for a Go host:port listen address (:9100, 0.0.0.0:9100, [::1]:9100)."""
    return is_listen_address(value)


class TestModule:
    """accelmon Prometheus grammar tests."""

    def tests(self):
        return {
            "prometheus_duration": prometheus_duration,
            "prometheus_label_name": prometheus_label_name,
            "listen_address": listen_address,
        }
