# -*- coding: utf-8 -*-
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""The registrar: a plain WSGI application new servers register themselves with.

Served by gunicorn (roles/registrar) with TLS; state lives in the token store (SQLite,
bootstrap_tokens) and in the inventory's ``registrations/`` directory, one file per host,
in the format the fleet inventory plugin reads. Routes:

- ``POST /v1/register``: validate the body (bootstrap_request), the token and its scope,
  check the new target against the fleet model, then count the token use, record the
  registration and write its file, all or nothing. 201 with the registration id, the
  status URL and the deploy user's SSH key; 200 for an identical re-registration of the
  same machine; a JSON ``{"error", "message"}`` with a 4xx status for every refusal.
- ``GET /v1/register/<id>``: status (registered, deploying, done, failed with the reason).
- ``GET /v1/ca.pem``, ``GET /bootstrap.sh``, ``GET /metrics``, ``GET /healthz``.

Registrations are serialised by an flock on ``registrations/.registrar.lock`` (the name
checks read the directory, so two workers must not interleave); the token use is counted
inside the same SQLite IMMEDIATE transaction that records the registration.
"""

from __future__ import absolute_import, annotations, division, print_function

__metaclass__ = type

import fcntl
import ipaddress
import json
import os
import secrets
import tempfile
import time
import traceback

from ansible_collections.accelmon.monitoring.plugins.module_utils import bootstrap_request as br
from ansible_collections.accelmon.monitoring.plugins.module_utils import bootstrap_tokens as bt
from ansible_collections.accelmon.monitoring.plugins.module_utils.fleet_loader import (
    list_model_files,
    load_yaml_file,
    resolve_sources,
)
from ansible_collections.accelmon.monitoring.plugins.module_utils.fleet_model import build_model
from ansible_collections.accelmon.monitoring.plugins.module_utils.policy_errors import (
    FleetModelError,
    FleetModelErrors,
)

try:
    import yaml
except ImportError:  # pragma: no cover - fleet_loader reports it
    yaml = None

METRIC_PREFIX = "accelmon_registrar"
STATUSES = ("registered", "deploying", "done", "failed")
CONFIG_ENV = "ACCELMON_REGISTRAR_CONFIG"
DEFAULTS = {
    "db": "/var/lib/accelmon-registrar/registrar.db",
    "inventory_source": None,  # the *.accelmon.yml whose model and registrations: are used
    "ca_file": None,
    "bootstrap_script": None,
    "public_url": None,  # https://registrar.example:8443, written into the served script
    "max_body_bytes": br.MAX_BODY_BYTES,
    "rate_limit_per_minute": 30,
    "allowed_networks": [],
    "deploy_user": None,
    "deploy_ssh_public_key": None,
    # argv run per registered host by bootstrap_deployer ("{host}" replaced); empty: no
    # deployment from the registrar, the controller deploys on its own schedule.
    "deploy_command": [],
    "deploy_timeout": 3600,
    # known_hosts file the deployer adds each registered host's SSH host keys to (name and
    # address) before deploying it; the controller's ssh must read it (UserKnownHostsFile).
    # None: the registrar keeps the keys, the operator trusts the hosts' keys some other way.
    "known_hosts": None,
    "deploy_poll_seconds": 5,
}


class Config:
    """The registrar's settings (a JSON file named by $ACCELMON_REGISTRAR_CONFIG)."""

    def __init__(self, values):
        unknown = set(values) - set(DEFAULTS)
        if unknown:
            raise ValueError("unknown registrar setting(s): %s" % ", ".join(sorted(unknown)))
        merged = dict(DEFAULTS)
        merged.update(values)
        if not merged["inventory_source"]:
            raise ValueError("inventory_source is required (the *.accelmon.yml the registrations belong to)")
        self.__dict__.update(merged)
        self.networks = [ipaddress.ip_network(n, strict=False) for n in merged["allowed_networks"]]
        self.inventory_dir = os.path.dirname(os.path.abspath(self.inventory_source))
        source = load_yaml_file(self.inventory_source) or {}
        models = source.get("model")
        self.models = [models] if isinstance(models, str) else list(models or [])
        if not source.get("registrations"):
            raise ValueError("%s has no registrations: directory" % self.inventory_source)
        self.registrations_dir = os.path.realpath(os.path.join(self.inventory_dir, source["registrations"]))
        self.strict = bool(source.get("strict", False))
        if not isinstance(self.deploy_command, list) or not all(isinstance(a, str) for a in self.deploy_command):
            raise ValueError("deploy_command must be a list of strings (an argv, '{host}' replaced)")

    @classmethod
    def from_file(cls, path):
        with open(path, "rb") as handle:
            return cls(json.loads(handle.read().decode("utf-8")))


