# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""The registrar's WSGI app against a copy of the hybrid example fleet: every untrusted-input case.

Each refusal is checked to leave the model untouched: no new file in registrations/, no
token use counted, and the inventory still loads.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import threading
import time
from wsgiref.util import setup_testing_defaults

import pytest
import yaml
from ansible_collections.accelmon.monitoring.plugins.module_utils import bootstrap_registrar as reg
from ansible_collections.accelmon.monitoring.plugins.module_utils import bootstrap_tokens as bt
from ansible_collections.accelmon.monitoring.plugins.module_utils.fleet_loader import load_fleet

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
HYBRID = os.path.join(ROOT, "inventory", "examples", "hybrid")
RACK = "infrastructure:onprem/dc1/hall-a/rack-a02"
MID = "0123456789abcdef0123456789abcdef"


class Fleet:
    def __init__(self, tmp_path, **settings):
        self.dir = tmp_path / "inv"
        shutil.copytree(HYBRID, self.dir)
        self.source = str(self.dir / "hybrid.accelmon.yml")
        self.regs = self.dir / "registrations"
        values = {"db": str(tmp_path / "registrar.db"), "inventory_source": self.source}
        values.update(settings)
        self.config = reg.Config(values)
        self.app = reg.Registrar(self.config)
        self.conn = self.app.conn

    def token(self, uses=5, primary=(RACK,), groups=("environment:staging", "logical:research"), ttl=3600):
        return bt.create_token(self.conn, ttl, uses, list(primary), list(groups))[0]

    def call(self, method, path, body=b"", ctype="application/json", length=None, peer="192.0.2.1"):
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "CONTENT_TYPE": ctype,
            "CONTENT_LENGTH": str(len(body)) if length is None else length,
            "REMOTE_ADDR": peer,
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": io.StringIO(),
        }
        setup_testing_defaults(environ)
        seen = {}

        def start_response(status, headers):
            seen["status"] = int(status.split()[0])
            seen["headers"] = dict(headers)

        out = b"".join(self.app(environ, start_response))
        return seen["status"], (json.loads(out) if seen["headers"]["Content-Type"] == "application/json" else out)

    def register(self, **fields):
        return self.call("POST", "/v1/register", json.dumps(fields).encode())

    def files(self):
        return sorted(p.name for p in self.regs.iterdir() if not p.name.startswith("."))


def body(token, **extra):
    data = {"token": token, "hostname": "dc1-a02-new01", "machine_id": MID, "addresses": ["10.20.0.7"]}
    data.update(extra)
    return data


@pytest.fixture()
def fleet(tmp_path):
    return Fleet(tmp_path)


def test_registration_writes_one_allow_listed_file_the_inventory_reads(fleet):
    token = fleet.token()
    status, out = fleet.register(
        **body(
            token,
            addresses=["127.0.0.1", "fe80::1", "10.20.0.7", "10.20.0.8"],
            # eight H200s, an NVSwitch (not an accelerator), a PCI bridge, and a VF of this host
            pci=["10de:2335:030200:18be"] * 8 + ["10de:22a3:068000", "8086:2030:060400", "10de:2335:030200:18be:vf"],
            dmi={"sys_vendor": "Supermicro", "product_name": "SYS-821GE-TNHR"},
            groups=["environment:staging"],
            agent="bootstrap.sh 1",
        )
    )
    assert status == 201, out
    assert out["status"] == "registered" and len(out["id"]) == 32
    assert fleet.files() == ["dc1-a01-cpu01.yml", "dc1-a02-new01.yml"]
    with open(fleet.regs / "dc1-a02-new01.yml") as handle:
        doc = yaml.safe_load(handle)
    assert doc == {
        "name": "dc1-a02-new01",
        "address": "10.20.0.7",
        "primary_group": RACK,
        "groups": ["environment:staging"],
        "accelerators": [{"vendor": "nvidia", "model": "NVIDIA H200", "count": 8}],
        "description": doc["description"],
    }
    model = load_fleet(fleet.source)
    target = model.targets["dc1-a02-new01"]
    assert target.address == "10.20.0.7" and target.primary_group == RACK
    assert bt.get_token(fleet.conn, token[:6])["uses"] == 1
    status, out2 = fleet.call("GET", out["status_url"])
    assert status == 200 and out2["status"] == "registered" and out2["name"] == "dc1-a02-new01"
    assert reg.set_status(fleet.conn, out["id"], "failed", "node_exporter did not start")
    assert fleet.call("GET", out["status_url"])[1]["reason"] == "node_exporter did not start"


