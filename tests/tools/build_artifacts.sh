#!/usr/bin/env bash
# Build the offline artifacts directory the node roles install from (`accelmon_artifacts_dir`).
#
#   tests/tools/build_artifacts.sh ARTIFACTS_DIR
#
# Layout (ARTIFACTS_DIR/<tool>/<version>/<upstream asset name> + the upstream checksum file):
#   node_exporter/1.5.0/node_exporter-1.5.0.linux-amd64.tar.gz   + sha256sums.txt
#       REAL node_exporter: Debian's /usr/bin/prometheus-node-exporter repacked in the upstream
#       release layout (node_exporter-1.5.0.linux-amd64/{node_exporter,LICENSE,NOTICE}).
#   all-smi/0.25.0/all-smi-linux-x86_64.tar.gz                    + all-smi-linux-x86_64.tar.gz.sha256
#       TEST DOUBLE: tests/emulator/accel_exporter_emulator.py as `all-smi`, plus `all-smi.1`.
#   dcgm-exporter/4.2.3-4.1.3/dcgm-exporter-linux-x86_64.tar.gz   + dcgm-exporter-linux-x86_64.tar.gz.sha256
#       TEST DOUBLE: the emulator as `dcgm-exporter` (dcgm mode chosen by its program name).
#       Upstream dcgm-exporter ships mainly as a container image and publishes no such binary
#       tarball: this asset name is ours, for the role's `binary` install method in tests.
#
# Reproducible and idempotent: fixed mtime, sorted names, owner/group 0, `gzip -n`; an output
# that already has the same bytes is left untouched. Touches no network, except
# `apt-get install prometheus-node-exporter` when the Debian binary is missing.
set -euo pipefail

usage() { echo "usage: $0 ARTIFACTS_DIR" >&2; exit 2; }
[[ $# -eq 1 ]] || usage

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
EMULATOR="${HERE}/../emulator/accel_exporter_emulator.py"
OUT="$1"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

NODE_EXPORTER_BIN="${NODE_EXPORTER_BIN:-/usr/bin/prometheus-node-exporter}"
ALL_SMI_VERSION="${ALL_SMI_VERSION:-0.25.0}"
DCGM_EXPORTER_VERSION="${DCGM_EXPORTER_VERSION:-4.2.3-4.1.3}"
# 2023-01-01T00:00:00Z: every file in every tarball gets this mtime.
SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-1672531200}"

case "$(uname -m)" in
    x86_64) GOARCH=amd64; RUSTARCH=x86_64 ;;
    aarch64) GOARCH=arm64; RUSTARCH=aarch64 ;;
    *) echo "unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac

[[ -f "$EMULATOR" ]] || { echo "emulator not found: $EMULATOR" >&2; exit 1; }

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# tar+gzip a staging directory's entries reproducibly into $2.
repro_tar() {
    local src="$1" dest="$2"
    shift 2
    (cd "$src" && tar --create --sort=name --format=gnu \
        --mtime="@${SOURCE_DATE_EPOCH}" --owner=0 --group=0 --numeric-owner \
        --mode='u+rwX,go+rX,go-w' "$@") | gzip -n -9 >"$dest"
}

# Move $1 over $2 only if the bytes differ (keeps mtimes stable on reruns).
install_if_changed() {
    local new="$1" dest="$2"
    if [[ -f "$dest" ]] && cmp -s "$new" "$dest"; then
        rm -f "$new"
        echo "unchanged: ${dest#"$OUT"/}"
    else
        mv -f "$new" "$dest"
        chmod 0644 "$dest"
        echo "written:   ${dest#"$OUT"/}"
    fi
}

# <sha>  <file>, as upstream writes it (sha256sum's text mode output).
write_checksum() {
    local dir="$1" asset="$2" sumfile="$3"
    (cd "$dir" && sha256sum "$asset") >"$WORK/sum.tmp"
    install_if_changed "$WORK/sum.tmp" "$dir/$sumfile"
}

# --------------------------------------------------------------------- node_exporter (real)
if [[ ! -x "$NODE_EXPORTER_BIN" ]]; then
    echo "$NODE_EXPORTER_BIN missing: installing Debian's prometheus-node-exporter" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        prometheus-node-exporter >&2
