#!/usr/bin/env bash
# System packages the tests need on a fresh Debian 12 / Ubuntu machine (run as root or
# with sudo): real Prometheus + promtool, Alertmanager + amtool, node_exporter, podman with
# runc and debootstrap for the molecule hosts, git/rsync for ansible-test's copy, headless
# Chromium and its WebDriver for the lab's browser test (tests/e2e/webui.py); fuse3 +
# python3-fuse (the hung-mount test), python3-prometheus-client, nvme-cli, smartmontools (the
# check runner as it runs on nodes); gunicorn, python3-yaml/netaddr and shellcheck for the
# registrar and bootstrap.sh (tests/integration/test_bootstrap_e2e.py); openssh-client: the lab
# reaches its nodes over SSH (ssh, ssh-keygen, ssh-keyscan); victoria-metrics (single node,
# vmalert) for the scale-out test (tests/integration/test_ha_topology.py).
set -euo pipefail
pkgs=(python3-venv git rsync curl ca-certificates prometheus prometheus-alertmanager
      prometheus-node-exporter podman runc debootstrap uidmap slirp4netns
      chromium chromium-driver fonts-dejavu-core
      fuse3 python3-fuse python3-prometheus-client nvme-cli smartmontools
      gunicorn python3-yaml python3-netaddr shellcheck openssh-client victoria-metrics)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# The Debian packages start their daemons where systemd runs; tests start their own copies
# on loopback ports, so stop the packaged ones if they came up.
for svc in prometheus prometheus-alertmanager prometheus-node-exporter; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done
