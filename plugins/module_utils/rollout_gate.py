# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""The health gate between rollout batches: Prometheus says whether a batch is healthy.

A batch passes when, for every host, at a moment at least `min_scrapes` + 1 scrape
intervals after the gate started (one interval of slack for scrape jitter):
- every expected job's target of the host was up at each of the last `min_scrapes` scrapes
  (`min_over_time(up[W])` == 1 and `count_over_time(up[W])` >= min_scrapes, W = the window
  of min_scrapes + 1 intervals);
- every expected accelerator series is present (at least as many series as asked for);
- no alert of the watched severities (critical) on the host became active since the batch
  started (`since`); alerts already active before are not the rollout's doing;
- node_exporter reports no textfile scrape error (`node_textfile_scrape_error` == 1).

`evaluate()` is pure: it takes the query answers and returns per-host verdicts, so pytest
covers it without a server; `run_gate()` polls a real Prometheus through PrometheusClient
until the batch passes or the timeout ends.
"""

from __future__ import annotations

import json
import re
import time

from ansible_collections.accelmon.monitoring.plugins.module_utils.alertmanager_api import (
    AlertmanagerAPIError,
    parse_duration,
    parse_time,
)
from ansible_collections.accelmon.monitoring.plugins.module_utils.http_json import JsonApiClient


_METRIC_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_REGEX_SPECIAL = re.compile(r"([\\.^$|?*+()\[\]{}])")
_GLOBAL_SCRAPE_RE = re.compile(r"^global:\s*\n((?:[ \t]+.*\n?)*)", re.MULTILINE)
_SCRAPE_INTERVAL_RE = re.compile(r"^[ \t]+scrape_interval:\s*(\S+)", re.MULTILINE)


class GateError(Exception):
    """The gate cannot run (bad option, Prometheus unreachable); the message says how to fix it."""


# ----------------------------------------------------------------------------- options
def normalize_targets(targets, jobs=None, series=None):
    """[{instance, jobs, series{metric: min count}}] from host names or dicts.

    A plain name takes the default `jobs` and `series`; a dict may override either.
    """
    default_jobs = list(jobs or [])
    default_series = _normalize_series(series, "series")
    out = []
    seen = set()
    for i, item in enumerate(targets or []):
        if isinstance(item, str):
            entry = {"instance": item, "jobs": list(default_jobs), "series": dict(default_series)}
        elif isinstance(item, dict) and item.get("instance"):
            entry = {
                "instance": str(item["instance"]),
                "jobs": list(item["jobs"]) if item.get("jobs") is not None else list(default_jobs),
                "series": (
                    _normalize_series(item["series"], f"targets[{i}].series")
                    if item.get("series") is not None
                    else dict(default_series)
                ),
            }
        else:
            raise GateError(f"targets[{i}]: {item!r} is neither a host name nor a dict with 'instance'")
        if entry["instance"] in seen:
            raise GateError(f"targets[{i}]: {entry['instance']} is listed twice")
        seen.add(entry["instance"])
        out.append(entry)
    if not out:
        raise GateError("targets is empty: give the hosts of the batch (ansible_play_batch)")
    return out


def _normalize_series(series, option):
    if not series:
        return {}
    if isinstance(series, dict):
        items = list(series.items())
    elif isinstance(series, list):
        items = [(s, 1) for s in series]
    else:
        raise GateError(f"{option}: give a list of metric names or a mapping of metric name to minimum count")
    out = {}
    for name, count in items:
        if not _METRIC_RE.match(str(name)):
            raise GateError(f"{option}: {name!r} is not a metric name (e.g. all_smi_gpu_info)")
        try:
            count = int(count)
        except (TypeError, ValueError):
            raise GateError(f"{option}: the minimum count of {name} is {count!r}; give a whole number")
        if count < 1:
            raise GateError(f"{option}: the minimum count of {name} is {count}; give at least 1")
        out[str(name)] = count
    return out


def regex_alternation(values):
    """A PromQL string literal of an RE2 alternation that matches exactly these values."""
    body = "|".join(_REGEX_SPECIAL.sub(r"\\\1", v) for v in values)
    return json.dumps(body)


def scrape_interval_from_config(config_yaml):
    """global.scrape_interval (seconds) of a Prometheus config as /api/v1/status/config gives it."""
    m = _GLOBAL_SCRAPE_RE.search(config_yaml or "")
    if m:
        m2 = _SCRAPE_INTERVAL_RE.search(m.group(1))
        if m2:
            return parse_duration(m2.group(1).strip("'\""))
    return 60.0  # Prometheus' default


def promql_window(seconds):
    """A range selector duration, whole milliseconds (PromQL takes 1500ms, not 1.5s)."""
    return f"{max(int(round(seconds * 1000)), 1)}ms"


# ----------------------------------------------------------------------------- queries
def queries(targets, label, window):
    """The PromQL queries the gate needs for these targets: {name: expr}."""
    hosts = regex_alternation([t["instance"] for t in targets])
    sel = f"{label}=~{hosts}"
    out = {
        "up_min": f"min_over_time(up{{{sel}}}[{window}])",
        "up_count": f"count_over_time(up{{{sel}}}[{window}])",
        "textfile": f"node_textfile_scrape_error{{{sel}}}",
    }
    for metric in sorted({m for t in targets for m in t["series"]}):
        out["series:" + metric] = f"count by ({label}) ({metric}{{{sel}}})"
    return out


# ----------------------------------------------------------------------------- verdict
def _rows(result, label):
    """[(instance, labels, value)] of an instant vector answer."""
    out = []
    for row in result or []:
        metric = row.get("metric") or {}
        try:
            value = float((row.get("value") or [0, "nan"])[1])
        except (TypeError, ValueError):
            value = float("nan")
        out.append((metric.get(label), metric, value))
    return out


def evaluate(targets, answers, alerts, since, label="instance", severities=("critical",), min_scrapes=2, window=""):
    """Per-host verdicts from query answers: {instance: {"ok": bool, "reasons": [str]}}.

    answers: {query name (see queries()): Prometheus result list}; alerts: /api/v1/alerts
    alerts; since: unix time the batch started (alerts active before it are not new).
    """
    verdict = {t["instance"]: {"ok": True, "reasons": []} for t in targets}
    by_name = {t["instance"]: t for t in targets}

    def bad(host, reason):
        verdict[host]["ok"] = False
        verdict[host]["reasons"].append(reason)

    ups = {}
    for host, metric, value in _rows(answers.get("up_min"), label):
        if host in verdict:
            ups.setdefault(host, {})[metric.get("job", "")] = {"min": value, "count": 0}
    for host, metric, value in _rows(answers.get("up_count"), label):
        if host in ups and metric.get("job", "") in ups[host]:
            ups[host][metric.get("job", "")]["count"] = value
    for host, t in by_name.items():
        jobs = ups.get(host, {})
        wanted = t["jobs"] or sorted(jobs)
        if not wanted:
            bad(host, "no scrape target of this host in Prometheus")
        for job in wanted:
            state = jobs.get(job)
            if state is None:
                bad(host, f"job {job}: no target for this host")
            elif state["min"] != 1:
                bad(host, f"job {job}: target down in the last {window or f'{min_scrapes} scrapes'}")
            elif state["count"] < min_scrapes:
                bad(host, f"job {job}: {int(state['count'])} scrapes since the change, waiting for {min_scrapes}")

    for host, t in by_name.items():
        for metric, need in sorted(t["series"].items()):
            have = 0
            for h, _unused, value in _rows(answers.get("series:" + metric), label):
                if h == host:
                    have = int(value)
            if have < need:
                bad(host, f"series {metric}: {have} of {need} expected")

    for host, _unused, value in _rows(answers.get("textfile"), label):
        if host in verdict and value == 1:
            bad(host, "node_exporter textfile collector: scrape error (a bad *.prom file)")

    new_alerts = {}
    for alert in alerts or []:
        labels = alert.get("labels") or {}
        host = labels.get(label)
        if host not in verdict or labels.get("severity") not in severities:
            continue
        try:
            active_at = parse_time(alert.get("activeAt")).timestamp()
        except (AlertmanagerAPIError, AttributeError, TypeError):
            continue
        if active_at >= since:
            key = (host, labels.get("severity"), labels.get("alertname"), alert.get("state"))
            new_alerts[key] = new_alerts.get(key, 0) + 1
    for (host, severity, name, state), count in sorted(new_alerts.items(), key=lambda kv: tuple(map(str, kv[0]))):
        bad(host, f"new {severity} alert {name} ({state}{f', {count} series' if count > 1 else ''})")
    return verdict


# ----------------------------------------------------------------------------- client
class PrometheusClient(JsonApiClient):
    """GETs against Prometheus' HTTP API (connection options: module_utils/http_json.py)."""

    error = GateError
    service = "Prometheus"

    def get(self, path, **params):
        doc = self.request("GET", path, params=params) or {}
        if doc.get("status") != "success":
            raise GateError(f"GET {self.base}{path}: {doc.get('errorType')}: {doc.get('error')}")
        return doc["data"]

    def query(self, expr):
        return self.get("/api/v1/query", query=expr)["result"]

    def alerts(self):
        return self.get("/api/v1/alerts")["alerts"]

    def scrape_interval(self):
        return scrape_interval_from_config(self.get("/api/v1/status/config")["yaml"])


