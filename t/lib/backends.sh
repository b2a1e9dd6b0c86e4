#!/bin/bash
# Backends for the integration tests: a fresh PostgreSQL cluster and a Redis
# server under DIR, both on 127.0.0.1.  When the postgres user cannot
# enter DIR's parent, DIR becomes a symbolic link to a directory under
# /var/lib/ngx_chat (see scripts/common.sh).
#
#   t/lib/backends.sh start DIR    fresh initdb + migrations, fresh Redis,
#                                  writes DIR/env (shell syntax)
#   t/lib/backends.sh stop DIR     stops both (tolerates either being down)
#   t/lib/backends.sh status DIR
#
# Ports: CHAT_TEST_PG_PORT (default 25442), CHAT_TEST_REDIS_PORT (26389).
#
# Building blocks (used by t/lib/ChatTest/PG.pm and Redis.pm for a test's
# own backends):
#   pg-init DIR PORT   fresh cluster in DIR/pg, started, role+db, migrated
#   pg-start DIR       pg-stop DIR [fast|immediate|smart]
#   redis-start DIR PORT   redis-stop DIR
#   cluster-start DIR BASE [PRIMARIES] [REPLICAS]
#                      a fresh Redis Cluster: PRIMARIES (3) primaries on
#                      BASE, BASE+1, ..., each with REPLICAS (0) replicas
#                      on the next ports, N nodes in all, their cluster
#                      bus on the N ports after them (all below 32768);
#                      a node's files in DIR/node-PORT
#   cluster-node-start DIR PORT   a node of it started again (its nodes.conf
#                      kept: it rejoins); cluster-node-kill DIR PORT (-9)
#   cluster-stop DIR
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=scripts/common.sh
. "$ROOT/scripts/common.sh"

die() { echo "backends.sh: $*" >&2; exit 1; }

port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pg_init() {
    local dir=$1 port=$2 data
    data=$dir/pg/data
    pg_stop "$dir"
    port_busy "$port" && die "port $port is already in use (PostgreSQL)"
    rm -rf "$dir/pg"
    mkdir -p "$dir/pg"
    chmod 755 "$dir"
    chown postgres: "$dir/pg"
    as_pg "$PGBIN/initdb" -D "$data" -A trust -U postgres -E UTF8 \
        --locale=C --no-sync >"$dir/pg/initdb.log" 2>&1 \
        || { cat "$dir/pg/initdb.log" >&2; die "initdb failed"; }
    cat >>"$data/postgresql.conf" <<CONF
# ngx_chat tests
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir/pg'
fsync = off
full_page_writes = off
max_connections = 200
log_min_messages = warning
CONF
    pg_start "$dir"
    psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -qtAX \
        -v ON_ERROR_STOP=1 \
        -c "create role chat login" -c "create database chat owner chat" \
        >/dev/null
    "$ROOT/scripts/chat-migrate" \
        "host=127.0.0.1 port=$port dbname=chat user=chat" >/dev/null
    echo "$port" >"$dir/pg.port"
}

pg_start() {
    local dir=$1
    [ -d "$dir/pg/data" ] || die "no cluster in $dir/pg"
    as_pg "$PGBIN/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/postgres.log" \
        -w -t 30 start >/dev/null \
        || { tail -n 20 "$dir/pg/postgres.log" >&2; die "postgres did not start"; }
}

pg_stop() {
    local dir=$1 mode=${2:-fast}
    [ -f "$dir/pg/data/postmaster.pid" ] || return 0
    as_pg "$PGBIN/pg_ctl" -D "$dir/pg/data" -m "$mode" -w -t 30 stop \
        >/dev/null 2>&1 || true
}

redis_start() {
    local dir=$1 port=$2 i
    redis_stop "$dir"
    port_busy "$port" && die "port $port is already in use (Redis)"
    mkdir -p "$dir"
    redis-server --port "$port" --bind 127.0.0.1 --save '' \
        --appendonly no --daemonize yes --dir "$dir" \
        --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >/dev/null
    for i in $(seq 1 100); do
        redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG \
            && { echo "$port" >"$dir/redis.port"; return 0; }
        sleep 0.05
    done
    tail -n 20 "$dir/redis.log" >&2
    die "redis did not start on port $port"
}

redis_stop() {
    local dir=$1 pid="" port i
    [ -f "$dir/redis.pid" ] && pid=$(cat "$dir/redis.pid")
    if [ -f "$dir/redis.port" ]; then
        port=$(cat "$dir/redis.port")
        redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
    fi
    if pid_alive "$pid"; then
        kill "$pid" 2>/dev/null || true
        for i in $(seq 1 100); do pid_alive "$pid" || break; sleep 0.05; done
        pid_alive "$pid" && kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/redis.pid"
}

