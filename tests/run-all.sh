#!/usr/bin/env bash
# Every test of the collection, in the order CI runs them (`make test` calls this).
# Steps: system packages, lint, ansible-test sanity and units, molecule on systemd
# containers, the lab end-to-end alert test, then the pytest suite (unit + integration with
# real Prometheus, Alertmanager, promtool/amtool). Set SKIP_STEPS="molecule sanity" (space separated) to skip steps locally.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$root/.build/collections"
export ANSIBLE_NOCOLOR=1 PY_COLORS=0 PYTHONDONTWRITEBYTECODE=1
skip=" ${SKIP_STEPS:-} "
failed=()

step() {
  local name=$1; shift
  if [[ "$skip" == *" $name "* ]]; then echo "=== $name: skipped (SKIP_STEPS)"; return 0; fi
  echo; echo "=== $name ($(date -u +%H:%M:%S))"
  local t0=$SECONDS
  if "$@"; then
    echo "=== $name: ok in $((SECONDS - t0)) s"
  else
    echo "=== $name: FAILED after $((SECONDS - t0)) s"
    failed+=("$name")
  fi
}

lint() {
  ruff check plugins tests && ansible-lint --profile production -q
}

argument_specs_and_docs() {
  # ansible-doc must render every plugin and module of the collection
  local rc=0
  for p in $(ansible-doc -l accelmon.monitoring 2>/dev/null | awk '{print $1}'); do
    ansible-doc "$p" >/dev/null || { echo "ansible-doc $p failed"; rc=1; }
  done
  ansible-doc -t inventory accelmon.monitoring.fleet >/dev/null || rc=1
  for f in effective_policy policy_trace policy_diff; do
    ansible-doc -t filter "accelmon.monitoring.$f" >/dev/null || rc=1
  done
  return $rc
}

step system-packages bash tests/tools/install_system_deps.sh
step lint lint
step ansible-doc argument_specs_and_docs
step sanity bash tests/ansible-test.sh sanity
step ansible-test-units bash tests/ansible-test.sh units
step molecule bash tests/molecule/run.sh
# the lab end to end: podman systemd hosts, site.yml, faults -> routed alerts (tears down after)
step e2e env ACCELMON_E2E_REQUIRED=1 pytest -q -p no:cacheprovider tests/e2e
step pytest pytest -q -p no:cacheprovider tests/unit tests/integration

if [ ${#failed[@]} -gt 0 ]; then
  echo; echo "FAILED steps: ${failed[*]}"
  exit 1
fi
echo; echo "all test steps passed"
