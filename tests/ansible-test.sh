#!/usr/bin/env bash
# Run ansible-test (sanity | units) on a copy of the checkout placed where ansible-test
# wants it: .build/ansible-test/ansible_collections/accelmon/monitoring.
set -euo pipefail
cmd=${1:?usage: ansible-test.sh sanity|units [args...]}
shift
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.build/ansible-test/ansible_collections/accelmon/monitoring"
py=$("$root/.venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')

# ansible-test bootstraps pip in its venvs with a get-pip.py it downloads from a host CI
# cannot reach; give it the local stand-in (same cache file name ansible-test looks for).
cache="$HOME/.ansible/test/cache"
mkdir -p "$cache"
for name in $("$root/.venv/bin/python" - <<'PY'
import glob, os, re, ansible_test
src = open(os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")).read()
versions = set(re.findall(r"pip='([0-9.]+)'", src)) or {"24.2"}
for v in versions:
    print("get_pip_%s.py" % v.replace(".", "_"))
PY
); do
  cp "$root/tests/tools/ansible_test_get_pip.py" "$cache/$name"
done

rm -rf "$dest"
mkdir -p "$dest"
(cd "$root" || exit 1; git ls-files -co --exclude-standard -z | grep -zv '^tests/golden/' | xargs -0 cp --parents -t "$dest" 2>/dev/null || true)
# keep the golden files (tests read them) but out of the sanity file list is not needed
(cd "$root" && git ls-files -co --exclude-standard -z tests/golden | xargs -0 -r cp --parents -t "$dest")
cd "$dest"
git init -q . || true
git add -A >/dev/null 2>&1 || true
export PATH="$root/.venv/bin:$PATH"
case "$cmd" in
  sanity) exec ansible-test sanity --venv --python "$py" --color no "$@" ;;
  units)  exec ansible-test units --venv --python "$py" --color no --requirements "$@" ;;
  *) echo "unknown ansible-test command $cmd" >&2; exit 2 ;;
esac