def run_gate(
    client,
    targets,
    since,
    timeout,
    poll_interval=5.0,
    scrape_interval=None,
    min_scrapes=2,
    label="instance",
    severities=("critical",),
    wait=True,
    clock=time.time,
    sleep=time.sleep,
):
    """Poll until every target passes (or the timeout ends); the result as a dict.

    The first verdict is taken no earlier than min_scrapes + 1 scrape intervals after the
    gate started (the window), so every `up` sample in it was scraped after the change.
    """
    if not _LABEL_RE.match(label):
        raise GateError(f"instance_label: {label!r} is not a label name")
    start = clock()
    interval = float(scrape_interval) if scrape_interval else client.scrape_interval()
    # One interval of slack: scrapes jitter, and a window of exactly min_scrapes intervals
    # may hold one sample fewer. The window still starts after the gate did.
    window_s = interval * (min_scrapes + 1)
    window = promql_window(window_s)
    exprs = queries(targets, label, window)
    earliest = start + window_s if wait else start
    deadline = start + max(float(timeout), window_s)
    polls = 0
    while True:
        now = clock()
        if now < earliest:
            sleep(min(earliest - now, max(deadline - now, 0)))
            continue
        answers = {name: client.query(expr) for name, expr in exprs.items()}
        verdict = evaluate(targets, answers, client.alerts(), since, label, tuple(severities), min_scrapes, window)
        polls += 1
        passed = all(v["ok"] for v in verdict.values())
        now = clock()
        if passed or not wait or now + poll_interval > deadline:
            failed = sorted(h for h, v in verdict.items() if not v["ok"])
            return {
                "passed": passed,
                "hosts": verdict,
                "failed_hosts": failed,
                "polls": polls,
                "elapsed": round(now - start, 2),
                "scrape_interval": interval,
                "window": window,
                "queries": exprs,
                "summary": (
                    f"gate passed for {len(verdict)} hosts after {now - start:.1f}s ({polls} polls)"
                    if passed
                    else "gate failed after {:.1f}s: {}".format(
                        now - start, "; ".join(f"{h}: {', '.join(verdict[h]['reasons'])}" for h in failed)
                    )
                ),
            }
        sleep(poll_interval)
