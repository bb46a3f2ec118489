# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""A registrar as the role runs it, for tests: the role's TLS tasks, its module_utils file
list, Debian's gunicorn with the unit's arguments, tokens from the playbook or the store.

Used by tests/integration/test_bootstrap_e2e.py (loopback) and tests/e2e/test_lab_bootstrap.py
(the lab's gateway address).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import time

import pytest
import yaml
from ansible_collections.accelmon.monitoring.plugins.module_utils import bootstrap_tokens as bt
from ansible_collections.accelmon.monitoring.plugins.module_utils.alertmanager_api import parse_duration
from helpers import BIN, ROOT, run

GUNICORN = "/usr/bin/gunicorn"
ROLE = os.path.join(ROOT, "roles", "registrar")
SCRIPT = os.path.join(ROLE, "files", "bootstrap.sh")
HYBRID = os.path.join(ROOT, "inventory", "examples", "hybrid")
RACK = "infrastructure:onprem/dc1/hall-a/rack-a02"
# a stand-in for ansible-runner: succeeds, except for the host meant to fail
DEPLOY_STAND_IN = [
    "/bin/sh",
    "-c",
    'test "$0" != dc1-a02-fail01 || { echo "node_exporter: port 9100 in use" >&2; exit 1; }; echo "$0"',
    "{host}",
]
NEEDED = [GUNICORN, "/usr/bin/python3", shutil.which("curl"), shutil.which("dash"), shutil.which("sha256sum")]


def require_tools():
    missing = [p for p in NEEDED if not p or not os.path.exists(p)]
    probe = subprocess.run(["/usr/bin/python3", "-c", "import yaml, netaddr"], capture_output=True, check=False)
    if probe.returncode != 0:
        missing.append("python3-yaml/python3-netaddr for /usr/bin/python3")
    if missing:
        message = "needs %s (bash tests/tools/install_system_deps.sh installs gunicorn, python3-netaddr)" % missing
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def free_port(address="127.0.0.1"):
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def load_sysfs_fixture():
    path = os.path.join(ROOT, "tests", "fixtures", "hardware", "sysfs_fixture.py")
    spec = importlib.util.spec_from_file_location("accelmon_sysfs_fixture_bootstrap", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Registrar:
    """A running registrar and what a test needs to talk to it."""

    def __init__(
        self,
        base,
        inventory=HYBRID,
        source="hybrid.accelmon.yml",
        address="127.0.0.1",
        deploy_command=None,
        settings=None,
    ):
        self.base = base
        self.inventory = base / "inv"
        shutil.copytree(inventory, self.inventory)
        self.source = str(self.inventory / source)
        self.registrations = self.inventory / "registrations"
        os.makedirs(self.registrations, exist_ok=True)
        self.etc = base / "etc"
        self.db = str(base / "state" / "registrar.db")
        os.makedirs(base / "state")
        self.address = address
        self.port = free_port(address)
        self.url = "https://%s:%d" % (address, self.port)
        self.ca = str(self.etc / "tls" / "ca.pem")
        self.deploy_command = deploy_command if deploy_command is not None else DEPLOY_STAND_IN
        self.settings = settings or {}

    def make_tls(self):
        os.makedirs(self.etc / "tls")
        run(
            [
                os.path.join(BIN, "ansible-playbook"),
                "-i",
                "localhost,",
                "tests/integration/playbooks/registrar_tls.yml",
                "-e",
                json.dumps(
                    {
                        "ansible_become": False,
                        "registrar_config_dir": str(self.etc),
                        "registrar_system_user": "root",
                        "registrar_tls_subject_alt_names": ["DNS:localhost", "IP:%s" % self.address],
                        "_registrar_service_managed": False,
                    }
                ),
            ]
        )
        with open(self.ca, "rb") as handle:
            self.ca_hash = hashlib.sha256(handle.read()).hexdigest()

    def install_code(self):
        """Exactly the files the role installs (vars/main.yml), so a missing import shows here."""
        with open(os.path.join(ROLE, "vars", "main.yml")) as handle:
            files = yaml.safe_load(handle)["_registrar_module_utils"]
        self.lib = self.base / "lib"
        dest = self.lib / "ansible_collections" / "accelmon" / "monitoring" / "plugins" / "module_utils"
        os.makedirs(dest)
        for name in files:
            shutil.copy(os.path.join(ROOT, "plugins", "module_utils", name), dest / name)
        config = {
            "db": self.db,
            "inventory_source": self.source,
            "ca_file": self.ca,
            "bootstrap_script": SCRIPT,
            "public_url": self.url,
            "rate_limit_per_minute": 1000,
            "deploy_command": self.deploy_command,
            "deploy_poll_seconds": 1,
        }
        config.update(self.settings)
        self.config = str(self.etc / "registrar.json")
        with open(self.config, "w") as handle:
            json.dump(config, handle)

    def env(self):
        env = dict(os.environ, PYTHONPATH=str(self.lib), ACCELMON_REGISTRAR_CONFIG=self.config)
        env.pop("VIRTUAL_ENV", None)
        return env

    def start(self):
        env = self.env()
        env.pop("VIRTUAL_ENV", None)
        self.log = open(self.base / "gunicorn.log", "w")
        # the ExecStart of roles/registrar/templates/accelmon-registrar.service.j2
        self.proc = subprocess.Popen(
            [
                GUNICORN,
                "--bind",
                "%s:%d" % (self.address, self.port),
                "--workers",
                "2",
                "--certfile",
                str(self.etc / "tls" / "server.pem"),
                "--keyfile",
                str(self.etc / "tls" / "server.key"),
                "--limit-request-line",
                "2048",
                "--limit-request-fields",
                "32",
                "--limit-request-field_size",
                "4096",
                "--timeout",
                "30",
                "ansible_collections.accelmon.monitoring.plugins.module_utils.bootstrap_registrar:make_app()",
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=str(self.base),
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("gunicorn exited:\n" + (self.base / "gunicorn.log").read_text())
            probe = self.curl("/healthz", check=False)
            if probe.returncode == 0:
                return
            time.sleep(0.3)
        raise AssertionError("the registrar did not answer:\n" + (self.base / "gunicorn.log").read_text())

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()

    def curl(self, path, *args, check=True):
        proc = subprocess.run(
            ["curl", "-sS", "--cacert", self.ca, "--max-time", "20", *args, self.url + path],
            capture_output=True,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError("curl %s: %s" % (path, proc.stderr.decode()))
        return proc

    def token(self, name, uses=1, ttl="1h", primary=(RACK,), groups=("environment:staging",), playbook=False):
        """A token from the bootstrap_token playbook, or (faster) straight from its module_utils."""
        if not playbook:
            conn = bt.connect(self.db)
            try:
                return bt.create_token(conn, int(parse_duration(ttl)), uses, list(primary), list(groups), name=name)[0]
            finally:
                conn.close()
        self.token_playbook(
            bootstrap_token_name=name,
            bootstrap_token_max_uses=uses,
            bootstrap_token_ttl=ttl,
            bootstrap_token_primary_groups=list(primary),
            bootstrap_token_groups=list(groups),
            bootstrap_token_output=str(self.base / ("token-%s.txt" % name)),
        )
        path = self.base / ("token-%s.txt" % name)
        assert oct(os.stat(path).st_mode & 0o777) == "0o600"
        return path.read_text().strip()

    def token_playbook(self, **variables):
        """Run playbooks/bootstrap_token.yml on localhost against this registrar's database."""
        extra = {"bootstrap_token_hosts": "localhost", "bootstrap_token_become": False, "bootstrap_token_db": self.db}
        extra.update(variables)
        run(
            [
                os.path.join(BIN, "ansible-playbook"),
                "-i",
                "localhost,",
                "-c",
                "local",
                "playbooks/bootstrap_token.yml",
                "-e",
                json.dumps(extra),
            ]
        )

    def files(self):
        return sorted(p.name for p in self.registrations.iterdir() if not p.name.startswith("."))
