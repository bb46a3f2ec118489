# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""The bootstrap_token module: create once, idempotent by name, query without secrets, revoke."""

from __future__ import annotations

import json
import os

import pytest

try:  # ansible-core 2.19+
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core 2.16-2.18: the classic way of handing a module its arguments
    import contextlib

    from ansible.module_utils import basic
    from ansible.module_utils.common.text.converters import to_bytes

    @contextlib.contextmanager
    def patch_module_args(args):
        saved = basic._ANSIBLE_ARGS  # pylint: disable=protected-access
        basic._ANSIBLE_ARGS = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args}))  # pylint: disable=protected-access
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = saved  # pylint: disable=protected-access

from ansible_collections.accelmon.monitoring.plugins.module_utils import bootstrap_tokens as bt
from ansible_collections.accelmon.monitoring.plugins.modules import bootstrap_token

RACK = "infrastructure:onprem/dc1/hall-a/rack-a07"


def run_module(capsys, args, check_mode=False):
    if check_mode:
        args = dict(args, _ansible_check_mode=True)
    with patch_module_args(args), pytest.raises(SystemExit) as exc:
        bootstrap_token.main()
    return exc.value.code, json.loads(capsys.readouterr().out)


@pytest.fixture()
def db(tmp_path):
    return str(tmp_path / "registrar.db")


def test_create_is_shown_once_and_idempotent_by_name(capsys, db):
    args = {"db": db, "name": "rack-a07", "ttl": "2h", "max_uses": 40, "primary_groups": [RACK]}
    code, first = run_module(capsys, args)
    assert code == 0 and first["changed"] is True
    token = first["token"]
    assert bt.TOKEN_RE.fullmatch(token)
    assert first["token_info"]["max_uses"] == 40 and first["token_info"]["primary_groups"] == [RACK]
    assert 7190 < first["token_info"]["expires"] - first["token_info"]["created"] <= 7200
    assert oct(os.stat(db).st_mode & 0o777) == "0o600"
    code, second = run_module(capsys, args)
    assert code == 0 and second["changed"] is False and "token" not in second
    assert second["token_info"]["id"] == token[:6]
    code, listed = run_module(capsys, {"db": db, "state": "query"})
    assert [t["id"] for t in listed["tokens"]] == [token[:6]]
    assert token[7:] not in json.dumps(listed)


def test_check_mode_writes_nothing(capsys, db):
    code, out = run_module(capsys, {"db": db, "primary_groups": [RACK]}, check_mode=True)
    assert code == 0 and out["changed"] is True and "token" not in out
    assert not os.path.exists(db)


def test_revoke_by_id_and_by_name(capsys, db):
    _code, a = run_module(capsys, {"db": db, "name": "a", "primary_groups": [RACK]})
    run_module(capsys, {"db": db, "name": "b", "primary_groups": [RACK]})
    code, out = run_module(capsys, {"db": db, "state": "absent", "token_id": a["token"][:6]})
    assert code == 0 and out == {"changed": True, "revoked": [a["token"][:6]], "invocation": out["invocation"]}
    code, out = run_module(capsys, {"db": db, "state": "absent", "token_id": a["token"][:6]})
    assert out["changed"] is False
    code, out = run_module(capsys, {"db": db, "state": "absent", "name": "b"})
    assert out["changed"] is True and len(out["revoked"]) == 1
    _code, listed = run_module(capsys, {"db": db, "state": "query"})
    assert [t["state"] for t in listed["tokens"]] == ["revoked", "revoked"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"ttl": "soon"}, "not a duration"),
        ({"primary_groups": ["environment:production"]}, "outside the infrastructure namespace"),
        ({"max_uses": 0}, "max_uses"),
        ({"groups": ["infrastructure:aws"]}, "list it under primary_groups"),
    ],
)
def test_bad_parameters_fail_with_the_reason(capsys, db, args, message):
    code, out = run_module(capsys, dict({"db": db, "primary_groups": [RACK]}, **args))
    assert code == 1 and message in out["msg"]


def test_revoke_needs_a_well_formed_id(capsys, db):
    code, out = run_module(capsys, {"db": db, "state": "absent", "token_id": "../x"})
    assert code == 1 and "six-character token id" in out["msg"]
