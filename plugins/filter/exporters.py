# -*- coding: utf-8 -*-
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""Filters over module_utils/exporters: which exporters a host runs, and their ports.

playbooks/nodes.yml and the prometheus role both call these, so what runs on a host and
what Prometheus scrapes come from one decision.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.accelmon.monitoring.plugins.module_utils import exporters as _exporters


def recommend_exporters(accelerators, force_dcgm=False):
    """Exporters of a host with these accelerators (detected or declared)."""
    if accelerators is not None and not isinstance(accelerators, list):
        raise AnsibleFilterError(
            "recommend_exporters: accelerators must be a list of {vendor, ...} mappings, got %r" % (accelerators,)
        )
    return _exporters.recommend_exporters(accelerators or [], bool(force_dcgm))


def exporter_ports(variables, name=None):
    """Ports of exporter name for a host with these variables; without name, a mapping of
    every exporter to {job, variable, ports}."""
    if name is None:
        return dict(
            (n, {"job": spec["job"], "variable": spec["variable"], "ports": _exporters.exporter_ports(variables, n)})
            for n, spec in _exporters.EXPORTERS.items()
        )
    if name not in _exporters.EXPORTERS:
        for exporter, spec in _exporters.EXPORTERS.items():
            if spec["job"] == name:
                name = exporter
                break
        else:
            raise AnsibleFilterError(
                "exporter_ports: unknown exporter %r (known: %s)" % (name, ", ".join(_exporters.EXPORTER_NAMES))
            )
    return _exporters.exporter_ports(variables, name)


class FilterModule:
    """accelmon exporter filters."""

    def filters(self):
        return {
            "recommend_exporters": recommend_exporters,
            "exporter_ports": exporter_ports,
        }