def test_cloud_identity_lands_in_provider_metadata(tmp_path):
    fleet = Fleet(tmp_path)
    token = bt.create_token(fleet.conn, 3600, 1, ["infrastructure:aws/us-east-1/us-east-1a"], [])[0]
    status, _out = fleet.register(
        **body(
            token,
            hostname="i-0abc",
            dmi={"sys_vendor": "Amazon EC2", "product_name": "p5.48xlarge"},
            cloud={
                "instance_id": "i-0abc",
                "instance_type": "p5.48xlarge",
                "region": "us-east-1",
                "zone": "us-east-1a",
            },
            pci=["1da3:1020:120000"] * 8,
        )
    )
    assert status == 201
    target = load_fleet(fleet.source).targets["i-0abc"]
    assert target.provider_metadata == {
        "instance_id": "i-0abc",
        "instance_type": "p5.48xlarge",
        "region": "us-east-1",
        "zone": "us-east-1a",
    }
    assert target.accelerators == [{"vendor": "gaudi", "model": "Intel Gaudi2", "count": 8}]


def test_same_machine_registering_again_is_idempotent(fleet):
    token = fleet.token(uses=1)
    first = fleet.register(**body(token))
    again = fleet.register(**body(token))
    assert first[0] == 201 and again[0] == 200
    assert again[1]["id"] == first[1]["id"] and again[1]["result"] == "already_registered"
    assert bt.get_token(fleet.conn, token[:6])["uses"] == 1
    # the same machine asking for other details is refused
    status, out = fleet.register(**body(token, addresses=["10.20.0.99"]))
    assert status == 409 and out["error"] == "changed"


def test_operator_removing_the_file_frees_the_name(fleet):
    token = fleet.token(uses=2)
    assert fleet.register(**body(token))[0] == 201
    os.unlink(fleet.regs / "dc1-a02-new01.yml")
    assert fleet.register(**body(token))[0] == 201


def _refused(fleet, status, error, fields=None, raw=None, uses=0, check=None):
    before = fleet.files()
    if raw is not None:
        got = fleet.call("POST", "/v1/register", **raw)
    else:
        got = fleet.register(**fields)
    assert got[0] == status, got
    assert got[1]["error"] == error, got
    assert got[1]["message"]
    assert fleet.files() == before
    if check:
        assert bt.get_token(fleet.conn, check[:6])["uses"] == uses
    load_fleet(fleet.source)  # the model still builds
    return got[1]["message"]


