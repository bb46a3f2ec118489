"""tests/tools/build_artifacts.sh builds the offline artifacts the node roles install from.

Checks the layout (`<tool>/<version>/<upstream asset name>` plus the upstream checksum file),
the checksums, the tarball layouts, reproducibility, and that the packaged executables run:
node_exporter (the real Debian binary) answers `--version`, the packaged all-smi (the emulator,
a TEST DOUBLE) serves metrics when run as `all-smi api --port N --interval S`, and the packaged
dcgm-exporter serves DCGM_FI_* names with dcgm-exporter's flags.
"""

import hashlib
import os
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "tools" / "build_artifacts.sh"

NE = Path("node_exporter/1.5.0")
NE_ASSET = "node_exporter-1.5.0.linux-amd64.tar.gz"
AS = Path("all-smi/0.25.0")
AS_ASSET = "all-smi-linux-x86_64.tar.gz"
DE = Path("dcgm-exporter/4.2.3-4.1.3")
DE_ASSET = "dcgm-exporter-linux-x86_64.tar.gz"

pytestmark = pytest.mark.skipif(
    os.uname().machine != "x86_64", reason="asset names below are the x86_64 ones")


def build(dest):
    res = subprocess.run(["bash", str(SCRIPT), str(dest)], capture_output=True, text=True,
                         timeout=300, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    return res


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    if not (shutil.which("prometheus-node-exporter")
            or os.path.exists("/usr/bin/prometheus-node-exporter")) and os.geteuid() != 0:
        pytest.skip("prometheus-node-exporter missing and not root to apt-get it")
    dest = tmp_path_factory.mktemp("artifacts")
    build(dest)
    return dest


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_sumfile(path):
    sums = {}
    for line in path.read_text().splitlines():
        digest, name = line.split("  ", 1)
        assert len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)
        sums[name] = digest
    return sums


def test_layout_and_checksums(artifacts):
    files = sorted(str(p.relative_to(artifacts)) for p in artifacts.rglob("*") if p.is_file())
    assert files == sorted([
        str(NE / NE_ASSET), str(NE / "sha256sums.txt"),
        str(AS / AS_ASSET), str(AS / (AS_ASSET + ".sha256")),
        str(DE / DE_ASSET), str(DE / (DE_ASSET + ".sha256")),
    ])
    assert read_sumfile(artifacts / NE / "sha256sums.txt") == {
        NE_ASSET: sha256(artifacts / NE / NE_ASSET)}
    assert read_sumfile(artifacts / AS / (AS_ASSET + ".sha256")) == {
        AS_ASSET: sha256(artifacts / AS / AS_ASSET)}
    assert read_sumfile(artifacts / DE / (DE_ASSET + ".sha256")) == {
        DE_ASSET: sha256(artifacts / DE / DE_ASSET)}
    # sha256sum -c accepts them, as the upstream files are used
    for rel, sumfile in ((NE, "sha256sums.txt"), (AS, AS_ASSET + ".sha256"),
                         (DE, DE_ASSET + ".sha256")):
        subprocess.run(["sha256sum", "-c", sumfile], cwd=artifacts / rel, check=True,
                       capture_output=True, timeout=30)


def members(path):
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: m for m in tar.getmembers()}


def test_tarball_layouts(artifacts):
    ne = members(artifacts / NE / NE_ASSET)
    top = "node_exporter-1.5.0.linux-amd64"
    assert set(ne) == {top, f"{top}/node_exporter", f"{top}/LICENSE", f"{top}/NOTICE"}
    assert ne[f"{top}/node_exporter"].mode & 0o111
    asm = members(artifacts / AS / AS_ASSET)
    assert set(asm) == {"all-smi", "all-smi.1"}
    assert asm["all-smi"].mode & 0o111
    de = members(artifacts / DE / DE_ASSET)
    assert set(de) == {"dcgm-exporter"}
    for group in (ne, asm, de):
        for m in group.values():
            assert (m.uid, m.gid) == (0, 0)
            assert m.mtime == 1672531200
    with tarfile.open(artifacts / AS / AS_ASSET, "r:gz") as tar:
        man = tar.extractfile("all-smi.1").read().decode()
    assert "EMULATOR" in man and "test double" in man


def test_rebuild_is_byte_identical_and_leaves_files_alone(artifacts, tmp_path):
    before = {p: (sha256(p), p.stat().st_mtime_ns) for p in artifacts.rglob("*") if p.is_file()}
    res = build(artifacts)
    assert "written:" not in res.stdout
    after = {p: (sha256(p), p.stat().st_mtime_ns) for p in artifacts.rglob("*") if p.is_file()}
    assert before == after
    other = tmp_path / "again"
    build(other)
    for p, (digest, _unused) in before.items():
        assert sha256(other / p.relative_to(artifacts)) == digest


def extract(path, dest):
    with tarfile.open(path, "r:gz") as tar:
        tar.extractall(dest, filter="tar")
    return dest


def test_packaged_node_exporter_is_the_real_binary(artifacts, tmp_path):
    out = extract(artifacts / NE / NE_ASSET, tmp_path)
    res = subprocess.run([str(out / "node_exporter-1.5.0.linux-amd64" / "node_exporter"),
                          "--version"], capture_output=True, text=True, timeout=30,
                         check=True)
    assert "node_exporter, version 1.5.0" in res.stdout + res.stderr


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scrape_until(url, needle, proc, timeout=15):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, "exporter exited early"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                body = resp.read().decode()
                if needle in body:
                    return body
                last = body
        except OSError as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"{needle} not served at {url}: {last!r}")


def run_packaged(cmd, url, needle, tmp_path):
    env = dict(os.environ)
    env["ACCEL_EMULATOR_CONTROL"] = str(tmp_path / "no-control.json")
    env.pop("ACCEL_EMULATOR_CONFIG", None)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        return scrape_until(url, needle, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def test_packaged_all_smi_runs_as_all_smi_api(artifacts, tmp_path):
    out = extract(artifacts / AS / AS_ASSET, tmp_path / "as")
    port = free_port()
    # the role's real command line; the emulator binds 0.0.0.0 like all-smi, scraped on loopback
    body = run_packaged([str(out / "all-smi"), "api", "--port", str(port), "--interval", "1"],
                        f"http://127.0.0.1:{port}/metrics", "all_smi_gpu_info{", tmp_path)
    assert 'gpu="NVIDIA H200"' in body
    assert "all_smi_up" not in body  # no such series in all-smi v0.25.0
    version = subprocess.run([str(out / "all-smi"), "--version"], capture_output=True,
                             text=True, timeout=10, check=True).stdout
    assert "0.25.0" in version


def test_packaged_dcgm_exporter_runs_with_dcgm_flags(artifacts, tmp_path):
    out = extract(artifacts / DE / DE_ASSET, tmp_path / "de")
    port = free_port()
    csv = tmp_path / "counters.csv"
    csv.write_text("DCGM_FI_DEV_GPU_TEMP, gauge, GPU temperature (in C).\n"
                   "DCGM_FI_DEV_FB_TOTAL, gauge, Framebuffer memory total (in MiB).\n")
    body = run_packaged([str(out / "dcgm-exporter"), "-f", str(csv), "-a", f"127.0.0.1:{port}",
                         "-c", "1000"],
                        f"http://127.0.0.1:{port}/metrics", "DCGM_FI_DEV_FB_TOTAL{", tmp_path)
    assert "DCGM_FI_DEV_GPU_TEMP{" in body
    assert "DCGM_FI_DEV_POWER_USAGE" not in body
