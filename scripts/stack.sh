#!/bin/bash
# The local demo stack: PostgreSQL, Redis and nginx with ngx_chat.
#
#   scripts/stack.sh up|demo|down|status|rundir [RUNDIR]
#
# RUNDIR defaults to ./run under the repository root (a relative RUNDIR is
# taken relative to the repository root).  PostgreSQL (user postgres) and
# nginx's workers (user nobody) must be able to enter it: when they cannot
# enter its parent (a checkout under root's home), the state lives in
# /var/lib/ngx_chat/<path>-<hash> (CHAT_STATE_BASE) and RUNDIR is a
# symbolic link to it; "rundir" prints where it is.  Environment:
#   CHAT_PG_PORT     (25432)   CHAT_REDIS_PORT (26379)
#   CHAT_HTTP_PORT   (8080)    the demo's nginx listens on 127.0.0.1:PORT
#   CHAT_DEMO_CONF   nginx config template (default conf/demo.conf.in);
#                    @RUNDIR@ @ROOT@ @WEB@ @PG_PORT@ @REDIS_PORT@
#                    @HTTP_PORT@ are substituted
#   CHAT_NGINX       the nginx binary (/usr/sbin/nginx)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/common.sh
. "$ROOT/scripts/common.sh"

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
CHAT_NGINX=${CHAT_NGINX:-/usr/sbin/nginx}
# nginx takes NGINX for sockets inherited from a binary upgrade, and then
# stays in the foreground: nothing started from here may see it
unset NGINX
# fixed ports stay below the kernel's ephemeral range (32768 and up), so an
# outgoing connection never holds one when a service needs to bind it
PG_PORT=${CHAT_PG_PORT:-25432}
REDIS_PORT=${CHAT_REDIS_PORT:-26379}
HTTP_PORT=${CHAT_HTTP_PORT:-8080}
CONF_IN=${CHAT_DEMO_CONF:-$ROOT/conf/demo.conf.in}

