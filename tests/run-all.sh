#!/usr/bin/env bash
# Every test of the collection, in the order CI runs them (`make test` calls this).
# Steps: system packages, lint, ansible-test sanity and units; then two lanes side by side:
# molecule on systemd containers and the lab end to end (podman), and the pytest suite (unit
# + integration with real Prometheus, Alertmanager, promtool/amtool, VictoriaMetrics) and
# ansible-core 2.16. Set SKIP_STEPS="molecule sanity" (space separated) to skip steps locally.
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
  ruff check plugins tests tools && ansible-lint --profile production -q
}

argument_specs_and_docs() {
  # ansible-doc must render every plugin and module of the collection
  local rc=0
  for p in $(ansible-doc -l accelmon.monitoring 2>/dev/null | awk '{print $1}'); do
    ansible-doc "$p" >/dev/null || { echo "ansible-doc $p failed"; rc=1; }
  done
  ansible-doc -t inventory accelmon.monitoring.fleet >/dev/null || rc=1
  for f in effective_policy policy_trace policy_diff recommend_exporters exporter_ports rollout_serial rollout_max_fail rollout_plan rollout_progress; do
    ansible-doc -t filter "accelmon.monitoring.$f" >/dev/null || rc=1
  done
  for t in prometheus_duration prometheus_label_name listen_address; do
    ansible-doc -t test "accelmon.monitoring.$t" >/dev/null || rc=1
  done
  return $rc
}

step system-packages bash tests/tools/install_system_deps.sh
step lint lint
step ansible-doc argument_specs_and_docs
step sanity bash tests/ansible-test.sh sanity
step ansible-test-units bash tests/ansible-test.sh units

# Two lanes at once: the podman lane (molecule, then the lab end to end: podman systemd
# hosts, site.yml, faults -> routed alerts) spends most of its time waiting for alerts, so
# the Python lane (pytest with real Prometheus/Alertmanager, then ansible-core 2.16) runs
# beside it. Each line is prefixed with its lane. ACCELMON_SERIAL_STEPS=1 runs them one after
# the other.
lanes=$(mktemp -d)
lane_podman() {
  step molecule bash tests/molecule/run.sh
  step e2e env ACCELMON_E2E_REQUIRED=1 pytest -q -p no:cacheprovider tests/e2e
  printf '%s\n' "${failed[@]}" > "$lanes/podman.failed"
}
lane_python() {
  step pytest pytest -q -p no:cacheprovider -n 2 --dist loadfile tests/unit tests/integration
  step core-2.16 bash tests/core-2.16.sh
  printf '%s\n' "${failed[@]}" > "$lanes/python.failed"
}
if [ "${ACCELMON_SERIAL_STEPS:-0}" = 1 ]; then
  lane_podman
  lane_python
else
  before=("${failed[@]}")
  { lane_podman 2>&1 | sed -u 's/^/[podman] /'; } &
  { lane_python 2>&1 | sed -u 's/^/[python] /'; } &
  wait
  failed=("${before[@]}")
  for lane in podman python; do
    [ -f "$lanes/$lane.failed" ] || { failed+=("$lane-lane"); continue; }
    while IFS= read -r name; do
      [ -n "$name" ] && [[ " ${failed[*]} " != *" $name "* ]] && failed+=("$name")
    done < "$lanes/$lane.failed"
  done
fi
rm -rf "$lanes"

if [ ${#failed[@]} -gt 0 ]; then
  echo; echo "FAILED steps: ${failed[*]}"
  exit 1
fi
echo; echo "all test steps passed"
