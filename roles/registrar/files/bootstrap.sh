#!/bin/sh
# accelmon bootstrap: register this server with the accelmon registrar, then wait until
# it is monitored. POSIX sh + curl + coreutils; idempotent (run it again at any time).
#
#   curl -fsSk https://REGISTRAR:8443/v1/ca.pem -o /tmp/accelmon-ca.pem &&
#     echo "CAHASH  /tmp/accelmon-ca.pem" | sha256sum -c - &&
#     curl -fsSL --cacert /tmp/accelmon-ca.pem https://REGISTRAR:8443/bootstrap.sh |
#     sh -s -- --token=abcdef.0123456789abcdef --ca-hash=sha256:CAHASH
#
# The registrar's CA is trusted only when its SHA-256 equals --ca-hash (as kubeadm pins
# its CA with --discovery-token-ca-cert-hash), or when --ca-file names a CA delivered by
# other means (cloud-init write_files). Every request after that verifies the registrar's
# certificate against that CA.
#
# Options:
#   --token=ID.SECRET        bootstrap token (required)
#   --ca-hash=sha256:HEX     SHA-256 of the registrar's CA file (ca.pem)
#   --ca-file=PATH           the registrar's CA, already on this host (checked against --ca-hash when given)
#   --registrar=URL          default: the registrar that served this script
#   --hostname=NAME          inventory name (default: hostname)
#   --address=IP             address to be reached at, tried first (repeatable)
#   --primary-group=PATH     primary group within the token's scope
#   --group=PATH             other group within the token's scope (repeatable; default: all of the token's)
#   --no-ssh                 do not install the deploy user and its key
#   --no-cloud               do not ask the cloud's metadata service for the instance identity
#   --no-wait                exit once registered, do not wait for the deployment
#   --wait-timeout=SECONDS   default 900
#   --state-dir=PATH         default /var/lib/accelmon-bootstrap
#   --sysfs=PATH             default /sys
#   --machine-id-file=PATH   default /etc/machine-id
#   --ssh-dir=PATH           where the SSH host keys are (ssh_host_*_key.pub), default /etc/ssh
#
# Exit status: 0 registered (and, unless --no-wait, deployed); 1 usage or local problem;
# 2 the registrar's CA does not match the pin or TLS failed; 3 registration refused (the
# reason is printed); 4 deployment failed; 5 timed out waiting.
set -eu

VERSION=1
REGISTRAR="@REGISTRAR_URL@"
TOKEN=""
CA_HASH=""
CA_FILE=""
NAME=""
ADDRESSES=""
PRIMARY=""
EXTRA_GROUPS=""
EXTRA_GROUPS_SET=0
SSH=1
CLOUD=1
WAIT=1
WAIT_TIMEOUT=900
STATE_DIR=/var/lib/accelmon-bootstrap
SYSFS=/sys
MACHINE_ID_FILE=/etc/machine-id
SSH_DIR=/etc/ssh

say() { printf 'accelmon-bootstrap: %s\n' "$*" >&2; }
die() { code=$1; shift; say "ERROR: $*"; exit "$code"; }

for arg in "$@"; do
    case $arg in
        --token=*) TOKEN=${arg#*=} ;;
        --ca-hash=*) CA_HASH=${arg#*=} ;;
        --ca-file=*) CA_FILE=${arg#*=} ;;
        --registrar=*) REGISTRAR=${arg#*=} ;;
        --hostname=*) NAME=${arg#*=} ;;
        --address=*) ADDRESSES="$ADDRESSES ${arg#*=}" ;;
        --primary-group=*) PRIMARY=${arg#*=} ;;
        --group=*) EXTRA_GROUPS="$EXTRA_GROUPS ${arg#*=}"; EXTRA_GROUPS_SET=1 ;;
        --no-ssh) SSH=0 ;;
        --no-cloud) CLOUD=0 ;;
        --no-wait) WAIT=0 ;;
        --wait-timeout=*) WAIT_TIMEOUT=${arg#*=} ;;
        --state-dir=*) STATE_DIR=${arg#*=} ;;
        --sysfs=*) SYSFS=${arg#*=} ;;
        --machine-id-file=*) MACHINE_ID_FILE=${arg#*=} ;;
        --ssh-dir=*) SSH_DIR=${arg#*=} ;;
        -h|--help) sed -n '2,40p' "$0" 2>/dev/null || true; exit 0 ;;
        *) die 1 "unknown option $arg (see --help)" ;;
    esac
done