cmd=${1:-}
RUNDIR=${2:-run}
case $RUNDIR in /*) ;; *) RUNDIR=$ROOT/$RUNDIR ;; esac

die() { echo "stack.sh: $*" >&2; exit 1; }

# the directory the state is in (up and demo create it)
case $cmd in
up|demo) RUNDIR=$(state_dir "$RUNDIR") ;;
*)       [ -L "$RUNDIR" ] && RUNDIR=$(readlink -m "$RUNDIR") ;;
esac

readpid() { [ -f "$1" ] && head -n 1 "$1" | tr -dc 0-9 || true; }

nginx_pid()  { readpid "$RUNDIR/nginx.pid"; }
redis_pid()  { readpid "$RUNDIR/redis.pid"; }
pg_pid()     { readpid "$RUNDIR/pg/data/postmaster.pid"; }

pg_running() { pid_alive "$(pg_pid)"; }

conninfo="host=127.0.0.1 port=$PG_PORT dbname=chat user=chat"

up_pg() {
    local data=$RUNDIR/pg/data
    mkdir -p "$RUNDIR/pg"
    chown postgres: "$RUNDIR/pg"
    if [ ! -f "$data/PG_VERSION" ]; then
        echo "initialising PostgreSQL in $data"
        as_pg "$PGBIN/initdb" -D "$data" -A trust -U postgres -E UTF8 \
            --locale=C >"$RUNDIR/pg/initdb.log" 2>&1 \
            || { cat "$RUNDIR/pg/initdb.log" >&2; die "initdb failed"; }
    fi
    if pg_running; then
        echo "PostgreSQL already running"
    else
        as_pg "$PGBIN/pg_ctl" -D "$data" -l "$RUNDIR/pg/postgres.log" -w -t 30 \
            -o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$RUNDIR/pg" \
            start >/dev/null \
            || { tail -n 20 "$RUNDIR/pg/postgres.log" >&2; die "PostgreSQL did not start"; }
        echo "PostgreSQL on 127.0.0.1:$PG_PORT"
    fi
    local q="psql -h 127.0.0.1 -p $PG_PORT -U postgres -d postgres -qtAX -v ON_ERROR_STOP=1"
    if [ -z "$($q -c "select 1 from pg_roles where rolname = 'chat'")" ]; then
        $q -c "create role chat login" >/dev/null
    fi
    if [ -z "$($q -c "select 1 from pg_database where datname = 'chat'")" ]; then
        $q -c "create database chat owner chat" >/dev/null
    fi
    "$ROOT/scripts/chat-migrate" "$conninfo"
}

up_redis() {
    local i
    if pid_alive "$(redis_pid)"; then
        echo "Redis already running"
        return 0
    fi
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
        --appendonly no --daemonize yes --dir "$RUNDIR" \
        --pidfile "$RUNDIR/redis.pid" --logfile "$RUNDIR/redis.log" >/dev/null
    for i in $(seq 1 100); do
        if redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then
            echo "Redis on 127.0.0.1:$REDIS_PORT"
            return 0
        fi
        sleep 0.05
    done
    tail -n 20 "$RUNDIR/redis.log" >&2
    die "Redis did not start"
}

up_secret() {
    local f
    # jwt.secret: dev tokens (make token); accounts.secret: chat_accounts_key
    for f in jwt.secret accounts.secret; do
        if [ ! -s "$RUNDIR/$f" ]; then
            (umask 022; od -An -N48 -tx1 /dev/urandom | tr -d ' \n' \
                >"$RUNDIR/$f")
            echo "created JWT secret $RUNDIR/$f"
        fi
        chmod 0644 "$RUNDIR/$f"
    done
}

# the demo page: nginx's workers read it where it is if they can, else
# from a copy in the run directory
web_dir() {
    if reachable -r "$ROOT/web/index.html"; then
        echo "$ROOT/web"
        return 0
    fi
    rm -rf "$RUNDIR/web"
    cp -r "$ROOT/web" "$RUNDIR/web"
    chmod -R a+rX "$RUNDIR/web"
    echo "$RUNDIR/web"
}

up_nginx() {
    local i pid web
    [ -f "$CONF_IN" ] || die "no nginx config template $CONF_IN"
    web=$(web_dir)
    sed -e "s|@RUNDIR@|$RUNDIR|g" -e "s|@ROOT@|$ROOT|g" -e "s|@WEB@|$web|g" \
        -e "s|@PG_PORT@|$PG_PORT|g" -e "s|@REDIS_PORT@|$REDIS_PORT|g" \
        -e "s|@HTTP_PORT@|$HTTP_PORT|g" \
        "$CONF_IN" >"$RUNDIR/nginx.conf"
    mkdir -p "$RUNDIR/logs" "$RUNDIR/tmp"
    touch "$RUNDIR/error.log"
    if ! "$CHAT_NGINX" -p "$RUNDIR" -c "$RUNDIR/nginx.conf" \
        -e "$RUNDIR/error.log" 2>>"$RUNDIR/error.log"; then
        echo "nginx failed to start; the end of $RUNDIR/error.log:" >&2
        tail -n 20 "$RUNDIR/error.log" >&2
        exit 1
    fi
    for i in $(seq 1 100); do
        pid=$(nginx_pid)
        pid_alive "$pid" && break
        sleep 0.05
    done
    if ! pid_alive "$(nginx_pid)"; then
        echo "nginx did not stay up; the end of $RUNDIR/error.log:" >&2
        tail -n 20 "$RUNDIR/error.log" >&2
        exit 1
    fi
    echo "nginx running (pid $(nginx_pid))"
}

ALREADY=0

do_up() {
    local pid
    pid=$(nginx_pid)
    if pid_alive "$pid"; then
        echo "ngx_chat is already running (nginx pid $pid, state in" \
            "$RUNDIR); 'make down' stops it"
        ALREADY=1
        return 0
    fi
    chmod 755 "$RUNDIR"
    up_pg
    up_redis
    up_secret
    up_nginx
}

# what `make up` prints once it started the stack (the demo prints its own)
up_directions() {
    [ $ALREADY = 1 ] && return 0
    cat <<MSG

ngx_chat is up (state in $RUNDIR).
  open        http://127.0.0.1:$HTTP_PORT/ and sign up
  a terminal  build/chatctl register NAME, then build/chatctl login NAME
  a token     make token USER=alice
  stop        make down
MSG
}

do_down() {
    local pid i
    pid=$(nginx_pid)
    if pid_alive "$pid"; then
        "$CHAT_NGINX" -p "$RUNDIR" -c "$RUNDIR/nginx.conf" \
            -e "$RUNDIR/error.log" -s quit 2>/dev/null || kill -QUIT "$pid" 2>/dev/null || true
        for i in $(seq 1 200); do pid_alive "$pid" || break; sleep 0.05; done
        if pid_alive "$pid"; then
            echo "nginx did not quit within 10 s; killing it"
            for i in $(ps --ppid "$pid" -o pid= 2>/dev/null); do
                kill -KILL "$i" 2>/dev/null || true
            done
            kill -KILL "$pid" 2>/dev/null || true
        fi
        echo "nginx stopped"
    fi
    rm -f "$RUNDIR/nginx.pid"

    pid=$(redis_pid)
    if pid_alive "$pid"; then
        redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 \
            || kill "$pid" 2>/dev/null || true
        for i in $(seq 1 100); do pid_alive "$pid" || break; sleep 0.05; done
        pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
        echo "Redis stopped"
    fi
    rm -f "$RUNDIR/redis.pid"

    if pg_running; then
        as_pg "$PGBIN/pg_ctl" -D "$RUNDIR/pg/data" -m fast -w -t 30 stop \
            >/dev/null 2>&1 || true
        echo "PostgreSQL stopped"
    fi
}

do_status() {
    local pid rc=0
    pid=$(nginx_pid)
    if pid_alive "$pid"; then echo "nginx:      running (pid $pid)"
    else echo "nginx:      stopped"; rc=3; fi
    pid=$(redis_pid)
    if pid_alive "$pid"; then echo "redis:      running (pid $pid, port $REDIS_PORT)"
    else echo "redis:      stopped"; rc=3; fi
    if pg_running; then echo "postgresql: running (pid $(pg_pid), port $PG_PORT)"
    else echo "postgresql: stopped"; rc=3; fi
    [ "${CHAT_STATUS_RC:-0}" = 1 ] && return $rc
    return 0
}

# The foreground demo: the stack runs until Ctrl-C, then stops whole.
do_demo() {
    local token_alice token_bob
    do_up
    if [ $ALREADY = 1 ]; then
        echo "The demo stack runs in the background already (make up):" \
            "make token USER=alice gives a token, make down stops it."
        return 0
    fi
    token_alice=$("$ROOT/build/chat-token" --alg HS256 \
        --key "$RUNDIR/jwt.secret" --sub alice --name Alice --ttl 86400)
    token_bob=$("$ROOT/build/chat-token" --alg HS256 \
        --key "$RUNDIR/jwt.secret" --sub bob --name Bob --ttl 86400)
    # before the directions: a Ctrl-C as soon as they show stops it all
    trap 'echo; do_down; exit 0' INT TERM
    cat <<MSG

ngx_chat is up (state in $RUNDIR).

In the browser: open http://127.0.0.1:$HTTP_PORT/, choose Sign up, and pick
a user name and a password (8 characters or more). Sign up a second user
in a private window to chat with.

In a terminal (another shell, in $ROOT):
  build/chatctl register carol        # asks for a password
  build/chatctl login carol
  build/chatctl send lobby "hello from the terminal"
  build/chatctl tail lobby

Two development tokens, valid for a day (the page's "Use a token
instead", or CHATCTL_TOKEN=... for chatctl):
  alice  $token_alice
  bob    $token_bob

Press Ctrl-C to stop everything.
MSG
    while pid_alive "$(nginx_pid)"; do
        sleep 1
    done
    echo "nginx exited; stopping the rest"
    do_down
}

case $cmd in
up)     do_up; up_directions ;;
demo)   do_demo ;;
down)   do_down ;;
status) do_status ;;
rundir) echo "$RUNDIR" ;;
*)      die "usage: $0 up|demo|down|status|rundir [RUNDIR]" ;;
esac