@pytest.mark.parametrize(
    ("hostname", "why"),
    [
        ("../../etc/passwd", "traversal"),
        ("..", "dot-dot"),
        ("a/b", "slash"),
        ("dc1 new", "space"),
        ("{{ lookup('pipe', 'id') }}", "template"),
        ("host{{x}}", "template"),
        ("host\n", "trailing newline"),
        ("host\x00x", "NUL"),
        ("host\x1b[31m", "escape"),
        ("h\u0430st", "Cyrillic a"),
        ("\uff48ost", "fullwidth h"),
        ("host\u200b", "zero-width space"),
        ("-host", "leading dash"),
        ("host.", "trailing dot"),
        ("a..b", "empty label"),
        ("x" * 64, "label too long"),
        ("localhost", "reserved"),
        ("", "empty"),
        (42, "not a string"),
        (["host"], "not a string"),
    ],
)
def test_bad_hostnames_are_refused(fleet, hostname, why):
    token = fleet.token()
    _refused(fleet, 400, "invalid", check=token, fields=body(token, hostname=hostname))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("vars", {"ansible_connection": "local"}),
        ("overrides", {"alert_rules": {"NodeDown": {"enabled": False}}}),
        ("ansible_connection", "local"),
        ("ansible_host", "10.0.0.1"),
        ("ansible_ssh_common_args", "-o ProxyCommand=sh"),
        ("alert_rules", {}),
        ("checks", {}),
        ("address", "10.0.0.1"),
        ("name", "other"),
        ("description", "x"),
        ("provider_metadata", {}),
        ("accelerators", [{"vendor": "nvidia", "count": 8}]),
    ],
)
def test_fields_that_choose_reach_or_judgement_are_refused(fleet, field, value):
    token = fleet.token()
    message = _refused(fleet, 400, "forbidden_field", check=token, fields=body(token, **{field: value}))
    assert repr(field) in message


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"addresses": ["10.0.0.300"]}, "not an IP address"),
        ({"addresses": ["10.0.0.1/24"]}, "not an IP address"),
        ({"addresses": ["fe80::1%eth0"]}, "not an IP address"),
        ({"addresses": ["example.com"]}, "not an IP address"),
        ({"addresses": "10.0.0.1"}, "must be a list"),
        ({"addresses": ["10.0.0.1"] * 33}, "must be a list"),
        ({"machine_id": "../../x"}, "machine id"),
        ({"machine_id": MID.upper()}, "machine id"),
        ({"pci": ["10de:2335"]}, "pci"),
        ({"pci": ["10DE:2335:030200"]}, "pci"),
        ({"pci": ["10de:2335:030200\n"]}, "pci"),
        ({"pci": "10de:2335:030200"}, "pci must be a list"),
        ({"pci": ["10de:2335:030200"] * 1025}, "pci must be a list"),
        ({"dmi": {"sys_vendor": "Amazon EC2", "kernel": "x"}}, "unknown key"),
        ({"dmi": {"sys_vendor": "Amazon EC2\x07"}}, "printable ASCII"),
        ({"dmi": ["Amazon EC2"]}, "dmi must be an object"),
        ({"cloud": {"instance_id": "i-1"}}, "no cloud provider"),
        ({"cloud": {"provider": "aws"}, "dmi": {"sys_vendor": "Amazon EC2"}}, "unknown key"),
        ({"cloud": {"user_data": "x"}, "dmi": {"sys_vendor": "Amazon EC2"}}, "unknown key"),
        ({"cloud": {"region": "us-east-1\n"}, "dmi": {"sys_vendor": "Amazon EC2"}}, "region"),
        ({"cloud": {"zone": "{{ x }}"}, "dmi": {"sys_vendor": "Amazon EC2"}}, "zone"),
        ({"groups": ["environment:staging/../../x"]}, "group path"),
        ({"primary_group": "infrastructure:onprem/dc1 "}, "group path"),
        ({"color": "red"}, "unknown field"),
    ],
)
def test_bad_fields_are_refused(fleet, extra, fragment):
    token = fleet.token()
    assert fragment in _refused(fleet, 400, "invalid", check=token, fields=body(token, **extra))


def test_only_unusable_addresses_are_refused(fleet):
    token = fleet.token()
    _refused(fleet, 422, "no_address", check=token, fields=body(token, addresses=["127.0.0.1", "::1", "169.254.1.1"]))


def test_allowed_networks_narrow_the_address(tmp_path):
    fleet = Fleet(tmp_path, allowed_networks=["10.20.0.0/16"])
    token = fleet.token()
    _refused(fleet, 422, "no_address", check=token, fields=body(token, addresses=["192.168.1.5"]))
    assert fleet.register(**body(token, addresses=["192.168.1.5", "10.20.1.1"]))[0] == 201


@pytest.mark.parametrize(
    ("raw", "status", "error"),
    [
        ({"body": b"{" * 10}, 400, "malformed"),
        ({"body": b"[1, 2]"}, 400, "malformed"),
        ({"body": b'{"a": NaN}'}, 400, "malformed"),
        ({"body": b'{"token": "x", "token": "y"}'}, 400, "malformed"),
        ({"body": b"\xff\xfe{}"}, 400, "malformed"),
        ({"body": b'{"pci": [[[[[[1]]]]]]}'}, 400, "malformed"),
        ({"body": b"[" * 100000 + b"]" * 100000}, 413, "too_large"),
        ({"body": b"{}", "ctype": "text/plain"}, 415, "malformed"),
        ({"body": b"{}", "length": ""}, 411, "malformed"),
        ({"body": b"{}", "length": "-1"}, 411, "malformed"),
        ({"body": b"{}", "length": "100"}, 400, "malformed"),
    ],
)
def test_malformed_bodies_are_refused(fleet, raw, status, error):
    _refused(fleet, status, error, raw=raw)


def test_oversize_body_is_refused_before_reading(fleet):
    token = fleet.token()
    huge = json.dumps(body(token, agent="x" * 70000)).encode()
    _refused(fleet, 413, "too_large", raw={"body": huge}, check=token)


