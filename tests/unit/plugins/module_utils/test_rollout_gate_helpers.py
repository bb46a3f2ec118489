"""Gate helpers without a server (the gate itself runs against a real Prometheus in
tests/integration/test_rollout_gate.py)."""

from __future__ import annotations

import re

import pytest

from ansible_collections.accelmon.monitoring.plugins.module_utils.rollout_gate import (
    GateError,
    evaluate,
    normalize_targets,
    promql_window,
    queries,
    regex_alternation,
    scrape_interval_from_config,
)


def test_regex_alternation_matches_exactly_the_names():
    literal = regex_alternation(["gpu-01.dc1", "a+b"])
    assert literal == '"gpu-01\\\\.dc1|a\\\\+b"'
    pattern = re.compile("^(?:" + literal[1:-1].replace("\\\\", "\\") + ")$")
    assert pattern.match("gpu-01.dc1") and pattern.match("a+b")
    assert not pattern.match("gpu-01xdc1")


def test_scrape_interval_from_config():
    cfg = "global:\n  scrape_interval: 15s\n  scrape_timeout: 10s\nscrape_configs:\n- job_name: x\n  scrape_interval: 1m\n"
    assert scrape_interval_from_config(cfg) == 15.0
    assert scrape_interval_from_config("scrape_configs: []\n") == 60.0
    assert promql_window(2.5) == "2500ms"


def test_normalize_targets():
    t = normalize_targets(
        ["a", {"instance": "b", "jobs": ["node"], "series": {"x_info": 4}}], ["node", "allsmi"], ["y"]
    )
    assert t == [
        {"instance": "a", "jobs": ["node", "allsmi"], "series": {"y": 1}},
        {"instance": "b", "jobs": ["node"], "series": {"x_info": 4}},
    ]
    with pytest.raises(GateError, match="listed twice"):
        normalize_targets(["a", "a"])
    with pytest.raises(GateError, match="is empty"):
        normalize_targets([])
    with pytest.raises(GateError, match="not a metric name"):
        normalize_targets(["a"], series=["up{job='x'}"])
    with pytest.raises(GateError, match=r"targets\[0\]"):
        normalize_targets([{"name": "a"}])


def test_evaluate_counts_scrapes_and_ignores_other_hosts():
    targets = normalize_targets(["a"], ["node"])
    exprs = queries(targets, "instance", "2000ms")
    assert exprs["up_min"] == 'min_over_time(up{instance=~"a"}[2000ms])'

    def answer(value, host="a"):
        return [{"metric": {"instance": host, "job": "node"}, "value": [0, str(value)]}]

    one_scrape = {"up_min": answer(1), "up_count": answer(1)}
    assert evaluate(targets, one_scrape, [], 0)["a"]["reasons"] == [
        "job node: 1 scrapes since the change, waiting for 2"
    ]
    ok = {"up_min": answer(1) + answer(0, "other"), "up_count": answer(2)}
    alerts = [
        {"labels": {"instance": "a", "severity": "critical", "alertname": "Old"}, "activeAt": "2026-01-01T00:00:00Z"},
        {"labels": {"instance": "b", "severity": "critical", "alertname": "New"}, "activeAt": "2099-01-01T00:00:00Z"},
    ]
    assert evaluate(targets, ok, alerts, since=1.8e9)["a"] == {"ok": True, "reasons": []}
