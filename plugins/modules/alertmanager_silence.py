#!/usr/bin/python
# ruff: noqa: EXE001 -- ansible-test wants this shebang on a non-executable module
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: alertmanager_silence
short_description: Create and expire Alertmanager silences (maintenance windows)
version_added: 0.1.0
description:
  - Creates a silence through Alertmanager's v2 API, or expires silences by ID or by matchers.
  - Idempotent. With O(state=present) it first looks for a live (active or pending) silence with the same
    matchers (in any order), the same O(created_by) and the same O(comment); when one exists and its window
    lies within O(tolerance) of the wanted one it is kept, so re-running a task with O(duration) does not
    stack up duplicates. When one exists with a different window it is updated.
  - With O(state=absent) it expires the silence O(silence_id), or every live silence whose matchers equal
    O(matchers) (narrowed by O(created_by) and O(comment) when given).
  - Runs wherever the task runs; usually with C(delegate_to=localhost) or on the monitoring host.
author:
  - accelmon maintainers (@accelmon)
options:
  url:
    description: Base URL of Alertmanager (with its path prefix, if any).
    type: str
    default: http://127.0.0.1:9093
  state:
    description: C(present) creates (or keeps) the silence; C(absent) expires it.
    type: str
    choices: [present, absent]
    default: present
  matchers:
    description:
      - Alerts the silence applies to. Each is a string C(name="value"), C(name!="value"), C(name=~"regex")
        or C(name!~"regex"), or a dict with C(name), C(value) and optionally C(isRegex), C(isEqual).
      - Required for O(state=present); for O(state=absent) either this or O(silence_id).
    type: list
    elements: raw
  silence_id:
    description: ID of the silence to expire (O(state=absent)).
    type: str
  starts_at:
    description: Start, RFC 3339 (C(2025-06-01T22:00:00Z), C(2025-06-01T22:00:00+02:00)); default is now.
    type: str
  ends_at:
    description: End, RFC 3339. Give this or O(duration).
    type: str
  duration:
    description: Length from O(starts_at), as a duration (C(90m), C(2h), C(1h30m)) or seconds. Give this or O(ends_at).
    type: str
  comment:
    description: Why the alerts are silenced (required by Alertmanager for O(state=present)); part of the identity.
    type: str
  created_by:
    description:
      - Author recorded on the silence; part of its identity. Default for O(state=present) is C(ansible).
      - With O(state=absent) and O(matchers), only silences by this author are expired when it is given.
    type: str
  tolerance:
    description:
      - How far (a duration) an existing silence's window may lie from the wanted one and still count as the same.
    type: str
    default: 5m
  timeout:
    description: Seconds to wait for each request.
    type: int
    default: 10
extends_documentation_fragment:
  - accelmon.monitoring.http_api
attributes:
  check_mode:
    support: full
    description: Reads the existing silences and reports what would change; creates and expires nothing.
  diff_mode:
    support: none
    description: Results say what was created, updated or expired.
  platform:
    support: full
    platforms: posix
    description: Runs anywhere Python can reach the Alertmanager API.
notes:
  - Times are compared in UTC. Alertmanager sets the start of a silence that starts in the past to the moment it
    receives it.
seealso:
  - name: Alertmanager silences
    description: How silences match and mute alerts.
    link: https://prometheus.io/docs/alerting/latest/alertmanager/#silences
"""

EXAMPLES = r"""
- name: Silence a node for a two-hour maintenance window
  accelmon.monitoring.alertmanager_silence:
    url: http://monitoring.example.com:9093
    matchers:
      - instance="dc1-a01-gpu01"
    duration: 2h
    comment: "Driver upgrade (CHG-1234)"
    created_by: "{{ lookup('ansible.builtin.env', 'USER') }}"
  delegate_to: localhost
  register: window

- name: Silence the accelerator alerts of a whole rack, planned for tonight
  accelmon.monitoring.alertmanager_silence:
    matchers:
      - group=~"infrastructure:onprem/dc1/hall-a/rack-a01.*"
      - alertname=~"Accelerator.*|Nvidia.*"
    starts_at: "2025-06-01T22:00:00+02:00"
    ends_at: "2025-06-02T02:00:00+02:00"
    comment: Rack power work
  delegate_to: localhost

- name: End the maintenance window when the upgrade is done
  accelmon.monitoring.alertmanager_silence:
    state: absent
    silence_id: "{{ window.silence_id }}"
  delegate_to: localhost

- name: Expire every silence on that node that this automation made
  accelmon.monitoring.alertmanager_silence:
    state: absent
    matchers:
      - instance="dc1-a01-gpu01"
    created_by: ansible
  delegate_to: localhost
