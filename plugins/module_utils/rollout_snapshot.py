# Copyright (c) 2026 accelmon maintainers
# MIT License (see LICENSE)
"""What a rollout keeps on a host to roll a component back: pure helpers.

Before a batch changes a component, the rollout saves the files that make it run: the
systemd unit (and drop-ins), the binary its ExecStart names, and the component's config
paths, with their checksums, modes and owners, the service's state and the version the
binary reports. A rollback puts exactly those bytes back, removes what the change added,
restores the service state and then checks the checksums again (the restore is verified,
not assumed). The files are found through systemd (`systemctl show`), so the snapshot
follows the host's truth rather than a second copy of each role's paths.
"""

from __future__ import annotations

import re

_VERSION_RE = re.compile(r"\b[vV]?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?)")
_EXEC_PATH_RE = re.compile(r"\bpath=(\S+)")
SHOW_PROPERTIES = ("LoadState", "FragmentPath", "DropInPaths", "ExecStart", "ActiveState", "UnitFileState")


class SnapshotError(Exception):
    """A snapshot cannot be taken or restored; the message names the file and the fix."""


def parse_show(text):
    """`systemctl show -p ...` output (Key=Value lines) as a dict."""
    out = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition("=")
        if sep and key in SHOW_PROPERTIES and key not in out:
            out[key] = value.strip()
    return out


def exec_path(exec_start):
    """The program of an ExecStart property (`{ path=/usr/local/bin/x ; argv[]=... }`)."""
    m = _EXEC_PATH_RE.search(exec_start or "")
    return m.group(1) if m else None


def unit_files(show):
    """(installed, [files]) of a service from its `systemctl show` properties.

    Files: the unit file, its drop-ins and the ExecStart program (when it is not a system
    tool under /usr/bin or /bin, which the component does not own).
    """
    if show.get("LoadState") != "loaded" or not show.get("FragmentPath"):
        return False, []
    files = [show["FragmentPath"]]
    files += [p for p in (show.get("DropInPaths") or "").split() if p]
    program = exec_path(show.get("ExecStart"))
    if program and not program.startswith(("/usr/bin/", "/bin/", "/usr/sbin/", "/sbin/")):
        files.append(program)
    return True, files


def parse_version(text):
    """The first x.y.z[-suffix] in a `--version` output, or None."""
    m = _VERSION_RE.search(text or "")
    return m.group(1) if m else None


def restore_plan(saved_files, current_files):
    """(restore, remove): files to put back from the snapshot, files the change added.

    saved_files: {path: {existed, sha256, ...}} of the snapshot; current_files: paths that
    belong to the component now.
    """
    restore = sorted(p for p, meta in saved_files.items() if meta.get("existed"))
    remove = sorted(
        {p for p, meta in saved_files.items() if not meta.get("existed")}
        | {p for p in current_files if p not in saved_files}
    )
    return restore, remove


def verify(saved_files, checksums):
    """Mismatches after a restore: [str]; checksums: {path: sha256 or None (absent)}."""
    problems = []
    for path, meta in sorted(saved_files.items()):
        now = checksums.get(path)
        if meta.get("existed") and now != meta.get("sha256"):
            problems.append(f"{path}: checksum {now or 'missing'} after restore, expected {meta.get('sha256')}")
        if not meta.get("existed") and now is not None:
            problems.append(f"{path}: still present after restore, but did not exist before the change")
    return problems
