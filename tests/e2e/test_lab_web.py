"""What a user of `make demo` is shown: the summary's every line is true, and every page it
(or docs/lab.md) sends the user to opens in a real browser and shows the lab.

With a GPU over-temperature injected on lab-h200 (AcceleratorHighTemperature firing):
- `lab.sh status` prints only URLs that answer; its targets, rules and firing alerts equal
  Prometheus' API; where Alertmanager has no UI it prints amtool commands, which run and
  list the firing alert;
- headless Chromium (tests/e2e/webui.py) opens each printed URL and each lab URL in
  docs/lab.md, waits for the rendered page to show the lab's targets and the firing alert,
  and keeps a screenshot under tests/output/browser/.

ARA's list of the lab's playbook runs is one of them. A later web UI (the registrar,
dashboards) joins by adding its links to tests/lab/lab.py's web_links() and a PAGE_CHECKS
entry for their kind here.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess

import pytest

from webui import Page

pytestmark = pytest.mark.e2e

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DOCS = [os.path.join(REPO, "docs", "lab.md")]
ALERT = "AcceleratorHighTemperature"
HOST = "lab-h200"
URL_RE = re.compile(r"https?://[^\s)`'\"<>|]+")
# a tool's argument, not a page to open (the amtool commands are run by the summary test)
TOOL_URL_RE = re.compile(r"--alertmanager\.url=\S+")


def page_urls(text):
    """The URLs in `text` that a user would open (tool arguments left out)."""
    return URL_RE.findall(TOOL_URL_RE.sub("", text))


@pytest.fixture(scope="module")
def firing(lab):
    """The lab with AcceleratorHighTemperature firing for lab-h200 (92 C on device 0)."""
    lab.clear()
    lab.wait_for("every target up", lab.all_targets_up, 60, 1.0)
    lab.inject("gpu-overtemp", HOST, 0, 92.0)

    def firing_now():
        return [
            a
            for a in lab.firing_alerts()
            if a["labels"].get("alertname") == ALERT and a["labels"].get("instance") == HOST
        ]

    try:
        lab.wait_for("%s firing for %s" % (ALERT, HOST), firing_now, 120, 1.0)
        yield lab
    finally:
        lab.clear()
        lab.wait_for("every target up", lab.all_targets_up, 60, 1.0)


def _status_text():
    res = subprocess.run(
        ["bash", os.path.join(REPO, "tests", "lab", "lab.sh"), "status"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, "lab.sh status rc %d\n%s%s" % (res.returncode, res.stdout, res.stderr)
    return res.stdout


def _firing_set(lab):
    return sorted(
        (a["labels"].get("alertname"), a["labels"].get("instance"), a["labels"].get("gpu_index", ""))
        for a in lab.firing_alerts()
    )


def _section(text, header):
    """The indented lines after `  <header>...` up to the next line at the same depth."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("  " + header):
            out = []
            for nxt in lines[i + 1 :]:
                if not nxt.startswith("    "):
                    break
                out.append(nxt.strip())
            return line.strip(), out
    raise AssertionError("the summary has no %r line:\n%s" % (header, text))


def test_summary_prints_only_what_is_true(firing):
    lab = firing
    before = _firing_set(lab)
    text = _status_text()
    after = _firing_set(lab)
    links = {lk["url"]: lk for lk in lab.web_links()}

    # URLs: each one printed answers, and is one the browser test opens.
    printed = page_urls(text)
    assert printed, text
    for url in printed:
        assert url in links, "summary prints %s, which web_links() does not list (so no browser checks it)" % url
        status, detail = lab.http_status(url)
        assert status == 200, "summary prints %s, which answers %s (%s)" % (url, status, detail)
    kinds = {lk["kind"].rsplit("-", 1)[0] for lk in links.values()}
    assert {"prometheus-targets", "prometheus-alerts"} <= kinds, "Prometheus serves no UI:\n%s" % text
    assert not any(url.rstrip("/").endswith(":%d" % lab.AM_PORT) for url in printed), text

    # Alertmanager: its UI, or amtool commands that list the firing alert and the silences.
    if "alertmanager-alerts" not in kinds:
        _head, am_lines = _section(text, "Alertmanager: no web UI")
        commands = [shlex.split(line) for line in am_lines if line.startswith("amtool ")]
        assert [c[-2:] for c in commands] == [["alert", "query"], ["silence", "query"]], am_lines
        for argv in commands:
            res = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
            assert res.returncode == 0, "%s: rc %d %s" % (" ".join(argv), res.returncode, res.stderr)
            if argv[-2] == "alert":
                assert ALERT in res.stdout and "Alertname" in res.stdout, res.stdout
            else:
                assert res.stdout.split()[:1] == ["ID"], res.stdout

    # Containers: one line per lab host, running, with its address, group and team.
    lines = text.splitlines()
    for name, host in lab.lab_hosts().items():
        line = next((ln.split() for ln in lines if ln.split()[:1] == [name]), None)
        assert line and line[1:4] == [host["address"], "running", host["primary_group"]], (name, line)
        assert line[4] == "team=%s" % host["team"], (name, line)

    # The webhook sink: running, and the number of notifications it wrote (at least).
    match = re.search(r"Webhook sink: .* -> (\S+) \((\w+), (\d+) notifications\)", text)
    assert match and match.group(1) == lab.WEBHOOK_FILE and match.group(2) == "running", text
    assert int(match.group(3)) <= len(lab.read_webhook()), text

    # Targets: the totals and each job's instances and health equal Prometheus' API.
    head, job_lines = _section(text, "Targets up:")
    targets = lab.targets()
    up = sum(1 for t in targets if t["health"] == "up")
    assert head == "Targets up: %d/%d" % (up, len(targets)), head
    by_job = {}
    for t in targets:
        by_job.setdefault(t["labels"]["job"], []).append(t)
    printed_jobs = {}
    for line in job_lines:
        job, count, *instances = line.split()
        printed_jobs[job] = (count, sorted(instances))
    assert printed_jobs == {
        job: (
            "%d/%d" % (sum(1 for t in ts if t["health"] == "up"), len(ts)),
            sorted(t["labels"]["instance"] + ("" if t["health"] == "up" else "(DOWN)") for t in ts),
        )
        for job, ts in by_job.items()
    }
    assert set(printed_jobs["node"][1]) == set(lab.lab_hosts())

    # Rules.
    groups, rules = lab.rules_loaded()
    assert "  Rules loaded: %d rules in %d groups" % (rules, groups) in text.splitlines()

    # Alerts firing: the count and each listed alert equal the API (read before and after).
    head, alert_lines = _section(text, "Alerts firing:")
    listed = []
    for line in alert_lines:
        state, name, *labels = line.split()
        kv = dict(item.split("=", 1) for item in labels)
        if state == "firing":
            listed.append((name, kv.get("instance"), kv.get("gpu_index", "")))
    assert sorted(listed) in (before, after), "summary lists %s; Prometheus fires %s" % (listed, after)
    assert head.startswith("Alerts firing: %d " % len(listed)), head
    assert any(a[:2] == (ALERT, HOST) for a in listed), text
    assert re.search(r"firing\s+%s\s+instance=%s severity=critical team=ml-platform" % (ALERT, HOST), text), text


