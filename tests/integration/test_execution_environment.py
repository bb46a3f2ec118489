"""The execution-environment files: ansible-builder reads the collection's dependencies
(meta/execution-environment.yml) and turns the air-gapped example into a build context."""

from __future__ import annotations

import os
import shutil

from helpers import BIN, ROOT, run

EXAMPLE = os.path.join(ROOT, "docs", "execution-environment", "execution-environment.yml")


def test_introspect_lists_the_collection_dependencies():
    collections = os.path.join(ROOT, ".build", "collections")
    out = run([os.path.join(BIN, "ansible-builder"), "introspect", "--sanitize", collections]).stdout
    assert "netaddr>=0.10.1  # from collection accelmon.monitoring" in out
    assert "prometheus [platform:dpkg]  # from collection accelmon.monitoring" in out


def test_air_gapped_example_creates_a_build_context(tmp_path):
    shutil.copy(EXAMPLE, tmp_path / "execution-environment.yml")
    files = tmp_path / "files"
    files.mkdir()
    run(
        [os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(tmp_path), ROOT]
    )
    (tarball,) = [p for p in tmp_path.iterdir() if p.name.startswith("accelmon-monitoring-")]
    tarball.rename(files / "accelmon-monitoring.tar.gz")
    context = tmp_path / "context"
    run(
        [
            os.path.join(BIN, "ansible-builder"),
            "create",
            "-f",
            str(tmp_path / "execution-environment.yml"),
            "--context",
            str(context),
        ]
    )
    containerfile = (context / "Containerfile").read_text()
    assert "ENV PIP_INDEX_URL=$PIP_INDEX_URL" in containerfile
    assert containerfile.index("ENV PIP_INDEX_URL") < containerfile.index("pip install")
    assert "install -m 0755 /tmp/accelmon-files/prometheus-*/promtool /usr/local/bin/promtool" in containerfile
    assert (context / "_build" / "files" / "accelmon-monitoring.tar.gz").is_file()
    assert "/build/files/accelmon-monitoring.tar.gz" in (context / "_build" / "requirements.yml").read_text()
