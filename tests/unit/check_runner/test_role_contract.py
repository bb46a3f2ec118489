"""The check types of the role, the runner and the catalog are one list."""

import os

import yaml

from ansible_collections.accelmon.monitoring.plugins.module_utils import check_probes
from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_catalog import BUILTIN_CHECK_TYPES

ROLE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
                    "roles", "check_runner")


def test_role_types_are_the_runner_and_catalog_types():
    with open(os.path.join(ROLE, "vars", "main.yml")) as handle:
        role_vars = yaml.safe_load(handle)
    assert sorted(role_vars["_check_runner_types"]) == sorted(check_probes.CHECK_TYPES) == sorted(BUILTIN_CHECK_TYPES)
    assert set(role_vars["_check_runner_root_types"]) <= set(check_probes.CHECK_TYPES)


def test_tool_packages_name_known_types():
    with open(os.path.join(ROLE, "defaults", "main.yml")) as handle:
        defaults = yaml.safe_load(handle)
    assert set(defaults["check_runner_tool_packages"]) <= set(check_probes.CHECK_TYPES)
