"""Real Prometheus and Alertmanager serving the configs the roles render.

Starts Debian's /usr/bin/prometheus (2.42) and /usr/bin/prometheus-alertmanager (0.25) on
free 127.0.0.1 ports with files rendered by playbooks/render.yml from a small fleet model
whose targets all live on loopback (no traffic leaves the machine), then checks that:

- both servers load the files (targets labelled with their inventory names, rules loaded);
- the roles' own write path (tasks_from: render.yml with validate:) refuses a bad
  prometheus.yml, a bad alertmanager.yml and a bad notification template: the playbook
  fails, the file in place keeps its bytes, and a reload keeps the servers on the last
  good config; a good change goes through the same path and is applied by the role's HTTP
  reload handler;
- the alert policy series, served by a real node_exporter (Debian's prometheus-node-exporter,
  textfile collector only, as the role runs it), carry a threshold change into the alerts at
  the next scrape: the rules file does not change and Prometheus does not reload;
- the alertmanager_silence module creates a silence, finds it again instead of duplicating
  it, honours check mode, and expires by ID and by matchers.

Needs: apt-get install prometheus prometheus-alertmanager prometheus-node-exporter (skips
without them).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from helpers import BIN, ROOT, ansible_env, run  # noqa: E402

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
NODE_EXPORTER = shutil.which("prometheus-node-exporter") or "/usr/bin/prometheus-node-exporter"
NEEDED = [PROMETHEUS, ALERTMANAGER, NODE_EXPORTER, shutil.which("promtool"), shutil.which("amtool")]

pytestmark = pytest.mark.skipif(
    not all(p and os.path.exists(p) for p in NEEDED),
    reason="needs prometheus, promtool, prometheus-alertmanager, amtool, prometheus-node-exporter "
    "(apt-get install prometheus prometheus-alertmanager prometheus-node-exporter)",
)

MODEL = """
groups:
  "infrastructure:onprem/lab":
    provider: onprem
  "environment:production":
    alerting: {receiver: oncall, team: gpu-team}
    alert_rules:
      CheckRunnerStale: {for: 0s, thresholds: {max_age_seconds: MAX_AGE}}
  "environment:staging":
    alerting: {receiver: chat}
targets:
  lab-gpu-01:
    address: 127.0.0.1
    primary_group: "infrastructure:onprem/lab"
    groups: ["environment:production"]
    accelerators: [{vendor: nvidia, model: H200, count: 8}]
  lab-npu-01:
    address: 127.0.0.1
    primary_group: "infrastructure:onprem/lab"
    groups: ["environment:staging"]
    accelerators: [{vendor: furiosa, model: RNGD, count: 4}]
  lab-cpu-01:
    address: 127.0.0.1
    primary_group: "infrastructure:onprem/lab"
    groups: ["environment:staging"]
"""

# Used by the role-path tests: the roles' render.yml task files, written straight into the
# live servers' config directories (what configure.yml does on a server).
WRITE_PLAYBOOK = """
- name: Write central files through the roles' validated path
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Prometheus files
      ansible.builtin.include_role:
        name: accelmon.monitoring.prometheus
        tasks_from: render.yml
      vars:
        _prometheus_local: true
      when: write_what == 'prometheus'
    - name: Alertmanager files
      ansible.builtin.include_role:
        name: accelmon.monitoring.alertmanager
        tasks_from: render.yml
      vars:
        _alertmanager_local: true
      when: write_what == 'alertmanager'
"""

SILENCE_PLAYBOOK = """
- name: Silence through the module
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Create the maintenance window
      accelmon.monitoring.alertmanager_silence:
        url: "{{ am_url }}"
        matchers:
          - instance="lab-gpu-01"
          - alertname=~"Accelerator.*"
        duration: 2h
        comment: driver upgrade
      register: silence
    - name: Save the result
      ansible.builtin.copy:
        content: "{{ silence | to_json }}"
        dest: "{{ result_file }}"
        mode: "0644"
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url, method="GET", data=None, timeout=5):
    body = json.dumps(data).encode() if data is not None else None
    req = urllib.request.Request(
        url, data=body, method=method, headers={"Content-Type": "application/json"} if body else {}
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        raw = resp.read()
        return resp.status, (json.loads(raw) if raw and raw[:1] in b"[{" else raw.decode())


def wait_ready(url, proc, what, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode}")
        try:
            if http(url)[0] == 200:
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.3)
    raise AssertionError(f"{what} not ready at {url} within {timeout}s")


