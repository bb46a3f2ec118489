"""Pure helpers of the Alertmanager silence API (the live server is tested in integration)."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.accelmon.monitoring.plugins.module_utils.alertmanager_api import (
    AlertmanagerAPIError,
    build_silence,
    find_equal_silence,
    format_time,
    matchers_equal,
    normalize_matchers,
    parse_duration,
    parse_matcher,
    parse_time,
    select_for_expiry,
    silence_window,
)

NOW = "2026-11-26T10:00:00Z"


@pytest.mark.parametrize(
    "spec, want",
    [
        ('instance="gpu01"', ("instance", "gpu01", False, True)),
        ("instance!=gpu01", ("instance", "gpu01", False, False)),
        ('alertname=~"Accelerator.*"', ("alertname", "Accelerator.*", True, True)),
        ('team!~"ml|inf"', ("team", "ml|inf", True, False)),
        ({"name": "job", "value": "node"}, ("job", "node", False, True)),
    ],
)
def test_parse_matcher_forms(spec, want):
    m = parse_matcher(spec)
    assert (m["name"], m["value"], m["isRegex"], m["isEqual"]) == want


@pytest.mark.parametrize("spec", ["instance", "1bad=x", {"name": "x"}, "=value"])
def test_parse_matcher_rejects(spec):
    with pytest.raises(AlertmanagerAPIError):
        parse_matcher(spec)


def test_matcher_order_does_not_matter():
    a = normalize_matchers(['instance="a"', 'alertname="NodeDown"'])
    b = normalize_matchers(['alertname="NodeDown"', 'instance="a"'])
    assert matchers_equal(a, b)
    with pytest.raises(AlertmanagerAPIError):
        normalize_matchers([])


@pytest.mark.parametrize("value, seconds", [("90s", 90), ("1h30m", 5400), ("2d", 172800), (30, 30), ("45", 45)])
def test_parse_duration(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "5 minutes", "1h30", "-5m"])
def test_parse_duration_rejects(value):
    with pytest.raises(AlertmanagerAPIError):
        parse_duration(value)


def test_times_round_trip_in_utc():
    assert format_time("2026-11-26T12:00:00+02:00") == "2026-11-26T10:00:00.000Z"
    assert parse_time("2026-11-26T10:00:00.5Z").microsecond == 500000
    with pytest.raises(AlertmanagerAPIError):
        parse_time("tomorrow")


def test_silence_window():
    start, end = silence_window(NOW, duration="2h")
    assert (end - start) == datetime.timedelta(hours=2)
    with pytest.raises(AlertmanagerAPIError):
        silence_window(NOW, ends_at="2026-11-26T09:00:00Z")  # in the past
    with pytest.raises(AlertmanagerAPIError):
        silence_window(NOW, ends_at="2026-11-26T12:00:00Z", duration="1h")  # both
    with pytest.raises(AlertmanagerAPIError):
        silence_window(NOW)  # neither


def _silence(sid, state, matchers, end, comment="maintenance"):
    return {
        "id": sid,
        "status": {"state": state},
        "matchers": matchers,
        "createdBy": "ansible",
        "comment": comment,
        "startsAt": NOW,
        "endsAt": end,
    }


def test_find_equal_silence_is_idempotent_within_tolerance():
    matchers = normalize_matchers(['instance="gpu01"'])
    start, end = silence_window(NOW, duration="2h")
    body = build_silence(matchers, start, end, "ansible", "maintenance")
    assert body["endsAt"] == "2026-11-26T12:00:00.000Z"
    live = _silence("s1", "active", matchers, "2026-11-26T12:01:00Z")
    expired = _silence("s0", "expired", matchers, "2026-11-26T12:00:00Z")
    found, up_to_date = find_equal_silence([expired, live], matchers, "ansible", "maintenance", start, end, NOW)
    assert found["id"] == "s1" and up_to_date
    found, up_to_date = find_equal_silence([live], matchers, "ansible", "other comment", start, end, NOW)
    assert found is None and not up_to_date
    far = _silence("s2", "active", matchers, "2026-11-26T18:00:00Z")
    found, up_to_date = find_equal_silence([far], matchers, "ansible", "maintenance", start, end, NOW)
    assert found["id"] == "s2" and not up_to_date


def test_select_for_expiry():
    m1 = normalize_matchers(['instance="gpu01"'])
    m2 = normalize_matchers(['instance="gpu02"'])
    silences = [
        _silence("b", "active", m1, "2026-11-26T12:00:00Z"),
        _silence("a", "pending", m1, "2026-11-26T12:00:00Z"),
        _silence("c", "active", m2, "2026-11-26T12:00:00Z"),
        _silence("d", "expired", m1, "2026-11-26T12:00:00Z"),
    ]
    assert [s["id"] for s in select_for_expiry(silences, matchers=m1)] == ["a", "b"]
    assert [s["id"] for s in select_for_expiry(silences, silence_id="c")] == ["c"]
    assert select_for_expiry(silences, silence_id="d") == []
