#!/usr/bin/env bash
# nchan peer for the ngx_chat benchmark: its own Redis and its own nginx
# (stock /usr/sbin/nginx + Debian's libnginx-mod-nchan), nothing shared
# with the ngx_chat demo stack and nothing under /etc/nginx used.
#
# usage: bench/peers/nchan/run.sh start|stop|status [DIR]
#
#   DIR defaults to bench/out/nchan (config, pid files, logs).
#   start   installs libnginx-mod-nchan if missing, starts redis-server on
#           127.0.0.1:$NCHAN_REDIS_PORT (default 26479, no persistence) and
#           nginx (2 workers) on 127.0.0.1:$NCHAN_PORT (default 18980);
#           prints "nginx_master=PID", "nginx_workers=PID PID" and
#           "redis=PID" for CPU measurement.
#   stop    stops that nginx and that Redis, and checks they are gone.
#   status  prints the same pid lines; exits 1 if something is not running.
#
#   Subscribe: WebSocket ws://127.0.0.1:18980/sub/<channel>
#   Publish:   POST http://127.0.0.1:18980/pub/<channel>  (body = message)
#              or WebSocket ws://127.0.0.1:18980/pub/<channel>, one frame
#              per message.

set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)

cmd=${1:-}
dir=${2:-$root/bench/out/nchan}
port=${NCHAN_PORT:-18980}
redis_port=${NCHAN_REDIS_PORT:-26479}
module=/usr/lib/nginx/modules/ngx_nchan_module.so
nginx=/usr/sbin/nginx

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

die() { echo "nchan/run.sh: $*" >&2; exit 1; }

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

readpid() { [ -s "$1" ] && cat "$1" || true; }

workers() {
    local m=$1
    [ -n "$m" ] && pgrep -P "$m" 2>/dev/null | tr '\n' ' ' | sed 's/ $//'
}

print_pids() {
    local n r
    n=$(readpid "$dir/nginx.pid")
    r=$(readpid "$dir/redis.pid")
    echo "nginx_master=${n:-none}"
    echo "nginx_workers=$(workers "$n")"
    echo "redis=${r:-none}"
}

install_deps() {
    local need=()
    [ -e "$module" ] || need+=(libnginx-mod-nchan)
    [ -x "$nginx" ] || need+=(nginx)
    command -v redis-server >/dev/null || need+=(redis-server)
    [ ${#need[@]} = 0 ] && return 0
    echo "nchan/run.sh: installing ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "${need[@]}" >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null && apt-get install -y -q "${need[@]}" >/dev/null; } ||
        die "cannot install ${need[*]}"
    # The Debian package enables the module for the system nginx through a
    # symlink in /etc/nginx/modules-enabled; this peer does not use that.
    [ -e "$module" ] || die "$module missing after install"
}

wait_port() {
    local i
    for i in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

start() {
    install_deps
    if alive "$(readpid "$dir/nginx.pid")"; then
        echo "nchan/run.sh: already running in $dir" >&2
        print_pids
        return 0
    fi

    mkdir -p "$dir/tmp"
    sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$port|g" \
        -e "s|@REDIS_PORT@|$redis_port|g" \
        "$here/nginx.conf.in" > "$dir/nginx.conf"

    "$nginx" -t -q -e "$dir/error.log" -p "$dir/" -c "$dir/nginx.conf" ||
        die "nginx -t failed for $dir/nginx.conf"

    if ! alive "$(readpid "$dir/redis.pid")"; then
        rm -f "$dir/redis.pid"
        if (exec 3<>"/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null; then
            die "port $redis_port is taken by another process (set NCHAN_REDIS_PORT)"
        fi
        redis-server --port "$redis_port" --bind 127.0.0.1 --save '' \
            --appendonly no --daemonize yes --dir "$dir" \
            --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
            || die "redis-server failed to start (see $dir/redis.log)"
        wait_port "$redis_port" || die "redis not listening on $redis_port"
        for _ in $(seq 1 50); do [ -s "$dir/redis.pid" ] && break; sleep 0.1; done
    fi

    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        die "port $port is taken by another process (set NCHAN_PORT)"
    fi
    "$nginx" -e "$dir/error.log" -p "$dir/" -c "$dir/nginx.conf" ||
        die "nginx failed to start (see $dir/error.log)"
    wait_port "$port" || die "nginx not listening on $port"
    for _ in $(seq 1 50); do [ -s "$dir/nginx.pid" ] && break; sleep 0.1; done
    for _ in $(seq 1 50); do
        [ "$(workers "$(readpid "$dir/nginx.pid")" | wc -w)" -ge 2 ] && break
        sleep 0.1
    done
    print_pids
}

stop_pid() {
    local what=$1 pid=$2 i
    alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do alive "$pid" || return 0; sleep 0.1; done
    echo "nchan/run.sh: $what $pid did not stop, killing" >&2
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
}

stop() {
    local n r w left=0 p
    n=$(readpid "$dir/nginx.pid")
    r=$(readpid "$dir/redis.pid")
    w=$(workers "$n")
    stop_pid nginx "$n"
    for p in $w; do stop_pid "nginx worker" "$p"; done
    if alive "$r"; then
        redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
        stop_pid redis "$r"
    fi
    for p in $n $w $r; do
        if alive "$p"; then echo "nchan/run.sh: pid $p still running" >&2; left=1; fi
    done
    rm -f "$dir/nginx.pid" "$dir/redis.pid"
    [ $left = 0 ] && echo "stopped"
    return $left
}

status() {
    local n r ok=0
    n=$(readpid "$dir/nginx.pid")
    r=$(readpid "$dir/redis.pid")
    print_pids
    alive "$n" || { echo "nginx: not running"; ok=1; }
    alive "$r" || { echo "redis: not running"; ok=1; }
    return $ok
}

case $cmd in
start) start ;;
stop) stop ;;
status) status ;;
*) echo "usage: $0 start|stop|status [DIR]" >&2; exit 2 ;;
esac
