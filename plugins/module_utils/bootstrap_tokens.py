# -*- coding: utf-8 -*-
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""Bootstrap tokens: format, hashing, scope, and their SQLite store.

A token is ``<id>.<secret>`` in kubeadm's format (``[a-z0-9]{6}.[a-z0-9]{16}``). The id is
public (it names the token in lists, logs and registrations); the secret is shown once at
creation and only an HMAC-SHA256 of it, keyed with a per-token random salt, is stored.
Sixteen characters of [a-z0-9] are 82 bits drawn from ``secrets``: a slow password KDF
adds nothing against guessing such a value, while it would let unauthenticated requests
burn the registrar's CPU. Digests are compared with ``hmac.compare_digest``.

The store is one SQLite file on the registrar host. A use is counted with one guarded
UPDATE inside an IMMEDIATE transaction, so two hosts racing for the last use of a token
cannot both win, and revocation or expiry stops the next registration at once.

Standard library only: the registrar service imports this without Ansible.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import hashlib
import hmac
import json
import os
import re
import secrets
import sqlite3
import time

TOKEN_RE = re.compile(r"[a-z0-9]{6}\.[a-z0-9]{16}")
TOKEN_ID_RE = re.compile(r"[a-z0-9]{6}")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_GROUP_PATH_RE = re.compile(r"[a-z][a-z0-9_]*:[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*")
INFRASTRUCTURE_PREFIX = "infrastructure:"
MAX_TTL_SECONDS = 366 * 86400
MAX_USES = 100000

SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    name TEXT,
    salt BLOB NOT NULL,
    digest BLOB NOT NULL,
    created REAL NOT NULL,
    expires REAL NOT NULL,
    max_uses INTEGER NOT NULL,
    uses INTEGER NOT NULL DEFAULT 0,
    revoked REAL,
    scope TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS registrations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    machine_id TEXT NOT NULL UNIQUE,
    token_id TEXT NOT NULL,
    file TEXT NOT NULL,
    document TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
-- the SSH host keys a registered host sent ("TYPE BASE64" lines), for the deployer's known_hosts
CREATE TABLE IF NOT EXISTS registration_host_keys (
    registration_id TEXT PRIMARY KEY REFERENCES registrations(id) ON DELETE CASCADE,
    keys TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT NOT NULL,
    label TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (name, label)
);
CREATE TABLE IF NOT EXISTS rate (
    peer TEXT NOT NULL,
    window INTEGER NOT NULL,
    hits INTEGER NOT NULL,
    PRIMARY KEY (peer, window)
);
"""


class TokenError(Exception):
    """A token problem a caller can act on; ``reason`` is a short machine-readable code."""

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason
        self.message = message


# -- format and hashing --------------------------------------------------------------------


def generate_token():
    """A fresh token ``id.secret`` from the OS CSPRNG."""
    token_id = "".join(secrets.choice(_ALPHABET) for _unused in range(6))
    secret = "".join(secrets.choice(_ALPHABET) for _unused in range(16))
    return "%s.%s" % (token_id, secret)


def split_token(token):
    """(id, secret) of a well-formed token; TokenError('malformed') otherwise."""
    if not isinstance(token, str) or not TOKEN_RE.fullmatch(token):
        raise TokenError("malformed", "the token is not in the form [a-z0-9]{6}.[a-z0-9]{16}")
    token_id, _unused, secret = token.partition(".")
    return token_id, secret


def hash_secret(secret, salt):
    """HMAC-SHA256 of the secret keyed with the token's salt."""
    return hmac.new(salt, secret.encode("ascii"), hashlib.sha256).digest()


def secret_matches(secret, salt, digest):
    """Constant-time comparison of a presented secret with the stored digest."""
    return hmac.compare_digest(hash_secret(secret, salt), digest)


# -- scope ---------------------------------------------------------------------------------


def _under(path, prefix):
    return path == prefix or path.startswith(prefix + "/")


