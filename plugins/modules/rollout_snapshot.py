#!/usr/bin/python
# ruff: noqa: EXE001 -- ansible-test wants this shebang on a non-executable module
# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rollout_snapshot
short_description: Keep a component's binary, unit and config on the host, and roll back to them
version_added: 0.2.0
description:
  - O(state=saved) copies the files that make a systemd service run into O(dir)/O(name) with a manifest of their
    checksums, modes and owners, the service's state and the version its binary reports. The files are found
    through systemd (C(systemctl show)) - the unit file, its drop-ins, the program its C(ExecStart) names - plus
    O(paths).
  - O(state=restored) puts exactly those files back, removes files the change added, reloads systemd, restores
    the service state (restarted when it was running) and verifies the result - every checksum again and the service
    running - failing when the restore did not take.
  - O(state=query) reports the same facts and changes nothing.
  - Used by C(accelmon.monitoring.rollout) around every batch; the logic is in C(module_utils/rollout_snapshot.py).
author:
  - accelmon maintainers (@accelmon)
options:
  name:
    description: Component name (the snapshot's directory under O(dir)), for example C(all_smi).
    type: str
    required: true
  service:
    description: The systemd service, for example C(all-smi).
    type: str
    required: true
  paths:
    description: Further files or directories (walked) that belong to the component, for example its config directory.
    type: list
    elements: path
    default: []
  state:
    description: C(saved), C(restored) or C(query).
    type: str
    choices: [saved, restored, query]
    default: query
  dir:
    description: Where snapshots are kept on the host.
    type: path
    default: /var/lib/accelmon/rollout
  verify_timeout:
    description: Seconds to wait for the restored service to be running.
    type: int
    default: 30
attributes:
  check_mode:
    support: full
    description: Saves and restores nothing; reports what would be done (and the current version).
  diff_mode:
    support: none
    description: Reports the files and versions instead.
  platform:
    support: full
    platforms: posix
    description: Hosts with systemd.
"""

EXAMPLES = r"""
- name: Keep the running all-smi before changing it
  accelmon.monitoring.rollout_snapshot:
    name: all_smi
    service: all-smi
    state: saved
  become: true

- name: Roll back
  accelmon.monitoring.rollout_snapshot:
    name: all_smi
    service: all-smi
    state: restored
  become: true
"""

RETURN = r"""
installed:
  description: Whether the service's unit exists (now, or for O(state=restored) after the restore).
  returned: always
  type: bool
version:
  description: Version the component's binary reports (C(--version)), or null.
  returned: always
  type: str
  sample: 0.25.0
active:
  description: Whether the service is running.
  returned: always
  type: bool
files:
  description: Files of the component, with C(sha256) (null when absent).
  returned: always
  type: dict
saved:
  description: The snapshot's manifest (C(state=restored), and C(state=query) when one exists).
  returned: when a snapshot exists
  type: dict
restored:
  description: Files put back.
  returned: state is restored
  type: list
  elements: str
removed:
  description: Files the change had added, removed by the restore.
  returned: state is restored
  type: list
  elements: str
verified:
  description: Whether the checksums and the service state matched after the restore.
  returned: state is restored
  type: bool
"""

import hashlib  # noqa: E402 - after the documentation, as Ansible modules are laid out
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible_collections.accelmon.monitoring.plugins.module_utils.rollout_snapshot import (  # noqa: E402
    SHOW_PROPERTIES,
    SnapshotError,
    exec_path,
    parse_show,
    parse_version,
    restore_plan,
    unit_files,
    verify,
)


def sha256(path):
    if not os.path.isfile(path):
        return None
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def walk(paths):
    out = []
    for p in paths:
        if os.path.isdir(p):
            for dp, _unused, fs in os.walk(p):
                out += [os.path.join(dp, f) for f in fs]
        else:
            out.append(p)
    return out


class Host:
    def __init__(self, module):
        self.module = module

    def systemctl(self, *args, check=True):
        rc, out, err = self.module.run_command(["systemctl", *args])
        if check and rc != 0:
            raise SnapshotError(f"systemctl {' '.join(args)} failed ({rc}): {(err or out).strip()}")
        return rc, out

    def show(self, service):
        _rc, out = self.systemctl("show", service, "-p", ",".join(SHOW_PROPERTIES), check=False)
        return parse_show(out)

    def version(self, program):
        if not program or not os.access(program, os.X_OK) or program.startswith(("/usr/bin/", "/bin/")):
            return None
        try:
            rc, out, err = self.module.run_command([program, "--version"], environ_update={"LC_ALL": "C"})
        except OSError:
            return None
        return parse_version(out + "\n" + err)

    def facts(self, service, paths):
        show = self.show(service)
        installed, files = unit_files(show)
        files = sorted(set(files + walk(paths)))
        return {
            "installed": installed,
            "active": show.get("ActiveState") == "active",
            "enabled": show.get("UnitFileState") == "enabled",
            "version": self.version(exec_path(show.get("ExecStart"))) if installed else None,
            "files": {p: sha256(p) for p in files},
        }

    def wait_active(self, service, timeout):
        """Running, and still running 2 s later (a crash-looping unit flips between states)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.show(service).get("ActiveState") == "active":
                time.sleep(2)
                if self.show(service).get("ActiveState") == "active":
                    return True
            time.sleep(1)
        return False


def save(module, host, facts, snap_dir):
    manifest = {
        "service": module.params["service"],
        "version": facts["version"],
        "active": facts["active"],
        "enabled": facts["enabled"],
        "installed": facts["installed"],
        "files": {},
    }
    for path, digest in facts["files"].items():
        meta = {"existed": digest is not None, "sha256": digest}
        if digest is not None:
            st = os.stat(path)
            meta.update(mode=st.st_mode & 0o7777, uid=st.st_uid, gid=st.st_gid)
        manifest["files"][path] = meta
    manifest_path = os.path.join(snap_dir, "manifest.json")
    old = None
    if os.path.exists(manifest_path):
        with open(manifest_path, encoding="utf-8") as fh:
            old = json.load(fh)
    if old == manifest:
        return False, manifest
    if not module.check_mode:
        blobs = os.path.join(snap_dir, "blobs")
        os.makedirs(blobs, mode=0o700, exist_ok=True)
        for path, meta in manifest["files"].items():
            if meta["existed"] and not os.path.exists(os.path.join(blobs, meta["sha256"])):
                shutil.copyfile(path, os.path.join(blobs, meta["sha256"]))
        # The manifest last: a snapshot without its manifest is not a snapshot.
        fd, tmp = tempfile.mkstemp(dir=snap_dir)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=1, sort_keys=True)
        os.replace(tmp, manifest_path)
        keep = {m["sha256"] for m in manifest["files"].values() if m["existed"]}
        for blob in os.listdir(blobs):
            if blob not in keep:
                os.unlink(os.path.join(blobs, blob))
    return True, manifest