# ------------------------------------------------------------------------------ browser
def _prometheus_targets(lab, url):
    jobs = {}
    for t in lab.targets():
        jobs.setdefault(t["labels"]["job"], []).append(t["labels"]["instance"])
    expect = ["%s (%d/%d up)" % (job, len(inst), len(inst)) for job, inst in sorted(jobs.items())]
    expect += ['instance="%s"' % name for name in sorted(lab.lab_hosts())]
    return Page("prometheus-targets", url, tuple(expect))


def _prometheus_alerts(lab, url):
    return Page(
        "prometheus-alerts",
        url,
        ('alertname="%s"' % ALERT, 'instance="%s"' % HOST, "FIRING", 'severity="critical"'),
        steps=(
            (
                "//tr[contains(@class,'alert_header') and contains(@class,'alert-danger')][.//b[text()='%s']]" % ALERT,
                None,
            ),
        ),
    )


def _prometheus_rules(lab, url):
    groups = lab.prom("/api/v1/rules")["groups"]
    return Page("prometheus-rules", url, ("Rules", groups[0]["name"], "alert: %s" % ALERT))


def _prometheus_graph(_lab, url):
    # The graph page: run a query through the UI and see the lab's firing alert in its table.
    return Page(
        "prometheus-graph",
        url,
        ('alertname="%s"' % ALERT, 'instance="%s"' % HOST),
        steps=(
            ("//textarea[contains(@class,'expression_input')]", 'ALERTS{alertstate="firing"}'),
            ("//input[contains(@class,'execute_btn')]", None),
        ),
    )


def _alertmanager_api(_lab, url):
    return Page("alertmanager-api", url, ('"alertname":"%s"' % ALERT, '"instance":"%s"' % HOST))


def _alertmanager_ui(_lab, url):
    return Page("alertmanager-alerts", url, (ALERT, HOST))


def _ara_playbooks(_lab, url):
    # ARA's list of the lab's playbook runs: lab.sh up's site.yml at least
    return Page("ara-playbooks", url, ("Playbooks", "playbooks/site.yml"))


# kind of a web_links() entry (less its flavour suffix for Prometheus) -> its Page.
PAGE_CHECKS = {
    "prometheus-targets-classic": _prometheus_targets,
    "prometheus-alerts-classic": _prometheus_alerts,
    "prometheus-rules-classic": _prometheus_rules,
    "prometheus-graph-classic": _prometheus_graph,
    "alertmanager-api": _alertmanager_api,
    "alertmanager-alerts-ui": _alertmanager_ui,
    "ara-playbooks": _ara_playbooks,
}


def _doc_urls(lab):
    """The lab URLs the docs send a user to (http://<a lab address>...)."""
    addresses = {h["address"] for h in lab.lab_hosts().values()} | {lab.GATEWAY}
    out = []
    for path in DOCS:
        with open(path, encoding="utf-8") as fh:
            for url in page_urls(fh.read()):
                if url.split("/")[2].split(":")[0] in addresses and url not in out:
                    out.append(url)
    return out


def test_every_page_renders_in_a_browser(firing, browser):
    lab = firing
    links = lab.web_links()
    by_url = {lk["url"]: lk for lk in links}
    for url in _doc_urls(lab):
        assert url in by_url, "docs/lab.md sends users to %s, which the summary does not print" % url
    unchecked = [lk["kind"] for lk in links if lk["kind"] not in PAGE_CHECKS]
    assert not unchecked, "no browser check for %s: add it to PAGE_CHECKS" % unchecked
    failures = []
    for lk in links:
        page = PAGE_CHECKS[lk["kind"]](lab, lk["url"])
        try:
            browser.check(page)
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "\n\n".join(failures)
    shots = sorted(os.listdir(browser.out_dir))
    assert {"prometheus-targets.png", "prometheus-alerts.png"} <= set(shots), shots
