#!/usr/bin/env bash
# The collection on the lowest supported ansible-core (2.16; meta/runtime.yml): the unit
# tests and the integration tests that cover what differs between cores (inventory output
# and template trust, filters in a playbook, render.yml through the central roles, the
# Prometheus grammar), in a venv of its own (.build/venv-core-2.16, from
# requirements/core-2.16.txt). The full suite runs on the highest core (.venv).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.build/venv-core-2.16"
req="$root/requirements/core-2.16.txt"
if ! cmp -s "$req" "$venv/.requirements" 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q -r "$req"
    cp "$req" "$venv/.requirements"
fi
mkdir -p "$root/.build/collections/ansible_collections/accelmon"
ln -sfn ../../../.. "$root/.build/collections/ansible_collections/accelmon/monitoring"
export PATH="$venv/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$root/.build/collections"
export ANSIBLE_NOCOLOR=1 PY_COLORS=0 PYTHONDONTWRITEBYTECODE=1
"$venv/bin/ansible" --version | sed -n 1p  # sed reads it all: no broken pipe under pipefail
cd "$root"
# the property tests exercise the pure-Python engine only: run once, on the highest core
"$venv/bin/pytest" -q -p no:cacheprovider tests/unit \
    --deselect tests/unit/plugins/module_utils/test_policy_properties.py \
    tests/integration/test_inventory_golden.py \
    tests/integration/test_filters_playbook.py \
    tests/integration/test_render.py \
    tests/integration/test_grammar_promtool.py