def restore(module, host, snap_dir):
    p = module.params
    manifest_path = os.path.join(snap_dir, "manifest.json")
    if not os.path.exists(manifest_path):
        raise SnapshotError(
            f"no snapshot of {p['name']} in {snap_dir}: nothing to roll back to (state=saved runs before a change)"
        )
    with open(manifest_path, encoding="utf-8") as fh:
        saved = json.load(fh)
    now = host.facts(p["service"], p["paths"])
    back, remove = restore_plan(saved["files"], list(now["files"]))
    back = [f for f in back if now["files"].get(f) != saved["files"][f]["sha256"]]
    remove = [f for f in remove if os.path.lexists(f)]
    result = {"saved": saved, "restored": back, "removed": remove}
    if module.check_mode:
        return bool(back or remove), result
    if not saved["installed"] and now["installed"]:
        host.systemctl("disable", "--now", p["service"], check=False)
    for path in back:
        meta = saved["files"][path]
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path))
        os.close(fd)
        shutil.copyfile(os.path.join(snap_dir, "blobs", meta["sha256"]), tmp)
        os.chmod(tmp, meta["mode"])
        os.chown(tmp, meta["uid"], meta["gid"])
        os.replace(tmp, path)
    for path in remove:
        os.unlink(path)
    host.systemctl("daemon-reload")
    if saved["installed"]:
        host.systemctl("enable" if saved["enabled"] else "disable", p["service"], check=False)
        host.systemctl("restart" if saved["active"] else "stop", p["service"])
    after = host.facts(p["service"], p["paths"])
    problems = verify(saved["files"], after["files"])
    if saved["installed"] and saved["active"] and not host.wait_active(p["service"], p["verify_timeout"]):
        problems.append(f"{p['service']} is not running {p['verify_timeout']}s after the restore")
    if saved["installed"] and saved["version"] and after["version"] != saved["version"]:
        problems.append(f"version {after['version']} after the restore, expected {saved['version']}")
    result.update(after, verified=not problems, problems=problems)
    return True, result


def main():
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "service": {"type": "str", "required": True},
            "paths": {"type": "list", "elements": "path", "default": []},
            "state": {"type": "str", "choices": ["saved", "restored", "query"], "default": "query"},
            "dir": {"type": "path", "default": "/var/lib/accelmon/rollout"},
            "verify_timeout": {"type": "int", "default": 30},
        },
        supports_check_mode=True,
    )
    p = module.params
    host = Host(module)
    snap_dir = os.path.join(p["dir"], p["name"])
    try:
        if p["state"] == "restored":
            changed, result = restore(module, host, snap_dir)
            if result.get("problems"):
                module.fail_json(
                    msg=f"rollback of {p['name']} not verified: " + "; ".join(result["problems"]),
                    changed=changed,
                    **result,
                )
            module.exit_json(changed=changed, **result)
        facts = host.facts(p["service"], p["paths"])
        if p["state"] == "saved":
            if not module.check_mode:
                os.makedirs(snap_dir, mode=0o700, exist_ok=True)
            changed, manifest = save(module, host, facts, snap_dir)
            module.exit_json(changed=changed, saved=manifest, **facts)
        manifest_path = os.path.join(snap_dir, "manifest.json")
        if os.path.exists(manifest_path):
            with open(manifest_path, encoding="utf-8") as fh:
                facts["saved"] = json.load(fh)
        module.exit_json(changed=False, **facts)
    except (SnapshotError, OSError) as exc:
        module.fail_json(msg=f"{p['name']}: {exc}")


if __name__ == "__main__":
    main()
