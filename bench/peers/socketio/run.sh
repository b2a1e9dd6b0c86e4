#!/usr/bin/env bash
# Socket.IO comparison peer: start, stop or inspect it.
#
# usage: bench/peers/socketio/run.sh start|stop|status [DIR]
#
#   start   npm ci if node_modules is missing; start a private Redis on
#           127.0.0.1:REDIS_PORT (no persistence) and the cluster
#           (server.js: a primary plus WORKERS workers on 127.0.0.1:PORT);
#           wait until every worker listens; print the pids
#   stop    stop the server (primary, then any worker left) and Redis
#   status  print the pids and whether they run (exit 1 if any is down)
#
# DIR (default bench/peers/socketio/run) holds server.pid, redis.pid,
# server.log, redis.log and pids (every server pid on one line: primary,
# workers, Redis; for CPU / memory accounting from /proc).
#
# Environment: PORT (18970), REDIS_PORT (26469), WORKERS (2), HOST,
# PING_INTERVAL, PING_TIMEOUT (ms; passed to server.js), START_TIMEOUT (s, 30).

set -eu

here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:-}
dir=${2:-$here/run}

export PORT=${PORT:-18970}
export REDIS_PORT=${REDIS_PORT:-26469}
export WORKERS=${WORKERS:-2}

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
readpid() { [ -s "$1" ] && cat "$1" || true; }
workers_of() { [ -n "${1:-}" ] && pgrep -P "$1" | tr '\n' ' ' | sed 's/ $//' || true; }

port_busy() { ss -Htln "sport = :$1" | grep -q .; }

show() {
    local p w r
    p=$(readpid "$dir/server.pid")
    r=$(readpid "$dir/redis.pid")
    w=$(workers_of "$p")
    echo "primary $p $(alive "$p" && echo running || echo down)"
    echo "workers ${w:-none}"
    echo "redis $r $(alive "$r" && echo running || echo down)"
    if alive "$p"; then
        echo "$p $w $r" > "$dir/pids"
    fi
}

start() {
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if alive "$(readpid "$dir/server.pid")"; then
        echo "run.sh: already running (pid $(cat "$dir/server.pid"))" >&2
        show
        exit 1
    fi
    for p in "$PORT" "$REDIS_PORT"; do
        if port_busy "$p"; then
            echo "run.sh: port $p is already in use" >&2
            exit 1
        fi
    done
    if [ ! -d "$here/node_modules" ]; then
        (cd "$here" && npm ci --no-audit --no-fund)
    fi

    rm -f "$dir/redis.pid" "$dir/pids"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
        --appendonly no --daemonize yes --dir "$dir" \
        --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
    for _ in $(seq 50); do
        [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && break
        sleep 0.1
    done
    if [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" != PONG ]; then
        echo "run.sh: redis did not start (see $dir/redis.log)" >&2
        exit 1
    fi
    for _ in $(seq 20); do [ -s "$dir/redis.pid" ] && break; sleep 0.1; done

    # as many descriptors as allowed (each connection is one)
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    : > "$dir/server.log"
    nohup node "$here/server.js" >> "$dir/server.log" 2>&1 < /dev/null &
    echo $! > "$dir/server.pid"

    local t=$(( ${START_TIMEOUT:-30} * 10 ))
    for _ in $(seq "$t"); do
        grep -q ' ready: ' "$dir/server.log" && break
        alive "$(cat "$dir/server.pid")" || break
        sleep 0.1
    done
    if ! grep -q ' ready: ' "$dir/server.log"; then
        echo "run.sh: server did not become ready; log:" >&2
        tail -n 30 "$dir/server.log" >&2
        stop
        exit 1
    fi
    echo "socket.io peer on ws://127.0.0.1:$PORT/socket.io/?EIO=4&transport=websocket"
    show
}

stop() {
    local p r w
    p=$(readpid "$dir/server.pid")
    r=$(readpid "$dir/redis.pid")
    w=$(workers_of "$p")
    if alive "$p"; then
        kill -TERM "$p"
        for _ in $(seq 100); do alive "$p" || break; sleep 0.1; done
        alive "$p" && kill -KILL "$p" 2>/dev/null || true
    fi
    for x in $w; do
        for _ in $(seq 30); do alive "$x" || break; sleep 0.1; done
        alive "$x" && kill -KILL "$x" 2>/dev/null || true
    done
    if alive "$r"; then
        redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || kill -TERM "$r"
        for _ in $(seq 50); do alive "$r" || break; sleep 0.1; done
        alive "$r" && kill -KILL "$r" 2>/dev/null || true
    fi
    rm -f "$dir/server.pid" "$dir/redis.pid" "$dir/pids"
    echo "stopped (primary ${p:-none}, workers ${w:-none}, redis ${r:-none})"
}

case $cmd in
start) start ;;
stop) stop ;;
status)
    show
    alive "$(readpid "$dir/server.pid")" && alive "$(readpid "$dir/redis.pid")"
    ;;
*)
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
    exit 2 ;;
esac
