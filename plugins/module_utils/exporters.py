# -*- coding: utf-8 -*-
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""The node exporters of this collection: which host gets which, and where each listens.

The one definition. playbooks/nodes.yml (what runs on a host) and the prometheus role (what
is scraped) both call recommend_exporters through the collection's filter, and every role
reads an exporter's port through exporter_ports, so a host never runs an exporter that is
not scraped, nor is scraped on a port its exporter does not use.
"""

from __future__ import annotations

from ansible_collections.accelmon.monitoring.plugins.module_utils.prometheus_grammar import listen_port

# name -> Prometheus job, the inventory variable that sets its listen address or port (the
# role's own default variable), and the port it listens on when that variable is not set
EXPORTERS = {
    "node_exporter": {"job": "node", "variable": "node_exporter_web_listen_address", "port": 9100},
    "all_smi": {"job": "allsmi", "variable": "all_smi_port", "port": 9401},
    "dcgm_exporter": {"job": "dcgm", "variable": "dcgm_exporter_listen_address", "port": 9400},
}
EXPORTER_NAMES = tuple(EXPORTERS)


def _count(accelerator):
    count = accelerator.get("count", 1)
    try:
        return int(count)
    except (TypeError, ValueError):
        return 1


def recommend_exporters(accelerators, force_dcgm=False):
    """The exporters a host with these accelerators runs, in EXPORTERS order.

    - node_exporter: every host;
    - all_smi: a host with at least one accelerator (a declared `count: 0` is none);
    - dcgm_exporter: a host with an NVIDIA accelerator bound to the `nvidia` driver (DCGM
      needs NVML from that driver). Declared accelerators (the fleet model's
      `{vendor, model, count}`) do not say their driver: an NVIDIA one counts as bound.
      force_dcgm adds it regardless (dcgm_exporter_force).

    accelerators: detected ones (accelerator_facts) or declared ones (accelmon_accelerators).
    """
    present = [a for a in accelerators or [] if isinstance(a, dict) and _count(a) > 0]
    out = ["node_exporter"]
    if present:
        out.append("all_smi")
    nvidia = any(
        str(a.get("vendor", "")).lower() == "nvidia" and a.get("driver", "nvidia") == "nvidia" for a in present
    )
    if nvidia or force_dcgm:
        out.append("dcgm_exporter")
    return out


def _port_of(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value)
    if text.isdigit():
        return int(text)
    return listen_port(text)


def exporter_ports(variables, name):
    """Ports exporter name listens on for a host with these variables (its own setting, or
    the default): a list, as node_exporter may listen on several addresses."""
    spec = EXPORTERS[name]
    value = variables.get(spec["variable"]) if variables is not None else None
    if value is None or value == "" or value == []:
        return [spec["port"]]
    values = value if isinstance(value, list) else [value]
    ports = [_port_of(v) for v in values]
    return [p for p in ports if p is not None] or [spec["port"]]
