#!/usr/bin/env bash
# The local lab (docs/lab.md): podman systemd containers from inventory/examples/lab,
# playbooks/site.yml, a webhook sink for Alertmanager, faults.
#
#   tests/lab/lab.sh up [--quiet]                    bring the lab up (idempotent) and print a summary
#   tests/lab/lab.sh status                          URLs, targets up, rules loaded, alerts firing
#   tests/lab/lab.sh fault KIND [HOST] [--device N] [--celsius C]
#                    KIND: gpu-overtemp | gpu-vanish | node-down | allsmi-restart | allsmi-stop | gpu-xid
#                          | mount-gone | port-closed | command-fails | clear   (HOST default lab-h200)
#   tests/lab/lab.sh down                            remove containers, network, webhook sink, ARA
#   eval "$(tests/lab/lab.sh env)"                   ansible-playbook then reaches the lab and records into its ARA
#
# env: ACCELMON_LAB_DIR (state, default /var/tmp/accelmon-lab), VENV (default <repo>/.venv)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$(dirname "$here")")
venv=${VENV:-$repo/.venv}
if [[ -x $venv/bin/python ]]; then
    export PATH="$venv/bin:$PATH"
    py=$venv/bin/python
else
    py=python3
fi
command -v ansible-inventory >/dev/null || {
    echo "lab.sh: ansible-inventory not found; create the venv first (make venv)" >&2
    exit 1
}
mkdir -p "$repo/.build/collections/ansible_collections/accelmon"
[[ -e $repo/.build/collections/ansible_collections/accelmon/monitoring ]] ||
    ln -sfn ../../../.. "$repo/.build/collections/ansible_collections/accelmon/monitoring"
export ANSIBLE_COLLECTIONS_PATH="$repo/.build/collections"
export ANSIBLE_CONFIG="$here/ansible.cfg" ANSIBLE_NOCOLOR=1 PYTHONDONTWRITEBYTECODE=1
exec "$py" "$here/lab.py" "$@"
