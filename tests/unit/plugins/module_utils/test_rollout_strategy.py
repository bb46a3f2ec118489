"""Strategy mapping: serial lists, batches, failure rules (batches against ansible-core's own
batching: tests/unit/plugins/filter/test_rollout_filter.py)."""

from __future__ import annotations

import itertools

import pytest
from ansible_collections.accelmon.monitoring.plugins.module_utils.rollout_strategy import (
    RolloutError,
    batch_stops_play,
    batches,
    max_fail_for,
    parse_size,
    plan,
    plan_lines,
    progress_line,
    serial_for,
)


def hosts(n):
    return [f"gpu{i:03d}" for i in range(n)]


@pytest.mark.parametrize(
    ("strategy", "concurrency", "canary", "ramp", "serial"),
    [
        ("all_at_once", None, None, None, ["100%"]),
        ("rolling", None, None, None, [5]),
        ("rolling", 3, None, None, [3]),
        ("rolling", "20%", None, None, ["20%"]),
        ("rolling", "3", None, None, [3]),
        ("canary", None, None, None, [1, 5]),
        ("canary", 10, "5%", None, ["5%", 10]),
        ("canary", 10, 1, [2, 5], [1, 2, 5, 10]),
    ],
)
def test_serial_for(strategy, concurrency, canary, ramp, serial):
    assert serial_for(strategy, concurrency, canary, ramp) == serial


def sizes(serial, n=50):
    return [len(b) for b in batches(hosts(n), serial)]


def test_batch_sizes_per_strategy_for_50_hosts():
    assert sizes(serial_for("all_at_once")) == [50]
    assert sizes(serial_for("rolling", 5)) == [5] * 10
    assert sizes(serial_for("rolling", "20%")) == [10] * 5
    assert sizes(serial_for("rolling", 7)) == [7] * 7 + [1]
    assert sizes(serial_for("canary", 5, 1)) == [1] + [5] * 9 + [4]
    assert sizes(serial_for("canary", "10%", "2%", [2])) == [1, 2] + [5] * 9 + [2]


@pytest.mark.parametrize("n", [1, 2, 9, 50, 1000])
@pytest.mark.parametrize("concurrency", [1, 5, "10%", "25%"])
def test_canary_never_ends_in_one_huge_batch(n, concurrency):
    serial = serial_for("canary", concurrency, 1)
    parts = batches(hosts(n), serial)
    cap = max(1, int(n * float(str(concurrency).rstrip("%")) / 100)) if str(concurrency).endswith("%") else concurrency
    assert len(parts[0]) == 1
    assert all(len(b) <= cap for b in parts[1:])
    assert list(itertools.chain.from_iterable(parts)) == hosts(n)


def test_every_host_exactly_once_in_order():
    for serial in ([], ["100%"], [1], [5], ["30%"], [1, 5], [2, "25%", 3], ["13%"], [50]):
        parts = batches(hosts(23), serial)
        assert [h for b in parts for h in b] == hosts(23)
        assert all(parts)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "at least 1"),
        (-3, "at least 1"),
        ("0%", "outside 0-100"),
        ("150%", "outside 0-100"),
        ("five", "neither a host count"),
        (True, "boolean"),
        ("5 hosts", "neither a host count"),
        ("12.5%", "no fractions"),
    ],
)
def test_bad_sizes_name_the_option(value, message):
    with pytest.raises(RolloutError, match=message) as exc:
        parse_size(value, "rollout_concurrency")
    assert "rollout_concurrency" in str(exc.value)


def test_bad_strategy_and_ramp():
    with pytest.raises(RolloutError, match="blue_green.*all_at_once, rolling, canary"):
        serial_for("blue_green")
    with pytest.raises(RolloutError, match="only the canary"):
        serial_for("rolling", 5, ramp=[2])
    with pytest.raises(RolloutError, match=r"rollout_ramp\[1\]"):
        serial_for("canary", 5, 1, [2, "x"])


def test_max_fail_defaults_and_validation():
    assert max_fail_for("rolling") == 0
    assert max_fail_for("canary") == 0
    assert max_fail_for("all_at_once") == 100
    assert max_fail_for("rolling", "20") == 20
    assert max_fail_for("rolling", 12.5) == 12.5
    with pytest.raises(RolloutError, match="outside 0-100"):
        max_fail_for("rolling", 101)
    with pytest.raises(RolloutError, match="not a number"):
        max_fail_for("rolling", "many")


@pytest.mark.parametrize(
    ("failed", "size", "mfp", "aef", "stops"),
    [
        (0, 5, 0, False, False),
        (1, 5, 0, False, True),  # 20 % > 0
        (1, 5, 20, False, False),  # 20 % is not > 20
        (2, 5, 20, False, True),
        (5, 5, 100, False, True),  # the whole batch failed: always stops
        (4, 5, 100, False, False),
        (1, 5, 100, True, True),  # any_errors_fatal
        (1, 1, 100, False, True),  # a failed canary of one host is a whole failed batch
    ],
)
def test_batch_stops_play(failed, size, mfp, aef, stops):
    assert batch_stops_play(failed, size, mfp, aef) is stops


def test_plan_and_lines():
    p = plan(hosts(12), "canary", 5, 1)
    assert p["serial"] == [1, 5]
    assert p["max_fail_percentage"] == 0
    assert [b["size"] for b in p["batches"]] == [1, 5, 5, 1]
    assert p["batches"][0] == {"batch": 1, "size": 1, "hosts": ["gpu000"]}
    lines = plan_lines(p, show=3)
    assert lines[0] == "strategy canary: 12 hosts in 4 batches, serial [1, 5], max_fail_percentage 0"
    assert lines[2] == "batch 2: 5 hosts: gpu001 gpu002 gpu003 (+2 more)"
    assert progress_line(2, 4, 5, 6, 0, 12) == "batch 2/4 (5 hosts): done 6 | failed 0 | pending 6"
