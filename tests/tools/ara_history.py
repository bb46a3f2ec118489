"""ARA (ARA Records Ansible) for the lab and the tests: what makes ansible-playbook record
into ARA, ARA's own server, and reading the history back with ARA's CLI.

Used by tests/lab/lab.py (the lab's ARA server and the environment of its plays),
tests/e2e/test_lab_rollout.py and tests/integration/test_rollout_ara_ui.py. Standard library
only: ARA is found through the Python running this (the venv's, requirements/test.txt pins
ara[server]), its plugin paths as `python -m ara.setup.callback_plugins` prints them.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import time
import urllib.request

BIN = os.path.dirname(sys.executable)


@functools.lru_cache(maxsize=None)
def _setup_path(what):
    res = subprocess.run(
        [sys.executable, "-m", "ara.setup.%s" % what], text=True, capture_output=True, check=False, timeout=60
    )
    if res.returncode != 0:
        raise RuntimeError(
            "ARA is not installed for %s (%s): pip install -r requirements/test.txt"
            % (sys.executable, res.stderr.strip().splitlines()[-1:] or "")
        )
    return res.stdout.strip()


def available():
    """True when ARA (with its server) is installed for this Python."""
    try:
        _setup_path("callback_plugins")
    except RuntimeError:
        return False
    return os.path.exists(os.path.join(BIN, "ara-manage"))


def plugin_env():
    """ARA's callback (records every play, task, host and result) and action plugins
    (ara_record, which playbooks/rollout.yml uses for its rollout and batch records)."""
    return {
        "ANSIBLE_CALLBACK_PLUGINS": _setup_path("callback_plugins"),
        "ANSIBLE_ACTION_PLUGINS": _setup_path("action_plugins"),
    }


def offline_env(base):
    """Record without a server: ARA's offline client writes SQLite in `base`."""
    env = plugin_env()
    env.update(
        ARA_API_CLIENT="offline",
        ARA_BASE_DIR=str(base),
        ARA_DATABASE_NAME=os.path.join(str(base), "ansible.sqlite"),
    )
    return env


def client_env(server_url):
    """Record into (and read from) ARA's API server at `server_url`. No callback threads:
    the server's SQLite takes one writer at a time."""
    env = plugin_env()
    env.update(ARA_API_CLIENT="http", ARA_API_SERVER=server_url, ARA_CALLBACK_THREADS="0")
    return env


def server_env(base, allowed_hosts=("127.0.0.1", "localhost", "::1")):
    """Settings of ARA's server (SQLite in `base`, answering to `allowed_hosts`)."""
    return {
        "ARA_BASE_DIR": str(base),
        "ARA_DATABASE_NAME": os.path.join(str(base), "ansible.sqlite"),
        "ARA_ALLOWED_HOSTS": json.dumps(list(allowed_hosts)),
        "ARA_LOG_LEVEL": "WARNING",
    }


def start_server(base, bind, port, logfile, detach=False):
    """ARA's API server and web UI (`ara-manage runserver`, SQLite in `base`) on bind:port,
    its database migrated first; returns the Popen once the API answers (bounded wait).
    detach=True starts it in its own session (it outlives the caller, as the lab's does)."""
    os.makedirs(base, exist_ok=True)
    env = dict(os.environ)
    env.update(server_env(base, allowed_hosts=(bind, "127.0.0.1", "localhost")))
    manage = os.path.join(BIN, "ara-manage")
    with open(logfile, "a", encoding="utf-8") as log:
        res = subprocess.run(
            [manage, "migrate"], env=env, stdout=log, stderr=subprocess.STDOUT, timeout=300, check=False
        )
        if res.returncode != 0:
            raise RuntimeError("ara-manage migrate failed (rc %d); log: %s" % (res.returncode, logfile))
        proc = subprocess.Popen(
            [manage, "runserver", "%s:%d" % (bind, port), "--noreload"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=detach,
        )
    url = "http://%s:%d" % (bind, port)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/api/v1/", timeout=5) as resp:  # noqa: S310 (our own server)
                resp.read()
            return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                with open(logfile, encoding="utf-8") as fh:
                    raise RuntimeError("ARA's server did not answer at %s: %s" % (url, fh.read()[-2000:])) from None
            time.sleep(0.5)


def cli(env, *args):
    """`ara ARGS -f json` with the client `env` (offline_env or client_env); the parsed output."""
    e = dict(os.environ)
    e.update(env)
    out = subprocess.run(
        [os.path.join(BIN, "ara"), *args, "-f", "json"], env=e, text=True, capture_output=True, check=True, timeout=120
    ).stdout
    return json.loads(out)


def latest_playbook(env, path=None):
    """The playbook run started last (whose path contains `path`, when given)."""
    args = ["playbook", "list", "--limit", "1", "--order=-started"]
    if path:
        args += ["--path", path]
    found = cli(env, *args)
    if not found:
        raise AssertionError("ARA has no playbook%s" % (" matching %s" % path if path else ""))
    return found[0]


def records(env, playbook_id):
    """{key: value} of the ara_record records of a playbook run."""
    out = {}
    for r in cli(env, "record", "list", "--playbook", str(playbook_id)):
        rec = cli(env, "record", "show", str(r["id"]))
        out[rec["key"]] = json.loads(rec["value"]) if isinstance(rec["value"], str) else rec["value"]
    return out