def normalize_scope(primary_groups, groups):
    """Check a token's scope; returns the dict stored with the token.

    ``primary_groups``: infrastructure subtrees a host may take its primary group in (at
    least one). ``groups``: other group subtrees it may join; a host that names none joins
    all of them.
    """
    primary_groups = list(primary_groups or [])
    groups = list(groups or [])
    if not primary_groups:
        raise ValueError("a token needs at least one primary group (an infrastructure:... subtree)")
    for path in primary_groups + groups:
        if not isinstance(path, str) or not _GROUP_PATH_RE.fullmatch(path):
            raise ValueError("%r is not a group path such as infrastructure:onprem/dc1" % (path,))
    for path in primary_groups:
        if not path.startswith(INFRASTRUCTURE_PREFIX):
            raise ValueError("primary group %r is outside the infrastructure namespace" % path)
    for path in groups:
        if path.startswith(INFRASTRUCTURE_PREFIX):
            raise ValueError("%r is an infrastructure group: list it under primary_groups" % path)
    return {"primary_groups": sorted(set(primary_groups)), "groups": sorted(set(groups))}


def resolve_groups(scope, primary_group=None, groups=None):
    """The (primary_group, groups) a registering host gets under a token's scope.

    A host may narrow its placement within the scope, never widen it. Raises TokenError
    ('out_of_scope') naming the group and the scope.
    """
    allowed_primary = scope["primary_groups"]
    if primary_group is None:
        if len(allowed_primary) != 1:
            raise TokenError(
                "out_of_scope",
                "this token allows several primary groups (%s): send primary_group" % ", ".join(allowed_primary),
            )
        primary_group = allowed_primary[0]
    if not any(_under(primary_group, p) for p in allowed_primary):
        raise TokenError(
            "out_of_scope",
            "primary group %s is outside the token's scope (%s)" % (primary_group, ", ".join(allowed_primary)),
        )
    allowed = scope["groups"]
    if groups is None:
        groups = list(allowed)
    for path in groups:
        if not any(_under(path, p) for p in allowed):
            raise TokenError(
                "out_of_scope",
                "group %s is outside the token's scope (%s)" % (path, ", ".join(allowed) or "no other groups"),
            )
    return primary_group, sorted(set(groups))


# -- store ---------------------------------------------------------------------------------


def connect(path):
    """Open (and create, mode 0600) the store; WAL so readers never block the registrar."""
    if path != ":memory:" and not os.path.exists(path):
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.executescript(SCHEMA)
    if path != ":memory:" and hasattr(os, "geteuid") and os.geteuid() == 0:
        # root (the bootstrap_token module) must not leave WAL files the registrar's own
        # user cannot open: give them the database file's owner.
        owner = os.stat(path)
        for suffix in ("-wal", "-shm"):
            side = path + suffix
            if os.path.exists(side) and (os.stat(side).st_uid, os.stat(side).st_gid) != (owner.st_uid, owner.st_gid):
                os.chown(side, owner.st_uid, owner.st_gid)
    return conn


class _Immediate:
    """BEGIN IMMEDIATE ... COMMIT/ROLLBACK: one writer at a time, across processes."""

    def __init__(self, conn):
        self.conn = conn

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb):
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
        return False


def transaction(conn):
    return _Immediate(conn)


def _row_to_info(row, now):
    token_id, name, created, expires, max_uses, uses, revoked, scope = row
    if revoked is not None:
        state = "revoked"
    elif expires <= now:
        state = "expired"
    elif uses >= max_uses:
        state = "used_up"
    else:
        state = "active"
    info = {
        "id": token_id,
        "name": name,
        "created": created,
        "expires": expires,
        "max_uses": max_uses,
        "uses": uses,
        "revoked": revoked,
        "state": state,
    }
    info.update(json.loads(scope))
    return info


_INFO_COLUMNS = "id, name, created, expires, max_uses, uses, revoked, scope"


