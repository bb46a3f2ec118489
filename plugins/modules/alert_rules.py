#!/usr/bin/python
# ruff: noqa: EXE001 -- ansible-test wants this shebang on a non-executable module
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)

# This is a virtual module that is entirely implemented as an action plugin and runs on the controller

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: alert_rules
short_description: Compile the fleet's effective alert policies into a Prometheus rule file
version_added: 0.1.0
description:
  - Reads C(accelmon_effective_policy) of the given hosts (set by the P(accelmon.monitoring.fleet#inventory)
    inventory plugin) and compiles the alert-rule templates into Prometheus alerting rules.
  - One rule group per template (C(<group_prefix>.<Template>)), one rule per B(distinct parameter set)
    (thresholds, C(for), severity, labels, team and receiver), selecting its hosts by the C(instance) label.
    The number of rules therefore grows with the number of distinct parameter sets, not with the number of hosts.
    A host whose rule is disabled is in no selector.
  - Every rule carries the labels C(severity), C(team) (when the policy sets one), C(accelmon_receiver)
    (the policy's Alertmanager receiver), the policy's free labels, and C(accelmon_policy), a stable hash of the
    template and parameter set. Annotations C(summary) and C(description) have the thresholds filled in.
  - Output is deterministic (templates, parameter sets and host names sorted) so a regenerated file diffs cleanly.
  - With O(dest), the file is written like M(ansible.builtin.template) writes one, through M(ansible.builtin.copy),
    to the task's host (or its C(delegate_to)), checked with O(validate_command) before it replaces the old file,
    with check mode and diff support.
  - See C(docs/alert-rules.md) in the collection for the selector scheme and the metrics each template uses.
author:
  - accelmon maintainers (@accelmon)
options:
  hosts:
    description:
      - Inventory hostnames whose policies are compiled. Each must have C(accelmon_effective_policy).
      - Default is every host of the inventory (C(groups['all'])) that has C(accelmon_effective_policy);
        hosts without it (for example the monitoring server from another inventory source) are skipped.
    type: list
    elements: str
  dest:
    description:
      - Path of the rule file to write on the target host (for example C(/etc/prometheus/rules/accelmon.yml)).
      - Without it the module only returns RV(rules).
    type: path
  rule_templates:
    description:
      - Model-defined rule templates (the C(rule_templates) section of the fleet model), needed when
        policies use templates that are not built in.
      - Defaults to the variable C(accelmon_rule_templates) when the inventory provides it.
    type: dict
  group_prefix:
    description: Prefix of the rule group names.
    type: str
    default: accelmon
  interval:
    description: Evaluation interval of every rule group (for example C(30s)); default is Prometheus' global one.
    type: str
  validate_command:
    description:
      - Command run on the target host against the new file (C(%s)) before it replaces the old one.
      - Set to an empty string to skip validation (for example where promtool is not installed).
    type: str
    default: promtool check rules %s
  mode:
    description: Permissions of the written file, as for M(ansible.builtin.copy).
    type: raw
    default: '0644'
  owner:
    description: Owner of the written file.
    type: str
  group:
    description: Group of the written file.
    type: str
  backup:
    description: Keep a timestamped backup of the file it replaces.
    type: bool
    default: false
  return_rules:
    description: Return the compiled rules as RV(rules). Turn off for very large fleets to keep output small.
    type: bool
    default: true
attributes:
  action:
    description: Runs as an action plugin on the controller; only the file transfer touches the target.
    support: full
  async:
    description: Cannot run asynchronously.
    support: none
  bypass_host_loop:
    description: Runs once per host of the play; use C(run_once) to write one file.
    support: none
  check_mode:
    description: Compiles and reports whether the file would change, writes nothing.
    support: full
  diff_mode:
    description: Shows the difference to the current rule file.
    support: full
  platform:
    description: Target hosts the rule file can be written to.
    support: full
    platforms: posix
notes:
  - Run it once per Prometheus server (C(run_once) or a play on the Prometheus hosts); it reads the variables of the
    fleet hosts through C(hostvars), so they need not be in the play.
  - The scrape configuration must relabel C(instance) to the inventory hostname (the collection's Prometheus role does).
seealso:
  - plugin: accelmon.monitoring.fleet
    plugin_type: inventory
"""

EXAMPLES = r"""
- name: Write the fleet's alert rules to the Prometheus server
  accelmon.monitoring.alert_rules:
    dest: /etc/prometheus/rules/accelmon.yml
    owner: prometheus
    group: prometheus
  run_once: true
  notify: Reload prometheus

- name: Render the rules locally for review (GitOps), without promtool on the controller
  accelmon.monitoring.alert_rules:
    dest: "{{ playbook_dir }}/rendered/rules/accelmon.yml"
    validate_command: ""
  delegate_to: localhost
  run_once: true

- name: Only compile, for the production hosts, and look at the counts
  accelmon.monitoring.alert_rules:
    hosts: "{{ groups['environment__production'] }}"
    return_rules: false
  register: compiled
  run_once: true
"""

RETURN = r"""
rules:
  description: The compiled Prometheus rule file as a dictionary (C(groups) list).
  returned: when O(return_rules) is true
  type: dict
  sample:
    groups:
      - name: accelmon.HighCPUUsage
        rules:
          - alert: HighCPUUsage
            expr: >-
              100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle",instance=~"dc1-a01-gpu01|gce-a3-0"}[5m]))) > 70
            for: 10m
            labels: {accelmon_policy: 2bba01ae9bec, accelmon_receiver: oncall-pager, severity: warning, team: ml-training}
            annotations: {summary: "CPU usage on {{ $labels.instance }} is above 70%", description: "..."}
rule_count:
  description: Number of alerting rules compiled (the distinct parameter sets over all templates).
  returned: always
  type: int
  sample: 86
host_count:
  description: Number of hosts whose policies were compiled.
  returned: always
  type: int
  sample: 10
templates:
  description: Per template, the number of rules and of hosts selected.
  returned: always
  type: dict
  sample: {HighCPUUsage: {rules: 7, hosts: 10}, NodeDown: {rules: 2, hosts: 5}}
dest:
  description: Path of the written file.
  returned: when O(dest) is given
  type: str
  sample: /etc/prometheus/rules/accelmon.yml
checksum:
  description: SHA1 checksum of the written file.
  returned: when O(dest) is given
  type: str
  sample: 6e642bb8dd5c2e027bf21dd923337cbb4214f827
backup_file:
  description: Name of the backup file created.
  returned: when O(backup) is true and the file changed
  type: str
  sample: /etc/prometheus/rules/accelmon.yml.1234.2026-01-01@00:00:00~
"""
