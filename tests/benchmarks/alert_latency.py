#!/usr/bin/env python
"""Fault-to-webhook latency per alert kind in the lab (issue 4; figures in docs/performance.md).

    python tests/benchmarks/alert_latency.py [--reps N] [--keep] [--json FILE]

Uses the lab of tests/lab (brings it up with `lab.sh up --quiet` when it is not up, and
takes it down again afterwards unless --keep). For each kind, N times:

  over-temperature  lab-h200 device 0 pinned at 92 C       -> AcceleratorHighTemperature
  device vanished   lab-h200 device 2 stops exporting       -> AcceleratorOffline
  node down         node_exporter stopped on lab-cpu        -> NodeDown

it injects the fault, waits for the firing alert in the webhook sink's file, and prints
the time from injection to receipt, split into: detection (injection -> the alert's
activeAt, i.e. the first evaluation that saw the fault: scrape + evaluation), `for`
(activeAt -> firing, the startsAt Prometheus sends) and notification (firing -> webhook:
Prometheus -> Alertmanager -> group_wait -> HTTP). The configured scrape interval,
evaluation interval, `for` and group_wait are printed beside the figures. After each run
the fault is cleared and the resolved notification awaited, so every run starts with a
fresh Alertmanager group. Target: under 60 s for critical alerts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "lab"))
import lab  # noqa: E402

KINDS = [
    # label, fault kind, host, fault kwargs, alertname
    ("over-temperature", "gpu-overtemp", "lab-h200", {"device": 0, "celsius": 92}, "AcceleratorHighTemperature"),
    ("device vanished", "gpu-vanish", "lab-h200", {"device": 2}, "AcceleratorOffline"),
    ("node down", "node-down", "lab-cpu", {}, "NodeDown"),
    ("exporter stopped", "allsmi-stop", "lab-gaudi", {}, "AcceleratorExporterDown"),
    ("XID 79", "gpu-xid", "lab-h200", {"device": 0, "code": 79}, "NvidiaXidError"),
]
TIMEOUT = 180


def parse_ts(text):
    text = text.rstrip("Z")
    if "." in text:
        head, frac = text.split(".", 1)
        text = "%s.%s" % (head, frac[:6])
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc).timestamp()


def settings():
    cfg = yaml.safe_load(lab.prom("/api/v1/status/config")["yaml"])
    am_cfg = yaml.safe_load(lab.am("/api/v2/status")["config"]["original"])
    return {
        "scrape_interval": cfg["global"]["scrape_interval"],
        "evaluation_interval": cfg["global"]["evaluation_interval"],
        "group_wait": am_cfg["route"].get("group_wait", "30s"),
        "group_interval": am_cfg["route"].get("group_interval", "5m"),
    }


def rule_for(alertname, host):
    for group in lab.prom("/api/v1/rules")["groups"]:
        for rule in group["rules"]:
            if (
                rule.get("name") == alertname
                and '"%s"' % host in rule.get("query", "")
                or (rule.get("name") == alertname and host in rule.get("query", ""))
            ):
                return "%ds" % rule.get("duration", 0)
    return "?"


def one_run(kind, host, kwargs, alertname):
    t0 = lab.inject(kind, host, **kwargs)
    match = None
    deadline = time.monotonic() + TIMEOUT
    active_at = None
    while time.monotonic() < deadline:
        for a in lab.prom("/api/v1/alerts")["alerts"]:
            if a["labels"].get("alertname") == alertname and a["labels"].get("instance") == host:
                active_at = parse_ts(a["activeAt"])
        for a in lab.webhook_alerts(t0):
            if (
                a["status"] == "firing"
                and a["labels"].get("alertname") == alertname
                and a["labels"].get("instance") == host
            ):
                match = a
                break
        if match:
            break
        time.sleep(0.25)
    if not match:
        lab.clear(host)
        raise SystemExit("no %s for %s within %d s" % (alertname, host, TIMEOUT))
    fired = parse_ts(match["startsAt"])
    result = {
        "total": match["received_at"] - t0,
        "detect": (active_at - t0) if active_at else float("nan"),
        "for": (fired - active_at) if active_at else float("nan"),
        "notify": match["received_at"] - fired,
    }
    # Clear, and wait for the resolved notification: the next run starts from scratch.
    t1 = lab.inject("clear", host)
    lab.wait_for(
        "resolved %s" % alertname,
        lambda: any(
            a["status"] == "resolved"
            and a["labels"].get("alertname") == alertname
            and a["labels"].get("instance") == host
            for a in lab.webhook_alerts(t1)
        ),
        TIMEOUT,
        0.5,
    )
    lab.wait_for("targets up", lab.all_targets_up, 60, 1.0)
    return result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="leave the lab up")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args(argv)

    brought_up = False
    try:
        usable = lab.all_targets_up() and lab.webhook_running()
    except Exception:  # noqa: BLE001
        usable = False
    if not usable:
        subprocess.run(["bash", os.path.join(REPO, "tests", "lab", "lab.sh"), "up", "--quiet"], check=True)
        brought_up = True
    try:
        lab.clear()
        lab.wait_for("targets up", lab.all_targets_up, 60, 1.0)
        conf = settings()
        print(
            "lab settings: scrape_interval %(scrape_interval)s, evaluation_interval %(evaluation_interval)s, "
            "group_wait %(group_wait)s, group_interval %(group_interval)s" % conf
        )
        header = "%-17s %-27s %-5s %-9s %-9s %-9s %-9s %-9s %s" % (
            "kind",
            "alert",
            "for",
            "detect_s",
            "for_s",
            "notify_s",
            "total_s",
            "max_s",
            "runs",
        )
        print(header)
        rows = []
        for label, kind, host, kwargs, alertname in KINDS:
            runs = [one_run(kind, host, kwargs, alertname) for _unused in range(args.reps)]
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            row = {
                "kind": label,
                "alert": alertname,
                "host": host,
                "for": rule_for(alertname, host),
                "median": med,
                "max_total": max(r["total"] for r in runs),
                "runs": [round(r["total"], 1) for r in runs],
                **conf,
            }
            rows.append(row)
            print(
                "%-17s %-27s %-5s %-9.1f %-9.1f %-9.1f %-9.1f %-9.1f %s"
                % (
                    label,
                    alertname,
                    row["for"],
                    med["detect"],
                    med["for"],
                    med["notify"],
                    med["total"],
                    row["max_total"],
                    " ".join("%.1f" % t for t in row["runs"]),
                ),
                flush=True,
            )
        worst = max(r["max_total"] for r in rows)
        print(
            "worst fault-to-webhook latency: %.1f s (target: under 60 s for critical alerts) -> %s"
            % (worst, "OK" if worst < 60 else "OVER TARGET")
        )
        if args.json:
            with open(args.json, "w", encoding="utf-8") as fh:
                json.dump(rows, fh, indent=1)
        return 0 if worst < 60 else 1
    finally:
        if brought_up and not args.keep:
            subprocess.run(["bash", os.path.join(REPO, "tests", "lab", "lab.sh"), "down"], check=False)


if __name__ == "__main__":
    sys.exit(main())
