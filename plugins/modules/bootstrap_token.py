#!/usr/bin/python
# ruff: noqa: EXE001 -- ansible-test wants this shebang on a non-executable module
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: bootstrap_token
short_description: Create, list and revoke bootstrap tokens of the accelmon registrar
version_added: 0.2.0
description:
  - Manages the tokens new servers present to the registrar (P(accelmon.monitoring.registrar#role)) when
    they register themselves with C(bootstrap.sh).
  - A token is C(<id>.<secret>) in kubeadm's format C([a-z0-9]{6}.[a-z0-9]{16}). Only a salted HMAC-SHA256 of the
    secret is stored; the whole token is returned once, at creation, in RV(token). Run the task with
    C(no_log=true) and hand the value on without printing it (the C(accelmon.monitoring.bootstrap_token)
    playbook writes it to a mode 0600 file).
  - A token has an expiry, a maximum number of uses and a scope, the groups a host using it may join.
  - Runs on the registrar host, where the token store (SQLite) lives.
author:
  - accelmon maintainers (@accelmon)
options:
  db:
    description: Path of the registrar's SQLite store; created when missing.
    type: path
    required: true
  state:
    description:
      - C(present) creates a token, unless an active token with the same O(name) exists (then nothing changes and no
        secret is returned, as a secret cannot be shown twice).
      - C(absent) revokes the token O(token_id), or every active token named O(name). Registrations stop at once.
      - C(query) lists every token (never secrets or hashes) in RV(tokens).
    type: str
    choices: [present, absent, query]
    default: present
  name:
    description: A label for the token (for example the batch of servers it is for); the identity for O(state=present).
    type: str
  token_id:
    description: The public six-character id of the token to revoke (O(state=absent)).
    type: str
  ttl:
    description: Lifetime from creation, a duration (C(30m), C(24h), C(7d)) or seconds.
    type: str
    default: 24h
  max_uses:
    description: How many registrations the token allows.
    type: int
    default: 1
  primary_groups:
    description:
      - Infrastructure subtrees (C(infrastructure:onprem/dc1)) a host using the token may take its primary group in.
        Required for O(state=present).
    type: list
    elements: str
  groups:
    description:
      - Other group subtrees (C(environment:production), C(logical:ml-training)) a host may join. A host that names
        none joins all of them.
    type: list
    elements: str
    default: []
notes:
  - Supports check mode; in check mode nothing is written and no token is generated.
"""

EXAMPLES = r"""
- name: A token for the rack being installed today
  accelmon.monitoring.bootstrap_token:
    db: /var/lib/accelmon-registrar/registrar.db
    name: dc1-rack-a07
    ttl: 24h
    max_uses: 40
    primary_groups: ["infrastructure:onprem/dc1/hall-a/rack-a07"]
    groups: ["environment:production", "logical:ml-training"]
  no_log: true
  register: rack_token

- name: List tokens
  accelmon.monitoring.bootstrap_token:
    db: /var/lib/accelmon-registrar/registrar.db
    state: query
  register: tokens

- name: Revoke a token
  accelmon.monitoring.bootstrap_token:
    db: /var/lib/accelmon-registrar/registrar.db
    state: absent
    token_id: 4f2k9a
"""

RETURN = r"""
token:
  description: The new token C(<id>.<secret>); only when one was created. Shown once; never stored.
  returned: when a token was created
  type: str
  sample: 4f2k9a.0123456789abcdef
token_info:
  description: The token's public record.
  returned: O(state=present)
  type: dict
  sample: {id: 4f2k9a, name: dc1-rack-a07, state: active, uses: 0, max_uses: 40, expires: 1764633600.0,
           primary_groups: ["infrastructure:onprem/dc1/hall-a/rack-a07"], groups: ["environment:production"]}
revoked:
  description: Ids of the tokens revoked by this task.
  returned: O(state=absent)
  type: list
  elements: str
tokens:
  description: Every token's public record (id, name, state, uses, max_uses, created, expires, revoked, scope).
  returned: O(state=query)
  type: list
  elements: dict
"""

import os  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.accelmon.monitoring.plugins.module_utils import bootstrap_tokens as bt  # noqa: E402
from ansible_collections.accelmon.monitoring.plugins.module_utils.alertmanager_api import (  # noqa: E402
    AlertmanagerAPIError,
    parse_duration,
)


def _present(module, conn):
    p = module.params
    if p["name"]:
        existing = bt.find_active_by_name(conn, p["name"])
        if existing:
            return {"changed": False, "token_info": existing[0]}
    try:
        ttl = int(parse_duration(p["ttl"]))
        bt.normalize_scope(p["primary_groups"], p["groups"])
    except (AlertmanagerAPIError, ValueError) as exc:
        module.fail_json(msg="bootstrap token: %s" % exc)
    if module.check_mode:
        return {"changed": True}
    try:
        token, info = bt.create_token(conn, ttl, p["max_uses"], p["primary_groups"], p["groups"], name=p["name"])
    except ValueError as exc:
        module.fail_json(msg="bootstrap token: %s" % exc)
    return {"changed": True, "token": token, "token_info": info}


def _absent(module, conn):
    p = module.params
    if p["token_id"]:
        if not bt.TOKEN_ID_RE.fullmatch(p["token_id"]):
            module.fail_json(msg="token_id %r is not a six-character token id ([a-z0-9]{6})" % p["token_id"])
        targets = [t for t in bt.list_tokens(conn) if t["id"] == p["token_id"] and t["state"] != "revoked"]
    else:
        targets = [t for t in bt.list_tokens(conn) if t["name"] == p["name"] and t["state"] != "revoked"]
    revoked = [t["id"] for t in targets]
    if not module.check_mode:
        for token_id in revoked:
            bt.revoke_token(conn, token_id)
    return {"changed": bool(revoked), "revoked": revoked}


def main():
    module = AnsibleModule(
        argument_spec={
            "db": {"type": "path", "required": True},
            "state": {"type": "str", "choices": ["present", "absent", "query"], "default": "present"},
            "name": {"type": "str"},
            "token_id": {"type": "str"},
            "ttl": {"type": "str", "default": "24h"},
            "max_uses": {"type": "int", "default": 1},
            "primary_groups": {"type": "list", "elements": "str"},
            "groups": {"type": "list", "elements": "str", "default": []},
        },
        required_if=[("state", "present", ("primary_groups",)), ("state", "absent", ("name", "token_id"), True)],
        supports_check_mode=True,
    )
    p = module.params
    if module.check_mode and not os.path.exists(p["db"]):
        conn = bt.connect(":memory:")
    else:
        try:
            conn = bt.connect(p["db"])
        except Exception as exc:  # sqlite3.Error, OSError: report the path
            module.fail_json(msg="cannot open the token store %s: %s" % (p["db"], exc))
    try:
        if p["state"] == "present":
            result = _present(module, conn)
        elif p["state"] == "absent":
            result = _absent(module, conn)
        else:
            result = {"changed": False, "tokens": bt.list_tokens(conn)}
    finally:
        conn.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
