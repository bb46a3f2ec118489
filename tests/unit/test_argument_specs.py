"""Every role's meta/argument_specs.yml lists exactly the keys of its defaults/main.yml.

Roles are validated against argument_specs at run time; a default without a spec entry is
undocumented, and a spec entry without a default is a variable nobody sets. CI diffs the two
key sets for every role under roles/ (the habit of prometheus-community/ansible).
"""

from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[2] / "roles"
ROLE_DIRS = sorted(p for p in ROLES.iterdir() if (p / "tasks").is_dir()) if ROLES.is_dir() else []


def _load(path):
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


@pytest.mark.parametrize("role", ROLE_DIRS, ids=lambda p: p.name)
def test_argument_specs_mirror_defaults(role):
    defaults_file = role / "defaults" / "main.yml"
    specs_file = role / "meta" / "argument_specs.yml"
    defaults = set(_load(defaults_file)) if defaults_file.is_file() else set()
    if not defaults and not specs_file.is_file():
        pytest.skip("%s has neither defaults nor argument specs" % role.name)
    assert specs_file.is_file(), "%s: add meta/argument_specs.yml for %s" % (role.name, sorted(defaults))
    entry_points = _load(specs_file).get("argument_specs") or {}
    assert "main" in entry_points, "%s: argument_specs has no 'main' entry point" % role.name
    options = set((entry_points["main"] or {}).get("options") or {})

    missing = sorted(defaults - options)
    extra = sorted(options - defaults)
    assert not missing, "%s: defaults without an argument spec: %s" % (role.name, missing)
    assert not extra, "%s: argument specs without a default: %s" % (role.name, extra)


@pytest.mark.parametrize("role", ROLE_DIRS, ids=lambda p: p.name)
def test_argument_specs_describe_every_option(role):
    specs_file = role / "meta" / "argument_specs.yml"
    if not specs_file.is_file():
        pytest.skip("no argument specs")
    for entry, spec in (_load(specs_file).get("argument_specs") or {}).items():
        for name, option in ((spec or {}).get("options") or {}).items():
            assert option.get("description"), "%s/%s: %s has no description" % (role.name, entry, name)
            assert option.get("type"), "%s/%s: %s has no type" % (role.name, entry, name)


def test_some_roles_found():
    assert ROLE_DIRS, "no roles under %s" % ROLES
