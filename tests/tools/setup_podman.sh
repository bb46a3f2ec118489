#!/usr/bin/env bash
# Prepare a fresh Debian 12 machine (run as root) to host molecule's podman containers
# with real systemd inside. See ../shared/testbed.md for why each setting is needed:
#  - crun refuses this kernel's hybrid cgroup layout -> runc;
#  - root lacks CAP_SYS_RESOURCE, so podman's default rlimits fail -> explicit ulimits.
# Idempotent: installs only what is missing and rewrites containers.conf only when it differs.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
    echo "setup_podman.sh: must run as root (it installs packages and writes /etc/containers)" >&2
    exit 1
fi

# netavark + aardvark-dns + iptables: the network stack molecule's per-scenario podman
# network needs (only recommended by podman's dependencies, so named here).
missing=()
for pkg in podman runc debootstrap netavark aardvark-dns iptables uidmap; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "setup_podman.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
else
    echo "setup_podman.sh: podman, runc, debootstrap and the network stack already installed"
fi

conf=/etc/containers/containers.conf
want=$(cat <<'CONF'
# Written by accelmon tests/tools/setup_podman.sh (see shared/testbed.md).
[containers]
default_ulimits = ["nofile=16384:16384", "nproc=8192:8192"]

[engine]
runtime = "runc"
CONF
)
mkdir -p /etc/containers
if [[ -f $conf ]] && [[ "$(cat "$conf")" == "$want" ]]; then
    echo "setup_podman.sh: $conf already up to date"
else
    if [[ -f $conf ]]; then
        cp -p "$conf" "$conf.accelmon-bak"
        echo "setup_podman.sh: previous $conf saved as $conf.accelmon-bak"
    fi
    printf '%s\n' "$want" >"$conf.tmp"
    mv "$conf.tmp" "$conf"
    echo "setup_podman.sh: wrote $conf"
fi

podman --version
