# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""The deployment queue: order, one at a time, status and reason, no shell from a host's name."""

from __future__ import annotations

import json

import pytest
from ansible_collections.accelmon.monitoring.plugins.module_utils import bootstrap_deployer as dep
from ansible_collections.accelmon.monitoring.plugins.module_utils import bootstrap_tokens as bt


@pytest.fixture()
def conn(tmp_path):
    c = bt.connect(str(tmp_path / "registrar.db"))
    for index, name in enumerate(["b-host", "a-host", "fail-host"]):
        c.execute(
            "INSERT INTO registrations (id, name, machine_id, token_id, file, document, status, reason, created, updated)"
            " VALUES (?, ?, ?, 'abcdef', '/nonexistent', ?, 'registered', NULL, ?, ?)",
            ("%032x" % index, name, "%032x" % (100 + index), json.dumps({}), 1000.0 + index, 1000.0 + index),
        )
    yield c
    c.close()


COMMAND = ["/bin/sh", "-c", 'case "$0" in fail-*) echo "ssh: connect to host refused" >&2; exit 2;; esac', "{host}"]


def _statuses(conn):
    return dict(conn.execute("SELECT name, status || ':' || COALESCE(reason, '') FROM registrations"))


def test_hosts_deploy_oldest_first_with_status_and_reason(conn):
    assert dep.deploy_one(conn, COMMAND) == ("b-host", "done")
    assert dep.deploy_one(conn, COMMAND) == ("a-host", "done")
    assert dep.deploy_one(conn, COMMAND) == ("fail-host", "failed")
    assert dep.deploy_one(conn, COMMAND) is None
    assert _statuses(conn) == {
        "b-host": "done:",
        "a-host": "done:",
        "fail-host": "failed:deployment exited 2: ssh: connect to host refused",
    }


def test_a_claimed_host_is_not_claimed_twice(conn):
    first = dep.claim_next(conn)
    second = dep.claim_next(conn)
    assert first[1] == "b-host" and second[1] == "a-host"
    assert _statuses(conn)["b-host"] == "deploying:"


@pytest.mark.parametrize("name", ["-oProxyCommand=sh", "a;rm -rf /", "$(id)", "a b", "../x"])
def test_names_outside_the_grammar_never_reach_the_command(name):
    with pytest.raises(ValueError, match="not a valid inventory name"):
        dep.command_for(["ansible-playbook", "--limit", "{host}"], name)


def test_command_is_an_argv_without_a_shell():
    assert dep.command_for(["x", "--limit", "{host},monitoring"], "gpu1") == ["x", "--limit", "gpu1,monitoring"]


def test_a_command_that_cannot_start_fails_the_registration(conn):
    assert dep.deploy_one(conn, ["/nonexistent/ansible-runner", "{host}"]) == ("b-host", "failed")
    assert "could not start" in _statuses(conn)["b-host"]


def test_timeouts_fail_the_registration(conn):
    assert dep.deploy_one(conn, ["/bin/sleep", "5"], timeout=0.2) == ("b-host", "failed")
    assert "timed out" in _statuses(conn)["b-host"]


def test_last_line_strips_control_characters():
    assert dep.last_line("one\n\x1b[31mtwo\x00\n\n") == "[31mtwo"


KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEjq7xHLHOwXv8nBCJIoWwUuxyCwv+NXK6bQ17XjXnV0"


def test_known_hosts_lines_for_a_host_are_replaced_and_others_kept():
    text = "# comment\nother,10.0.0.1 ssh-ed25519 AAAAold\nnew-host,10.0.0.9 ssh-ed25519 AAAAstale\n|1|hashed= ssh-rsa AAAA\n"
    out = dep.known_hosts_text(text, ["new-host", "10.0.0.7"], [KEY])
    assert out.splitlines() == [
        "# comment",
        "other,10.0.0.1 ssh-ed25519 AAAAold",
        "|1|hashed= ssh-rsa AAAA",
        "new-host,10.0.0.7 " + KEY,
    ]
    assert dep.known_hosts_text("", ["h", "10.0.0.7"], []) == ""


def test_the_deployer_trusts_the_registered_keys_before_deploying(conn, tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text("a-host,10.9.9.9 ssh-ed25519 AAAAstale\n")
    conn.execute(
        "UPDATE registrations SET document = ? WHERE name = 'b-host'",
        (json.dumps({"name": "b-host", "address": "10.0.0.2"}),),
    )
    conn.execute("INSERT INTO registration_host_keys (registration_id, keys) VALUES (?, ?)", ("%032x" % 0, KEY))
    seen = []

    def run(argv, **kwargs):
        seen.append(known.read_text())

        class Done:
            returncode, stdout, stderr = 0, "", ""

        return Done()

    assert dep.deploy_one(conn, COMMAND, run=run, known_hosts=str(known)) == ("b-host", "done")
    assert seen == ["a-host,10.9.9.9 ssh-ed25519 AAAAstale\nb-host,10.0.0.2 " + KEY + "\n"]
    # a registration without keys leaves the file alone
    assert dep.deploy_one(conn, COMMAND, run=run, known_hosts=str(known)) == ("a-host", "done")
    assert seen[-1] == seen[0]


def test_an_unwritable_known_hosts_fails_the_registration_before_deploying(conn, tmp_path):
    conn.execute(
        "UPDATE registrations SET document = ? WHERE name = 'b-host'",
        (json.dumps({"name": "b-host", "address": "10.0.0.2"}),),
    )
    conn.execute("INSERT INTO registration_host_keys (registration_id, keys) VALUES (?, ?)", ("%032x" % 0, KEY))
    missing = tmp_path / "no-such-dir" / "known_hosts"
    assert dep.deploy_one(conn, COMMAND, known_hosts=str(missing)) == ("b-host", "failed")
    assert _statuses(conn)["b-host"].startswith("failed:cannot write %s" % missing)
