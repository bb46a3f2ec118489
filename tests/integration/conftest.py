"""Integration tests use real tools (promtool, amtool, prometheus, alertmanager, ...).

On a developer machine a test whose tool is missing skips, saying what to install; in CI
(CI=true) a skip is a failure: a missing tool must never make CI green by testing less.
"""

import os

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI", "").lower() == "true":
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = "skipped in CI, which must run every integration test: %s" % reason
