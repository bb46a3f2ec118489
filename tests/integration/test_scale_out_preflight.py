"""The scale-out settings' preflight: bad input fails with a message naming the variable and the fix.

Runs the victoriametrics and prometheus roles' preflight task files on localhost (no host is
touched), and the victoriametrics role's render tasks into a temporary file.
"""

from __future__ import annotations

import json
import os
import shlex
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from helpers import BIN, run  # noqa: E402

PLAYBOOK = """
- name: Scale-out preflight
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Prometheus preflight
      ansible.builtin.include_role:
        name: accelmon.monitoring.prometheus
        tasks_from: preflight.yml
      when: check == 'prometheus'
    - name: VictoriaMetrics preflight
      ansible.builtin.include_role:
        name: accelmon.monitoring.victoriametrics
        tasks_from: preflight.yml
      when: check in ['vm', 'vm-render']
    - name: VictoriaMetrics flags file
      ansible.builtin.include_role:
        name: accelmon.monitoring.victoriametrics
        tasks_from: render.yml
      vars:
        victoriametrics_render_local: true
      when: check == 'vm-render'
"""


def _play(tmp_path, **extra):
    (tmp_path / "pb.yml").write_text(PLAYBOOK)
    (tmp_path / "extra.json").write_text(json.dumps(extra))
    return run(
        [os.path.join(BIN, "ansible-playbook"), str(tmp_path / "pb.yml"), "-e", "@%s" % (tmp_path / "extra.json")],
        check=False,
    )


def test_unknown_queue_setting_is_refused(tmp_path):
    proc = _play(tmp_path, check="prometheus", prometheus_remote_write_queue_config={"maxshards": 5})
    assert proc.returncode != 0
    assert "prometheus_remote_write_queue_config" in proc.stdout and '"maxshards"' in proc.stdout
    assert "max_shards" in proc.stdout  # the known keys, i.e. the fix


def test_bad_retention_and_flags_are_refused(tmp_path):
    proc = _play(tmp_path, check="vm", victoriametrics_retention_period="12 months")
    assert proc.returncode != 0 and "victoriametrics_retention_period" in proc.stdout and '"90d"' in proc.stdout
    proc = _play(tmp_path, check="vm", victoriametrics_extra_args=["-search.maxQueryDuration=60 s"])
    assert proc.returncode != 0 and "victoriametrics_extra_args" in proc.stdout and "space" in proc.stdout


def test_flags_file_holds_the_settings(tmp_path):
    dest = tmp_path / "victoria-metrics"
    proc = _play(
        tmp_path,
        check="vm-render",
        victoriametrics_args_file=str(dest),
        victoriametrics_retention_period="90d",
        victoriametrics_dedup_min_scrape_interval="30s",
        victoriametrics_extra_args=["-search.maxQueryDuration=60s"],
    )
    assert proc.returncode == 0, proc.stdout
    args = [ln for ln in dest.read_text().splitlines() if ln.startswith("ARGS=")]
    assert shlex.split(args[0].split("=", 1)[1])[0].split() == [
        "-storageDataPath=/var/lib/victoria-metrics",
        "-httpListenAddr=:8428",
        "-retentionPeriod=90d",
        "-dedup.minScrapeInterval=30s",
        "-search.maxQueryDuration=60s",
    ]
    # no deduplication when the interval is empty
    _play(
        tmp_path, check="vm-render", victoriametrics_args_file=str(dest), victoriametrics_dedup_min_scrape_interval=""
    )
    assert "dedup" not in dest.read_text().split("ARGS=")[1]
