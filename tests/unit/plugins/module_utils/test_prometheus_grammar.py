"""The one copy of Prometheus's duration, label-name and listen-address grammar."""

from __future__ import annotations

import pytest

from ansible_collections.accelmon.monitoring.plugins.module_utils import prometheus_grammar as g
from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_schema import validate_value
from ansible_collections.accelmon.monitoring.plugins.module_utils.rule_compiler import (
    RuleCompileError,
    duration_seconds,
)

# (text, seconds) Prometheus accepts; the list tests/integration/test_prometheus_grammar.py
# also hands to promtool
VALID = [
    ("0", 0),
    ("0s", 0),
    ("30s", 30),
    ("5m", 300),
    ("1h30m", 5400),
    ("1w", 604800),
    ("2d12h", 216000),
    ("1y", 31536000),
    ("1s500ms", 1.5),
    ("1y2w3d4h5m6s7ms", 31536000 + 2 * 604800 + 3 * 86400 + 4 * 3600 + 5 * 60 + 6 + 0.007),
]
INVALID = ["", "5m1h", "1.5h", "-1m", "1h1h", "5", "5M", "ms", "1ms1s", " 5m", "5 m", "1d1w"]


@pytest.mark.parametrize("text,seconds", VALID)
def test_valid_durations_everywhere(text, seconds):
    assert g.duration_seconds(text) == pytest.approx(seconds)
    assert g.is_duration(text)
    assert validate_value("duration", text) == text  # model validation
    assert duration_seconds(text) == pytest.approx(seconds)  # rule compiler


@pytest.mark.parametrize("text", INVALID)
def test_invalid_durations_everywhere(text):
    assert not g.is_duration(text)
    with pytest.raises(ValueError):
        validate_value("duration", text)
    if text and text.strip() == text:  # the compiler strips surrounding blanks
        with pytest.raises(RuleCompileError):
            duration_seconds(text)


def test_non_strings_are_not_durations():
    assert not g.is_duration(300) and not g.is_duration(None)


@pytest.mark.parametrize(
    "name,ok",
    [("team", True), ("_x", True), ("a1_B", True), ("1a", False), ("a-b", False), ("__name__", False), ("", False)],
)
def test_label_names(name, ok):
    assert g.is_label_name(name) is ok
    if ok:
        assert validate_value("label_map", {name: "v"}) == {name: "v"}
    else:
        with pytest.raises(ValueError):
            validate_value("label_map", {name: "v"})


def test_reserved_label_names_allowed_on_request():
    assert g.is_label_name("__address__", allow_reserved=True)


@pytest.mark.parametrize(
    "address,port",
    [
        (":9100", 9100),
        ("0.0.0.0:9100", 9100),
        ("[::1]:9100", 9100),
        ("[fe80::1%eth0]:9100", 9100),
        ("node.example.com:1", 1),
        ("9100", None),
        ("::1:9100", None),
        ("host:99999", None),
        ("host:", None),
        ("host :9100", None),
        (9100, None),
    ],
)
def test_listen_addresses(address, port):
    assert g.listen_port(address) == port
    assert g.is_listen_address(address) is (port is not None)
