"""docs/getting-started.md, run as a user would, against the lab's SSH nodes.

The guide's convention (explained in its first section and in "How this page is tested"):

- a ```sh block runs on the controller with `bash -euo pipefail`, in `~/monitoring` (the
  project directory the guide creates; before it exists, in `~`). HOME is a fresh temporary
  directory and ANSIBLE_COLLECTIONS_PATH one of its own, so the collection is the one the
  guide builds and installs from the tarball; no ANSIBLE_* variable of the lab leaks in, the
  guide's ansible.cfg is what Ansible reads (deploy key, known_hosts, vault password file).
- a ```sh on-each-server block runs as root (podman exec) on every lab node the guide uses;
- other fences are not run.

Placeholders are replaced with the lab's values (PLACEHOLDERS below); the guide's hosts are
the lab nodes of NODES. The lab has no internet and emulated accelerators: before the first
block, inventory/host_vars/<name>.yml gets what only the lab needs (lab_host_vars()). The
guide deploys its own Prometheus configuration to lab-monitoring, so this module runs last
among the e2e tests (tests/e2e/conftest.py orders it) and, with ACCELMON_LAB_KEEP=1, puts
the lab's own configuration back at the end.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest
import yaml

pytestmark = pytest.mark.e2e

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
GUIDE = os.path.join(REPO, "docs", "getting-started.md")
LAB_MODEL_TARGETS = os.path.join(REPO, "inventory", "examples", "lab", "fleet", "targets.yml")

# The guide's inventory names -> the lab nodes they are, by the guide's placeholder address.
NODES = {"monitor-01": "lab-monitoring", "gpu-01": "lab-h200", "gpu-02": "lab-gaudi"}
GUIDE_ADDRESSES = {"monitor-01": "192.0.2.10", "gpu-01": "192.0.2.11", "gpu-02": "192.0.2.12"}
WEBHOOK_PLACEHOLDER = "https://hooks.example.com/services/T000/B000/XXXX"
CHECKOUT_PLACEHOLDER = "~/src/monitoring"
PUBKEY_PLACEHOLDER = "CONTENTS OF ssh/deploy_key.pub"
PROJECT = "monitoring"  # ~/monitoring
BLOCK_TIMEOUT = 600
# Lab vars a guide host must not inherit: the guide defines its own receivers.
NOT_COPIED = {"alertmanager_receivers", "alertmanager_default_receiver"}

_FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.M | re.S)


def guide_blocks(text):
    """[(kind, code, line)] of the guide's fenced blocks: kind "controller" (```sh),
    "server" (```sh on-each-server) or None (any other fence, not run)."""
    out = []
    for m in _FENCE.finditer(text):
        info = m.group(1).split()
        if info == ["sh"]:
            kind = "controller"
        elif info == ["sh", "on-each-server"]:
            kind = "server"
        elif info and info[0] in ("sh", "bash", "shell", "console"):
            raise AssertionError(
                "docs/getting-started.md line %d: fence %r; use ```sh (controller) or "
                "```sh on-each-server" % (text.count("\n", 0, m.start()) + 1, m.group(1))
            )
        else:
            kind = None
        out.append((kind, m.group(2), text.count("\n", 0, m.start()) + 1))
    return out


def placeholders(lab, home):
    """Placeholder -> lab value, for every block."""
    subst = {addr: lab.address(NODES[name]) for name, addr in GUIDE_ADDRESSES.items()}
    subst[WEBHOOK_PLACEHOLDER] = "http://%s:%d/alerts" % (lab.GATEWAY, lab.WEBHOOK_PORT)
    subst[CHECKOUT_PLACEHOLDER] = REPO
    return subst


def substitute(code, subst):
    for old, new in subst.items():
        code = code.replace(old, new)
    return code


def lab_host_vars(lab):
    """inventory/host_vars content per guide host: the lab node's own model vars (Debian's
    Prometheus/Alertmanager binaries and web assets, the dcgm-exporter emulator as a binary,
    short scrape intervals) without its receivers, its emulated accelerators declared, and
    the lab's offline artifacts."""
    with open(LAB_MODEL_TARGETS, encoding="utf-8") as fh:
        targets = yaml.safe_load(fh)["targets"]
    out = {}
    for name, node in NODES.items():
        t = targets[node]
        hv = {k: v for k, v in (t.get("vars") or {}).items() if k not in NOT_COPIED}
        hv["accelmon_artifacts_dir"] = lab.ARTIFACTS
        if t.get("accelerators"):
            hv["accelmon_accelerators"] = t["accelerators"]
        out[name] = hv
    return out


