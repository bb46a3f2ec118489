"""The collection's Prometheus duration grammar agrees with Prometheus itself (promtool)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess

import pytest

from ansible_collections.accelmon.monitoring.plugins.module_utils.prometheus_grammar import is_duration

# the cases of the unit test, handed to Prometheus's own parser here
_SPEC = importlib.util.spec_from_file_location(
    "unit_prometheus_grammar",
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "unit", "plugins", "module_utils", "test_prometheus_grammar.py"),
)
_CASES = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_CASES)
VALID, INVALID = _CASES.VALID, _CASES.INVALID


def _promtool():
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is required (tests/tools/install_system_deps.sh installs it)")
    return path


@pytest.mark.parametrize("text", [t for t, _unused in VALID] + INVALID)
def test_duration_grammar_matches_promtool(tmp_path, text):
    rules = tmp_path / "r.yml"
    rules.write_text('groups:\n- name: g\n  rules:\n  - alert: A\n    expr: vector(1)\n    for: "%s"\n' % text)
    proc = subprocess.run([_promtool(), "check", "rules", str(rules)], capture_output=True, text=True, check=False)
    promtool_accepts = proc.returncode == 0
    if text == "":
        promtool_accepts = False  # an empty `for:` means "not set" to Prometheus; the model requires a value
    assert is_duration(text) is promtool_accepts, proc.stdout + proc.stderr
