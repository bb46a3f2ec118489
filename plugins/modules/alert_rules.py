#!/usr/bin/python
# ruff: noqa: EXE001 -- ansible-test wants this shebang on a non-executable module
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)

# This is a virtual module that is entirely implemented as an action plugin and runs on the controller

from __future__ import annotations

DOCUMENTATION = r"""
---
module: alert_rules
short_description: Compile the fleet's effective alert policies into Prometheus rules and policy series
version_added: 0.1.0
description:
  - Reads C(accelmon_effective_policy) and C(accelmon_primary_group) of the given hosts (set by the
    P(accelmon.monitoring.fleet#inventory) inventory plugin) and writes two files.
  - B(Policy series) (O(policy_dest)) in the Prometheus text format. Per host and enabled template, one
    C(accelmon_alert_threshold) series per threshold (C(param), the threshold as value, and the routing labels
    C(accelmon_for), C(severity), C(team), C(accelmon_receiver), free labels) and, for templates whose rule
    reads it (no thresholds, aggregating, or any shape but C(<expr> > ${param})), one C(accelmon_alert_route)
    series with the same routing labels and C(group). A disabled rule has no series. Served to
    Prometheus from a textfile (the prometheus role runs a node_exporter for it); a threshold change takes effect
    at the next scrape.
  - B(Rules) (O(dest)) with one rule group per template (C(<group_prefix>.<Template>)) and one alerting rule per
    distinct C(for) value, joining the measured series to the threshold series C(on(instance)) and copying the
    routing labels with C(group_left). The rule count grows with templates x distinct C(for) values,
    never with hosts or threshold values, and the rule file does not change when a threshold does.
  - Output is deterministic (sorted) so a regenerated file diffs cleanly; a threshold change is one changed line
    per target in the policy series file.
  - Each file is written like M(ansible.builtin.template) writes one, through M(ansible.builtin.copy),
    to the task's host (or its C(delegate_to)), checked with its validate command before it replaces the old file,
    with check mode and diff support.
  - See C(docs/alert-rules.md) in the collection for the series, the rule form and the template format.
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
  global_dest:
    description:
      - Path of a second rule file holding only the groups of the templates that count over targets
        (C(ManyNodesDown)), checked with O(validate_command). With sharded servers these belong where every
        shard's data meet (vmalert, Thanos Ruler or Mimir's ruler on the global view); each shard counts only its
        own targets. Without it no such file is written.
    type: path
  rule_templates:
    description:
      - Model-defined rule templates (the C(rule_templates) section of the fleet model, as written), needed when
        policies use templates that are not built in; validated here.
      - Defaults to the variable C(accelmon_rule_templates), which the inventory provides already validated
        (used as it is).
    type: dict
  policy_dest:
    description:
      - Path of the policy series file to write on the target host (for example
        C(/etc/prometheus/policy/accelmon_policy.prom)). Without it no policy file is written.
    type: path
  policy_validate_command:
    description:
      - Command run on the target host against the new policy file (C(%s)) before it replaces the old one.
      - Set to an empty string to skip validation.
    type: str
    default: /bin/sh -c 'promtool check metrics < "$0"' %s
  shard_count:
    description:
      - Number of hashmod shards of the Prometheus servers. With more than one, the policy file holds only the hosts
        whose hashmod of the inventory name equals O(shard_index) (the key the prometheus role's scrape config hashes).
    type: int
    default: 1
  shard_index:
    description: Shard of the server the policy file is for, 0 to O(shard_count) - 1.
    type: int
    default: 0
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
    description: Return the compiled rules as RV(rules). Turn off to keep output small.
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
  - The scrape configuration must relabel C(instance) to the inventory hostname, and scrape the policy series with
    C(honor_labels) (the collection's Prometheus role does both).
seealso:
  - plugin: accelmon.monitoring.fleet
    plugin_type: inventory
"""

EXAMPLES = r"""
- name: Write the fleet's alert rules (a change reloads Prometheus)
  accelmon.monitoring.alert_rules:
    dest: /etc/prometheus/rules/accelmon.rules.yml
    owner: root
    group: prometheus
  notify: Reload prometheus

- name: Write the policy series of this server's targets (read at the next scrape, no reload)
  accelmon.monitoring.alert_rules:
    policy_dest: /etc/prometheus/policy/accelmon_policy.prom
    shard_count: 2
    shard_index: 0

- name: Render both locally for review (GitOps), without promtool on the controller
  accelmon.monitoring.alert_rules:
    dest: "{{ playbook_dir }}/rendered/rules/accelmon.rules.yml"
    policy_dest: "{{ playbook_dir }}/rendered/policy/accelmon_policy.prom"
    validate_command: ""
    policy_validate_command: ""
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
              100 * (1 - avg without (cpu, mode) (rate(node_cpu_seconds_total{mode="idle"}[5m])))
              > on(instance) group_left(accelmon_receiver, severity, team)
              accelmon_alert_threshold{accelmon_for="10m",alertname="HighCPUUsage",param="cpu_percent"}
            for: 10m
            annotations: {summary: "CPU usage on {{ $labels.instance }} is above its threshold", description: "..."}
rule_count:
  description: Number of alerting rules compiled (templates x distinct C(for) values at most).
  returned: always
  type: int
  sample: 18
host_count:
  description: Number of hosts whose policies were compiled.
  returned: always
  type: int
  sample: 10
policy_series_count:
  description: Number of policy series (of this shard) in the policy file.
  returned: always
  type: int
  sample: 253
templates:
  description: Per template, the number of rules and of hosts with the template enabled.
  returned: always
  type: dict
  sample: {HighCPUUsage: {rules: 1, hosts: 10}, NodeDown: {rules: 1, hosts: 5}}
dest:
  description: Path of the written rule file.
  returned: when O(dest) is given
  type: str
  sample: /etc/prometheus/rules/accelmon.rules.yml
checksum:
  description: SHA1 checksum of the written rule file.
  returned: when O(dest) is given
  type: str
  sample: 6e642bb8dd5c2e027bf21dd923337cbb4214f827
global_rules:
  description: Result of writing the global rule file (C(dest), C(checksum), C(changed), as M(ansible.builtin.copy) returns).
  returned: when O(global_dest) is given
  type: dict
  sample: {dest: /etc/prometheus/global/accelmon-global.rules.yml, changed: true}
policy:
  description: Result of writing the policy file (C(dest), C(checksum), C(changed), as M(ansible.builtin.copy) returns).
  returned: when O(policy_dest) is given
  type: dict
  sample: {dest: /etc/prometheus/policy/accelmon_policy.prom, changed: true}
backup_file:
  description: Name of the backup file created.
  returned: when O(backup) is true and the file changed
  type: str
  sample: /etc/prometheus/rules/accelmon.yml.1234.2026-01-01@00:00:00~
"""
