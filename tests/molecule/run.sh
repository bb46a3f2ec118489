#!/usr/bin/env bash
# Molecule end to end on a fresh Debian 12 machine (as root):
#   podman + runc + debootstrap and containers.conf, the systemd base image, the offline
#   artifacts, then `molecule test -s nodes`. Exits non-zero on any failure.
#   env: ACCELMON_ARTIFACTS_DIR (default /tmp/accelmon-molecule-artifacts), VENV (default
#        <repo>/.venv), MOLECULE_ARGS (extra arguments for molecule test)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tests=$(dirname "$here")
repo=$(dirname "$tests")
venv=${VENV:-$repo/.venv}
export ACCELMON_ARTIFACTS_DIR=${ACCELMON_ARTIFACTS_DIR:-/tmp/accelmon-molecule-artifacts}
export PATH="$venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$repo/.build/collections"
export ANSIBLE_NOCOLOR=1 PY_COLORS=0

for tool in molecule ansible-playbook ansible-config; do
    command -v "$tool" >/dev/null || {
        echo "run.sh: $tool not found; create the venv first (make venv)" >&2
        exit 1
    }
done

stage() { printf '\n=== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }
t0=$SECONDS

stage "podman setup"
bash "$tests/tools/setup_podman.sh"

stage "base image"
bash "$tests/tools/build_base_image.sh"

stage "collection link"
mkdir -p "$repo/.build/collections/ansible_collections/accelmon"
ln -sfn ../../../.. "$repo/.build/collections/ansible_collections/accelmon/monitoring"

stage "offline artifacts"
bash "$tests/tools/build_artifacts.sh" "$ACCELMON_ARTIFACTS_DIR"

stage "molecule test -s nodes"
cd "$tests"
m0=$SECONDS
# Stamp each finished molecule action with the seconds since molecule started.
# shellcheck disable=SC2086
molecule test -s nodes ${MOLECULE_ARGS:-} 2>&1 | while IFS= read -r line; do
    printf '%s\n' "$line"
    if [[ $line == *"Executed:"* && $line == *"INFO"* ]]; then
        printf '[run.sh] +%s s since molecule started\n' "$((SECONDS - m0))"
    fi
done
echo "run.sh: molecule nodes passed in $((SECONDS - t0)) s"
