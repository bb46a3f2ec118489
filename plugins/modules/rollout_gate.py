#!/usr/bin/python
# ruff: noqa: EXE001 -- ansible-test wants this shebang on a non-executable module
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rollout_gate
short_description: Health gate of a rollout batch, from Prometheus
version_added: 0.2.0
description:
  - Polls Prometheus (C(/api/v1/query), C(/api/v1/alerts)) until every host of a batch is healthy, or fails
    when O(timeout) ends.
  - A host is healthy when every expected job's target of it was up at each of the last O(min_scrapes) scrapes,
    its expected accelerator series are present, no alert of O(severities) on it became active since O(since),
    and node_exporter reports no textfile scrape error (C(node_textfile_scrape_error)).
  - The first verdict is taken no earlier than O(min_scrapes) + 1 scrape intervals after the gate started (one
    interval of slack for scrape jitter), so every sample it judges was scraped after the change.
  - Meant to run once per batch on the controller (C(run_once), C(delegate_to=localhost)) of
    C(accelmon.monitoring.rollout); the logic is in C(module_utils/rollout_gate.py).
author:
  - accelmon maintainers (@accelmon)
options:
  url:
    description: Base URL of Prometheus (with its path prefix, if any).
    type: str
    default: http://127.0.0.1:9090
  targets:
    description:
      - The hosts of the batch, as their O(instance_label) values. Each is a name (it takes O(jobs) and O(series))
        or a dict with C(instance) and optionally its own C(jobs) and C(series).
    type: list
    elements: raw
    required: true
  jobs:
    description:
      - Scrape jobs whose target of each host must be up (for example C(node), C(allsmi), C(dcgm)).
      - Empty means every target Prometheus has for the host, and at least one.
    type: list
    elements: str
    default: []
  series:
    description:
      - >-
        Series each host must have, as metric names (at least one series each) or a mapping of metric name to the
        minimum number of series (for example C({all_smi_gpu_info: 8}) for eight devices).
    type: raw
  since:
    description:
      - When the batch started changing (RFC 3339 or seconds since the epoch). Alerts active before it are not
        counted. Default is the start of this gate.
    type: str
  timeout:
    description: How long to wait for the batch to become healthy (a duration such as C(5m), or seconds).
    type: str
    default: 5m
  poll_interval:
    description: Seconds between two verdicts.
    type: float
    default: 5
  scrape_interval:
    description: The scrape interval of the jobs (a duration); default is Prometheus' global one, read from its config.
    type: str
  min_scrapes:
    description: Scrapes after the change that must all have been up.
    type: int
    default: 2
  severities:
    description: Alert severities that fail the gate when such an alert becomes active on a host of the batch.
    type: list
    elements: str
    default: [critical]
  instance_label:
    description: The label that holds the host name on targets, series and alerts.
    type: str
    default: instance
  wait:
    description: Poll until healthy or O(timeout). C(false) takes one verdict now (what check mode does).
    type: bool
    default: true
  request_timeout:
    description: Seconds to wait for each request.
    type: int
    default: 10
extends_documentation_fragment:
  - accelmon.monitoring.http_api
attributes:
  check_mode:
    support: full
    description: Read-only; in check mode it takes one verdict of the current state without waiting.
  diff_mode:
    support: none
    description: Changes nothing.
  platform:
    support: full
    platforms: posix
    description: Runs anywhere Python can reach the Prometheus API.
notes:
  - The module fails (after O(timeout)) when the batch is not healthy; the result still has every host's reasons.
seealso:
  - name: Rollouts
    description: The rollout play, its strategies and its gates (docs/rollouts.md in the collection).
    link: https://github.com/accelmon/monitoring/blob/main/docs/rollouts.md
"""

EXAMPLES = r"""
- name: Gate the batch
  accelmon.monitoring.rollout_gate:
    url: http://prometheus.example.com:9090
    targets: "{{ ansible_play_batch }}"
    jobs: [node, allsmi]
    series:
      all_smi_gpu_info: 8
    since: "{{ batch_started }}"
    timeout: 5m
  delegate_to: localhost
  run_once: true
  register: gate

