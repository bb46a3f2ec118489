"""roles/verify against a real Prometheus: Debian's /usr/bin/prometheus scrapes a real
node_exporter and the accelerator exporter emulator (all-smi mode, 4 NVIDIA devices) on
loopback ports; the role runs with a local connection, its checks delegated to the
"Prometheus host" (also local). It passes when all answer, and fails naming the host and
the exporter when all-smi stops or when the device count differs from the declared hardware.

Needs: apt-get install prometheus prometheus-node-exporter (fails under CI=true without them).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from helpers import BIN, ROOT, run  # noqa: E402
from test_central_configs import free_port, wait_ready  # noqa: E402

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
NODE_EXPORTER = shutil.which("prometheus-node-exporter") or "/usr/bin/prometheus-node-exporter"
EMULATOR = os.path.join(ROOT, "tests", "emulator", "accel_exporter_emulator.py")
MISSING = [p for p in (PROMETHEUS, NODE_EXPORTER) if not os.path.exists(p)]
if MISSING and os.environ.get("CI") != "true":
    pytest.skip("needs %s (apt-get install prometheus prometheus-node-exporter)" % MISSING, allow_module_level=True)

PLAYBOOK = """
- name: Verify
  hosts: gpu1
  gather_facts: false
  roles:
    - role: accelmon.monitoring.verify