def create_token(conn, ttl_seconds, max_uses, primary_groups, groups=(), name=None, now=None):
    """Store a new token; returns (token string, info). The string is never stored."""
    now = time.time() if now is None else now
    if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or not 0 < ttl_seconds <= MAX_TTL_SECONDS:
        raise ValueError("ttl must be between 1 second and 366 days, got %r" % (ttl_seconds,))
    if isinstance(max_uses, bool) or not isinstance(max_uses, int) or not 0 < max_uses <= MAX_USES:
        raise ValueError("max_uses must be between 1 and %d, got %r" % (MAX_USES, max_uses))
    scope = normalize_scope(primary_groups, groups)
    salt = secrets.token_bytes(16)
    with transaction(conn):
        for _attempt in range(16):
            token = generate_token()
            token_id, secret = split_token(token)
            if conn.execute("SELECT 1 FROM tokens WHERE id = ?", (token_id,)).fetchone() is None:
                break
        else:  # pragma: no cover - 36^6 ids
            raise RuntimeError("could not find a free token id")
        conn.execute(
            "INSERT INTO tokens (id, name, salt, digest, created, expires, max_uses, uses, revoked, scope)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 0, NULL, ?)",
            (token_id, name, salt, hash_secret(secret, salt), now, now + ttl_seconds, max_uses, json.dumps(scope)),
        )
    return token, get_token(conn, token_id, now)


def get_token(conn, token_id, now=None):
    """Info of one token (never its digest), or None."""
    now = time.time() if now is None else now
    row = conn.execute("SELECT %s FROM tokens WHERE id = ?" % _INFO_COLUMNS, (token_id,)).fetchone()
    return _row_to_info(row, now) if row else None


def list_tokens(conn, now=None):
    """Info of every token, oldest first."""
    now = time.time() if now is None else now
    rows = conn.execute("SELECT %s FROM tokens ORDER BY created, id" % _INFO_COLUMNS).fetchall()
    return [_row_to_info(row, now) for row in rows]


def find_active_by_name(conn, name, now=None):
    """Active tokens carrying this name (the module's idempotence key)."""
    return [t for t in list_tokens(conn, now) if t["name"] == name and t["state"] == "active"]


def revoke_token(conn, token_id, now=None):
    """Revoke a token; True when it was active (not already revoked)."""
    now = time.time() if now is None else now
    with transaction(conn):
        cur = conn.execute("UPDATE tokens SET revoked = ? WHERE id = ? AND revoked IS NULL", (now, token_id))
        return cur.rowcount == 1


def authenticate(conn, token, now=None, consume=True):
    """Check a presented token and, with ``consume``, count one use atomically.

    Must run inside ``transaction(conn)`` when the caller writes more in the same step
    (the registrar records the registration in that transaction). Returns the token's
    info; raises TokenError with reason malformed, unknown, revoked, expired or used_up.
    Unknown ids and wrong secrets give the same answer, so ids cannot be probed.
    """
    now = time.time() if now is None else now
    token_id, secret = split_token(token)
    row = conn.execute("SELECT salt, digest FROM tokens WHERE id = ?", (token_id,)).fetchone()
    if row is None or not secret_matches(secret, row[0], row[1]):
        raise TokenError("unknown", "the token is not known to this registrar")
    info = get_token(conn, token_id, now)
    if info["state"] == "revoked":
        raise TokenError("revoked", "token %s has been revoked" % token_id)
    if info["state"] == "expired":
        raise TokenError("expired", "token %s has expired" % token_id)
    if consume:
        cur = conn.execute(
            "UPDATE tokens SET uses = uses + 1 WHERE id = ? AND revoked IS NULL AND expires > ? AND uses < max_uses",
            (token_id, now),
        )
        if cur.rowcount != 1:
            raise TokenError("used_up", "token %s has no uses left (%d allowed)" % (token_id, info["max_uses"]))
        info["uses"] += 1
    return info
