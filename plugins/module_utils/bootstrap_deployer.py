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

import fcntl
import json
import os
import re
import subprocess
import sys
import tempfile
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


def known_hosts_text(text, names, keys):
    """known_hosts content: every plain line naming one of `names` dropped (a re-registered or
    re-installed host), then one line per key for all of `names` ("name,address TYPE KEY")."""
    wanted = {n.lower() for n in names}
    kept = []
    for line in (text or "").splitlines():
        fields = line.split()
        hosts = fields[0].lower().split(",") if fields and not line.lstrip().startswith("#") else []
        if not wanted.intersection(hosts):
            kept.append(line)
    kept.extend("%s %s" % (",".join(names), key) for key in keys)
    return "\n".join(kept) + "\n" if kept else ""


def trust_host_keys(path, names, keys):
    """Write `keys` for `names` into the known_hosts file `path` (locked, replaced atomically)."""
    directory = os.path.dirname(os.path.abspath(path))
    with open(path + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
            mode = os.stat(path).st_mode & 0o777
        except FileNotFoundError:
            text, mode = "", 0o644
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".known_hosts.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(known_hosts_text(text, names, keys))
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise


def _trust_registered_host(conn, registration_id, known_hosts):
    row = conn.execute("SELECT document FROM registrations WHERE id = ?", (registration_id,)).fetchone()
    keys = reg.registered_host_keys(conn, registration_id)
    if not known_hosts or not row or not keys:
        return
    doc = json.loads(row[0])
    trust_host_keys(known_hosts, [doc["name"], doc["address"]], keys)


def deploy_one(conn, template, timeout=3600, run=subprocess.run, known_hosts=None):
    """Deploy the next registered host; returns (name, status) or None when the queue is empty.

    With `known_hosts`, the host keys the host registered with are written there first (for
    its name and address), so that the deployment's SSH connections check them."""
    claimed = claim_next(conn)
    if claimed is None:
        return None
    registration_id, name = claimed
    try:
        _trust_registered_host(conn, registration_id, known_hosts)
    except OSError as exc:
        reg.set_status(conn, registration_id, "failed", "cannot write %s: %s" % (known_hosts, exc))
        return name, "failed"
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
        done = deploy_one(conn, config.deploy_command, config.deploy_timeout, known_hosts=config.known_hosts)
        if done is not None:
            sys.stderr.write("accelmon deployer: %s %s\n" % done)
            sys.stderr.flush()
        elif "--once" in argv:
            return 0
        else:
            time.sleep(config.deploy_poll_seconds)


if __name__ == "__main__":
    raise SystemExit(main())