cluster_node_start() {
    local dir=$1 port=$2 i nd=$1/node-$2 bus
    mkdir -p "$nd"
    [ -n "${3:-}" ] && echo "$3" >"$nd/bus.port"
    bus=$(cat "$nd/bus.port")
    redis-server --port "$port" --bind 127.0.0.1 --save '' \
        --cluster-port "$bus" \
        --appendonly no --daemonize yes --dir "$nd" \
        --cluster-enabled yes --cluster-config-file "$nd/nodes.conf" \
        --cluster-node-timeout 1000 --cluster-replica-validity-factor 0 \
        --pidfile "$nd/redis.pid" --logfile "$nd/redis.log" >/dev/null
    for i in $(seq 1 100); do
        redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG \
            && return 0
        sleep 0.05
    done
    tail -n 20 "$nd/redis.log" >&2
    die "redis cluster node did not start on port $port"
}

cluster_node_kill() {
    local nd=$1/node-$2 pid="" i
    [ -f "$nd/redis.pid" ] && pid=$(cat "$nd/redis.pid")
    pid_alive "$pid" || return 0
    kill -9 "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do pid_alive "$pid" || break; sleep 0.05; done
    rm -f "$nd/redis.pid"
}

cluster_start() {
    local dir=$1 base=$2 primaries=${3:-3} replicas=${4:-0} n port i
    local addrs=() ok
    cluster_stop "$dir"
    n=$((primaries * (replicas + 1)))
    for ((i = 0; i < 2 * n; i++)); do
        port=$((base + i))
        port_busy "$port" && die "port $port is already in use (Redis Cluster)"
    done
    for ((i = 0; i < n; i++)); do
        port=$((base + i))
        rm -rf "$dir/node-$port"
        cluster_node_start "$dir" "$port" $((port + n))
        addrs+=("127.0.0.1:$port")
        echo "$port" >>"$dir/cluster.ports"
    done
    redis-cli --cluster create "${addrs[@]}" --cluster-replicas "$replicas" \
        --cluster-yes >"$dir/cluster-create.log" 2>&1 \
        || { cat "$dir/cluster-create.log" >&2; die "cluster create failed"; }
    # every node must see every slot served before tests use it
    for i in $(seq 1 200); do
        ok=1
        for ((port = base; port < base + n; port++)); do
            redis-cli -h 127.0.0.1 -p "$port" cluster info 2>/dev/null \
                | grep -q 'cluster_state:ok' || ok=0
        done
        [ $ok = 1 ] && return 0
        sleep 0.05
    done
    die "the cluster on $base did not become ok"
}

cluster_stop() {
    local dir=$1 port
    [ -f "$dir/cluster.ports" ] || return 0
    while read -r port; do
        cluster_node_kill "$dir" "$port"
    done <"$dir/cluster.ports"
    rm -f "$dir/cluster.ports"
}

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: $0 start|stop|status DIR"
case $dir in /*) ;; *) dir=$PWD/$dir ;; esac
# a DIR that the postgres user cannot enter (under root's home) links to
# one it can enter (scripts/common.sh)
dir=$(state_dir "$dir")

case $cmd in
start)
    # below the ephemeral range: no outgoing connection can hold them
    pgport=${CHAT_TEST_PG_PORT:-25442}
    rport=${CHAT_TEST_REDIS_PORT:-26389}
    rm -f "$dir/env"
    redis_stop "$dir"
    pg_init "$dir" "$pgport"
    redis_start "$dir" "$rport"
    cat >"$dir/env" <<ENV
CHAT_PG_PORT=$pgport
CHAT_REDIS_PORT=$rport
CHAT_PG_CONNINFO='host=127.0.0.1 port=$pgport dbname=chat user=chat'
ENV
    echo "backends.sh: postgres on 127.0.0.1:$pgport, redis on 127.0.0.1:$rport ($dir)"
    ;;
stop)
    redis_stop "$dir"
    pg_stop "$dir"
    rm -f "$dir/env"
    ;;
status)
    if [ -f "$dir/pg/data/postmaster.pid" ] \
        && pid_alive "$(head -n 1 "$dir/pg/data/postmaster.pid")"; then
        echo "postgres: running"
    else
        echo "postgres: stopped"
    fi
    if [ -f "$dir/redis.pid" ] && pid_alive "$(cat "$dir/redis.pid")"; then
        echo "redis: running"
    else
        echo "redis: stopped"
    fi
    ;;
pg-init)  pg_init "$dir" "${3:?port}" ;;
pg-start) pg_start "$dir" ;;
pg-stop)  pg_stop "$dir" "${3:-fast}" ;;
redis-start) redis_start "$dir" "${3:?port}" ;;
redis-stop)  redis_stop "$dir" ;;
cluster-start) cluster_start "$dir" "${3:?base port}" "${4:-3}" "${5:-0}" ;;
cluster-stop)  cluster_stop "$dir" ;;
cluster-node-start) cluster_node_start "$dir" "${3:?port}" ;;
cluster-node-kill)  cluster_node_kill "$dir" "${3:?port}" ;;
*) die "unknown command $cmd" ;;
esac
