# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""Rollout filters: rollout_serial, rollout_plan, rollout_progress.

Thin adapters over module_utils/rollout_strategy.py, which holds the strategy mapping.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.accelmon.monitoring.plugins.module_utils.rollout_strategy import (
    RolloutError,
    max_fail_for,
    plan,
    plan_lines,
    progress_line,
    serial_for,
)


def _opts(strategy, concurrency=None, canary=None, ramp=None):
    return str(strategy), concurrency, canary, list(ramp or [])


def rollout_serial(strategy, concurrency=None, canary=None, ramp=None):
    """The play's serial list for a strategy."""
    try:
        return serial_for(*_opts(strategy, concurrency, canary, ramp))
    except RolloutError as exc:
        raise AnsibleFilterError(f"rollout_serial: {exc}")


def rollout_max_fail(strategy, max_fail_percentage=None):
    """The play's max_fail_percentage for a strategy (the given value or the strategy's default)."""
    try:
        return max_fail_for(str(strategy), max_fail_percentage)
    except RolloutError as exc:
        raise AnsibleFilterError(f"rollout_max_fail: {exc}")


def rollout_plan(
    hosts, strategy, concurrency=None, canary=None, ramp=None, max_fail_percentage=None, any_errors_fatal=False
):
    """Serial, failure settings and the batches, in order, of a rollout over these hosts."""
    if isinstance(hosts, str) or not hasattr(hosts, "__iter__"):
        raise AnsibleFilterError("rollout_plan: the input must be a list of host names")
    try:
        out = plan(
            [str(h) for h in hosts],
            *_opts(strategy, concurrency, canary, ramp),
            max_fail_percentage=max_fail_percentage,
            any_errors_fatal=bool(any_errors_fatal),
        )
    except RolloutError as exc:
        raise AnsibleFilterError(f"rollout_plan: {exc}")
    out["lines"] = plan_lines(out)
    return out


def rollout_progress(the_plan, batch, done, failed):
    """The compact progress line of a batch: `batch 2/5 (3 hosts): done 4 | failed 0 | pending 16`."""
    batches = the_plan["batches"]
    size = batches[int(batch) - 1]["size"] if 0 < int(batch) <= len(batches) else 0
    return progress_line(int(batch), len(batches), size, int(done), int(failed), int(the_plan["hosts"]))


class FilterModule:
    """accelmon rollout filters."""

    def filters(self):
        return {
            "rollout_serial": rollout_serial,
            "rollout_max_fail": rollout_max_fail,
            "rollout_plan": rollout_plan,
            "rollout_progress": rollout_progress,
        }
