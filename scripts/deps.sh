#!/bin/sh
# Installs the Debian packages ngx_chat needs to build, test and run the
# demo.  Idempotent: does nothing (and prints nothing) when all are present.
#
# With an option, one group alone, for a stage of docker/Dockerfile (as
# root; then it stops): --runtime (Debian's nginx, the libraries the module
# and chat-token load, curl for health checks), --build (what `make all`
# needs), --postgresql, --redis.
set -eu

runtime="nginx libhiredis0.14 libpq5 libjansson4 libjwt0 curl"
build="build-essential nginx-dev libhiredis-dev libpq-dev libjansson-dev
libjwt-dev libssl-dev"
pg=postgresql
redis=redis-server
pkgs="$runtime $build $pg $redis libmojolicious-perl perl openssl iproute2
procps util-linux"

only=
case ${1:-} in
"")           ;;
--runtime)    only=$runtime ;;
--build)      only=$build ;;
--postgresql) only=$pg ;;
--redis)      only=$redis ;;
*)            echo "usage: $0 [--runtime|--build|--postgresql|--redis]" >&2
              exit 2 ;;
esac
if [ -n "$only" ]; then
    apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends $only >/dev/null
    exit 0
fi

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