class Lab:
    def __init__(self, base):
        self.base = base
        self.prom_port = free_port()
        self.am_port = free_port()
        self.prom_url = f"http://127.0.0.1:{self.prom_port}"
        self.am_url = f"http://127.0.0.1:{self.am_port}"
        self.render_dir = base / "rendered"
        self.inventory = base / "lab.accelmon.yml"
        (base / "fleet").mkdir()
        self.set_max_age(3600)
        self.policy_port = free_port()
        self.checks_port = free_port()
        self.checks_dir = base / "checks"
        self.checks_dir.mkdir()
        self.inventory.write_text("plugin: accelmon.monitoring.fleet\nmodel: fleet/\nstrict: true\n")
        # Exporter ports nothing listens on: the scrapes fail, on loopback only.
        self.extra = {
            "prometheus_web_listen_address": f"127.0.0.1:{self.prom_port}",
            "alertmanager_web_listen_address": f"127.0.0.1:{self.am_port}",
            "node_exporter_web_listen_address": f"127.0.0.1:{free_port()}",
            "all_smi_port": free_port(),
            "dcgm_exporter_listen_address": f"127.0.0.1:{free_port()}",
            "prometheus_scrape_interval": "5s",
            "prometheus_scrape_timeout": "4s",
            "prometheus_evaluation_interval": "5s",
            "prometheus_policy_exporter_listen_address": f"127.0.0.1:{self.policy_port}",
            "prometheus_policy_scrape_interval": "5s",
            "prometheus_policy_scrape_timeout": "4s",
            # a live series for CheckRunnerStale (written below), from a second textfile exporter
            "prometheus_extra_scrape_configs": [
                {
                    "job_name": "checks",
                    "honor_labels": True,
                    "static_configs": [{"targets": [f"127.0.0.1:{self.checks_port}"]}],
                }
            ],
            "alertmanager_receivers": [
                {"name": "default", "webhook_configs": [{"url": "http://127.0.0.1:9/hook"}]},
                {"name": "oncall", "webhook_configs": [{"url": "http://127.0.0.1:9/oncall"}]},
                {"name": "chat", "webhook_configs": [{"url": "http://127.0.0.1:9/chat"}]},
            ],
        }
        self.procs = []

    def set_max_age(self, seconds):
        (self.base / "fleet" / "model.yml").write_text(MODEL.replace("MAX_AGE", str(seconds)))

    def extra_file(self, **more):
        data = dict(self.extra)
        data.update(more)
        path = self.base / f"extra-{len(list(self.base.glob('extra-*')))}.yml"
        path.write_text(yaml.safe_dump(data))
        return path

    def render(self):
        run(
            [
                os.path.join(BIN, "ansible-playbook"),
                os.path.join(ROOT, "playbooks", "render.yml"),
                "-i",
                str(self.inventory),
                "-e",
                f"render_dir={self.render_dir}",
                "-e",
                f"@{self.extra_file()}",
            ]
        )

    def write(self, what, check=True, **more):
        """Run the role's render.yml task file into the live config dir (validate + reload)."""
        playbook = self.base / "write.yml"
        playbook.write_text(WRITE_PLAYBOOK)
        extra = self.extra_file(
            write_what=what,
            prometheus_config_dir=str(self.render_dir / "prometheus"),
            alertmanager_config_dir=str(self.render_dir / "alertmanager"),
            prometheus_reload_method="http",
            alertmanager_reload_method="http",
            **more,
        )
        return run(
            [os.path.join(BIN, "ansible-playbook"), str(playbook), "-i", str(self.inventory), "-e", f"@{extra}"],
            check=check,
        )

    def start(self):
        # the check runner ran 10 minutes ago on lab-gpu-01
        (self.checks_dir / "checks.prom").write_text(
            'accelmon_check_last_run_timestamp_seconds{instance="lab-gpu-01"} %d\n' % (time.time() - 600)
        )
        for port, directory in (
            (self.policy_port, self.render_dir / "prometheus" / "policy"),
            (self.checks_port, self.checks_dir),
        ):
            self.procs.append(
                subprocess.Popen(
                    [
                        NODE_EXPORTER,
                        "--collector.disable-defaults",
                        "--collector.textfile",
                        f"--collector.textfile.directory={directory}",
                        "--web.disable-exporter-metrics",
                        f"--web.listen-address=127.0.0.1:{port}",
                    ],
                    stdout=open(self.base / f"node_exporter-{port}.log", "w"),
                    stderr=subprocess.STDOUT,
                )
            )
        self.procs.append(
            subprocess.Popen(
                [
                    PROMETHEUS,
                    f"--config.file={self.render_dir / 'prometheus' / 'prometheus.yml'}",
                    f"--storage.tsdb.path={self.base / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{self.prom_port}",
                    "--web.enable-lifecycle",
                    "--log.level=warn",
                ],
                stdout=open(self.base / "prometheus.log", "w"),
                stderr=subprocess.STDOUT,
            )
        )
        self.procs.append(
            subprocess.Popen(
                [
                    ALERTMANAGER,
                    f"--config.file={self.render_dir / 'alertmanager' / 'alertmanager.yml'}",
                    f"--storage.path={self.base / 'am'}",
                    f"--web.listen-address=127.0.0.1:{self.am_port}",
                    "--cluster.listen-address=",
                    "--log.level=warn",
                ],
                stdout=open(self.base / "alertmanager.log", "w"),
                stderr=subprocess.STDOUT,
            )
        )
        wait_ready(self.prom_url + "/-/ready", self.procs[2], "prometheus")
        wait_ready(self.am_url + "/-/ready", self.procs[3], "alertmanager")

    def stop(self):
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()

    def prom_config(self):
        return yaml.safe_load(http(self.prom_url + "/api/v1/status/config")[1]["data"]["yaml"])

    def am_config(self):
        return yaml.safe_load(http(self.am_url + "/api/v2/status")[1]["config"]["original"])

    def query(self, expr):
        return http(self.prom_url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))[1]["data"]["result"]

    def reload_ok(self):
        q = http(self.prom_url + "/api/v1/query?query=prometheus_config_last_reload_successful")[1]
        return q["data"]["result"][0]["value"][1] == "1"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("central"))
    lab.render()
    lab.start()
    yield lab
    lab.stop()


