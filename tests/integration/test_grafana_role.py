"""accelmon.monitoring.grafana: provisioning files, grafana.ini and unit, rendered and checked.

Runs the role's own preflight.yml and render.yml (the task file configure.yml uses on a
Grafana host) on the controller with _grafana_local, against an inventory of Prometheus
servers in the shapes the prometheus role supports (single, HA pair, hashmod shards with
remote_write, basic auth, TLS), and asserts on the files Grafana would read. grafana.ini and
the hardened unit are templated from the same role vars and the unit is checked with
`systemd-analyze verify`. Bad settings must stop the run with a message naming the fix.

The Grafana binary itself is not exercised: no registry reachable here serves it.
"""

from __future__ import annotations

import base64
import configparser
import http.server
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from helpers import BIN, ROOT, run  # noqa: E402

PLAYBOOK = """
- name: Render the Grafana role's files
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Preflight
      ansible.builtin.include_role:
        name: accelmon.monitoring.grafana
        tasks_from: preflight.yml
        public: true
      vars:
        _grafana_local: true
    - name: Provisioning files and dashboards
      ansible.builtin.include_role:
        name: accelmon.monitoring.grafana
        tasks_from: render.yml
      vars:
        _grafana_local: true
        _grafana_render_root: "{{ out }}/tree"
    - name: grafana.ini
      ansible.builtin.template:
        src: "{{ role_root }}/templates/grafana.ini.j2"
        dest: "{{ out }}/grafana.ini"
        mode: "0600"
    - name: Unit
      ansible.builtin.template:
        src: "{{ role_root }}/templates/grafana.service.j2"
        dest: "{{ out }}/grafana.service"
        mode: "0644"
"""

INVENTORY = """
all:
  hosts:
    localhost:
      ansible_connection: local
  children:
    monitoring:
      hosts:
        prom-a: {ansible_host: 10.0.0.1, prometheus_ha: true, prometheus_replica_name: a}
        prom-b: {ansible_host: 10.0.0.2, prometheus_ha: true, prometheus_replica_name: b}
"""

SHARDED = """
all:
  hosts:
    localhost:
      ansible_connection: local
  children:
    monitoring:
      vars:
        prometheus_shard_count: 2
        prometheus_scrape_interval: 30s
        prometheus_remote_write: [{url: "https://mimir.example.com/api/v1/push"}]
      hosts:
        prom-s0: {ansible_host: "fd00::10", prometheus_shard_index: 0}
        prom-s1:
          ansible_host: prom-s1.example.com
          prometheus_shard_index: 1
          prometheus_web_listen_address: "0.0.0.0:9443"
          prometheus_web_tls_server_config: {cert_file: /etc/p.crt, key_file: /etc/p.key}
"""


def render(tmp_path, inventory=INVENTORY, check=True, **extra):
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    (tmp_path / "inventory.yml").write_text(inventory)
    base = {"out": str(out), "role_root": os.path.join(ROOT, "roles", "grafana"),
            "grafana_admin_password": "s3cret-from-vault", "grafana_install_method": "archive",
            "grafana_reload_method": "none"}
    base.update(extra)
    (tmp_path / "extra.json").write_text(json.dumps(base))
    proc = run([os.path.join(BIN, "ansible-playbook"), str(tmp_path / "play.yml"), "-i", str(tmp_path / "inventory.yml"),
                "-e", "@%s" % (tmp_path / "extra.json")], check=check)
    return out, proc


def datasources(out):
    path = out / "tree" / "etc" / "grafana" / "provisioning" / "datasources" / "accelmon.yml"
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def ha_pair(tmp_path_factory):
    return render(tmp_path_factory.mktemp("ha"))


def test_ha_pair_gets_one_datasource_per_replica(ha_pair):
    out, proc = ha_pair
    ds = datasources(out)
    assert ds["apiVersion"] == 1
    by_name = {d["name"]: d for d in ds["datasources"]}
    assert set(by_name) == {"Prometheus prom-a (replica a)", "Prometheus prom-b (replica b)"}
    a, b = by_name["Prometheus prom-a (replica a)"], by_name["Prometheus prom-b (replica b)"]
    assert a["url"] == "http://10.0.0.1:9090" and b["url"] == "http://10.0.0.2:9090"
    assert a["isDefault"] is True and b["isDefault"] is False
    assert a["uid"] == "accelmon-prom-prom-a" and a["type"] == "prometheus" and a["editable"] is False
    assert a["jsonData"] == {"httpMethod": "POST", "prometheusType": "Prometheus", "timeInterval": "15s"}
    assert "s3cret" not in proc.stdout