def guide_env(home):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        HOME=home,
        PATH=os.path.join(REPO, ".venv", "bin") + os.pathsep + os.environ.get("PATH", ""),
        ANSIBLE_COLLECTIONS_PATH=os.path.join(home, "collections"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        LC_ALL="C.UTF-8",
    )
    env.pop("VIRTUAL_ENV", None)
    return env


def test_guide_blocks_follow_the_convention():
    """Without the lab: the guide has the blocks and placeholders the e2e run relies on."""
    with open(GUIDE, encoding="utf-8") as fh:
        text = fh.read()
    blocks = guide_blocks(text)
    kinds = [k for k, _code, _line in blocks]
    assert kinds.count("server") == 1, kinds
    assert kinds.count("controller") >= 10, kinds
    run = "\n".join(code for kind, code, _line in blocks if kind)
    for needle in (
        *GUIDE_ADDRESSES.values(),
        WEBHOOK_PLACEHOLDER,
        CHECKOUT_PLACEHOLDER,
        PUBKEY_PLACEHOLDER,
        "ansible-galaxy collection build",
        "ansible-galaxy collection install",
        "ansible-vault encrypt_string",
        "accelmon.monitoring.render",
        "accelmon.monitoring.site",
    ):
        assert needle in run, needle
    # No secret in plain text in the guide's fleet files: the webhook URL only on the
    # ansible-vault line.
    for kind, code, line in blocks:
        if kind and WEBHOOK_PLACEHOLDER in code:
            hits = [ln for ln in code.splitlines() if WEBHOOK_PLACEHOLDER in ln]
            assert all("ansible-vault encrypt_string" in ln for ln in hits), (line, hits)
    # Lab specifics stay out of the guide's commands.
    assert not re.search(r"10\.89\.200\.|lab-(monitoring|h200|gaudi|cpu)|accelmon-lab", run)


class Runner:
    def __init__(self, lab, home):
        self.lab = lab
        self.home = home
        self.project = os.path.join(home, PROJECT)
        self.env = guide_env(home)
        self.subst = placeholders(lab, home)
        self.log = []  # (line, kind, seconds, output)

    def _fail(self, line, kind, code, res_out, rc):
        pytest.fail(
            "docs/getting-started.md block at line %d (%s) failed with rc %s:\n--- block\n%s\n--- output\n%s"
            % (line, kind, rc, code.rstrip(), res_out[-6000:])
        )

    def controller(self, code, line):
        cwd = self.project if os.path.isdir(self.project) else self.home
        t0 = time.monotonic()
        try:
            res = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", code],
                cwd=cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=BLOCK_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout or ""
            self._fail(line, "controller", code, out if isinstance(out, str) else out.decode(), "timeout")
        self.log.append((line, "controller", time.monotonic() - t0, res.stdout))
        if res.returncode != 0:
            self._fail(line, "controller", code, res.stdout, res.returncode)
        return res.stdout

    def server(self, code, line):
        with open(os.path.join(self.project, "ssh", "deploy_key.pub"), encoding="utf-8") as fh:
            code = code.replace(PUBKEY_PLACEHOLDER, fh.read().strip())
        outs = {}
        t0 = time.monotonic()
        for name, node in NODES.items():
            res = self.lab.podman(
                "exec", "-i", node, "bash", "-euo", "pipefail", "-s", input_text=code, capture=True, check=False
            )
            if res.returncode != 0:
                self._fail(
                    line, "on-each-server, %s = %s" % (name, node), code, res.stdout + res.stderr, res.returncode
                )
            outs[name] = res.stdout
        self.log.append((line, "server", time.monotonic() - t0, json.dumps(outs)))
        return outs

    def run_guide(self, on_block=None):
        with open(GUIDE, encoding="utf-8") as fh:
            blocks = guide_blocks(fh.read())
        for kind, code, line in blocks:
            if kind is None:
                continue
            code = substitute(code, self.subst)
            out = self.controller(code, line) if kind == "controller" else self.server(code, line)
            if on_block:
                on_block(kind, code, out)

    def timings(self):
        return "\n".join("  line %4d %-10s %6.1f s" % (line, kind, secs) for line, kind, secs, _out in self.log)


def _runtime(lab):
    return lab.prom("/api/v1/status/runtimeinfo")