command -v curl >/dev/null 2>&1 || die 1 "curl is required"
command -v sha256sum >/dev/null 2>&1 || die 1 "sha256sum (coreutils) is required"
printf '%s' "$TOKEN" | grep -Eq '^[a-z0-9]{6}\.[a-z0-9]{16}$' ||
    die 1 "--token=ID.SECRET is required, in the form [a-z0-9]{6}.[a-z0-9]{16}"
case $REGISTRAR in
    https://*) ;;
    *) die 1 "--registrar must be an https:// URL (got '$REGISTRAR')" ;;
esac
REGISTRAR=${REGISTRAR%/}
case $WAIT_TIMEOUT in ''|*[!0-9]*) die 1 "--wait-timeout must be a number of seconds" ;; esac
[ -n "$CA_HASH" ] || [ -n "$CA_FILE" ] || die 1 "give --ca-hash=sha256:HEX (or --ca-file=PATH) so the registrar can be trusted"
if [ -n "$CA_HASH" ]; then
    CA_HASH=${CA_HASH#sha256:}
    printf '%s' "$CA_HASH" | grep -Eq '^[0-9a-f]{64}$' || die 1 "--ca-hash must be sha256: and 64 hex digits"
fi

umask 077
mkdir -p "$STATE_DIR" || die 1 "cannot create $STATE_DIR"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/accelmon-bootstrap.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM

# -- 1. trust the registrar --------------------------------------------------------------
CA="$STATE_DIR/registrar-ca.pem"
if [ -n "$CA_FILE" ]; then
    [ -r "$CA_FILE" ] || die 1 "cannot read --ca-file $CA_FILE"
    cp "$CA_FILE" "$TMP/ca.pem"
else
    say "fetching the registrar's CA from $REGISTRAR (checked against the pinned hash)"
    curl -sS --fail --insecure --proto =https --max-time 15 -o "$TMP/ca.pem" "$REGISTRAR/v1/ca.pem" ||
        die 2 "cannot fetch $REGISTRAR/v1/ca.pem"
fi
if [ -n "$CA_HASH" ]; then
    got=$(sha256sum "$TMP/ca.pem" | cut -d' ' -f1)
    [ "$got" = "$CA_HASH" ] ||
        die 2 "the registrar's CA has SHA-256 $got, not the pinned $CA_HASH: not the registrar you expect (or a wrong --ca-hash); nothing was sent"
fi
cp "$TMP/ca.pem" "$CA"
CURL="curl -sS --proto =https --cacert $CA --max-time 30"

# -- 2. facts ------------------------------------------------------------------------------
json_str() {
    # a JSON string: control characters dropped, backslash and quote escaped
    printf '"%s"' "$(printf '%s' "$1" | tr -d '\000-\037\177' | sed 's/\\/\\\\/g; s/"/\\"/g')"
}
json_list() {
    out=""
    for item in "$@"; do out="$out${out:+, }$(json_str "$item")"; done
    printf '[%s]' "$out"
}

[ -n "$NAME" ] || NAME=$(hostname 2>/dev/null || cat /etc/hostname)
[ -r "$MACHINE_ID_FILE" ] || die 1 "cannot read $MACHINE_ID_FILE (systemd's machine id)"
MACHINE_ID=$(tr -d ' \n' < "$MACHINE_ID_FILE")

found=""
if command -v ip >/dev/null 2>&1; then
    found=$(ip -o addr show scope global 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | tr '\n' ' ')
fi
[ -n "$found" ] || found=$(hostname -I 2>/dev/null || true)
# shellcheck disable=SC2086 # word splitting of the address lists is intended
set -- $ADDRESSES $found
[ $# -gt 0 ] || die 1 "no IP address found on this host; give --address=IP"
ADDR_JSON=$(json_list "$@")

# PCI functions as vendor:device:class[:subsystem_device][:vf]; the registrar decides which
# are accelerators. Bridges, memory, base peripherals and serial-bus functions are left out.
hex() { v=$(cat "$1" 2>/dev/null || true); v=${v#0x}; printf '%s' "$v"; }
PCI=""
n=0
for dev in "$SYSFS"/bus/pci/devices/*; do
    [ -e "$dev/vendor" ] || continue
    class=$(hex "$dev/class")
    case $class in 05*|06*|08*|0c*) continue ;; esac
    entry="$(hex "$dev/vendor"):$(hex "$dev/device"):$class"
    sub=$(hex "$dev/subsystem_device")
    [ -z "$sub" ] || entry="$entry:$sub"
    [ ! -e "$dev/physfn" ] || entry="$entry:vf"
    printf '%s' "$entry" | grep -Eq '^[0-9a-f]{4}:[0-9a-f]{4}:[0-9a-f]{6}(:[0-9a-f]{4})?(:vf)?$' || continue
    PCI="$PCI${PCI:+, }\"$entry\""
    n=$((n + 1))
    [ $n -lt 1024 ] || break
done

DMI=""
for field in sys_vendor product_name product_version bios_vendor bios_version board_vendor chassis_vendor chassis_asset_tag; do
    f="$SYSFS/class/dmi/id/$field"
    [ -r "$f" ] || continue
    v=$(head -c 128 "$f" 2>/dev/null | tr -cd '\040-\176' || true)
    DMI="$DMI${DMI:+, }\"$field\": $(json_str "$v")"
done

CLOUD_JSON=""
imds() { curl -sS --fail --noproxy '*' --connect-timeout 2 --max-time 4 "$@" 2>/dev/null | head -c 128 | tr -cd 'A-Za-z0-9._:/-' || true; }
cloud_field() { [ -z "$2" ] || CLOUD_JSON="$CLOUD_JSON${CLOUD_JSON:+, }\"$1\": $(json_str "$2")"; }
if [ "$CLOUD" = 1 ]; then
    vendor_text=$(cat "$SYSFS/class/dmi/id/sys_vendor" "$SYSFS/class/dmi/id/bios_vendor" "$SYSFS/class/dmi/id/bios_version" "$SYSFS/class/dmi/id/chassis_asset_tag" 2>/dev/null | tr '[:upper:]' '[:lower:]' || true)
    case $vendor_text in
        *amazon*)
            t=$(curl -sS --fail --noproxy '*' --connect-timeout 2 --max-time 4 -X PUT \
                -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token 2>/dev/null || true)
            if [ -n "$t" ]; then
                md() { imds -H "X-aws-ec2-metadata-token: $t" "http://169.254.169.254/latest/meta-data/$1"; }
                cloud_field instance_id "$(md instance-id)"
                cloud_field instance_type "$(md instance-type)"
                cloud_field region "$(md placement/region)"
                cloud_field zone "$(md placement/availability-zone)"
            fi ;;
        *google*)
            md() { imds -H 'Metadata-Flavor: Google' "http://169.254.169.254/computeMetadata/v1/$1"; }
            cloud_field instance_id "$(md instance/id)"
            cloud_field instance_type "$(md instance/machine-type | sed 's#.*/##')"
            cloud_field zone "$(md instance/zone | sed 's#.*/##')"
            cloud_field project "$(md project/project-id)" ;;
        *7783-7084-3265-9085-8269-3286-77*)
            md() { imds -H 'Metadata: true' "http://169.254.169.254/metadata/instance/compute/$1?api-version=2021-02-01&format=text"; }
            cloud_field instance_id "$(md vmId)"
            cloud_field instance_type "$(md vmSize)"
            cloud_field region "$(md location)"
            cloud_field zone "$(md zone)" ;;
    esac
fi

# The host's SSH host keys ("TYPE BASE64", no comment): the registrar's deployer trusts them
# for this host's name and address, so the controller's first SSH connection is checked.
HOST_KEYS=""
for f in "$SSH_DIR"/ssh_host_ed25519_key.pub "$SSH_DIR"/ssh_host_ecdsa_key.pub "$SSH_DIR"/ssh_host_rsa_key.pub; do
    [ -r "$f" ] || continue
    key=$(awk 'NR == 1 {print $1 " " $2}' "$f")
    printf '%s' "$key" | grep -Eq '^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/=]+$' || continue
    HOST_KEYS="$HOST_KEYS${HOST_KEYS:+, }$(json_str "$key")"
done

BODY="$TMP/register.json"
{
    printf '{"token": "%s", "hostname": %s, "machine_id": %s, "addresses": %s' \
        "$TOKEN" "$(json_str "$NAME")" "$(json_str "$MACHINE_ID")" "$ADDR_JSON"
    printf ', "pci": [%s], "dmi": {%s}' "$PCI" "$DMI"
    [ -z "$CLOUD_JSON" ] || printf ', "cloud": {%s}' "$CLOUD_JSON"
    [ -z "$PRIMARY" ] || printf ', "primary_group": %s' "$(json_str "$PRIMARY")"
    if [ "$EXTRA_GROUPS_SET" = 1 ]; then
        # shellcheck disable=SC2086 # one group per word
        printf ', "groups": %s' "$(json_list $EXTRA_GROUPS)"
    fi
    [ -z "$HOST_KEYS" ] || printf ', "ssh_host_keys": [%s]' "$HOST_KEYS"
    printf ', "agent": "bootstrap.sh %s"}\n' "$VERSION"
} > "$BODY"

# -- 3. register ---------------------------------------------------------------------------
field() { sed -n "s/.*\"$1\": \"\([^\"]*\)\".*/\1/p" "$2" | head -n 1; }
say "registering $NAME (machine-id $MACHINE_ID, $(printf '%s' "$PCI" | tr ',' '\n' | grep -c . || true) PCI functions) with $REGISTRAR"
code=$($CURL -o "$TMP/response.json" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary @"$BODY" "$REGISTRAR/v1/register") || die 2 "cannot reach $REGISTRAR over TLS with the pinned CA"
case $code in
    200|201) ;;
    *)
        reason=$(field error "$TMP/response.json")
        message=$(sed -n 's/.*"message": "\(.*\)"}$/\1/p' "$TMP/response.json" | head -n 1)
        die 3 "registration refused (HTTP $code${reason:+, $reason}): ${message:-$(head -c 300 "$TMP/response.json")}"
        ;;
esac
ID=$(field id "$TMP/response.json")
printf '%s' "$ID" | grep -Eq '^[0-9a-f]{32}$' || die 3 "the registrar answered without a registration id"
cp "$TMP/response.json" "$STATE_DIR/registration.json"
if [ "$code" = 201 ]; then say "registered as $NAME (registration $ID)"; else say "already registered as $NAME (registration $ID)"; fi

# -- 4. let the deployment in --------------------------------------------------------------
USER_NAME=$(field user "$TMP/response.json")
KEY=$(field authorized_key "$TMP/response.json")
if [ "$SSH" = 1 ] && [ -n "$USER_NAME" ] && [ -n "$KEY" ]; then
    [ "$(id -u)" = 0 ] || die 1 "installing the deploy user needs root (or run with --no-ssh)"
    printf '%s' "$USER_NAME" | grep -Eq '^[a-z_][a-z0-9_-]{0,31}$' || die 3 "the registrar sent an invalid user name"
    printf '%s' "$KEY" | grep -Eq '^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/=]+( [A-Za-z0-9@._-]+)?$' ||
        die 3 "the registrar sent an invalid SSH public key"
    id "$USER_NAME" >/dev/null 2>&1 || useradd --create-home --shell /bin/sh "$USER_NAME" || die 1 "cannot create user $USER_NAME"
    home=$(getent passwd "$USER_NAME" | cut -d: -f6)
    mkdir -p "$home/.ssh"
    touch "$home/.ssh/authorized_keys"
    grep -qxF "$KEY" "$home/.ssh/authorized_keys" || printf '%s\n' "$KEY" >> "$home/.ssh/authorized_keys"
    chmod 700 "$home/.ssh"; chmod 600 "$home/.ssh/authorized_keys"
    chown -R "$USER_NAME:" "$home/.ssh"
    if [ -d /etc/sudoers.d ]; then
        printf '%s ALL=(ALL) NOPASSWD: ALL\n' "$USER_NAME" > "$TMP/sudoers"
        if ! command -v visudo >/dev/null 2>&1 || visudo -cqf "$TMP/sudoers"; then
            install -m 0440 "$TMP/sudoers" /etc/sudoers.d/accelmon-deploy
        fi
    fi
    say "deploy user $USER_NAME can log in with the controller's key"
fi

# -- 5. wait until monitored ---------------------------------------------------------------
[ "$WAIT" = 1 ] || { say "not waiting for the deployment (--no-wait)"; exit 0; }
if grep -q '"deploy": false' "$TMP/response.json"; then
    say "registered; this registrar runs no deployment: the controller's next run of accelmon.monitoring.site deploys $NAME"
    exit 0
fi
start=$(date +%s)
last=""
while :; do
    if $CURL -o "$TMP/status.json" "$REGISTRAR/v1/register/$ID" 2>/dev/null; then
        status=$(field status "$TMP/status.json")
        [ "$status" = "$last" ] || say "status: $status"
        last=$status
        case $status in
            done) say "monitored: $NAME is deployed and scraped ($(($(date +%s) - start)) s)"; exit 0 ;;
            failed) die 4 "deployment failed: $(field reason "$TMP/status.json")" ;;
        esac
    fi
    [ $(($(date +%s) - start)) -lt "$WAIT_TIMEOUT" ] || die 5 "still '$last' after $WAIT_TIMEOUT s; the registrar shows progress at $REGISTRAR/v1/register/$ID"
    sleep 5
done
