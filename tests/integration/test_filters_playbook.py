"""The policy filters through a real ansible-playbook run."""

from __future__ import annotations

import json
import os

from helpers import BIN, run


def test_filters_in_a_playbook(tmp_path):
    out = tmp_path / "out.json"
    run(
        [
            os.path.join(BIN, "ansible-playbook"),
            "-i",
            "localhost,",
            "tests/integration/playbooks/filters.yml",
            "-e",
            "out=%s" % out,
        ]
    )
    data = json.loads(out.read_text())
    assert data["policy"]["alert_rules"]["HighCPUUsage"]["thresholds"]["cpu_percent"] == 60
    assert data["trace"]["alert_rules.NodeDown.enabled"]["source"] == "environment:staging"
    diff = data["diff"]
    assert diff["added_targets"] == [] and diff["removed_targets"] == []
    # i-1234567890 keeps its own 60 (target override); only the production host without
    # an override would move, and there is none other in production: nothing changes there.
    assert "i-1234567890" not in diff["changed"]


def test_policy_diff_reports_moves_with_sources(tmp_path):
    out = tmp_path / "out.json"
    playbook = tmp_path / "diff.yml"
    playbook.write_text(
        """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - ansible.builtin.copy:
        dest: %s
        mode: "0644"
        content: "{{ old | accelmon.monitoring.policy_diff(new) | to_json }}"
      vars:
        old:
          groups: {"infrastructure:dc1": {}, "environment:production": {alert_rules: {HighCPUUsage: {thresholds: {cpu_percent: 70}}}}}
          targets:
            a: {primary_group: "infrastructure:dc1", groups: ["environment:production"]}
            b: {primary_group: "infrastructure:dc1"}
        new:
          groups: {"infrastructure:dc1": {}, "environment:production": {alert_rules: {HighCPUUsage: {thresholds: {cpu_percent: 65}}}}}
          targets:
            a: {primary_group: "infrastructure:dc1", groups: ["environment:production"]}
            c: {primary_group: "infrastructure:dc1"}
"""
        % out
    )
    run([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", str(playbook)])
    diff = json.loads(out.read_text())
    assert diff["added_targets"] == ["c"] and diff["removed_targets"] == ["b"]
    assert diff["changed"] == {
        "a": {
            "alert_rules.HighCPUUsage.thresholds.cpu_percent": {
                "old": 70,
                "new": 65,
                "old_source": "environment:production",
                "new_source": "environment:production",
                # the same move in the terms of the policy series file (docs/alert-rules.md)
                "series": 'accelmon_alert_threshold{alertname="HighCPUUsage",instance="a",param="cpu_percent"}',
            }
        }
    }


def test_filter_error_is_clear(tmp_path):
    playbook = tmp_path / "bad.yml"
    playbook.write_text("""
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - ansible.builtin.debug:
        msg: "{{ {'groups': {'infrastructure:dc1': {'alert_rules': {'HighCPUUsage': {'strategy': 'replace'}}}}} | accelmon.monitoring.effective_policy('x') }}"
""")
    proc = run([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", str(playbook)], check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "strategy 'replace' is not valid" in text and "Fix:" in text