"""

RETURN = r"""
silence_id:
  description: ID of the silence created, updated or found (O(state=present)); null in check mode when one would be created.
  returned: state is present
  type: str
  sample: 1f0c4b5e-7a93-4a7f-9f3e-2b8d8c1e2a6f
silence:
  description: The silence as sent to (or found in) Alertmanager.
  returned: state is present
  type: dict
  sample:
    matchers: [{name: instance, value: dc1-a01-gpu01, isRegex: false, isEqual: true}]
    startsAt: "2025-06-01T20:00:00.000Z"
    endsAt: "2025-06-01T22:00:00.000Z"
    createdBy: ansible
    comment: Driver upgrade (CHG-1234)
action:
  description: What was done, C(created), C(updated), C(unchanged), C(expired) or C(none).
  returned: always
  type: str
  sample: created
expired:
  description: IDs of the silences expired (or that would be, in check mode).
  returned: state is absent
  type: list
  elements: str
  sample: [1f0c4b5e-7a93-4a7f-9f3e-2b8d8c1e2a6f]
"""

import datetime  # noqa: E402 - after the documentation, as Ansible modules are laid out

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.accelmon.monitoring.plugins.module_utils.alertmanager_api import (  # noqa: E402
    UTC,
    AlertmanagerAPIError,
    AlertmanagerClient,
    build_silence,
    find_equal_silence,
    normalize_matchers,
    parse_duration,
    select_for_expiry,
    silence_window,
)
from ansible_collections.accelmon.monitoring.plugins.module_utils.http_json import (  # noqa: E402
    CONNECTION_ARGUMENT_SPEC,
    connection_options,
)


def run_module(module, client, now):
    p = module.params
    if p["state"] == "present":
        if not p["comment"]:
            raise AlertmanagerAPIError("comment is required to create a silence (Alertmanager refuses one without)")
        created_by = p["created_by"] or "ansible"
        matchers = normalize_matchers(p["matchers"] or [])
        start, end = silence_window(now, p["starts_at"], p["ends_at"], p["duration"])
        tolerance = parse_duration(p["tolerance"])
        existing, up_to_date = find_equal_silence(
            client.list_silences(),
            matchers,
            created_by,
            p["comment"],
            start,
            end,
            now,
            tolerance,
        )
        if existing is not None and up_to_date:
            return {
                "changed": False,
                "action": "unchanged",
                "silence_id": existing["id"],
                "silence": {k: existing.get(k) for k in ("matchers", "startsAt", "endsAt", "createdBy", "comment")},
            }
        body = build_silence(
            matchers,
            start,
            end,
            created_by,
            p["comment"],
            silence_id=existing["id"] if existing is not None else None,
        )
        action = "updated" if existing is not None else "created"
        if module.check_mode:
            return {
                "changed": True,
                "action": action,
                "silence": body,
                "silence_id": existing["id"] if existing is not None else None,
            }
        silence_id = client.create_silence(body)
        body.pop("id", None)
        return {
            "changed": True,
            "action": action,
            "silence_id": silence_id,
            "silence": body,
        }

    if not p["silence_id"] and not p["matchers"]:
        raise AlertmanagerAPIError("state=absent needs silence_id or matchers")
    matchers = normalize_matchers(p["matchers"]) if p["matchers"] else None
    victims = select_for_expiry(
        client.list_silences(),
        silence_id=p["silence_id"],
        matchers=matchers,
        created_by=p["created_by"],
        comment=p["comment"],
    )
    ids = [s["id"] for s in victims]
    if ids and not module.check_mode:
        for silence_id in ids:
            client.expire_silence(silence_id)
    return {
        "changed": bool(ids),
        "action": "expired" if ids else "none",
        "expired": ids,
    }


def main():
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str", "default": "http://127.0.0.1:9093"},
            "state": {
                "type": "str",
                "choices": ["present", "absent"],
                "default": "present",
            },
            "matchers": {"type": "list", "elements": "raw"},
            "silence_id": {"type": "str"},
            "starts_at": {"type": "str"},
            "ends_at": {"type": "str"},
            "duration": {"type": "str"},
            "comment": {"type": "str"},
            "created_by": {"type": "str"},
            "tolerance": {"type": "str", "default": "5m"},
            "timeout": {"type": "int", "default": 10},
            **CONNECTION_ARGUMENT_SPEC,
        },
        required_if=[("state", "present", ("matchers",))],
        mutually_exclusive=[("ends_at", "duration")],
        supports_check_mode=True,
    )
    p = module.params
    client = AlertmanagerClient(p["url"], timeout=p["timeout"], **connection_options(p))
    try:
        result = run_module(module, client, datetime.datetime.now(UTC))
    except AlertmanagerAPIError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
