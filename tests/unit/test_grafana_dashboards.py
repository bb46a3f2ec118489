"""Static checks of the generated Grafana dashboards (roles/grafana/files/dashboards).

- regenerating them from tools/grafana_dashboards.py changes nothing (the JSON is committed);
- each round-trips through grafana-foundation-sdk's Dashboard model unchanged;
- structural lint: unique dashboard uids and panel ids, panels inside the 24-column grid and
  not overlapping, modern panel types only, a unit on every panel, the `${datasource}`
  variable on every panel and query, every `$variable` a query uses defined, legends that
  name the host and the device.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "roles" / "grafana" / "files" / "dashboards"
GENERATOR = ROOT / "tools" / "grafana_dashboards.py"

MODERN = {"timeseries", "stat", "table", "state-timeline", "row"}
BUILTIN_VARS = {"__rate_interval", "__range", "__interval", "__all"}
# Series of Prometheus and Alertmanager themselves: no host target labels to filter on.
SELF_METRICS = re.compile(r"\b(alertmanager_|prometheus_)")


def _generator():
    spec = importlib.util.spec_from_file_location("grafana_dashboards", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def _files():
    return sorted(DASHBOARDS.rglob("*.json"))


def _load(path):
    return json.loads(path.read_text())


def _panels(dash):
    for panel in dash["panels"]:
        yield panel
        yield from panel.get("panels") or []


def test_regenerating_changes_nothing():
    wanted = _generator().render_all()
    present = {str(p.relative_to(DASHBOARDS)): p.read_text() for p in _files()}
    assert sorted(present) == sorted(wanted), "run .venv/bin/python tools/grafana_dashboards.py"
    for name, text in wanted.items():
        assert present[name] == text, "%s is stale: run .venv/bin/python tools/grafana_dashboards.py" % name


def test_dashboards_doc_is_current():
    doc = ROOT / "docs" / "dashboards.md"
    assert doc.read_text() == _generator().render_doc(), (
        "run .venv/bin/python tools/grafana_dashboards.py --doc > docs/dashboards.md")


def test_families_and_uids():
    dashes = [_load(p) for p in _files()]
    assert {p.parent.name for p in _files()} == {"fleet", "accelerators", "nodes", "storage", "alerts"}
    uids = [d["uid"] for d in dashes]
    assert len(uids) == len(set(uids))
    assert all(len(u) <= 40 for u in uids), "Grafana uids are at most 40 characters"
    for path in _files():
        assert path.stem == _load(path)["uid"]


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.stem)
def test_round_trips_through_the_sdk_model(path):
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models.dashboard import Dashboard

    data = _load(path)
    again = json.loads(json.dumps(Dashboard.from_json(data), cls=JSONEncoder))
    assert again == data


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.stem)
def test_structure(path):
    dash = _load(path)
    panels = list(_panels(dash))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    cells = {}
    for p in panels:
        g = p["gridPos"]
        assert g["w"] > 0 and g["h"] > 0 and g["x"] >= 0 and g["x"] + g["w"] <= 24, (p["title"], g)
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, "%r overlaps %r" % (p["title"], cells[(x, y)])
                cells[(x, y)] = p["title"]
        assert p["type"] in MODERN, "%s: deprecated or unknown panel type %s" % (p["title"], p["type"])


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.stem)
def test_units_datasources_and_variables(path):
    dash = _load(path)
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for name, var in variables.items():
        if var["type"] == "query":
            assert var["datasource"]["uid"] == "${datasource}", name
    known = set(variables) | BUILTIN_VARS
    for p in _panels(dash):
        if p["type"] == "row":
            continue
        title = p["title"]
        assert p["fieldConfig"]["defaults"].get("unit"), "%s: no unit" % title
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, title
        assert p["targets"], "%s: no query" % title
        for t in p["targets"]:
            assert t["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, title
            used = set(re.findall(r"\$(\w+)", t["expr"]))
            assert used <= known, "%s: undefined variables %s" % (title, used - known)
            if not SELF_METRICS.search(t["expr"]):
                assert "$instance" in t["expr"], "%s: the query ignores the host filter: %s" % (title, t["expr"])


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.stem)
def test_legends_name_host_and_device(path):
    for p in _panels(_load(path)):
        if p["type"] not in ("timeseries", "state-timeline"):
            continue
        for t in p["targets"]:
            legend, expr = t["legendFormat"], t["expr"]
            assert legend and legend != "__auto", "%s: set a legend" % p["title"]
            if "count by" in expr or "sum by" in expr or SELF_METRICS.search(expr):
                continue
            if "ALERTS" not in expr and "by (device, mountpoint)" not in expr:
                assert "{{instance}}" in legend, "%s: the legend must name the host: %s" % (p["title"], legend)
            if "gpu_uuid" in expr and "ALERTS" not in expr:
                assert "{{gpu_index}}" in legend, p["title"]
            if "npu_uuid" in expr:
                assert "{{npu_index}}" in legend, p["title"]
            if "UUID=~" in expr:
                assert "{{gpu}}" in legend, p["title"]


def test_check_mode_reports_stale_files(tmp_path):
    gen = _generator()
    assert gen.main(["--out", str(tmp_path)]) == 0
    assert gen.main(["--check", "--out", str(tmp_path)]) == 0
    victim = next(tmp_path.rglob("*.json"))
    victim.write_text("{}\n")
    assert gen.main(["--check", "--out", str(tmp_path)]) == 1
