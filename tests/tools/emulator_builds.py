"""all-smi "builds" of the exporter emulator for rollout tests (a test double, never shipped).

`write_artifact(artifacts, "0.26.0")` writes <artifacts>/all-smi/0.26.0/all-smi-linux-x86_64.tar.gz
and its .sha256 in the layout the all_smi role installs from (accelmon_artifacts_dir): the
emulator reporting that version. broken=True gives a build that loses every device, the
broken release a canary must catch. tests/lab/lab.py writes both into the lab's artifacts
(0.26.0, and 0.27.0 broken); tests/benchmarks/rollout_scale.py writes 0.26.0.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
EMULATOR = os.path.join(os.path.dirname(HERE), "emulator", "accel_exporter_emulator.py")
ASSET = "all-smi-linux-x86_64.tar.gz"


def emulator_build(version, broken=False):
    with open(EMULATOR, encoding="utf-8") as fh:
        src = fh.read()
    src = src.replace('EMULATOR_VERSION = "0.25.0"', 'EMULATOR_VERSION = "%s"' % version, 1)
    if 'EMULATOR_VERSION = "%s"' % version not in src:
        raise RuntimeError("cannot set the emulator's version in %s" % EMULATOR)
    if broken:
        needle = 'if any(f["type"] == "vanish" for f in mine):'
        if needle not in src:
            raise RuntimeError("cannot break the emulator build: %r not found in %s" % (needle, EMULATOR))
        src = src.replace(needle, "if True:  # BROKEN BUILD (test): every device vanishes", 1)
    return src.encode()


def write_artifact(artifacts, version, broken=False):
    buf = io.BytesIO()
    data = emulator_build(version, broken)
    # the same bytes every time (gzip header without a timestamp): rewriting leaves it unchanged
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        info = tarfile.TarInfo("all-smi")
        info.size, info.mode, info.mtime = len(data), 0o755, 1672531200
        tar.addfile(info, io.BytesIO(data))
    d = os.path.join(artifacts, "all-smi", version)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, ASSET)
    if os.path.exists(path):
        with open(path, "rb") as fh:
            if fh.read() == buf.getvalue():
                return path
    with open(path, "wb") as fh:
        fh.write(buf.getvalue())
    with open(path + ".sha256", "w", encoding="utf-8") as fh:
        fh.write("%s  %s\n" % (hashlib.sha256(buf.getvalue()).hexdigest(), ASSET))
    return path
