#!/usr/bin/env bash
# Offline Prometheus and Alertmanager archives for the lab, repacked from Debian's binaries
# in the upstream release layout, so the central roles install them through their real
# offline path (accelmon_artifacts_dir/<tool>/<version>/<asset> + sha256sums.txt):
#
#   prometheus/2.42.0/prometheus-2.42.0.linux-amd64.tar.gz       {prometheus,promtool}
#   alertmanager/0.25.0/alertmanager-0.25.0.linux-amd64.tar.gz   {alertmanager,amtool}
#   prometheus/2.42.0/web/                                        the web UI's static/ + templates/
#
# Debian builds Prometheus without its UI embedded: it serves static/ and templates/ from
# /usr/share/prometheus/web/ (--web.local-assets), whose static/ links into
# /usr/share/javascript (libjs-* packages). web/ is that tree with the links resolved, less
# moment-timezone's raw data/ (212 MB the pages never load); lab.sh copies it into the
# monitoring host, where prometheus_web_local_assets points the service at it.
#   usage: tests/lab/build_central_artifacts.sh ARTIFACTS_DIR
# Versions come from the binaries. Reproducible (fixed mtime, sorted names, gzip -n); an
# unchanged output is not rewritten. Installs prometheus/prometheus-alertmanager with apt
# when the binaries are missing (Debian registry only).
set -euo pipefail

[[ $# -eq 1 ]] || { echo "usage: $0 ARTIFACTS_DIR" >&2; exit 2; }
OUT=$1
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1672531200}

case "$(uname -m)" in
    x86_64) GOARCH=amd64 ;;
    aarch64) GOARCH=arm64 ;;
    *) echo "unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac

need=()
[[ -x /usr/bin/prometheus && -x /usr/bin/promtool ]] || need+=(prometheus)
[[ -x /usr/bin/prometheus-alertmanager && -x /usr/bin/amtool ]] || need+=(prometheus-alertmanager)
if ((${#need[@]})); then
    echo "build_central_artifacts.sh: installing ${need[*]} (Debian)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
    # The packages start their services; the lab needs only the binaries.
    for unit in prometheus prometheus-alertmanager; do
        if command -v systemctl >/dev/null; then systemctl disable --now "$unit" >/dev/null 2>&1 || true; fi
    done
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

version_of() { "$1" --version 2>&1 | sed -n 's/^[a-z_-]*, version \([0-9][0-9.]*\).*/\1/p' | head -n1; }

# pack NAME VERSION SRC:DEST...  -> OUT/NAME/VERSION/NAME-VERSION.linux-ARCH.tar.gz + sha256sums.txt
pack() {
    local name=$1 version=$2
    shift 2
    local dir="$name-$version.linux-$GOARCH" dest="$OUT/$name/$version"
    mkdir -p "$WORK/$name/$dir" "$dest"
    for pair in "$@"; do
        install -m 0755 "${pair%%:*}" "$WORK/$name/$dir/${pair#*:}"
    done
    (cd "$WORK/$name" && tar --create --sort=name --format=gnu --mtime="@$SOURCE_DATE_EPOCH" \
        --owner=0 --group=0 --numeric-owner --mode='u+rwX,go+rX,go-w' "$dir") | gzip -n -9 >"$WORK/$dir.tar.gz"
    if [[ -f "$dest/$dir.tar.gz" ]] && cmp -s "$WORK/$dir.tar.gz" "$dest/$dir.tar.gz"; then
        echo "unchanged: $name/$version/$dir.tar.gz"
    else
        mv -f "$WORK/$dir.tar.gz" "$dest/$dir.tar.gz"
        chmod 0644 "$dest/$dir.tar.gz"
        echo "written:   $name/$version/$dir.tar.gz"
    fi
    (cd "$dest" && sha256sum "$dir.tar.gz") >"$WORK/sum"
    cmp -s "$WORK/sum" "$dest/sha256sums.txt" 2>/dev/null || install -m 0644 "$WORK/sum" "$dest/sha256sums.txt"
}

PV=$(version_of /usr/bin/prometheus)
AV=$(version_of /usr/bin/prometheus-alertmanager)
[[ -n $PV && -n $AV ]] || { echo "cannot read the Prometheus/Alertmanager versions" >&2; exit 1; }
pack prometheus "$PV" /usr/bin/prometheus:prometheus /usr/bin/promtool:promtool
# web_assets VERSION -> OUT/prometheus/VERSION/web (replaced only when its content changed)
web_assets() {
    local src=/usr/share/prometheus/web dest="$OUT/prometheus/$1/web"
    [[ -d $src/templates && -d $src/static ]] || {
        echo "$src/{templates,static} missing: Debian's prometheus package ships them (apt-get install --reinstall prometheus)" >&2
        exit 1
    }
    mkdir -p "$WORK/web"
    tar -C "$src" --dereference --exclude=./static/moment-timezone/data -cf - . | tar -C "$WORK/web" -xf -
    chmod -R u+rwX,go+rX,go-w "$WORK/web"
    [[ -f $WORK/web/static/moment-timezone/moment-timezone-with-data.min.js ]] || {
        echo "the UI's libraries under $src/static are missing (dangling links): apt-get install prometheus's libjs-* dependencies" >&2
        exit 1
    }
    if [[ -d $dest ]] && diff -r -q "$WORK/web" "$dest" >/dev/null; then
        echo "unchanged: prometheus/$1/web"
    else
        rm -rf "$dest.new" && mv "$WORK/web" "$dest.new" && rm -rf "$dest" && mv "$dest.new" "$dest"
        echo "written:   prometheus/$1/web ($(find "$dest" -type f | wc -l) files)"
    fi
}

web_assets "$PV"
pack alertmanager "$AV" /usr/bin/prometheus-alertmanager:alertmanager /usr/bin/amtool:amtool
echo "central artifacts ready in $OUT (prometheus $PV, alertmanager $AV)"