"""


def _up_count(prom_url):
    url = prom_url + "/api/v1/query?query=" + urllib.parse.quote('up{instance="gpu1"} == 1')
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 (loopback)
        return len(json.load(resp)["data"]["result"])


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    assert not MISSING, "needs %s (apt-get install prometheus prometheus-node-exporter)" % MISSING
    base = tmp_path_factory.mktemp("verify")
    ports = {"prom": free_port(), "node": free_port(), "allsmi": free_port()}
    (base / "prometheus.yml").write_text(
        json.dumps(
            {
                "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                "scrape_configs": [
                    {
                        "job_name": job,
                        "static_configs": [{"targets": ["127.0.0.1:%d" % ports[job]], "labels": {"instance": "gpu1"}}],
                    }
                    for job in ("node", "allsmi")
                ],
            }
        )
    )
    procs = {}
    logs = []

    def start(name, argv):
        log = open(base / ("%s.log" % name), "w")  # noqa: SIM115 (closed at teardown)
        logs.append(log)
        procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)

    start(
        "prom",
        [
            PROMETHEUS,
            "--config.file=%s" % (base / "prometheus.yml"),
            "--storage.tsdb.path=%s" % (base / "data"),
            "--web.listen-address=127.0.0.1:%d" % ports["prom"],
        ],
    )
    start(
        "node",
        [
            NODE_EXPORTER,
            "--web.listen-address=127.0.0.1:%d" % ports["node"],
            "--collector.disable-defaults",
            "--collector.loadavg",
        ],
    )
    allsmi = [
        sys.executable,
        EMULATOR,
        "--mode",
        "allsmi",
        "--bind",
        "127.0.0.1",
        "--port",
        str(ports["allsmi"]),
        "--devices",
        "nvidia:4",
        "--interval",
        "1",
        "--hostname",
        "gpu1",
    ]
    start("allsmi", allsmi)
    prom_url = "http://127.0.0.1:%d" % ports["prom"]
    wait_ready(prom_url + "/-/ready", procs["prom"], "prometheus")
    (base / "hosts.yml").write_text(
        json.dumps(
            {
                "all": {
                    "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
                    "children": {
                        "monitoring": {"hosts": {"prom": {}}},
                        "nodes": {
                            "hosts": {
                                "gpu1": {
                                    "accelmon_node_exporters": ["node_exporter", "all_smi"],
                                    "accelmon_accelerators": [{"vendor": "nvidia", "model": "H200", "count": 4}],
                                }
                            }
                        },
                    },
                }
            }
        )
    )
    (base / "verify.yml").write_text(PLAYBOOK)
    deadline = time.monotonic() + 60
    while _up_count(prom_url) < 2:
        assert time.monotonic() < deadline, "the exporters were not scraped within 60 s"
        time.sleep(0.5)
    stack = {"base": base, "prom_url": prom_url, "ports": ports, "procs": procs, "start": start, "allsmi": allsmi}
    yield stack
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
    for log in logs:
        log.close()


def verify(stack, *extra):
    return run(
        [
            os.path.join(BIN, "ansible-playbook"),
            "-i",
            str(stack["base"] / "hosts.yml"),
            str(stack["base"] / "verify.yml"),
            "-e",
            "verify_prometheus_url=%s" % stack["prom_url"],
            "-e",
            "verify_timeout=6",
            *extra,
        ],
        check=False,
        timeout=180,
    )


def test_verify_passes_when_every_exporter_is_scraped(stack):
    res = verify(stack)
    assert res.returncode == 0, res.stdout[-3000:]
    assert "accelmon verify: gpu1 OK: node_exporter, all_smi answer, scraped by prom, 4 accelerators" in res.stdout


def test_verify_fails_when_the_device_count_differs_from_the_hardware(stack):
    res = verify(stack, "-e", json.dumps({"verify_accelerators": [{"vendor": "nvidia", "count": 8}]}))
    assert res.returncode != 0
    assert "accelmon verify: gpu1 FAILED: all_smi: 4 accelerators in all_smi_gpu_info, expected 8" in res.stdout


def test_verify_fails_naming_the_host_and_the_stopped_exporter(stack):
    proc = stack["procs"]["allsmi"]
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)
    try:
        res = verify(stack)
        assert res.returncode != 0
        url = "http://127.0.0.1:%d/metrics" % stack["ports"]["allsmi"]
        assert "accelmon verify: gpu1 FAILED: all_smi: does not answer at %s from prom" % url in res.stdout, res.stdout[
            -3000:
        ]
        assert "node_exporter" not in res.stdout.split("FAILED:")[1].split("\n")[0]
    finally:
        stack["start"]("allsmi", stack["allsmi"])


def test_verify_waits_for_a_missing_target_then_names_it(stack):
    """An exporter Prometheus has no target for (yet): waited for up to verify_timeout, then
    this host fails naming it, instead of the shared targets read failing every host."""
    start = time.monotonic()
    res = verify(stack, "-e", json.dumps({"verify_exporters": ["node_exporter", "all_smi", "dcgm_exporter"]}))
    assert res.returncode != 0
    assert "accelmon verify: gpu1 FAILED: dcgm_exporter: no active Prometheus target (job dcgm, instance gpu1)" in (
        " ".join(res.stdout.split())
    ), res.stdout[-3000:]
    assert time.monotonic() - start >= 6


def test_verify_says_it_skipped_without_a_prometheus_host(tmp_path):
    (tmp_path / "hosts.yml").write_text(
        json.dumps(
            {
                "all": {
                    "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
                    "hosts": {"gpu1": {"accelmon_node_exporters": ["node_exporter"]}},
                }
            }
        )
    )
    (tmp_path / "verify.yml").write_text(PLAYBOOK)
    res = run(
        [os.path.join(BIN, "ansible-playbook"), "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "verify.yml")],
        check=False,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout[-3000:]
    assert "accelmon verify: SKIPPED on gpu1: no Prometheus host (group 'monitoring' is empty" in res.stdout


def test_verify_waits_for_the_device_series_of_a_just_restarted_all_smi(stack):
    # all-smi v0.25.0 (and the emulator, faithful to it) answers its first scrape with an
    # empty body: up == 1 with no device series until the next scrape
    proc = stack["procs"]["allsmi"]
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)
    # its first collection 10 s away: scraped (up == 1) with an empty body until then
    stack["start"]("allsmi", stack["allsmi"] + ["--startup-delay", "10"])
    deadline = time.monotonic() + 8
    while _up_count(stack["prom_url"]) < 2:
        assert time.monotonic() < deadline, "the restarted all-smi was not scraped"
        time.sleep(0.2)
    res = verify(stack, "-e", "verify_timeout=30")
    assert res.returncode == 0, res.stdout[-3000:]
    assert "accelmon verify: gpu1 OK: node_exporter, all_smi answer, scraped by prom, 4 accelerators" in res.stdout