def test_prometheus_loads_the_rendered_config(lab):
    cfg = lab.prom_config()
    assert {j["job_name"] for j in cfg["scrape_configs"]} == {
        "node",
        "allsmi",
        "dcgm",
        "prometheus",
        "alertmanager",
        "accelmon_policy",
        "checks",
    }
    groups = http(lab.prom_url + "/api/v1/rules")[1]["data"]["groups"]
    # the compiled rules and the monitoring-stack alerts (prometheus_stack_rules)
    files = {os.path.basename(g["file"]) for g in groups}
    assert files == {"accelmon.rules.yml", "accelmon-stack.yml"}, files
    assert {r["name"] for g in groups for r in g["rules"]} >= {"NodeDown"}


def test_targets_carry_inventory_names_and_labels(lab):
    deadline = time.time() + 30
    while True:
        targets = http(lab.prom_url + "/api/v1/targets?state=active")[1]["data"]["activeTargets"]
        if len(targets) >= 7 or time.time() > deadline:
            break
        time.sleep(1)
    by_job = {}
    for t in targets:
        by_job.setdefault(t["labels"]["job"], {})[t["labels"]["instance"]] = t["labels"]
    assert set(by_job["node"]) == {"lab-gpu-01", "lab-npu-01", "lab-cpu-01"}
    assert set(by_job["allsmi"]) == {"lab-gpu-01", "lab-npu-01"}
    assert set(by_job["dcgm"]) == {"lab-gpu-01"}
    assert set(by_job["prometheus"]) == {"localhost"}
    gpu = by_job["node"]["lab-gpu-01"]
    assert gpu["group"] == "infrastructure:onprem/lab"
    assert gpu["provider"] == "onprem"
    assert gpu["environment"] == "production"
    assert gpu["team"] == "gpu-team"
    assert "team" not in by_job["node"]["lab-cpu-01"]
    # the self-scrape really works: Prometheus' own series carry the inventory name
    deadline = time.time() + 30
    while time.time() < deadline:
        res = http(lab.prom_url + '/api/v1/query?query=up{job="prometheus"}')[1]["data"]["result"]
        if res and res[0]["value"][1] == "1":
            break
        time.sleep(1)
    assert res[0]["metric"]["instance"] == "localhost" and res[0]["value"][1] == "1"


