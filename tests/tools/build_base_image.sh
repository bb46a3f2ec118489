#!/usr/bin/env bash
# Build the systemd base image molecule's podman platforms use, from Debian packages only
# (no container registry is reachable on CI). Skips the build when the image exists and
# was built from the same package list (its label accelmon.packages).
# openssh-server is installed for the lab's SSH nodes but disabled and without host keys:
# tests/lab/lab.py generates each container's own host keys and starts sshd.
#   usage: build_base_image.sh [IMAGE]        (default localhost/accelmon-systemd:bookworm)
#   env:   DEBIAN_MIRROR (default http://deb.debian.org/debian), FORCE=1 to rebuild
set -euo pipefail

image=${1:-localhost/accelmon-systemd:bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
packages=systemd,systemd-sysv,python3,iproute2,procps,sudo,ca-certificates,curl,openssh-server

if [[ $(id -u) -ne 0 ]]; then
    echo "build_base_image.sh: must run as root (debootstrap needs it)" >&2
    exit 1
fi
for tool in podman debootstrap; do
    command -v "$tool" >/dev/null || {
        echo "build_base_image.sh: $tool missing; run tests/tools/setup_podman.sh first" >&2
        exit 1
    }
done

if [[ ${FORCE:-0} != 1 ]] && podman image exists "$image"; then
    built_from=$(podman image inspect --format '{{index .Config.Labels "accelmon.packages"}}' "$image" 2>/dev/null || true)
    if [[ $built_from == "$packages" ]]; then
        echo "build_base_image.sh: $image already present, skipping (FORCE=1 rebuilds)"
        exit 0
    fi
    echo "build_base_image.sh: $image was built from '${built_from:-an older package list}', rebuilding"
fi

rootfs=$(mktemp -d /var/tmp/accelmon-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT

echo "build_base_image.sh: debootstrap bookworm ($packages) from $mirror"
start=$SECONDS
debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$mirror" \
    >"$rootfs.log" 2>&1 || {
    tail -n 40 "$rootfs.log" >&2
    rm -f "$rootfs.log"
    exit 1
}
rm -f "$rootfs.log"

# Trim what a test container never needs and make systemd container-friendly.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
: >"$rootfs/etc/machine-id"
# Units that fail or hang without real hardware / kernel access in a container.
for unit in systemd-remount-fs.service systemd-udevd.service systemd-udev-trigger.service \
    getty.target console-getty.service systemd-logind.service; do
    ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done
# Every container would share these keys: the lab generates them per container instead.
rm -f "$rootfs"/etc/ssh/ssh_host_*
rm -f "$rootfs"/etc/systemd/system/multi-user.target.wants/ssh.service \
    "$rootfs"/etc/systemd/system/sshd.service "$rootfs"/etc/systemd/system/sockets.target.wants/ssh.socket

tar -C "$rootfs" -c . | podman import \
    --change 'CMD ["/sbin/init"]' \
    --change 'ENV container=podman' \
    --change 'STOPSIGNAL SIGRTMIN+3' \
    --change "LABEL accelmon.packages=$packages" \
    - "$image" >/dev/null
echo "build_base_image.sh: imported $image in $((SECONDS - start)) s"
