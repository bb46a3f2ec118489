"""Shared helpers for integration tests: run Ansible CLIs with the collection on its path."""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def ansible_env(**extra):
    env = dict(os.environ)
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(ROOT, ".build", "collections"))
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_FORCE_COLOR"] = "0"
    # localhost plays run modules with the test interpreter (it has every requirement)
    env.setdefault("ANSIBLE_PYTHON_INTERPRETER", sys.executable)
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
    env.update(extra)
    return env


def run(args, timeout=300, check=True, **env):
    proc = subprocess.run(
        args, cwd=ROOT, env=ansible_env(**env), capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            "%s failed (%d)\nstdout:\n%s\nstderr:\n%s"
            % (" ".join(args), proc.returncode, proc.stdout[-4000:], proc.stderr[-4000:])
        )
    return proc


def inventory_list(source, raw=False, export=False):
    """ansible-inventory --list as data; raw keeps ansible-core's {"__ansible_unsafe": ...} markers.

    ansible-core 2.19 marks values from inventory plugins as untrusted (never templated) and
    --list writes them wrapped; unwrap for assertions about the values themselves.
    """
    args = [os.path.join(BIN, "ansible-inventory"), "-i", source, "--list"] + (["--export"] if export else [])
    data = json.loads(run(args).stdout)
    return data if raw else unwrap(data)


def unwrap(value):
    if isinstance(value, dict):
        if len(value) == 1 and "__ansible_unsafe" in value:
            return value["__ansible_unsafe"]
        return dict((k, unwrap(v)) for k, v in value.items())
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value
