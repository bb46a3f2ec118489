"""policy_series.shard_of against a real Prometheus' hashmod relabelling.

With hashmod sharding each Prometheus server keeps the targets whose hashmod of the
inventory name (`instance`) falls on its index, and its policy file must hold exactly those
targets' series: the Python hash must be Prometheus' own. Starts Debian's /usr/bin/prometheus
on a free loopback port with static targets on 127.0.0.1:1 (nothing is scraped
successfully, nothing leaves the machine) and compares the kept targets.
"""

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest

from ansible_collections.accelmon.monitoring.plugins.module_utils import policy_series as ps

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"

pytestmark = pytest.mark.skipif(
    not os.path.exists(PROMETHEUS) and os.environ.get("CI") != "true",
    reason="prometheus not installed (apt-get install prometheus; CI installs it)",
)

NAMES = ["node%05d.dc%d.example.com" % (i, i % 3) for i in range(60)] + ["lab-h200", "i-1234567890", "gce-a3-0"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_shard_of_is_prometheus_hashmod(tmp_path):
    port = free_port()
    count, index = 3, 1
    config = {
        "global": {"scrape_interval": "1h"},
        "scrape_configs": [
            {
                "job_name": "node",
                "static_configs": [{"targets": ["127.0.0.1:1"], "labels": {"instance": n}} for n in NAMES],
                "relabel_configs": [
                    {"source_labels": ["instance"], "modulus": count, "target_label": "__tmp_shard", "action": "hashmod"},
                    {"source_labels": ["__tmp_shard"], "regex": str(index), "action": "keep"},
                ],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(json.dumps(config))
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            "--config.file=%s" % (tmp_path / "prometheus.yml"),
            "--storage.tsdb.path=%s" % (tmp_path / "data"),
            "--web.listen-address=127.0.0.1:%d" % port,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        kept = None
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                url = "http://127.0.0.1:%d/api/v1/targets?state=active" % port
                with urllib.request.urlopen(url, timeout=5) as resp:
                    data = json.loads(resp.read())["data"]["activeTargets"]
                kept = {t["labels"]["instance"] for t in data}
                if kept:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert kept, "Prometheus kept no target"
        assert kept == {n for n in NAMES if ps.shard_of(n, count) == index}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
