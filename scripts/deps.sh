#!/bin/sh
# Installs the Debian packages ngx_chat needs to build, test and run the
# demo.  Idempotent: does nothing (and prints nothing) when all are present.
set -eu

pkgs="build-essential nginx nginx-dev libhiredis-dev libpq-dev libjansson-dev
libjwt-dev libssl-dev postgresql redis-server libmojolicious-perl perl openssl
curl iproute2 procps util-linux"

missing=""
for p in $pkgs; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$st" in
        *" installed") ;;
        *) missing="$missing $p" ;;
    esac
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=sudo
    else
        echo "deps.sh: missing packages:$missing (run as root to install)" >&2
        exit 1
    fi
else
    SUDO=
fi

echo "deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends $missing >/dev/null