fi
NE_VERSION="$("$NODE_EXPORTER_BIN" --version 2>&1 | sed -n 's/^node_exporter, version \([0-9][0-9.]*\).*/\1/p' | head -n1)"
[[ -n "$NE_VERSION" ]] || { echo "cannot read the version of $NODE_EXPORTER_BIN" >&2; exit 1; }
NE_NAME="node_exporter-${NE_VERSION}.linux-${GOARCH}"
NE_DIR="$OUT/node_exporter/$NE_VERSION"
mkdir -p "$NE_DIR" "$WORK/ne/$NE_NAME"
install -m 0755 "$NODE_EXPORTER_BIN" "$WORK/ne/$NE_NAME/node_exporter"
if [[ -f /usr/share/common-licenses/Apache-2.0 ]]; then
    install -m 0644 /usr/share/common-licenses/Apache-2.0 "$WORK/ne/$NE_NAME/LICENSE"
else
    printf 'Apache License, Version 2.0\nhttps://www.apache.org/licenses/LICENSE-2.0\n' \
        >"$WORK/ne/$NE_NAME/LICENSE"
fi
if [[ -f /usr/share/doc/prometheus-node-exporter/NOTICE ]]; then
    install -m 0644 /usr/share/doc/prometheus-node-exporter/NOTICE "$WORK/ne/$NE_NAME/NOTICE"
else
    printf 'Exporter for machine metrics\nCopyright 2013-2015 The Prometheus Authors\n' \
        >"$WORK/ne/$NE_NAME/NOTICE"
fi
repro_tar "$WORK/ne" "$WORK/ne.tar.gz" "$NE_NAME"
install_if_changed "$WORK/ne.tar.gz" "$NE_DIR/$NE_NAME.tar.gz"
write_checksum "$NE_DIR" "$NE_NAME.tar.gz" sha256sums.txt

# --------------------------------------------------------------------- all-smi (TEST DOUBLE)
AS_ASSET="all-smi-linux-${RUSTARCH}.tar.gz"
AS_DIR="$OUT/all-smi/$ALL_SMI_VERSION"
mkdir -p "$AS_DIR" "$WORK/as"
install -m 0755 "$EMULATOR" "$WORK/as/all-smi"
cat >"$WORK/as/all-smi.1" <<'EOF'
.TH ALL-SMI 1 "" "accelmon test double" "User Commands"
.SH NAME
all-smi \- accelerator exporter EMULATOR (test double, not the real all-smi)
.SH SYNOPSIS
.B all-smi api
[\fB\-\-port\fR \fIN\fR] [\fB\-\-interval\fR \fIS\fR] [\fB\-\-processes\fR]
.SH DESCRIPTION
This is accelmon.monitoring's accelerator exporter emulator packaged under the name and
release layout of all-smi, so that the all_smi role can be tested through its offline install
path on machines without accelerators. It reads no hardware: it serves all-smi's metric names
and labels for configured, simulated devices on /metrics (empty before the first collection, as all-smi), with fault injection
on /-/fault. See docs/emulator.md in the collection.
.SH SEE ALSO
https://github.com/lablup/all-smi (the real exporter)
EOF
chmod 0644 "$WORK/as/all-smi.1"
repro_tar "$WORK/as" "$WORK/as.tar.gz" all-smi all-smi.1
install_if_changed "$WORK/as.tar.gz" "$AS_DIR/$AS_ASSET"
write_checksum "$AS_DIR" "$AS_ASSET" "$AS_ASSET.sha256"

# --------------------------------------------------------------------- dcgm-exporter (TEST DOUBLE)
DE_ASSET="dcgm-exporter-linux-${RUSTARCH}.tar.gz"
DE_DIR="$OUT/dcgm-exporter/$DCGM_EXPORTER_VERSION"
mkdir -p "$DE_DIR" "$WORK/de"
install -m 0755 "$EMULATOR" "$WORK/de/dcgm-exporter"
repro_tar "$WORK/de" "$WORK/de.tar.gz" dcgm-exporter
install_if_changed "$WORK/de.tar.gz" "$DE_DIR/$DE_ASSET"
write_checksum "$DE_DIR" "$DE_ASSET" "$DE_ASSET.sha256"

echo "artifacts ready in $OUT"