def test_dashboard_providers_one_folder_per_family(ha_pair):
    out = ha_pair[0]
    tree = out / "tree"
    providers = yaml.safe_load((tree / "etc/grafana/provisioning/dashboards/accelmon.yml").read_text())["providers"]
    assert [p["folder"] for p in providers] == [
        "Accelmon fleet", "Accelmon accelerators", "Accelmon nodes", "Accelmon storage and checks", "Accelmon alerts"]
    for p in providers:
        family = p["name"].removeprefix("accelmon-")
        assert p["type"] == "file" and p["folderUid"] == "accelmon-" + family
        assert p["options"]["path"] == "/var/lib/grafana/accelmon-dashboards/" + family
        assert p["allowUiUpdates"] is False and p["disableDeletion"] is True
        shipped = sorted(x.name for x in (Path(ROOT) / "roles/grafana/files/dashboards" / family).glob("*.json"))
        written = sorted(x.name for x in (tree / p["options"]["path"].lstrip("/")).glob("*.json"))
        assert written == shipped and written


def test_shards_with_tls_ipv6_and_the_long_term_store(tmp_path):
    out = render(tmp_path, SHARDED, grafana_prometheus_longterm_url="https://mimir.example.com/prometheus",
                 grafana_prometheus_basic_auth={"username": "grafana", "password": "vault-pw"})[0]
    ds = datasources(out)["datasources"]
    assert [d["name"] for d in ds] == [
        "Prometheus long-term store", "Prometheus prom-s0 (shard 0 of 2)", "Prometheus prom-s1 (shard 1 of 2)"]
    assert [d["isDefault"] for d in ds] == [True, False, False]
    assert ds[0]["url"] == "https://mimir.example.com/prometheus"
    assert ds[1]["url"] == "http://[fd00::10]:9090"
    assert ds[2]["url"] == "https://prom-s1.example.com:9443"
    assert all(d["jsonData"]["timeInterval"] == "30s" for d in ds)
    assert all(d["basicAuth"] and d["basicAuthUser"] == "grafana" for d in ds)
    assert all(d["secureJsonData"] == {"basicAuthPassword": "vault-pw"} for d in ds)
    mode = (out / "tree/etc/grafana/provisioning/datasources/accelmon.yml").stat().st_mode & 0o777
    assert mode == 0o640


def test_sharded_remote_write_without_long_term_store_gets_a_datasource_per_shard(tmp_path):
    out, proc = render(tmp_path, SHARDED)
    ds = datasources(out)["datasources"]
    assert [d["name"] for d in ds] == ["Prometheus prom-s0 (shard 0 of 2)", "Prometheus prom-s1 (shard 1 of 2)"]
    assert [d["isDefault"] for d in ds] == [True, False]
    assert "grafana_prometheus_longterm_url is empty" in proc.stdout


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"grafana_admin_password": "", "grafana_reload_method": "api"}, "grafana_admin_password is empty"),
        ({"grafana_install_method": "docker"}, "grafana_install_method is 'docker'"),
        ({"grafana_web_listen_address": "3000"}, 'grafana_web_listen_address "3000" is not "host:port"'),
        ({"grafana_dashboard_folders": {"fleet": "F", "gpus": "G"}}, "names gpus, which the role does not"),
        ({"grafana_prometheus_hosts": ["prom-a", "prom-x"]}, "unknown: prom-x"),
        ({"grafana_datasources_extra": [{"name": "Prometheus prom-a (replica a)", "type": "loki"}]},
         "Two datasources share a name or uid"),
    ],
    ids=["no-password", "install-method", "listen-address", "family", "unknown-host", "duplicate"],
)
def test_bad_settings_are_refused_with_the_fix(tmp_path, extra, message):
    proc = render(tmp_path, check=False, **extra)[1]
    assert proc.returncode != 0
    assert message in proc.stdout, proc.stdout[-3000:]
    assert "s3cret" not in proc.stdout