def test_token_failures_are_refused_and_change_nothing(fleet):
    _refused(fleet, 401, "malformed_token", fields=body("not-a-token"))
    _refused(fleet, 401, "unknown", fields=body("zzzzzz.0123456789abcdef"))
    token = fleet.token()
    wrong = token[:7] + ("a" * 16 if token[7:] != "a" * 16 else "b" * 16)
    _refused(fleet, 401, "unknown", check=token, fields=body(wrong))
    expired = bt.create_token(fleet.conn, 60, 5, [RACK], [], now=time.time() - 120)[0]
    _refused(fleet, 403, "expired", check=expired, fields=body(expired))
    revoked = fleet.token()
    bt.revoke_token(fleet.conn, revoked[:6])
    _refused(fleet, 403, "revoked", check=revoked, fields=body(revoked))


def test_used_up_token_is_refused(fleet):
    token = fleet.token(uses=1)
    assert fleet.register(**body(token))[0] == 201
    _refused(
        fleet, 403, "used_up", check=token, uses=1, fields=body(token, hostname="dc1-a02-new02", machine_id="f" * 32)
    )


def test_groups_outside_the_scope_are_refused(fleet):
    token = fleet.token()
    _refused(fleet, 403, "out_of_scope", check=token, fields=body(token, primary_group="infrastructure:onprem/dc1"))
    _refused(fleet, 403, "out_of_scope", check=token, fields=body(token, primary_group="infrastructure:aws/us-east-1"))
    _refused(fleet, 403, "out_of_scope", check=token, fields=body(token, groups=["environment:production"]))


def test_groups_missing_from_the_model_are_refused_with_the_models_words(fleet):
    token = bt.create_token(fleet.conn, 3600, 5, ["infrastructure:onprem/dc1"], [])[0]
    message = _refused(
        fleet, 422, "invalid", check=token, fields=body(token, primary_group="infrastructure:onprem/dc1/nope")
    )
    assert "is not declared" in message and str(fleet.dir) not in message


@pytest.mark.parametrize("name", ["dc1-a01-gpu01", "DC1-A01-GPU01", "dc1-a01-cpu01", "Dc1-A01-Cpu01"])
def test_a_host_never_takes_a_name_of_the_model_or_another_registration(fleet, name):
    token = fleet.token()
    _refused(fleet, 409, "name_taken", check=token, fields=body(token, hostname=name))


def test_another_machine_cannot_take_a_registered_name(fleet):
    token = fleet.token()
    assert fleet.register(**body(token))[0] == 201
    _refused(fleet, 409, "name_taken", check=token, uses=1, fields=body(token, machine_id="e" * 32))
    _refused(fleet, 409, "already_registered", check=token, uses=1, fields=body(token, hostname="dc1-a02-other"))


def test_a_broken_registration_file_still_holds_its_name(fleet):
    (fleet.regs / "dc1-a02-broken.yml").write_text("name: [unclosed\n")
    token = fleet.token()
    before = fleet.files()
    status, out = fleet.register(**body(token, hostname="dc1-a02-broken"))
    assert (status, out["error"]) == (409, "name_taken")
    assert fleet.files() == before


def test_rate_limit_per_peer(tmp_path):
    fleet = Fleet(tmp_path, rate_limit_per_minute=3)
    for _unused in range(3):
        assert fleet.call("POST", "/v1/register", b"{}", peer="192.0.2.9")[0] == 400
    assert fleet.call("POST", "/v1/register", b"{}", peer="192.0.2.9")[1]["error"] == "rate_limited"
    assert fleet.call("POST", "/v1/register", b"{}", peer="192.0.2.10")[0] == 400


def test_status_ids_and_routes(fleet):
    assert fleet.call("GET", "/v1/register/../../etc/passwd")[0] == 404
    assert fleet.call("GET", "/v1/register/" + "0" * 32)[0] == 404
    assert fleet.call("GET", "/v1/register")[0] == 405
    assert fleet.call("DELETE", "/metrics")[0] == 405
    assert fleet.call("GET", "/nope")[0] == 404


