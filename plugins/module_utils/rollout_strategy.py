# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""Rollout strategies mapped onto Ansible's play keywords, as plain functions.

A rollout strategy (all_at_once, rolling, canary) becomes the play keywords `serial`,
`max_fail_percentage` and `any_errors_fatal`, and the batches Ansible will form from them.
`batches()` reproduces ansible-core's PlaybookExecutor._get_serialized_batches exactly (a
unit test compares the two), so the plan printed before a rollout is the plan Ansible runs.

Ansible's rules, which every function here follows:
- `serial` is a list; each value is a host count or a percentage of the play's hosts
  (rounded down, at least 1); once the list is used up, its LAST value repeats. So a canary
  is [canary, batch]: never one huge final batch.
- `max_fail_percentage` is checked per batch: the play stops when the failed hosts of the
  current batch exceed that percentage of the batch (strictly greater; 0 = any failure).
- Whatever max_fail_percentage says, a batch in which every host failed stops the play.
- `any_errors_fatal`: the first failure of a host ends the batch for all its hosts.
"""

from __future__ import annotations

import re

STRATEGIES = ("all_at_once", "rolling", "canary")
ORDERS = ("inventory", "reverse_inventory", "sorted", "reverse_sorted", "shuffle")
_SIZE_RE = re.compile(r"^\s*(\d+)\s*%\s*$")  # Ansible takes whole percentages only
_INT_RE = re.compile(r"^\s*(\d+)\s*$")

# Defaults per strategy: batch size and the failure tolerance per batch.
DEFAULT_CONCURRENCY = 5
DEFAULT_CANARY = 1
DEFAULT_MAX_FAIL = {"all_at_once": 100, "rolling": 0, "canary": 0}


class RolloutError(ValueError):
    """A rollout option cannot be used; the message names the option and the fix."""


def parse_size(value, option):
    """A batch size: a positive host count (int) or a percentage ("25%", 0 < p <= 100)."""
    if isinstance(value, bool):
        raise RolloutError(f"{option}: {value!r} is a boolean; give a host count (5) or a percentage ('20%')")
    if isinstance(value, int):
        if value < 1:
            raise RolloutError(f"{option}: {value} hosts; give at least 1 (or a percentage such as '20%')")
        return value
    text = str(value)
    m = _INT_RE.match(text)
    if m:
        return parse_size(int(m.group(1)), option)
    m = _SIZE_RE.match(text)
    if m:
        pct = int(m.group(1))
        if not 0 < pct <= 100:
            raise RolloutError(f"{option}: {text!r} is outside 0-100 %; give e.g. '10%'")
        return f"{pct}%"
    raise RolloutError(
        f"{option}: {value!r} is neither a host count (5) nor a whole percentage ('20%'; Ansible takes no fractions)"
    )


def size_to_count(size, total):
    """Hosts in a batch of `size` out of `total`, as ansible-core's pct_to_int computes it."""
    if isinstance(size, str) and size.endswith("%"):
        return int((int(size[:-1]) / 100.0) * total) or 1
    return int(size)


def serial_for(strategy, concurrency=None, canary=None, ramp=None):
    """The play's `serial` list for a strategy.

    all_at_once -> ["100%"]; rolling -> [concurrency]; canary -> [canary, *ramp, concurrency].
    """
    if strategy not in STRATEGIES:
        raise RolloutError(f"rollout_strategy: {strategy!r} is not one of {', '.join(STRATEGIES)}")
    if strategy == "all_at_once":
        if ramp:
            raise RolloutError("rollout_ramp: only the canary strategy takes a ramp; remove it or use canary")
        return ["100%"]
    batch = parse_size(DEFAULT_CONCURRENCY if concurrency in (None, "") else concurrency, "rollout_concurrency")
    if strategy == "rolling":
        if ramp:
            raise RolloutError("rollout_ramp: only the canary strategy takes a ramp; remove it or use canary")
        return [batch]
    first = parse_size(DEFAULT_CANARY if canary in (None, "") else canary, "rollout_canary")
    steps = [parse_size(v, f"rollout_ramp[{i}]") for i, v in enumerate(ramp or [])]
    return [first, *steps, batch]


