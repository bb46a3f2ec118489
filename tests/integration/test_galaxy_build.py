"""The collection builds with ansible-galaxy, installs, and its plugins work from the install."""

from __future__ import annotations

import glob
import os
import tarfile

from helpers import BIN, ROOT, run


def test_build_install_and_use(tmp_path):
    out = tmp_path / "dist"
    run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(out), ROOT])
    tarballs = glob.glob(str(out / "accelmon-monitoring-*.tar.gz"))
    assert len(tarballs) == 1
    with tarfile.open(tarballs[0]) as tar:
        names = tar.getnames()
    assert "plugins/inventory/fleet.py" in names and "plugins/module_utils/policy_engine.py" in names
    assert not any(n.startswith((".venv", ".build", ".git/", "tests/output")) for n in names)
    # tests, fixtures and goldens stay in the repository (galaxy.yml build_ignore)
    assert not any(n.startswith("tests/") and not n.startswith("tests/sanity") for n in names), [
        n for n in names if n.startswith("tests/")
    ]
    dest = tmp_path / "collections"
    run(
        [
            os.path.join(BIN, "ansible-galaxy"),
            "collection",
            "install",
            "--force",
            "--offline",
            "-p",
            str(dest),
            tarballs[0],
        ]
    )
    installed = dest / "ansible_collections" / "accelmon" / "monitoring"
    assert (installed / "MANIFEST.json").exists()
    env = {"ANSIBLE_COLLECTIONS_PATH": str(dest)}
    doc = run([os.path.join(BIN, "ansible-doc"), "-t", "inventory", "accelmon.monitoring.fleet"], **env).stdout
    assert "accelmon_effective_policy" in doc
    graph = run(
        [
            os.path.join(BIN, "ansible-inventory"),
            "-i",
            os.path.join(ROOT, "inventory", "examples", "spec", "spec.accelmon.yml"),
            "--graph",
        ],
        **env,
    ).stdout
    assert "infrastructure__aws__us_east_1__us_east_1a" in graph