def test_alertmanager_loads_the_rendered_config(lab):
    cfg = lab.am_config()
    assert {r["name"] for r in cfg["receivers"]} == {"default", "oncall", "chat"}
    assert cfg["templates"] == [str(lab.render_dir / "alertmanager" / "templates" / "*.tmpl")]
    # each policy receiver (oncall of production, chat of staging) got its route
    routes = [(r["matchers"], r["receiver"]) for r in cfg["route"]["routes"]]
    assert routes == [(['accelmon_receiver="chat"'], "chat"), (['accelmon_receiver="oncall"'], "oncall")]
    assert cfg["inhibit_rules"][0]["source_matchers"] == ['alertname="NodeDown"']


def test_bad_prometheus_config_never_replaces_the_good_one(lab):
    path = lab.render_dir / "prometheus" / "prometheus.yml"
    before = path.read_bytes()
    bad_job = {
        "job_name": "broken",
        "static_configs": [{"targets": ["127.0.0.1:1"]}],
        "relabel_configs": [{"source_labels": ["__address__"], "regex": "(unclosed", "target_label": "x"}],
    }
    proc = lab.write("prometheus", check=False, prometheus_extra_scrape_configs=[bad_job])
    assert proc.returncode != 0
    assert "failed to validate" in proc.stdout and "missing closing )" in proc.stdout, proc.stdout[-3000:]
    assert path.read_bytes() == before
    assert not list(path.parent.glob(".prometheus.yml.accelmon-check*"))
    # a reload (by anyone) keeps the server on the good config
    assert http(lab.prom_url + "/-/reload", method="POST")[0] == 200
    assert "broken" not in {j["job_name"] for j in lab.prom_config()["scrape_configs"]}
    assert lab.reload_ok()
    assert http(lab.prom_url + "/-/ready")[0] == 200


def test_bad_rule_file_is_refused(lab, tmp_path):
    bad = tmp_path / "extra.rules.yml"
    bad.write_text(
        textwrap.dedent("""\
        groups:
          - name: broken
            rules:
              - alert: Broken
                expr: sum(rate(x[5m]) >
        """)
    )
    proc = lab.write("prometheus", check=False, prometheus_rule_files=[str(bad)], prometheus_alert_rules_compile=False)
    assert proc.returncode != 0
    assert not (lab.render_dir / "prometheus" / "rules" / "extra.rules.yml").exists()
    assert lab.reload_ok()