class _GrafanaAPI(http.server.ThreadingHTTPServer):
    """Records the admin API calls of the reload handlers (Grafana itself is not installable here)."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Recorder)
        self.calls = []


class _Recorder(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server API
        self.server.calls.append((self.path, self.headers.get("Authorization")))
        body = b'{"message":"Datasources config reloaded"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_changes_reload_provisioning_through_the_admin_api_once(tmp_path):
    api = _GrafanaAPI()
    threading.Thread(target=api.serve_forever, daemon=True).start()
    try:
        url = "http://127.0.0.1:%d" % api.server_address[1]
        auth = "Basic " + base64.b64encode(b"admin:s3cret-from-vault").decode()
        proc = render(tmp_path, grafana_install_method="none", grafana_reload_method="api", grafana_api_url=url)[1]
        assert sorted(api.calls) == [("/api/admin/provisioning/dashboards/reload", auth),
                                     ("/api/admin/provisioning/datasources/reload", auth)]
        assert "s3cret" not in proc.stdout
        api.calls.clear()
        render(tmp_path, grafana_install_method="none", grafana_reload_method="api", grafana_api_url=url)
        assert api.calls == [], "nothing changed, nothing to reload"
        render(tmp_path, grafana_install_method="none", grafana_reload_method="api", grafana_api_url=url,
               grafana_prometheus_longterm_url="http://vm.example.com:8428")
        assert api.calls == [("/api/admin/provisioning/datasources/reload", auth)]
    finally:
        api.shutdown()


def test_existing_grafana_needs_no_password_without_api_reload(tmp_path):
    out = render(tmp_path, grafana_install_method="none", grafana_reload_method="none", grafana_admin_password="")[0]
    assert datasources(out)["datasources"]


def test_grafana_ini_is_hardened_and_keeps_the_password_out(tmp_path):
    out = render(tmp_path, grafana_web_listen_address="127.0.0.1:3001", grafana_root_url="https://g.example.com/",
                 grafana_ini={"server": {"protocol": "https", "cert_file": "/etc/g.crt", "cert_key": "/etc/g.key"},
                              "auth.generic_oauth": {"enabled": True}})[0]
    text = (out / "grafana.ini").read_text()
    assert "s3cret" not in text
    ini = configparser.ConfigParser(interpolation=None)
    ini.read_string(text)
    assert ini["security"]["admin_password"] == "$__file{/etc/grafana/admin_password}"
    assert ini["server"]["http_addr"] == "127.0.0.1" and ini["server"]["http_port"] == "3001"
    assert ini["server"]["protocol"] == "https" and ini["security"]["cookie_secure"] == "true"
    assert ini["server"]["root_url"] == "https://g.example.com/"
    assert ini["paths"]["provisioning"] == "/etc/grafana/provisioning"
    assert ini["users"]["allow_sign_up"] == "false" and ini["auth.anonymous"]["enabled"] == "false"
    assert ini["analytics"]["reporting_enabled"] == "false" and ini["analytics"]["check_for_updates"] == "false"
    assert ini["auth.generic_oauth"]["enabled"] == "true"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_unit_is_hardened_and_verifies(tmp_path):
    home = tmp_path / "opt" / "grafana"
    (home / "current" / "bin").mkdir(parents=True)
    binary = home / "current" / "bin" / "grafana"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    out = render(tmp_path, grafana_install_dir=str(home), grafana_system_user="root", grafana_system_group="root")[0]
    unit = (out / "grafana.service").read_text()
    for line in ("NoNewPrivileges=true", "ProtectSystem=strict", "CapabilityBoundingSet=", "PrivateDevices=true",
                 "ReadWritePaths=/var/lib/grafana /var/log/grafana", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
                 "ExecStart=%s/current/bin/grafana server \\" % home):
        assert line in unit.splitlines(), line
    dest = tmp_path / "grafana.service"
    dest.write_text(unit)
    proc = subprocess.run(["systemd-analyze", "verify", str(dest)], capture_output=True, text=True, check=False)
    problems = [line for line in (proc.stdout + proc.stderr).splitlines()
                if str(dest) in line and ("Unknown" in line or "Failed" in line or "Invalid" in line)]
    assert not problems, "\n".join(problems)


def test_package_unit_is_a_drop_in(tmp_path):
    out = render(tmp_path, grafana_install_method="package")[0]
    unit = (out / "grafana.service").read_text()
    assert "[Install]" not in unit and "ExecStart=\n" in unit
    assert "ExecStart=/usr/share/grafana/bin/grafana server \\" in unit
    assert textwrap.dedent("--packaging=deb") in unit


def test_whole_role_on_an_existing_grafana_is_idempotent(tmp_path):
    """The main entry point with grafana_install_method none: files only, second run unchanged."""
    play = tmp_path / "site.yml"
    play.write_text(textwrap.dedent("""\
        - name: Existing Grafana, provisioning only
          hosts: localhost
          connection: local
          gather_facts: true
          roles:
            - role: accelmon.monitoring.grafana
              vars:
                grafana_install_method: none
                grafana_reload_method: none
                grafana_system_group: root
                grafana_config_dir: "{{ base }}/etc"
                grafana_dashboards_dir: "{{ base }}/dashboards"
                grafana_prometheus_hosts: [prom-a, prom-b]
        """))
    (tmp_path / "inventory.yml").write_text(INVENTORY)
    args = [os.path.join(BIN, "ansible-playbook"), str(play), "-i", str(tmp_path / "inventory.yml"),
            "-e", "base=%s" % tmp_path]
    first = run(args)
    assert "changed=4" in first.stdout.split("PLAY RECAP")[1]
    second = run(args)
    assert "changed=0" in second.stdout.split("PLAY RECAP")[1]
    assert (tmp_path / "etc/provisioning/datasources/accelmon.yml").is_file()
    assert len(list((tmp_path / "dashboards").rglob("*.json"))) == 5