def test_getting_started_guide_runs_against_the_lab(lab, tmp_path):
    home = str(tmp_path / "home")
    os.makedirs(home)
    runner = Runner(lab, home)
    hv_dir = os.path.join(runner.project, "inventory", "host_vars")
    os.makedirs(hv_dir)
    for name, hv in lab_host_vars(lab).items():
        with open(os.path.join(hv_dir, name + ".yml"), "w", encoding="utf-8") as fh:
            fh.write("# lab only (tests/e2e/test_getting_started.py), not part of the guide\n")
            yaml.safe_dump(hv, fh, sort_keys=True)

    seen = {"fingerprints": {}, "outputs": []}

    def on_block(kind, code, out):
        seen["outputs"].append((code, out))
        if kind == "server":
            for name, text in out.items():
                fp = re.search(r"^256 (SHA256:\S+) ", text, re.M)
                assert fp, (name, text)
                seen["fingerprints"][name] = fp.group(1)
        elif "accelmon.monitoring.site --tags prometheus" in code:
            # A threshold change is a series change: Prometheus was not reloaded.
            assert _runtime(lab)["lastConfigTime"] == seen["config_time"], out[-3000:]
            assert "Reload prometheus" not in out, out[-3000:]
        elif re.search(r"^ansible-playbook accelmon\.monitoring\.site$", code, re.M):
            seen["config_time"] = _runtime(lab)["lastConfigTime"]
        if kind == "controller" and "ssh-keygen -lf ssh/known_hosts" in code:
            # The guide's fingerprint comparison holds: known_hosts has the servers' own keys.
            for name, node in NODES.items():
                if re.search(r"\s%s\s" % re.escape(lab.address(node)), out):
                    assert seen["fingerprints"][name] in out, (name, out)

    t0 = time.monotonic()
    try:
        runner.run_guide(on_block)
    finally:
        sys.stdout.write("getting-started blocks (%.0f s in all):\n%s\n" % (time.monotonic() - t0, runner.timings()))
        if os.environ.get("ACCELMON_LAB_KEEP") == "1":
            # Leave the lab as lab.sh made it, for whoever keeps working with it.
            lab.site_play(quiet=True, logfile=os.path.join(lab.STATE, "site-restore.log"))

    site_runs = [
        out for code, out in seen["outputs"] if re.search(r"^ansible-playbook accelmon\.monitoring\.site$", code, re.M)
    ]
    assert len(site_runs) == 2
    first, second = (" ".join(o.split()) for o in site_runs)
    # The first deploy: two hosts, each verified from the Prometheus host, over the guide's SSH.
    assert "accelmon progress: detecting hardware on 2 hosts" in first
    assert (
        "accelmon verify: gpu-01 OK: node_exporter, all_smi, dcgm_exporter answer, scraped by monitor-01, 8 accelerators"
        in first
    )
    assert "accelmon verify: monitor-01 OK: node_exporter answer" in first
    assert "accelmon progress: done on 2 hosts; failed on 0 hosts" in first
    # The added server: three hosts, gpu-02 verified.
    assert "accelmon verify: gpu-02 OK: node_exporter, all_smi answer, scraped by monitor-01, 8 accelerators" in second
    assert "accelmon progress: done on 3 hosts; failed on 0 hosts" in second

    # What the guide said holds in Prometheus: instance = the guide's names, thresholds per
    # environment (production lowered to 80 in step 9, staging 90), teams per environment.
    up = {r["metric"]["instance"]: r["value"][1] for r in lab.prom("/api/v1/query", query='up{job="node"}')["result"]}
    assert up == {"monitor-01": "1", "gpu-01": "1", "gpu-02": "1"}, up
    thr = {
        r["metric"]["instance"]: (r["value"][1], r["metric"].get("team"))
        for r in lab.prom(
            "/api/v1/query", query='accelmon_alert_threshold{alertname="AcceleratorHighTemperature",param="celsius"}'
        )["result"]
    }
    assert thr["gpu-01"] == ("80", "ml-platform"), thr
    assert thr["gpu-02"] == ("90", "ml-platform-staging"), thr
    # The receiver came out of the vault: Alertmanager's config has the lab's webhook URL,
    # the guide's files do not have it in plain text.
    am_config = lab.podman("exec", NODES["monitor-01"], "cat", "/etc/alertmanager/alertmanager.yml", capture=True)
    assert runner.subst[WEBHOOK_PLACEHOLDER] in am_config.stdout
    project_files = []
    for dp, dns, fns in os.walk(runner.project):
        dns[:] = [d for d in dns if d not in (".git", "rendered", "host_vars")]
        project_files += [os.path.join(dp, f) for f in fns if not f.endswith(".tar.gz")]
    for path in project_files:
        with open(path, encoding="utf-8", errors="replace") as fh:
            assert runner.subst[WEBHOOK_PLACEHOLDER] not in fh.read(), path
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=runner.project, capture_output=True, text=True, check=True, env=runner.env
    ).stdout.split()
    assert not {".vault-pass", "ssh/deploy_key"} & set(tracked), tracked
    assert not [t for t in tracked if t.startswith("rendered/alertmanager/")], tracked