def max_fail_for(strategy, max_fail_percentage=None):
    """max_fail_percentage for the play: the given one, else the strategy's default."""
    if strategy not in STRATEGIES:
        raise RolloutError(f"rollout_strategy: {strategy!r} is not one of {', '.join(STRATEGIES)}")
    if max_fail_percentage in (None, ""):
        return DEFAULT_MAX_FAIL[strategy]
    try:
        value = float(max_fail_percentage)
    except (TypeError, ValueError):
        raise RolloutError(
            f"rollout_max_fail_percentage: {max_fail_percentage!r} is not a number; give 0-100 (0 = stop on any failure)"
        )
    if not 0 <= value <= 100:
        raise RolloutError(f"rollout_max_fail_percentage: {value:g} is outside 0-100")
    return int(value) if value == int(value) else value


def batches(hosts, serial):
    """Hosts split into batches exactly as Ansible does for this `serial` list."""
    pending = list(hosts)
    total = len(pending)
    serial = list(serial or [])
    if not serial:
        serial = [-1]
    out = []
    item = 0
    while pending:
        count = size_to_count(serial[item], total)
        if count <= 0:
            out.append(pending)
            break
        out.append(pending[:count])
        pending = pending[count:]
        item = min(item + 1, len(serial) - 1)
    return out


def batch_stops_play(failed, batch_size, max_fail_percentage, any_errors_fatal=False):
    """Whether Ansible stops the play after a batch with `failed` of `batch_size` hosts failed."""
    if batch_size <= 0 or failed <= 0:
        return False
    if failed >= batch_size or any_errors_fatal:
        return True
    return failed / batch_size * 100.0 > float(max_fail_percentage)


def plan(hosts, strategy, concurrency=None, canary=None, ramp=None, max_fail_percentage=None, any_errors_fatal=False):
    """Everything the rollout play needs to know before it starts, as one dict."""
    serial = serial_for(strategy, concurrency, canary, ramp)
    parts = batches(hosts, serial)
    return {
        "strategy": strategy,
        "serial": serial,
        "max_fail_percentage": max_fail_for(strategy, max_fail_percentage),
        "any_errors_fatal": bool(any_errors_fatal),
        "hosts": len(list(hosts)),
        "batches": [{"batch": i + 1, "size": len(b), "hosts": b} for i, b in enumerate(parts)],
    }


def plan_lines(the_plan, show=10):
    """The plan as short lines for the play output: one per batch, long host lists cut."""
    lines = [
        "strategy {strategy}: {hosts} hosts in {n} batches, serial {serial}, max_fail_percentage {mfp}{aef}".format(
            strategy=the_plan["strategy"],
            hosts=the_plan["hosts"],
            n=len(the_plan["batches"]),
            serial="[" + ", ".join(str(v) for v in the_plan["serial"]) + "]",
            mfp=the_plan["max_fail_percentage"],
            aef=", any_errors_fatal" if the_plan["any_errors_fatal"] else "",
        )
    ]
    for b in the_plan["batches"]:
        names = b["hosts"][:show]
        more = f" (+{len(b['hosts']) - show} more)" if len(b["hosts"]) > show else ""
        lines.append(f"batch {b['batch']}: {b['size']} hosts: {' '.join(names)}{more}")
    return lines


def progress_line(batch, batch_count, batch_hosts, done, failed, total):
    """One compact line per batch: `batch 2/5 (3 hosts): done 4 | failed 0 | pending 16`."""
    pending = max(total - done - failed, 0)
    return f"batch {batch}/{batch_count} ({batch_hosts} hosts): done {done} | failed {failed} | pending {pending}"
