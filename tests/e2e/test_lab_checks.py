"""Custom checks end to end in the lab: the check runner runs the fleet model's `checks` policy
on a real systemd node, and a broken check becomes a routed alert that resolves once repaired.

The lab's fleet model (inventory/examples/lab/fleet/groups.yml, group `logical:inference`, i.e.
lab-cpu) enables the mount, parallel_fs, port and command checks, every 10 s for the three
this test breaks. The faults are the lab's own (tests/lab/lab.py, `lab.sh fault`):
`mount-gone` unmounts the node's /mnt/datasets tmpfs (from the host, in the container's mount
namespace), `port-closed` stops sshd, `command-fails` creates the flag file that makes the
command check exit 1. `lab.clear()` (every test's clean_lab) repairs all three.
Every wait is bounded.
"""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.e2e

HOST = "lab-cpu"
# check fault -> (alert, its item, severity)
FAULTS = {
    "mount-gone": ("MountCheckFailed", "/mnt/datasets", "critical"),
    "port-closed": ("PortUnreachable", "sshd", "warning"),
    "command-fails": ("CheckCommandFailed", "node-healthy", "warning"),
}
CHECK_ALERTS = ("MountCheckFailed", "ParallelFsSlow", "PortUnreachable", "CheckCommandFailed", "CheckRunnerStale")
# check timer 10 s (+ its fixed random delay up to 5 s), scrape and evaluation 5 s, `for`
# (PortUnreachable 15s in the lab), group_wait 5 s / group_interval 10 s: ~20-45 s.
ALERT_TIMEOUT = 90


def query(lab, expr):
    return lab.prom("/api/v1/query", query=expr)["result"]


def enabled_checks(lab, host):
    checks = lab.lab_hosts()[host].get("checks")
    assert checks, "%s has no enabled checks in the lab's fleet model (or a stale %s/hosts.json)" % (host, lab.STATE)
    return checks


def expected_items(check, conf):
    """The items the runner reports for a check's config (as check_probes names them)."""
    if check in ("mount",):
        return {p if isinstance(p, str) else p["path"] for p in conf["paths"]}
    if check == "parallel_fs":
        return set(conf["paths"])
    if check == "port":
        return {p["name"] if isinstance(p, dict) and p.get("name") else str(p) for p in conf["ports"]}
    if check == "command":
        return {c["name"] for c in conf["commands"]}
    raise AssertionError("the lab test knows no items of check %s" % check)


def check_alerts(lab, host):
    return sorted(
        (a["labels"]["alertname"], a["labels"].get("item", ""), a["state"])
        for a in lab.prom("/api/v1/alerts")["alerts"]
        if a["labels"].get("instance") == host and a["labels"].get("alertname") in CHECK_ALERTS
    )


def healthy(lab, host, checks, all_types=True):
    """Every type of `checks` ran to the end and every item of the policy is ok, and no check
    alert is pending or firing, by Prometheus. all_types: `checks` are all the host runs."""
    success = {
        r["metric"]["check"]: r["value"][1] for r in query(lab, 'accelmon_check_runner_success{instance="%s"}' % host)
    }
    if not all_types:
        success = {c: v for c, v in success.items() if c in checks}
    if success != {c: "1" for c in checks}:
        return False
    ok = {}
    for r in query(lab, 'accelmon_check_ok{instance="%s"}' % host):
        ok.setdefault(r["metric"]["check"], {})[r["metric"]["item"]] = r["value"][1]
    for check, conf in checks.items():
        if ok.get(check) != {item: "1" for item in expected_items(check, conf)}:
            return False
    return not check_alerts(lab, host)


def wait_webhook(lab, since, status, timeout=ALERT_TIMEOUT, **labels):
    try:
        return lab.wait_for("webhook %s %s" % (status, labels), lambda: lab.webhook_alert(since, status, **labels),
                            timeout, 0.5)
    except TimeoutError as exc:
        status_now = query(lab, 'accelmon_check_status{instance="%s"} == 1' % HOST)
        pytest.fail(
            "%s; check alerts in Prometheus now: %s; check statuses: %s"
            % (
                exc,
                check_alerts(lab, HOST),
                sorted((r["metric"]["check"], r["metric"]["item"], r["metric"]["status"]) for r in status_now),
            )
        )


def assert_routing_labels(lab, alert, host):
    h = lab.lab_hosts()[host]
    labels = alert["labels"]
    assert labels["instance"] == host
    assert labels["job"] == "node"
    assert labels["group"] == h["primary_group"]
    assert labels["team"] == h["team"]
    assert labels["environment"] == ",".join(h["environment"])