# -- state helpers -------------------------------------------------------------------------


def count(conn, name, label):
    conn.execute(
        "INSERT INTO counters (name, label, value) VALUES (?, ?, 1)"
        " ON CONFLICT (name, label) DO UPDATE SET value = value + 1",
        (name, label),
    )


def rate_limited(conn, peer, limit, now):
    """True when ``peer`` has made more than ``limit`` requests in this minute."""
    window = int(now // 60)
    with bt.transaction(conn):
        conn.execute("DELETE FROM rate WHERE window < ?", (window - 1,))
        conn.execute(
            "INSERT INTO rate (peer, window, hits) VALUES (?, ?, 1)"
            " ON CONFLICT (peer, window) DO UPDATE SET hits = hits + 1",
            (peer, window),
        )
        hits = conn.execute("SELECT hits FROM rate WHERE peer = ? AND window = ?", (peer, window)).fetchone()[0]
    return hits > limit


def set_status(conn, registration_id, status, reason=None, now=None):
    """Move a registration to a status (the deployer's side of the state machine)."""
    if status not in STATUSES:
        raise ValueError("status must be one of %s" % ", ".join(STATUSES))
    now = time.time() if now is None else now
    with bt.transaction(conn):
        cur = conn.execute(
            "UPDATE registrations SET status = ?, reason = ?, updated = ? WHERE id = ?",
            (status, reason, now, registration_id),
        )
        return cur.rowcount == 1


def render_metrics(conn, now=None):
    """Prometheus text exposition of the registrar's counters and gauges."""
    now = time.time() if now is None else now
    lines = [
        "# HELP %s_registration_requests_total Registration requests by result." % METRIC_PREFIX,
        "# TYPE %s_registration_requests_total counter" % METRIC_PREFIX,
    ]
    rows = conn.execute("SELECT label, value FROM counters WHERE name = 'requests' ORDER BY label").fetchall()
    for label, value in rows:
        lines.append('%s_registration_requests_total{result="%s"} %d' % (METRIC_PREFIX, label, value))
    states = {"active": 0, "expired": 0, "revoked": 0, "used_up": 0}
    for info in bt.list_tokens(conn, now):
        states[info["state"]] += 1
    lines += [
        "# HELP %s_tokens Bootstrap tokens by state." % METRIC_PREFIX,
        "# TYPE %s_tokens gauge" % METRIC_PREFIX,
    ]
    lines += ['%s_tokens{state="%s"} %d' % (METRIC_PREFIX, s, n) for s, n in sorted(states.items())]
    by_status = dict((s, 0) for s in STATUSES)
    for status, value in conn.execute("SELECT status, COUNT(*) FROM registrations GROUP BY status"):
        by_status[status] = value
    lines += [
        "# HELP %s_registrations Registrations by deployment status." % METRIC_PREFIX,
        "# TYPE %s_registrations gauge" % METRIC_PREFIX,
    ]
    lines += ['%s_registrations{status="%s"} %d' % (METRIC_PREFIX, s, n) for s, n in sorted(by_status.items())]
    return "\n".join(lines) + "\n"


# -- the model check -----------------------------------------------------------------------


def _model_error_text(exc):
    """A model error for the host: what and how to fix, never the registrar's file paths."""
    errors = exc.errors if isinstance(exc, FleetModelErrors) else [exc]
    return "; ".join("%s%s" % (e.message, (" (fix: %s)" % e.fix) if e.fix else "") for e in errors)


class ModelView:
    """What a registration is checked against, cached per worker and refreshed by mtime.

    ``documents``: the model files with their ``targets`` left out (a new host is validated
    against namespaces, groups and rule templates; the targets only matter for their names).
    ``names``: lower-cased names taken by model targets and by registration files. A
    registration file that cannot be read still takes the name of its file stem, so a
    broken file can never be replaced by a host claiming its name. Reading 10k targets'
    YAML and building their model on every registration took 8.6 s; this takes
    milliseconds once the files are cached (tests/benchmarks/registrar_bench.py).
    """

    def __init__(self):
        self.model_key = None
        self.documents = []
        self.model_names = set()
        self.registrations = {}  # path -> (mtime, names)

    def refresh(self, config):
        files, _unused = resolve_sources(config.inventory_dir, config.models)
        key = tuple((f, os.path.getmtime(f)) for f in files)
        if key != self.model_key:
            documents, names = [], set()
            for path in files:
                data = load_yaml_file(path)
                if isinstance(data, dict) and isinstance(data.get("targets"), dict):
                    names.update(str(n).lower() for n in data["targets"])
                    data = dict((k, v) for k, v in data.items() if k != "targets")
                documents.append((data, path))
            self.model_key, self.documents, self.model_names = key, documents, names
        seen = {}
        if os.path.isdir(config.registrations_dir):
            for path in list_model_files(config.registrations_dir, "registrations"):
                mtime = os.path.getmtime(path)
                cached = self.registrations.get(path)
                seen[path] = cached if cached and cached[0] == mtime else (mtime, _registration_names(path))
        self.registrations = seen
        names = set(self.model_names)
        for _mtime, taken in seen.values():
            names.update(taken)
        return self.documents, names


def _registration_names(path):
    names = {os.path.splitext(os.path.basename(path))[0].lower()}
    try:
        data = load_yaml_file(path)
    except FleetModelError:
        return names
    if isinstance(data, dict):
        if isinstance(data.get("name"), str):
            names.add(data["name"].lower())
        if isinstance(data.get("targets"), dict):
            names.update(str(n).lower() for n in data["targets"])
    return names


def check_against_model(config, documents, doc):
    """Build the model with this one registration added; RequestError when it would not build."""
    try:
        model = build_model(documents, [(dict(doc), "registration of %s" % doc["name"])], config.strict)
        if model.skipped:  # the inventory would skip this registration: refuse it now
            raise model.skipped[0]
    except FleetModelError as exc:
        raise br.RequestError(422, "invalid", "the fleet model refuses this registration: %s" % _model_error_text(exc))


# -- registration --------------------------------------------------------------------------


def _registration_path(config, name):
    path = os.path.join(config.registrations_dir, name + ".yml")
    if os.path.dirname(os.path.realpath(path)) != config.registrations_dir:  # belt and braces
        raise br.RequestError(400, "invalid", "hostname %r does not map to a registration file" % name)
    return path


def _write_exclusive(path, text):
    """Write a new file atomically; FileExistsError when the name exists (never replaces)."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".registering-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o640)
        os.link(tmp, path)  # atomic and refuses to overwrite
    finally:
        os.unlink(tmp)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _dump(doc, registration_id):
    header = "# Written by the accelmon registrar (registration %s); edit the model, not this file.\n---\n"
    return header % registration_id + yaml.safe_dump(doc, default_flow_style=False, sort_keys=False)


class _DirLock:
    def __init__(self, directory):
        self.path = os.path.join(directory, ".registrar.lock")

    def __enter__(self):
        self.fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        return False


def registered_host_keys(conn, registration_id):
    """The SSH host keys a registration sent (sorted "TYPE BASE64" strings; [] for none)."""
    row = conn.execute(
        "SELECT keys FROM registration_host_keys WHERE registration_id = ?", (registration_id,)
    ).fetchone()
    return sorted(row[0].split("\n")) if row and row[0] else []


def register(config, conn, request, now=None, view=None):
    """Register a validated request; returns (http status, response dict) or raises RequestError."""
    now = time.time() if now is None else now
    try:
        info = bt.authenticate(conn, request["token"], now, consume=False)
        primary, groups = bt.resolve_groups(info, request["primary_group"], request["groups"])
    except bt.TokenError as exc:
        status = 400 if exc.reason == "malformed" else 401 if exc.reason == "unknown" else 403
        raise br.RequestError(status, exc.reason, exc.message)
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    doc = br.registration_document(request, primary, groups, info["id"], when)
    name = request["hostname"]
    os.makedirs(config.registrations_dir, exist_ok=True)
    with _DirLock(config.registrations_dir):
        previous = conn.execute(
            "SELECT id, name, machine_id, document, status, file FROM registrations WHERE name = ? COLLATE NOCASE"
            " OR machine_id = ?",
            (name, request["machine_id"]),
        ).fetchall()
        for reg_id, reg_name, machine_id, document, status, reg_file in previous:
            if not os.path.exists(reg_file):  # an operator removed the registration: forget it
                with bt.transaction(conn):
                    conn.execute("DELETE FROM registrations WHERE id = ?", (reg_id,))
                continue
            if machine_id != request["machine_id"]:
                raise br.RequestError(409, "name_taken", "hostname %s is already registered by another machine" % name)
            if reg_name != name:
                raise br.RequestError(409, "already_registered", "this machine is already registered as %s" % reg_name)
            old = json.loads(document)
            comparable = dict(doc, description=old.get("description"))
            if comparable != old or registered_host_keys(conn, reg_id) != (request.get("ssh_host_keys") or []):
                raise br.RequestError(
                    409,
                    "changed",
                    "this machine is registered as %s with other details; an operator must remove its "
                    "registration before it can register differently" % name,
                )
            return 200, {"id": reg_id, "name": name, "status": status, "result": "already_registered"}
        if info["state"] == "used_up":
            raise br.RequestError(
                403, "used_up", "token %s has no uses left (%d allowed)" % (info["id"], info["max_uses"])
            )
        try:
            documents, taken = (view or ModelView()).refresh(config)
        except FleetModelError as exc:
            raise br.RequestError(
                503, "model_broken", "the registrar cannot read the fleet model: %s" % _model_error_text(exc)
            )
        if name.lower() in taken:
            raise br.RequestError(409, "name_taken", "hostname %s already belongs to a target of the fleet" % name)
        check_against_model(config, documents, doc)
        path = _registration_path(config, name)
        registration_id = secrets.token_hex(16)
        with bt.transaction(conn):
            try:
                bt.authenticate(conn, request["token"], now, consume=True)
            except bt.TokenError as exc:
                raise br.RequestError(403, exc.reason, exc.message)
            conn.execute(
                "INSERT INTO registrations (id, name, machine_id, token_id, file, document, status, reason,"
                " created, updated) VALUES (?, ?, ?, ?, ?, ?, 'registered', NULL, ?, ?)",
                (registration_id, name, request["machine_id"], info["id"], path, json.dumps(doc), now, now),
            )
            if request.get("ssh_host_keys"):
                conn.execute(
                    "INSERT INTO registration_host_keys (registration_id, keys) VALUES (?, ?)",
                    (registration_id, "\n".join(request["ssh_host_keys"])),
                )
            try:
                _write_exclusive(path, _dump(doc, registration_id))
            except FileExistsError:
                raise br.RequestError(409, "name_taken", "hostname %s already has a registration file" % name)
    return 201, {"id": registration_id, "name": name, "status": "registered", "result": "registered"}


# -- WSGI ----------------------------------------------------------------------------------

_REASONS = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    411: "Length Required",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class Registrar:
    """The WSGI callable. One SQLite connection per worker process."""

    def __init__(self, config):
        self.config = config
        self.conn = bt.connect(config.db)
        self.view = ModelView()
        self.script = None
        if config.bootstrap_script:
            with open(config.bootstrap_script, "rb") as handle:
                self.script = handle.read()
            if config.public_url:
                self.script = self.script.replace(b"@REGISTRAR_URL@", config.public_url.encode("ascii"))
        self.ca = None
        if config.ca_file:
            with open(config.ca_file, "rb") as handle:
                self.ca = handle.read()

    def __call__(self, environ, start_response):
        try:
            status, body, ctype = self.route(environ)
        except br.RequestError as exc:
            status, body, ctype = exc.status, _json({"error": exc.reason, "message": exc.message}), "application/json"
        except Exception:  # never a traceback to an untrusted client; gunicorn logs it
            environ["wsgi.errors"].write("accelmon registrar: internal error\n")
            traceback.print_exc(file=environ["wsgi.errors"])
            status, body, ctype = 500, _json({"error": "internal", "message": "internal error"}), "application/json"
        start_response(
            "%d %s" % (status, _REASONS.get(status, "")),
            [
                ("Content-Type", ctype),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
                ("X-Content-Type-Options", "nosniff"),
            ],
        )
        return [body]

    def route(self, environ):
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        if path == "/v1/register":
            if method != "POST":
                raise br.RequestError(405, "method", "use POST")
            return self.post_register(environ)
        if path.startswith("/v1/register/"):
            if method != "GET":
                raise br.RequestError(405, "method", "use GET")
            return self.get_status(path[len("/v1/register/") :])
        if method != "GET":
            raise br.RequestError(405, "method", "use GET")
        if path == "/healthz":
            return 200, b"ok\n", "text/plain"
        if path == "/metrics":
            return 200, render_metrics(self.conn).encode("ascii"), "text/plain; version=0.0.4"
        if path == "/bootstrap.sh" and self.script is not None:
            return 200, self.script, "text/x-shellscript"
        if path == "/v1/ca.pem" and self.ca is not None:
            return 200, self.ca, "application/x-pem-file"
        raise br.RequestError(404, "not_found", "no such resource")

    def get_status(self, registration_id):
        if not br.REGISTRATION_ID_RE.fullmatch(registration_id):
            raise br.RequestError(404, "not_found", "no such registration")
        row = self.conn.execute(
            "SELECT name, status, reason, updated FROM registrations WHERE id = ?", (registration_id,)
        ).fetchone()
        if row is None:
            raise br.RequestError(404, "not_found", "no such registration")
        name, status, reason, updated = row
        return (
            200,
            _json({"id": registration_id, "name": name, "status": status, "reason": reason, "updated": updated}),
            ("application/json"),
        )

    def post_register(self, environ):
        now = time.time()
        result = "error"
        try:
            peer = environ.get("REMOTE_ADDR") or "unknown"
            if rate_limited(self.conn, peer, self.config.rate_limit_per_minute, now):
                raise br.RequestError(429, "rate_limited", "too many requests from %s; retry in a minute" % peer)
            body = _read_body(environ, self.config.max_body_bytes)
            data = br.parse_json_body(body, self.config.max_body_bytes)
            request = br.parse_registration(data, self.config.networks)
            status, response = register(self.config, self.conn, request, now, self.view)
            result = response["result"]
        except br.RequestError as exc:
            result = exc.reason
            raise
        finally:
            with bt.transaction(self.conn):
                count(self.conn, "requests", result)
        response["status_url"] = "/v1/register/%s" % response["id"]
        response["deploy"] = bool(self.config.deploy_command)
        if self.config.deploy_user and self.config.deploy_ssh_public_key:
            response["ssh"] = {"user": self.config.deploy_user, "authorized_key": self.config.deploy_ssh_public_key}
        return status, _json(response), "application/json"


def _json(value):
    return (json.dumps(value, sort_keys=True) + "\n").encode("utf-8")


def _read_body(environ, max_bytes):
    ctype = (environ.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise br.RequestError(415, "malformed", "send Content-Type: application/json")
    length = environ.get("CONTENT_LENGTH") or ""
    if not length.isdigit():
        raise br.RequestError(411, "malformed", "send a Content-Length")
    length = int(length)
    if length > max_bytes:
        raise br.RequestError(413, "too_large", "the body is larger than %d bytes" % max_bytes)
    body = environ["wsgi.input"].read(length)
    if len(body) != length:
        raise br.RequestError(400, "malformed", "the body is shorter than its Content-Length")
    return body


def make_app(config_path=None):
    """gunicorn entry point: ``gunicorn '...bootstrap_registrar:make_app()'``."""
    app = Registrar(Config.from_file(config_path or os.environ[CONFIG_ENV]))
    try:  # read the fleet once per worker at start, not on its first registration
        app.view.refresh(app.config)
    except FleetModelError:  # reported (503) to registering hosts until the model is fixed
        pass
    return app