def _wait(what, fn, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(1)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


def test_threshold_change_is_read_at_the_next_scrape_without_reload(lab):
    """CheckRunnerStale on lab-gpu-01 (checks 600 s old): quiet at production's 3600 s, firing
    once the model says 300 s and the play wrote the policy series: no rule change, no reload."""
    threshold = 'accelmon_alert_threshold{instance="lab-gpu-01",alertname="CheckRunnerStale"}'
    alerts = 'ALERTS{alertname="CheckRunnerStale",instance="lab-gpu-01"}'
    _wait("the 3600 s threshold", lambda: [r for r in lab.query(threshold) if r["value"][1] == "3600"])
    _wait("the check series", lambda: lab.query("accelmon_check_last_run_timestamp_seconds"))
    time.sleep(11)  # two evaluations
    assert lab.query(alerts) == []
    rules_file = lab.render_dir / "prometheus" / "rules" / "accelmon.rules.yml"
    rules_before = rules_file.read_bytes()
    reloaded_at = http(lab.prom_url + "/api/v1/status/runtimeinfo")[1]["data"]["lastConfigTime"]
    try:
        lab.set_max_age(300)
        proc = lab.write("prometheus")
        assert "Reload prometheus" not in proc.stdout, proc.stdout[-3000:]
        firing = _wait(
            "CheckRunnerStale firing at the new threshold",
            lambda: [r for r in lab.query(alerts) if r["metric"]["alertstate"] == "firing"],
        )
        labels = firing[0]["metric"]
        assert labels["team"] == "gpu-team" and labels["accelmon_receiver"] == "oncall"
        assert labels["severity"] == "warning"
        assert rules_file.read_bytes() == rules_before
        assert http(lab.prom_url + "/api/v1/status/runtimeinfo")[1]["data"]["lastConfigTime"] == reloaded_at
    finally:
        lab.set_max_age(3600)
        lab.write("prometheus")
    _wait("the alert resolved", lambda: lab.query(alerts) == [])


def test_good_prometheus_change_is_applied_by_reload(lab):
    proc = lab.write("prometheus", prometheus_scrape_interval="7s")
    assert "Reload prometheus over HTTP" in proc.stdout
    assert lab.prom_config()["global"]["scrape_interval"] == "7s"
    assert lab.reload_ok()
    # and again: nothing changes, nothing reloads
    proc = lab.write("prometheus", prometheus_scrape_interval="7s")
    assert "changed=0" in proc.stdout, proc.stdout[-2000:]


def test_bad_alertmanager_config_never_replaces_the_good_one(lab):
    path = lab.render_dir / "alertmanager" / "alertmanager.yml"
    before = path.read_bytes()
    proc = lab.write("alertmanager", check=False, alertmanager_default_receiver="nowhere")
    assert proc.returncode != 0
    assert path.read_bytes() == before
    assert not list(path.parent.glob(".alertmanager.yml.accelmon-check*"))
    assert http(lab.am_url + "/-/reload", method="POST")[0] == 200
    assert lab.am_config()["route"]["receiver"] == "default"


def test_bad_notification_template_is_refused(lab, tmp_path):
    bad = tmp_path / "broken.tmpl"
    bad.write_text('{{ define "broken" }}{{ .Status \n')
    proc = lab.write("alertmanager", check=False, alertmanager_template_files=[str(bad)])
    assert proc.returncode != 0
    assert not (lab.render_dir / "alertmanager" / "templates" / "broken.tmpl").exists()
    assert http(lab.am_url + "/-/reload", method="POST")[0] == 200
    assert http(lab.am_url + "/-/ready")[0] == 200


def test_good_alertmanager_change_is_applied_by_reload(lab):
    receivers = lab.extra["alertmanager_receivers"] + [
        {"name": "team-hook", "webhook_configs": [{"url": "http://127.0.0.1:9/team"}]}
    ]
    proc = lab.write(
        "alertmanager", alertmanager_receivers=receivers, alertmanager_team_routes={"gpu-team": "team-hook"}
    )
    assert "Reload alertmanager over HTTP" in proc.stdout
    cfg = lab.am_config()
    assert "team-hook" in {r["name"] for r in cfg["receivers"]}
    first = cfg["route"]["routes"][0]
    assert (first["matchers"], first["receiver"]) == (['team="gpu-team"'], "team-hook")


# ---------------------------------------------------------------------- silences


def module_run(lab, tmp_path, check_mode=False, **args):
    """Run the module the way Ansible does (args file), return its JSON result."""
    args.setdefault("url", lab.am_url)
    if check_mode:
        args["_ansible_check_mode"] = True
    path = tmp_path / f"args-{time.monotonic_ns()}.json"
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    env = ansible_env()
    env["PYTHONPATH"] = os.path.join(ROOT, ".build", "collections")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ansible_collections.accelmon.monitoring.plugins.modules.alertmanager_silence",
            str(path),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    return json.loads(proc.stdout)


def live_silences(lab):
    return [s for s in http(lab.am_url + "/api/v2/silences")[1] if s["status"]["state"] in ("active", "pending")]


def run_silence_playbook(lab, tmp_path):
    playbook = tmp_path / "silence.yml"
    playbook.write_text(SILENCE_PLAYBOOK)
    result = tmp_path / f"result-{time.monotonic_ns()}.json"
    run(
        [
            os.path.join(BIN, "ansible-playbook"),
            str(playbook),
            "-i",
            "localhost,",
            "-e",
            f"am_url={lab.am_url}",
            "-e",
            f"result_file={result}",
        ]
    )
    return json.loads(result.read_text())


def test_silence_create_is_idempotent(lab, tmp_path):
    first = run_silence_playbook(lab, tmp_path)
    assert first["changed"] and first["action"] == "created" and first["silence_id"]
    second = run_silence_playbook(lab, tmp_path)
    assert not second["changed"] and second["action"] == "unchanged"
    assert second["silence_id"] == first["silence_id"]
    mine = [s for s in live_silences(lab) if s["comment"] == "driver upgrade"]
    assert [s["id"] for s in mine] == [first["silence_id"]]
    assert {(m["name"], m["value"], m["isRegex"]) for m in mine[0]["matchers"]} == {
        ("instance", "lab-gpu-01", False),
        ("alertname", "Accelerator.*", True),
    }
    assert mine[0]["createdBy"] == "ansible"

    # a longer window is an update of the same silence, not a second one
    longer = module_run(
        lab,
        tmp_path,
        matchers=['alertname=~"Accelerator.*"', 'instance="lab-gpu-01"'],
        duration="4h",
        comment="driver upgrade",
    )
    assert longer["changed"] and longer["action"] == "updated"
    assert len([s for s in live_silences(lab) if s["comment"] == "driver upgrade"]) == 1

    # expire by ID, then again: nothing left to do
    gone = module_run(lab, tmp_path, state="absent", silence_id=longer["silence_id"])
    assert gone["changed"] and gone["expired"] == [longer["silence_id"]]
    again = module_run(lab, tmp_path, state="absent", silence_id=longer["silence_id"])
    assert not again["changed"] and again["expired"] == []
    assert not [s for s in live_silences(lab) if s["comment"] == "driver upgrade"]


def test_silence_check_mode_and_expire_by_matchers(lab, tmp_path):
    planned = module_run(
        lab,
        tmp_path,
        check_mode=True,
        matchers=['instance="lab-cpu-01"'],
        starts_at="2099-01-01T00:00:00Z",
        ends_at="2099-01-01T04:00:00Z",
        comment="rack work",
    )
    assert planned["changed"] and planned["action"] == "created" and planned["silence_id"] is None
    assert not [s for s in live_silences(lab) if s["comment"] == "rack work"]

    made = module_run(
        lab,
        tmp_path,
        matchers=['instance="lab-cpu-01"'],
        starts_at="2099-01-01T00:00:00Z",
        ends_at="2099-01-01T04:00:00Z",
        comment="rack work",
        created_by="ops",
    )
    assert made["changed"]
    pending = [s for s in live_silences(lab) if s["comment"] == "rack work"]
    assert len(pending) == 1 and pending[0]["status"]["state"] == "pending"
    same = module_run(
        lab,
        tmp_path,
        matchers=[{"name": "instance", "value": "lab-cpu-01"}],
        starts_at="2099-01-01T01:00:00+01:00",
        ends_at="2099-01-01T05:00:00+01:00",
        comment="rack work",
        created_by="ops",
    )
    assert not same["changed"] and same["silence_id"] == made["silence_id"]

    other_author = module_run(lab, tmp_path, state="absent", matchers=['instance="lab-cpu-01"'], created_by="bob")
    assert not other_author["changed"]
    would = module_run(lab, tmp_path, check_mode=True, state="absent", matchers=['instance="lab-cpu-01"'])
    assert would["changed"] and would["expired"] == [made["silence_id"]]
    assert len([s for s in live_silences(lab) if s["comment"] == "rack work"]) == 1
    gone = module_run(lab, tmp_path, state="absent", matchers=['instance="lab-cpu-01"'])
    assert gone["expired"] == [made["silence_id"]]
    assert not [s for s in live_silences(lab) if s["comment"] == "rack work"]


def test_silence_errors_are_readable(lab, tmp_path):
    bad = module_run(lab, tmp_path, matchers=["instance"], duration="1h", comment="x")
    assert bad["failed"] and 'name="value"' in bad["msg"]
    down = module_run(
        lab, tmp_path, url=f"http://127.0.0.1:{free_port()}", matchers=['a="b"'], duration="1h", comment="x"
    )
    assert down["failed"] and "is Alertmanager running" in down["msg"]