def test_every_enabled_check_runs_on_its_node(clean_lab):
    """The policy's check types run from their systemd timers on a real systemd node, over
    and over, and every item the policy names is reported ok; hosts without checks have none."""
    lab = clean_lab
    checks = enabled_checks(lab, HOST)
    assert {"mount", "port", "command"} <= set(checks)
    lab.wait_for("every check of %s ok" % HOST, lambda: healthy(lab, HOST, checks), 60, 1.0)

    # the timers keep running: every type's last run moves on (10 s types within ~15 s)
    def last_runs():
        return {
            r["metric"]["check"]: float(r["value"][1])
            for r in query(lab, 'accelmon_check_last_run_timestamp_seconds{instance="%s"}' % HOST)
        }

    first = last_runs()
    fast = [c for c, conf in checks.items() if conf["interval"] == "10s"]
    lab.wait_for("a second run of %s" % ", ".join(fast), lambda: all(last_runs()[c] > first[c] for c in fast), 40, 1.0)

    # Figures for the record: what ran where (type, items, last duration).
    rows = query(lab, "accelmon_check_runner_success")
    items = {(r["metric"]["instance"], r["metric"]["check"]): r["value"][1] for r in query(lab, "accelmon_check_items")}
    durations = {
        (r["metric"]["instance"], r["metric"]["check"]): float(r["value"][1])
        for r in query(lab, "accelmon_check_runner_duration_seconds")
    }
    print("\ncheck runner in the lab (instance check success items duration_s):")
    for r in sorted(rows, key=lambda r: (r["metric"]["instance"], r["metric"]["check"])):
        key = (r["metric"]["instance"], r["metric"]["check"])
        print("  %s %s %s %s %.3f" % (key[0], key[1], r["value"][1], items.get(key), durations.get(key, -1)))
    # only the hosts whose policy enables checks run them
    with_checks = {name for name, h in lab.lab_hosts().items() if h.get("checks")}
    assert {r["metric"]["instance"] for r in rows} == with_checks
    assert {r["metric"]["check"] for r in rows if r["metric"]["instance"] == HOST} == set(checks)


def test_broken_checks_page_with_routing_labels_and_resolve(clean_lab):
    """Unmount the dataset mount, stop sshd and make the health command fail on lab-cpu: each
    check's alert reaches the webhook with the node's routing labels and only the broken item;
    repaired, each resolves and the node is as it was."""
    lab = clean_lab
    checks = enabled_checks(lab, HOST)
    lab.wait_for("every check of %s ok" % HOST, lambda: healthy(lab, HOST, checks), 60, 1.0)
    mount_before = lab.podman(
        "exec", HOST, "findmnt", "-n", "-o", "FSTYPE,OPTIONS", lab.DATASETS_MOUNT, capture=True
    ).stdout.split()

    since = time.time()
    fired = {}
    try:
        for kind in FAULTS:
            lab.inject(kind, HOST)
        for alertname, item, severity in FAULTS.values():
            alert = wait_webhook(lab, since, "firing", alertname=alertname, instance=HOST, item=item)
            assert_routing_labels(lab, alert, HOST)
            assert alert["labels"]["severity"] == severity
            fired[alertname] = alert["received_at"] - since
        # the same checks' healthy items stay quiet: / is still mounted and responsive
        assert check_alerts(lab, HOST) == sorted((a, i, "firing") for a, i, _s in FAULTS.values())
        statuses = {
            (r["metric"]["check"], r["metric"]["item"]): r["metric"]["status"]
            for r in query(lab, 'accelmon_check_status{instance="%s"} == 1' % HOST)
        }
        assert statuses[("mount", "/mnt/datasets")] == "missing"
        assert statuses[("mount", "/")] == "responsive"
        assert statuses[("port", "sshd")] == "refused"
        assert statuses[("command", "node-healthy")] == "failed"
        exit_code = query(lab, 'accelmon_check_command_exit_code{instance="%s",item="node-healthy"}' % HOST)
        assert [r["value"][1] for r in exit_code] == ["1"]
    finally:
        repaired = time.time()
        lab.clear(HOST)

    resolved = {}
    for alertname, item, _severity in FAULTS.values():
        alert = wait_webhook(lab, repaired, "resolved", alertname=alertname, instance=HOST, item=item)
        assert_routing_labels(lab, alert, HOST)
        resolved[alertname] = alert["received_at"] - repaired
    print(
        "\nlab checks: fault to webhook %s; repair to resolved %s"
        % (
            ", ".join("%s %.0f s" % kv for kv in sorted(fired.items())),
            ", ".join("%s %.0f s" % kv for kv in sorted(resolved.items())),
        )
    )
    # the 10 s checks ok again (parallel_fs, every 60 s, may report the mount missing until its
    # next run: it has no alert for that)
    fast = {c: conf for c, conf in checks.items() if conf["interval"] == "10s"}
    lab.wait_for("the broken checks of %s ok again" % HOST, lambda: healthy(lab, HOST, fast, all_types=False), 60, 1.0)
    # as found: the mount back with its type and options, sshd answering for Ansible
    mount_after = lab.podman(
        "exec", HOST, "findmnt", "-n", "-o", "FSTYPE,OPTIONS", lab.DATASETS_MOUNT, capture=True
    ).stdout.split()
    assert mount_after == mount_before
    ssh = lab.run(lab.ssh_argv(HOST, "true"), check=False, capture=True)
    assert ssh.returncode == 0, ssh.stderr
