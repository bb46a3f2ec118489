# -*- coding: utf-8 -*-
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""The registrar's deployment queue: one registered host at a time, through a command.

The command is an argv list from the registrar's configuration, with ``{host}`` replaced
by the registered name, for example ansible-runner (the engine AWX uses)::

    ["ansible-runner", "run", "/srv/accelmon/runner", "-p", "site.yml", "--limit", "{host},monitoring"]

or ``ansible-playbook -i /srv/fleet/prod.accelmon.yml accelmon.monitoring.site --limit
{host},monitoring`` (the node roles on the new host, Prometheus's targets on the
monitoring hosts), or an ``awx job_templates launch`` call where AWX runs deployments.
No shell is involved and the name passed the registrar's hostname grammar, so a host's
name can never become an option or a command. A registration moves registered ->
deploying -> done, or failed with the last line the command printed.

Run as ``python3 -m ansible_collections.accelmon.monitoring.plugins.module_utils.bootstrap_deployer``
(roles/registrar installs it as accelmon-registrar-deployer.service).
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import os
import re
import subprocess
import sys
import time

from ansible_collections.accelmon.monitoring.plugins.module_utils import bootstrap_registrar as reg
from ansible_collections.accelmon.monitoring.plugins.module_utils import bootstrap_tokens as bt
from ansible_collections.accelmon.monitoring.plugins.module_utils.bootstrap_request import HOSTNAME_RE

_PRINTABLE = re.compile(r"[^\x20-\x7e]")


def claim_next(conn, now=None):
    """Move the oldest registered host to deploying; its (id, name), or None."""
    now = time.time() if now is None else now
    with bt.transaction(conn):
        row = conn.execute(
            "SELECT id, name FROM registrations WHERE status = 'registered' ORDER BY created, id LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        conn.execute("UPDATE registrations SET status = 'deploying', updated = ? WHERE id = ?", (now, row[0]))
    return row


def command_for(template, host):
    """The argv for one host; refuses a name outside the registrar's grammar."""
    if not HOSTNAME_RE.fullmatch(host):
        raise ValueError("refusing to deploy %r: not a valid inventory name" % (host,))
    return [part.replace("{host}", host) for part in template]


def last_line(text):
    lines = [_PRINTABLE.sub("", line).strip() for line in (text or "").splitlines()]
    lines = [line for line in lines if line]
    return lines[-1][:300] if lines else ""


def deploy_one(conn, template, timeout=3600, run=subprocess.run):
    """Deploy the next registered host; returns (name, status) or None when the queue is empty."""
    claimed = claim_next(conn)
    if claimed is None:
        return None
    registration_id, name = claimed
    try:
        argv = command_for(template, name)
        # the registrar's PYTHONPATH holds a partial ansible_collections tree: not for ansible
        env = dict((k, v) for k, v in os.environ.items() if k != "PYTHONPATH")
        proc = run(argv, capture_output=True, text=True, timeout=timeout, check=False, env=env)
    except subprocess.TimeoutExpired:
        reg.set_status(conn, registration_id, "failed", "deployment timed out after %d s" % timeout)
        return name, "failed"
    except (OSError, ValueError) as exc:
        reg.set_status(conn, registration_id, "failed", "deployment could not start: %s" % exc)
        return name, "failed"
    if proc.returncode == 0:
        reg.set_status(conn, registration_id, "done", None)
        return name, "done"
    reason = "deployment exited %d: %s" % (proc.returncode, last_line(proc.stderr) or last_line(proc.stdout))
    reg.set_status(conn, registration_id, "failed", reason)
    return name, "failed"


def main(argv=None):
    """Serve the queue forever (or once with --once), one deployment at a time."""
    argv = sys.argv[1:] if argv is None else argv
    if not os.environ.get(reg.CONFIG_ENV):
        sys.stderr.write("accelmon deployer: set %s to the registrar's configuration file\n" % reg.CONFIG_ENV)
        return 2
    config = reg.Config.from_file(os.environ[reg.CONFIG_ENV])
    if not config.deploy_command:
        sys.stderr.write("accelmon deployer: deploy_command is empty; nothing to do\n")
        return 1
    conn = bt.connect(config.db)
    while True:
        done = deploy_one(conn, config.deploy_command, config.deploy_timeout)
        if done is not None:
            sys.stderr.write("accelmon deployer: %s %s\n" % done)
            sys.stderr.flush()
        elif "--once" in argv:
            return 0
        else:
            time.sleep(config.deploy_poll_seconds)


if __name__ == "__main__":
    raise SystemExit(main())
