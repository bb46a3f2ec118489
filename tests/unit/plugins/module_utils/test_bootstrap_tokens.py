# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""Bootstrap tokens: format, hashing, scope, and the SQLite store's atomic use counts."""

from __future__ import annotations

import multiprocessing
import re
import sqlite3

import pytest
from ansible_collections.accelmon.monitoring.plugins.module_utils import bootstrap_tokens as bt

RACK = "infrastructure:onprem/dc1/hall-a/rack-a01"


@pytest.fixture()
def db(tmp_path):
    return str(tmp_path / "registrar.db")


@pytest.fixture()
def conn(db):
    c = bt.connect(db)
    yield c
    c.close()


def test_generated_tokens_have_kubeadm_format_and_differ():
    tokens = {bt.generate_token() for _unused in range(200)}
    assert len(tokens) == 200
    assert all(re.fullmatch(r"[a-z0-9]{6}\.[a-z0-9]{16}", t) for t in tokens)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "abcdef",
        "abcdef.0123456789abcde",  # 15
        "abcdef.0123456789abcdef0",  # 17
        "ABCDEF.0123456789abcdef",
        "abcdef.0123456789abcdef\n",
        "abcdef:0123456789abcdef",
        "abcde\u0444.0123456789abcdef",  # Cyrillic ef
        "abcdef.\uff10123456789abcdef",  # fullwidth zero
        None,
        12345,
    ],
)
def test_malformed_tokens_are_refused(bad):
    with pytest.raises(bt.TokenError) as err:
        bt.split_token(bad)
    assert err.value.reason == "malformed"


def test_store_keeps_only_a_salted_hash(db, conn):
    token, info = bt.create_token(conn, 3600, 2, [RACK], ["environment:staging"], name="batch1")
    token_id, secret = bt.split_token(token)
    assert info["id"] == token_id and info["state"] == "active" and info["uses"] == 0
    assert "digest" not in info and "salt" not in info
    conn.close()  # checkpoints the WAL into the database file
    with open(db, "rb") as handle:
        raw = handle.read()
    assert secret.encode() not in raw
    check = sqlite3.connect(db)
    salt, digest = check.execute("SELECT salt, digest FROM tokens").fetchone()
    check.close()
    assert len(salt) == 16 and len(digest) == 32
    assert bt.secret_matches(secret, salt, digest)
    assert not bt.secret_matches(secret[:-1] + ("a" if secret[-1] != "a" else "b"), salt, digest)


def test_authenticate_counts_uses_until_used_up(conn):
    token, _info = bt.create_token(conn, 3600, 2, [RACK])
    assert bt.authenticate(conn, token)["uses"] == 1
    assert bt.authenticate(conn, token)["uses"] == 2
    with pytest.raises(bt.TokenError) as err:
        bt.authenticate(conn, token)
    assert err.value.reason == "used_up"
    assert bt.get_token(conn, token[:6])["state"] == "used_up"
    # a check without consuming still tells the state apart
    assert bt.authenticate(conn, token, consume=False)["uses"] == 2


def test_wrong_secret_and_unknown_id_read_the_same(conn):
    token, _info = bt.create_token(conn, 3600, 1, [RACK])
    wrong = token[:7] + ("0" * 16 if token[7:] != "0" * 16 else "1" * 16)
    for presented in (wrong, "zzzzzz.0123456789abcdef"):
        with pytest.raises(bt.TokenError) as err:
            bt.authenticate(conn, presented)
        assert err.value.reason == "unknown"
        assert str(err.value) == "the token is not known to this registrar"
    assert bt.get_token(conn, token[:6])["uses"] == 0


def test_expired_token_is_refused(conn):
    token, _info = bt.create_token(conn, 60, 5, [RACK], now=1000.0)
    assert bt.authenticate(conn, token, now=1059.0)["uses"] == 1
    with pytest.raises(bt.TokenError) as err:
        bt.authenticate(conn, token, now=1060.0)
    assert err.value.reason == "expired"
    assert bt.get_token(conn, token[:6])["uses"] == 1


def test_revoked_token_is_refused_at_once(conn):
    token, _info = bt.create_token(conn, 3600, 5, [RACK])
    assert bt.revoke_token(conn, token[:6]) is True
    assert bt.revoke_token(conn, token[:6]) is False
    with pytest.raises(bt.TokenError) as err:
        bt.authenticate(conn, token)
    assert err.value.reason == "revoked"
    assert [t["state"] for t in bt.list_tokens(conn)] == ["revoked"]


@pytest.mark.parametrize(
    ("ttl", "uses", "primary", "groups", "message"),
    [
        (0, 1, [RACK], [], "ttl"),
        (3600, 0, [RACK], [], "max_uses"),
        (3600, True, [RACK], [], "max_uses"),
        (3600, 1, [], [], "at least one primary group"),
        (3600, 1, ["environment:production"], [], "outside the infrastructure namespace"),
        (3600, 1, [RACK], ["infrastructure:aws"], "list it under primary_groups"),
        (3600, 1, ["infrastructure:../etc"], [], "not a group path"),
        (3600, 1, [RACK], ["environment:prod {{ x }}"], "not a group path"),
    ],
)
def test_create_refuses_bad_parameters(conn, ttl, uses, primary, groups, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        bt.create_token(conn, ttl, uses, primary, groups)
    assert bt.list_tokens(conn) == []


SCOPE = bt.normalize_scope(["infrastructure:onprem/dc1"], ["environment:staging", "logical:ml"])


def test_scope_allows_subtrees_and_defaults_to_all_groups():
    assert bt.resolve_groups(SCOPE) == ("infrastructure:onprem/dc1", ["environment:staging", "logical:ml"])
    assert bt.resolve_groups(SCOPE, RACK, ["logical:ml/training"]) == (RACK, ["logical:ml/training"])
    assert bt.resolve_groups(SCOPE, RACK, []) == (RACK, [])


@pytest.mark.parametrize(
    ("primary", "groups"),
    [
        ("infrastructure:onprem/dc2", None),
        ("infrastructure:onprem/dc10", None),  # a prefix of the string, not of the path
        ("infrastructure:onprem", None),  # a parent of the scope
        ("infrastructure:onprem/dc1", ["environment:production"]),
        ("infrastructure:onprem/dc1", ["logical:mlops"]),
    ],
)
def test_scope_refuses_groups_outside(primary, groups):
    with pytest.raises(bt.TokenError) as err:
        bt.resolve_groups(SCOPE, primary, groups)
    assert err.value.reason == "out_of_scope"


def test_several_primary_scopes_need_a_choice():
    scope = bt.normalize_scope(["infrastructure:aws/us-east-1", "infrastructure:aws/us-west-2"], [])
    with pytest.raises(bt.TokenError, match="send primary_group"):
        bt.resolve_groups(scope)


def _race(args):
    db, token = args
    conn = bt.connect(db)
    try:
        with bt.transaction(conn):
            bt.authenticate(conn, token)
        return "ok"
    except bt.TokenError as exc:
        return exc.reason
    finally:
        conn.close()


def test_concurrent_uses_never_exceed_max_uses(db, conn):
    token, _info = bt.create_token(conn, 3600, 5, [RACK])
    ctx = multiprocessing.get_context("spawn" if multiprocessing.get_start_method() != "fork" else "fork")
    with ctx.Pool(8) as pool:
        results = pool.map(_race, [(db, token)] * 40)
    assert results.count("ok") == 5
    assert results.count("used_up") == 35
    assert bt.get_token(conn, token[:6])["uses"] == 5
