"""Which exporters a host runs and where they listen: one definition, used everywhere."""

from __future__ import annotations

import os

import pytest
import yaml

from ansible_collections.accelmon.monitoring.plugins.filter.exporters import exporter_ports as port_filter
from ansible_collections.accelmon.monitoring.plugins.module_utils.exporters import (
    EXPORTERS,
    exporter_ports,
    recommend_exporters,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
ALL = ["node_exporter", "all_smi", "dcgm_exporter"]


@pytest.mark.parametrize(
    "accelerators,force,expected",
    [
        ([], False, ["node_exporter"]),
        (None, False, ["node_exporter"]),
        ([], True, ["node_exporter", "dcgm_exporter"]),
        # declared (fleet model): no driver named, an NVIDIA one counts as bound
        ([{"vendor": "nvidia", "model": "H100", "count": 8}], False, ALL),
        ([{"vendor": "nvidia", "model": "H100", "count": 0}], False, ["node_exporter"]),
        ([{"vendor": "gaudi", "model": "Gaudi3", "count": 8}], False, ["node_exporter", "all_smi"]),
        # detected (accelerator_facts): the driver decides
        ([{"vendor": "nvidia", "driver": "nvidia"}], False, ALL),
        ([{"vendor": "nvidia", "driver": "vfio-pci"}], False, ["node_exporter", "all_smi"]),
        ([{"vendor": "nvidia", "driver": None}], False, ["node_exporter", "all_smi"]),
    ],
)
def test_recommend_exporters(accelerators, force, expected):
    assert recommend_exporters(accelerators, force) == expected


@pytest.mark.parametrize(
    "variables,name,ports",
    [
        ({}, "node_exporter", [9100]),
        ({"node_exporter_web_listen_address": ["127.0.0.1:9101", "[::1]:9102"]}, "node_exporter", [9101, 9102]),
        ({"all_smi_port": 9500}, "all_smi", [9500]),
        ({"all_smi_port": "9500"}, "all_smi", [9500]),
        ({"dcgm_exporter_listen_address": ":9999"}, "dcgm_exporter", [9999]),
        ({"dcgm_exporter_listen_address": None}, "dcgm_exporter", [9400]),
    ],
)
def test_exporter_ports(variables, name, ports):
    assert exporter_ports(variables, name) == ports
    assert port_filter(variables, EXPORTERS[name]["job"]) == ports  # the filter, by job name


def test_filter_lists_every_exporter():
    assert port_filter({}) == dict(
        (n, {"job": s["job"], "variable": s["variable"], "ports": [s["port"]]}) for n, s in EXPORTERS.items()
    )


@pytest.mark.parametrize("name", sorted(EXPORTERS))
def test_role_defaults_match_the_registry(name):
    """Each exporter role's default listen setting is the registry's default port."""
    spec = EXPORTERS[name]
    with open(os.path.join(ROOT, "roles", name, "defaults", "main.yml")) as handle:
        defaults = yaml.safe_load(handle)
    assert exporter_ports({spec["variable"]: defaults[spec["variable"]]}, name) == [spec["port"]]
