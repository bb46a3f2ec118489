"""The rollout health gate against a real Prometheus scraping the exporter emulator and node_exporter.

Debian's prometheus and prometheus-node-exporter on ephemeral loopback ports; the emulator
(tests/emulator) stands in for all-smi. Scrape and evaluation interval 1s, so a gate waits
about 2 s (two scrapes) before its first verdict.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from ansible_collections.accelmon.monitoring.plugins.module_utils.rollout_gate import (
    PrometheusClient,
    normalize_targets,
    run_gate,
)

from helpers import BIN, ROOT, run

EMULATOR = os.path.join(ROOT, "tests", "emulator", "accel_exporter_emulator.py")
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
NODE_EXPORTER = shutil.which("prometheus-node-exporter") or "/usr/bin/prometheus-node-exporter"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, method="GET", body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    with urllib.request.urlopen(req, timeout=5) as resp:
        raw = resp.read()
    return json.loads(raw) if raw[:1] in (b"{", b"[") else raw.decode()


def wait(what, fn, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if fn():
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


class Stack:
    """gpu-a: node_exporter + emulated all-smi (2 GPUs); gpu-b: an all-smi target nobody serves."""

    def __init__(self, base: Path):
        self.base = base
        self.textfile = base / "textfile"
        self.textfile.mkdir()
        self.emu_port, self.node_port, self.prom_port, self.dead_port = (free_port() for _i in range(4))
        self.emu_url = f"http://127.0.0.1:{self.emu_port}"
        self.url = f"http://127.0.0.1:{self.prom_port}"
        self.procs = []

    def config(self):
        rules = {
            "groups": [
                {
                    "name": "gate-test",
                    "rules": [
                        {
                            "alert": "GpuHot",
                            "expr": "all_smi_gpu_temperature_celsius > 90",
                            "labels": {"severity": "critical"},
                        },
                        {
                            "alert": "GpuWarm",
                            "expr": "all_smi_gpu_temperature_celsius > 80",
                            "labels": {"severity": "warning"},
                        },
                    ],
                }
            ]
        }
        (self.base / "rules.yml").write_text(yaml.safe_dump(rules))
        cfg = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "900ms"},
            "rule_files": [str(self.base / "rules.yml")],
            "scrape_configs": [
                {
                    "job_name": "node",
                    "static_configs": [{"targets": [f"127.0.0.1:{self.node_port}"], "labels": {"instance": "gpu-a"}}],
                },
                {
                    "job_name": "allsmi",
                    "static_configs": [
                        {"targets": [f"127.0.0.1:{self.emu_port}"], "labels": {"instance": "gpu-a"}},
                        {"targets": [f"127.0.0.1:{self.dead_port}"], "labels": {"instance": "gpu-b"}},
                    ],
                },
            ],
        }
        (self.base / "prometheus.yml").write_text(yaml.safe_dump(cfg))

    def start(self):
        self.config()
        log = open(self.base / "procs.log", "w")  # noqa: SIM115 (closed with the processes)
        self.procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    EMULATOR,
                    "api",
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(self.emu_port),
                    "--interval",
                    "0.5",
                    "--devices",
                    "nvidia:2",
                    "--hostname",
                    "gpu-a",
                    "--control-file",
                    str(self.base / "control.json"),
                    "--seed",
                    "1",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        self.procs.append(
            subprocess.Popen(
                [
                    NODE_EXPORTER,
                    f"--web.listen-address=127.0.0.1:{self.node_port}",
                    f"--collector.textfile.directory={self.textfile}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        self.procs.append(
            subprocess.Popen(
                [
                    PROMETHEUS,
                    f"--config.file={self.base / 'prometheus.yml'}",
                    f"--storage.tsdb.path={self.base / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{self.prom_port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        wait("prometheus ready", lambda: get(self.url + "/-/ready"))
        wait("gpu-a scraped", lambda: len(self.query('up{instance="gpu-a"} == 1')) == 2)

    def query(self, expr):
        return get(self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))["data"]["result"]

    def stop(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    for tool in (PROMETHEUS, NODE_EXPORTER):
        if not os.path.exists(tool):
            pytest.fail(f"{tool} missing: run tests/tools/install_system_deps.sh")
    s = Stack(tmp_path_factory.mktemp("gate"))
    s.start()
    yield s
    s.stop()


def gate(stack, targets, jobs=("node", "allsmi"), series=None, since=None, timeout=8, **kw):
    return run_gate(
        PrometheusClient(stack.url),
        normalize_targets(targets, list(jobs), series),
        since if since is not None else time.time(),
        timeout=timeout,
        poll_interval=0.5,
        **kw,
    )


def test_healthy_batch_passes_after_two_scrapes(stack):
    res = gate(stack, ["gpu-a"], series={"all_smi_gpu_info": 2, "all_smi_gpu_temperature_celsius": 2}, timeout=10)
    assert res["passed"], res["summary"]
    assert res["scrape_interval"] == 1.0  # read from Prometheus' own config
    assert res["elapsed"] >= 3.0  # never before two scrape intervals and one of slack
    assert res["window"] == "3000ms"


def test_down_exporter_fails_only_its_host(stack):
    res = gate(stack, ["gpu-a", {"instance": "gpu-b", "jobs": ["allsmi"]}])
    assert not res["passed"]
    assert res["failed_hosts"] == ["gpu-b"]
    assert res["hosts"]["gpu-b"]["reasons"] == ["job allsmi: target down in the last 3000ms"]
    assert res["hosts"]["gpu-a"]["ok"]
    assert "gpu-b: job allsmi: target down" in res["summary"]


def test_host_without_target_or_series_fails(stack):
    res = gate(stack, ["gpu-a", "gpu-z"], jobs=(), series={"all_smi_gpu_info": 3})
    assert res["hosts"]["gpu-z"]["reasons"] == [
        "no scrape target of this host in Prometheus",
        "series all_smi_gpu_info: 0 of 3 expected",
    ]
    assert res["hosts"]["gpu-a"]["reasons"] == ["series all_smi_gpu_info: 2 of 3 expected"]


def test_vanished_device_fails_the_series_check(stack):
    get(stack.emu_url + "/-/fault", "POST", {"type": "vanish", "device": 1})
    try:
        res = gate(stack, ["gpu-a"], series={"all_smi_gpu_info": 2})
        assert res["hosts"]["gpu-a"]["reasons"] == ["series all_smi_gpu_info: 1 of 2 expected"]
    finally:
        get(stack.emu_url + "/-/fault", "DELETE")


def test_new_critical_alert_fails_an_older_one_does_not(stack):
    before = time.time()
    get(stack.emu_url + "/-/fault", "POST", {"type": "temperature", "device": 0, "celsius": 95})
    try:
        wait("GpuHot firing", lambda: stack.query('ALERTS{alertname="GpuHot",alertstate="firing"}'), 20)
        res = gate(stack, ["gpu-a"], since=before)
        assert not res["passed"]
        # the warning of the same fault is not a watched severity
        assert res["hosts"]["gpu-a"]["reasons"] == ["new critical alert GpuHot (firing)"]
        # an alert that was active before the batch started is not the rollout's doing
        assert gate(stack, ["gpu-a"], since=time.time())["passed"]
        # unless the warning severity is watched too
        res = gate(stack, ["gpu-a"], since=before, severities=("critical", "warning"))
        assert len(res["hosts"]["gpu-a"]["reasons"]) == 2
    finally:
        get(stack.emu_url + "/-/fault", "DELETE")


def test_textfile_scrape_error_fails(stack):
    bad = stack.textfile / "broken.prom"
    bad.write_text("this is not { the exposition format\n")
    try:
        wait("textfile error", lambda: stack.query('node_textfile_scrape_error{instance="gpu-a"} == 1'), 20)
        res = gate(stack, ["gpu-a"])
        assert res["hosts"]["gpu-a"]["reasons"] == [
            "node_exporter textfile collector: scrape error (a bad *.prom file)"
        ]
    finally:
        bad.unlink()
    wait("textfile ok", lambda: stack.query('node_textfile_scrape_error{instance="gpu-a"} == 0'), 20)


PLAYBOOK = """
- name: Gate through the module and the filters
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Plan
      ansible.builtin.set_fact:
        plan: "{{ ['gpu-a', 'gpu-b', 'gpu-c'] | accelmon.monitoring.rollout_plan('canary', 2) }}"
    - name: A healthy batch
      accelmon.monitoring.rollout_gate:
        url: "{{ prom }}"
        targets: ["gpu-a"]
        jobs: [node, allsmi]
        series: {all_smi_gpu_info: 2}
        timeout: 20s
        poll_interval: 0.5
      register: ok
    - name: A broken batch
      accelmon.monitoring.rollout_gate:
        url: "{{ prom }}"
        targets: [gpu-a, gpu-b]
        jobs: [allsmi]
        timeout: 6s
        poll_interval: 0.5
      register: broken
      ignore_errors: true
    - name: Save
      ansible.builtin.copy:
        content: "{{ {'plan': plan, 'ok': ok, 'broken': broken,
                      'progress': plan | accelmon.monitoring.rollout_progress(2, 3, 0)} | to_json }}"
        dest: "{{ out }}"
        mode: "0644"
"""


def test_module_and_filters_in_a_play(stack, tmp_path):
    (tmp_path / "gate.yml").write_text(PLAYBOOK)
    out = tmp_path / "out.json"
    run(
        [
            os.path.join(BIN, "ansible-playbook"),
            "-i",
            "localhost,",
            str(tmp_path / "gate.yml"),
            "-e",
            f"prom={stack.url}",
            "-e",
            f"out={out}",
        ],
        timeout=120,
    )
    data = json.loads(out.read_text())
    assert data["plan"]["serial"] == [1, 2]
    assert [b["hosts"] for b in data["plan"]["batches"]] == [["gpu-a"], ["gpu-b", "gpu-c"]]
    assert data["progress"] == "batch 2/2 (2 hosts): done 3 | failed 0 | pending 0"
    assert data["ok"]["passed"] is True and data["ok"]["changed"] is False
    assert data["broken"]["failed"] is True
    assert data["broken"]["failed_hosts"] == ["gpu-b"]
    assert data["broken"]["msg"].startswith("gate failed after")