def test_metrics_count_results_and_tokens(fleet):
    token = fleet.token()
    fleet.register(**body(token))
    fleet.register(**body("zzzzzz.0123456789abcdef"))
    bt.revoke_token(fleet.conn, fleet.token()[:6])
    status, text = fleet.call("GET", "/metrics")
    text = text.decode()
    assert 'accelmon_registrar_registration_requests_total{result="registered"} 1' in text
    assert 'accelmon_registrar_registration_requests_total{result="unknown"} 1' in text
    assert 'accelmon_registrar_tokens{state="active"} 1' in text
    assert 'accelmon_registrar_tokens{state="revoked"} 1' in text
    assert 'accelmon_registrar_registrations{status="registered"} 1' in text


def test_concurrent_registrations_of_one_name_write_one_file(fleet, tmp_path):
    token = fleet.token(uses=10)
    results = []

    def worker(index):
        app = reg.Registrar(fleet.config)  # its own connection, as a gunicorn worker has
        other = Fleet.__new__(Fleet)
        other.app = app
        results.append(other.call("POST", "/v1/register", json.dumps(body(token, machine_id="%032x" % index)).encode()))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r[0] for r in results) == [201, 409, 409, 409, 409, 409]
    assert fleet.files() == ["dc1-a01-cpu01.yml", "dc1-a02-new01.yml"]
    assert bt.get_token(fleet.conn, token[:6])["uses"] == 1


def test_the_answer_carries_the_deploy_user_and_key(tmp_path):
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBe8cN0t5y0y1Qm3b9lK2pXr7v4wJ6s8dF1gH2jK3lM4 controller"
    fleet = Fleet(tmp_path, deploy_user="accelmon", deploy_ssh_public_key=key, deploy_command=["/bin/true"])
    status, out = fleet.register(**body(fleet.token()))
    assert status == 201
    assert out["ssh"] == {"user": "accelmon", "authorized_key": key}
    assert out["deploy"] is True


def test_without_a_deploy_command_the_host_is_told_not_to_wait(fleet):
    status, out = fleet.register(**body(fleet.token()))
    assert status == 201 and out["deploy"] is False and "ssh" not in out


ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEjq7xHLHOwXv8nBCJIoWwUuxyCwv+NXK6bQ17XjXnV0"
ECDSA = (
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBG7Im0BLFeCVqRH2mAQ5bcekZ5V3CTwE6i9KKQqVyqn6"
    "uVcoRlmAXtxLOWxgi/MAIU8Opu3QVgicPVvnR8n/g8g="
)


def test_host_keys_are_kept_apart_from_the_registration_file(fleet):
    token = fleet.token(uses=1)
    status, out = fleet.register(**body(token, ssh_host_keys=[ED25519, ECDSA, ED25519]))
    assert status == 201, out
    assert reg.registered_host_keys(fleet.conn, out["id"]) == sorted([ED25519, ECDSA])
    # the registration file (read by the inventory) holds no key: REGISTRATION_KEYS only
    with open(fleet.regs / "dc1-a02-new01.yml") as handle:
        assert "ssh_host_keys" not in yaml.safe_load(handle)
    # the same keys again: idempotent; other keys (a MITM with the token): refused
    assert fleet.register(**body(token, ssh_host_keys=[ECDSA, ED25519]))[0] == 200
    status, again = fleet.register(**body(token, ssh_host_keys=[ED25519]))
    assert status == 409 and again["error"] == "changed"
    assert reg.registered_host_keys(fleet.conn, out["id"]) == sorted([ED25519, ECDSA])


@pytest.mark.parametrize(
    "keys, fragment",
    [
        ("ssh-ed25519 AAAA", "must be a list"),
        ([ED25519] * 5, "must be a list"),
        ([ED25519 + " root@host"], "is not 'TYPE BASE64'"),
        (["ssh-dss " + ED25519.split()[1]], "is not 'TYPE BASE64'"),
        ([ED25519 + "\n"], "is not 'TYPE BASE64'"),
        (["ssh-rsa " + ED25519.split()[1]], "not a ssh-rsa public key"),
        # one byte short of an Ed25519 key
        (
            ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEjq7xHLHOwXv8nBCJIoWwUuxyCwv+NXK6bQ17XjXnU="],
            "not a ssh-ed25519 public key",
        ),
        (["ssh-ed25519 " + "A" * 41], "not valid base64"),
        ([{"type": "ssh-ed25519"}], "is not 'TYPE BASE64'"),
    ],
)
def test_bad_host_keys_are_refused(fleet, keys, fragment):
    token = fleet.token()
    assert fragment in _refused(fleet, 400, "invalid", check=token, fields=body(token, ssh_host_keys=keys))