- name: Hosts with their own expectations
  accelmon.monitoring.rollout_gate:
    targets:
      - instance: gpu-h200-01
        jobs: [node, allsmi, dcgm]
        series: {all_smi_gpu_info: 8, DCGM_FI_DEV_GPU_TEMP: 8}
      - instance: cpu-01
        jobs: [node]
  delegate_to: localhost
"""

RETURN = r"""
passed:
  description: Whether every host of the batch passed.
  returned: always
  type: bool
  sample: true
failed_hosts:
  description: Hosts that did not pass.
  returned: always
  type: list
  elements: str
  sample: [gpu-h200-01]
hosts:
  description: Per host, C(ok) and the C(reasons) it failed.
  returned: always
  type: dict
  sample:
    gpu-h200-01:
      ok: false
      reasons: ["series all_smi_gpu_info: 7 of 8 expected"]
summary:
  description: One line for the play output.
  returned: always
  type: str
  sample: gate passed for 5 hosts after 10.3s (1 polls)
elapsed:
  description: Seconds the gate took.
  returned: always
  type: float
polls:
  description: Verdicts taken.
  returned: always
  type: int
scrape_interval:
  description: The scrape interval used, seconds.
  returned: always
  type: float
window:
  description: The range the up checks looked at.
  returned: always
  type: str
  sample: 10000ms
queries:
  description: The PromQL queries, by name.
  returned: always
  type: dict
"""

import time  # noqa: E402 - after the documentation, as Ansible modules are laid out

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.accelmon.monitoring.plugins.module_utils.alertmanager_api import (  # noqa: E402
    AlertmanagerAPIError,
    parse_duration,
    parse_time,
)
from ansible_collections.accelmon.monitoring.plugins.module_utils.http_json import (  # noqa: E402
    CONNECTION_ARGUMENT_SPEC,
    connection_options,
)
from ansible_collections.accelmon.monitoring.plugins.module_utils.rollout_gate import (  # noqa: E402
    GateError,
    PrometheusClient,
    normalize_targets,
    run_gate,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str", "default": "http://127.0.0.1:9090"},
            "targets": {"type": "list", "elements": "raw", "required": True},
            "jobs": {"type": "list", "elements": "str", "default": []},
            "series": {"type": "raw"},
            "since": {"type": "str"},
            "timeout": {"type": "str", "default": "5m"},
            "poll_interval": {"type": "float", "default": 5},
            "scrape_interval": {"type": "str"},
            "min_scrapes": {"type": "int", "default": 2},
            "severities": {"type": "list", "elements": "str", "default": ["critical"]},
            "instance_label": {"type": "str", "default": "instance"},
            "wait": {"type": "bool", "default": True},
            "request_timeout": {"type": "int", "default": 10},
            **CONNECTION_ARGUMENT_SPEC,
        },
        supports_check_mode=True,
    )
    p = module.params
    started = time.time()
    try:
        targets = normalize_targets(p["targets"], p["jobs"], p["series"])
        since = parse_time(p["since"]).timestamp() if p["since"] else started
        if p["min_scrapes"] < 1:
            raise GateError("min_scrapes must be at least 1")
        client = PrometheusClient(p["url"], timeout=p["request_timeout"], **connection_options(p))
        result = run_gate(
            client,
            targets,
            since,
            timeout=parse_duration(p["timeout"]),
            poll_interval=max(p["poll_interval"], 0.2),
            scrape_interval=parse_duration(p["scrape_interval"]) if p["scrape_interval"] else None,
            min_scrapes=p["min_scrapes"],
            label=p["instance_label"],
            severities=p["severities"],
            wait=p["wait"] and not module.check_mode,
        )
    except (GateError, AlertmanagerAPIError) as exc:
        module.fail_json(msg=str(exc))
    if not result["passed"]:
        module.fail_json(msg=result["summary"], changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
