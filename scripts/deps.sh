#!/bin/sh
# Installs the Debian packages ngx_chat needs to build, test and run the
# demo.  Idempotent: does nothing (and prints nothing) when all are present.
#
# With an option, one group alone, for a stage of docker/Dockerfile (as
# root; then it stops): --runtime (Debian's nginx, the libraries the module
# and chat-token load, curl for health checks), --build (what `make all`
# needs), --postgresql, --redis; --valgrind (for `make test-valgrind`).
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
--valgrind)   only=valgrind ;;
*)            printf "usage: %s [%s]\n" "$0" \
                  "--runtime|--build|--postgresql|--redis|--valgrind" >&2
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

if [ -n "$missing" ]; then
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
fi

# ---- web app and browser tests (t/13*.t, web/) -------------------------
# Debian's chromium (driven headless as /usr/bin/chromium), node with npm
# (Debian's packages unless a node is installed already), and the npm
# packages of t/browser/package-lock.json (playwright-core) in
# t/browser/node_modules.  Quiet when all are there.
web_root=$(cd "$(dirname "$0")/.." && pwd)
web_missing=""
[ -x /usr/bin/chromium ] || web_missing="chromium"
command -v node >/dev/null 2>&1 || web_missing="$web_missing nodejs"
command -v npm >/dev/null 2>&1 || web_missing="$web_missing npm"
if [ -n "$web_missing" ]; then
    web_sudo=
    [ "$(id -u)" -ne 0 ] && web_sudo=sudo
    echo "deps.sh: installing$web_missing"
    $web_sudo apt-get update -qq
    # shellcheck disable=SC2086
    $web_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends $web_missing >/dev/null
fi
web_want=$(sed -n 's/.*"playwright-core": *"\([^"]*\)".*/\1/p' \
    "$web_root/t/browser/package.json")
web_have=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' \
    "$web_root/t/browser/node_modules/playwright-core/package.json" \
    2>/dev/null | head -1)
if [ "$web_want" != "$web_have" ]; then
    echo "deps.sh: npm ci in t/browser (playwright-core $web_want)"
    (cd "$web_root/t/browser" && npm ci --no-audit --no-fund --silent)
fi
# ---- end of the web block -----------------------------------------------
