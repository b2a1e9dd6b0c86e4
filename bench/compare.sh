#!/usr/bin/env bash
# ngx_chat side by side with nchan, Socket.IO and the machine's own limit:
# the same load generator (bench/chat-bench), the same scenarios, in one run.
#
# usage: bench/compare.sh [--quick] [--runs N] [--only LIST] [--no-write]
#
#   --quick     smaller and shorter (about 3 minutes), 1 run per figure
#   --runs N    runs per figure (3; quick: 1); figures are the median, with
#               min and max
#   --only L    comma-separated subset of: ngx_chat ngx_chat-redis nchan sio
#               limit ngx_chat-cluster
#   --no-write  leave BENCHMARKS.md and docs/bench/ alone (a full run
#               rewrites their generated part; a quick run never does)
#
# Systems, each started here with its own Redis, pinned to CPU 0 with
# taskset, and stopped before the next one starts:
#   ngx_chat        as shipped: every send committed to PostgreSQL before
#                   it is acknowledged and delivered (bench/peers/ngx_chat)
#   ngx_chat-redis  the same with "chat_store redis": messages through
#                   Redis only, as nchan and Socket.IO keep them
#   nchan           Debian's libnginx-mod-nchan in its own nginx, Redis
#                   storage (bench/peers/nchan)
#   sio             Socket.IO 4 with @socket.io/redis-adapter, one Node
#                   process per core (bench/peers/socketio)
#   limit           bench/peers/limit.c: accept, frame, write; nothing else
#   ngx_chat-cluster  ngx_chat as shipped on a Redis Cluster of three
#                   primaries ("chat_redis cluster", t/lib/backends.sh
#                   cluster-start on BENCH_CLUSTER_PORT, 26470, and the 5
#                   ports after it), all pinned to the server's CPU; fanout
#                   and chat only
#
# Scenarios (chat-bench pinned to CPU 1):
#   fanout   one room of FANOUT_SUBS subscribers, send rate stepped through
#            FANOUT_RATES until p99 passes 100 ms or deliveries fall behind;
#            a step measures at least FANOUT_MIN_MSGS messages (full: 250)
#   chat     CHAT_PAIRS two-person rooms plus CHAT_GROUPS rooms of
#            CHAT_GROUP_SIZE, everyone sending, total rate stepped through
#            CHAT_RATES (not for limit: it has no rooms)
#   connect  CONNECT_CONNS connections opened, authenticated and joined as
#            fast as the server takes them: users of the idle scenario
#            coming back to their rooms, as after a restart
#   idle     IDLE_CONNS connections authenticated and joined, then held:
#            memory per connection and CPU while idle.  Two figures: the
#            growth from before the first connection over all of them
#            (what a server with only these clients pays, its one-time
#            costs included, such as the caches a PostgreSQL connection
#            of the module's pool fills with its first statements), and
#            the growth over the second half alone, measured once the
#            first half was held and settled (--base-conns): the cost of
#            one more connection, the same way for every system
#   fanout-plain, fanout-deflate (ngx_chat-redis only)
#            the fanout at the fixed DEFLATE_RATES, body DEFLATE_SIZE bytes,
#            without and with permessage-deflate offered: bytes read and
#            server CPU per delivery
#   reload   ngx_chat only: RELOAD_CONNS connections joined and chatting
#            (200 msgs/s), then "nginx -s reload"; each closed client
#            reconnects after a random delay below 1 s: the new workers'
#            connect rate over time, failed reconnects, the time until all
#            are back, acks lost; once as configured (chat_reload_spread's
#            default) and once with "chat_reload_spread 0" (all at once)
#
# Each step of fanout and chat also reports PostgreSQL's CPU per message
# committed (pg_us_per_msg: every PostgreSQL process, the short-lived
# ones too, over the acknowledged sends; "/pgNNus" in the progress lines).
#
# Outputs: bench/out/compare-<time>/ (every chat-bench output, results.txt,
# summary.txt, BENCHMARKS.md, plots); a full run without --no-write copies
# the generated part into BENCHMARKS.md and the plots into docs/bench/.

set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

quick=0
runs=
only=
write=1

while [ $# -gt 0 ]; do
    case $1 in
    --quick) quick=1 ;;
    --runs) runs=$2; shift ;;
    --only) only=$2; shift ;;
    --no-write) write=0 ;;
    -h|--help)
        awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' \
            "$0"
        exit 0 ;;
    *) echo "compare.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

if [ $quick = 1 ]; then
    : "${runs:=1}" "${FANOUT_SUBS:=500}"
    : "${FANOUT_RATES:=25,100,400,1600}"
    : "${CHAT_PAIRS:=250}" "${CHAT_GROUPS:=5}" "${CHAT_GROUP_SIZE:=50}"
    : "${CHAT_RATES:=500,2000,8000}" "${CONNECT_CONNS:=2000}"
    : "${IDLE_CONNS:=5000}" "${STEP_SECS:=2}" "${WARMUP:=1}"
    : "${FANOUT_MIN_MSGS:=0}"
    write=0
else
    : "${runs:=3}" "${FANOUT_SUBS:=1000}"
    : "${FANOUT_RATES:=25,50,100,200,300,450,700,1000,1500,2200}"
    : "${CHAT_PAIRS:=1000}" "${CHAT_GROUPS:=20}" "${CHAT_GROUP_SIZE:=50}"
    : "${CHAT_RATES:=500,1000,2000,3000,4000,6000,8000,12000,16000}"
    : "${CONNECT_CONNS:=5000}" "${IDLE_CONNS:=20000}" "${STEP_SECS:=2}"
    : "${WARMUP:=1}"
    # a low fanout rate is measured for this many messages at least, so
    # that its p99 is not the tail of one or two messages
    : "${FANOUT_MIN_MSGS:=250}"
fi

if [ $quick = 1 ]; then : "${RELOAD_CONNS:=2000}"; else : "${RELOAD_CONNS:=10000}"; fi

: "${SIZE:=64}" "${GEN_CPU:=1}" "${SRV_CPU:=0}" "${DRAIN:=2}"
: "${DEFLATE_SIZE:=$SIZE}"
if [ $quick = 1 ]; then : "${DEFLATE_RATES:=50,200}"
else : "${DEFLATE_RATES:=25,100,200}"; fi
: "${IDLE_HOLD:=2}"

all_systems="ngx_chat ngx_chat-redis nchan sio limit ngx_chat-cluster"
systems=${only:-$all_systems}
systems=${systems//,/ }

for s in $systems; do
    case " $all_systems " in
    *" $s "*) ;;
    *) echo "compare.sh: unknown system: $s" >&2; exit 2 ;;
    esac
done

stamp=$(date +%Y%m%d-%H%M%S)
out=$here/out/compare-$stamp
mkdir -p "$out"
results=$out/results.txt
: > "$results"

started=
started_at=$(date +%s)

stop_system() {
    case $1 in
    ngx_chat|ngx_chat-redis)
        CHAT_PG_PORT=$chat_pg_port CHAT_REDIS_PORT=$chat_redis_port \
            "$root/scripts/stack.sh" down "$chat_dir" >/dev/null 2>&1 || true
        ;;
    ngx_chat-cluster)
        CHAT_PG_PORT=$chat_pg_port CHAT_REDIS_PORT=$chat_redis_port \
            "$root/scripts/stack.sh" down "$chat_dir" >/dev/null 2>&1 || true
        "$root/t/lib/backends.sh" cluster-stop "$out/cluster" >/dev/null \
            2>&1 || true
        ;;
    nchan) "$here/peers/nchan/run.sh" stop "$out/nchan" >/dev/null || true ;;
    sio) "$here/peers/socketio/run.sh" stop "$out/sio" >/dev/null || true ;;
    limit)
        if [ -n "${limit_pid:-}" ]; then
            kill -TERM "$limit_pid" 2>/dev/null || true
            wait "$limit_pid" 2>/dev/null || true
            limit_pid=
        fi ;;
    esac
}

cleanup() {
    if [ -n "$started" ]; then
        stop_system "$started"
        started=
    fi
}

die() { echo "compare.sh: $*" >&2; exit 1; }

trap cleanup EXIT
trap 'exit 130' INT TERM

# what the comparison needs: built generator and limit, gnuplot, peers'
# packages (each peer's run.sh installs its own)

make -C "$root" -s all
make -C "$here" -s chat-bench
make -C "$here" -s peers/limit

if ! command -v gnuplot >/dev/null 2>&1; then
    echo "compare.sh: installing gnuplot-nox"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null \
        2>&1 || { apt-get update -qq >/dev/null \
        && apt-get install -y -qq --no-install-recommends gnuplot-nox \
        >/dev/null; } || echo "compare.sh: no gnuplot: no plots" >&2
fi

chat_dir=$out/ngx_chat
chat_pg_port=${BENCH_CHAT_PG_PORT:-26449}
chat_redis_port=${BENCH_CHAT_REDIS_PORT:-26459}
chat_port=18960
cluster_port=${BENCH_CLUSTER_PORT:-26470}
limit_port=18990
limit_pid=

# every server process of the running system, for chat-bench's CPU and
# memory figures: --master-pid for each process tree
procs=()

start_system() {
    local s=$1 p
    procs=()

    case $s in
    ngx_chat|ngx_chat-redis)
        CHAT_PG_PORT=$chat_pg_port CHAT_REDIS_PORT=$chat_redis_port \
        CHAT_DEMO_CONF=$here/peers/ngx_chat/nginx.conf.in \
            taskset -c "$SRV_CPU" "$root/scripts/stack.sh" up "$chat_dir" \
            > "$out/$s.start.log" 2>&1 \
            || { cat "$out/$s.start.log" >&2; return 1; }
        # a step stopped by one stall: its autovacuum runs and statements
        # of 100 ms or more are in $chat_dir/pg/postgres.log (checkpoints
        # are logged by default)
        psql -X -q -h 127.0.0.1 -p "$chat_pg_port" -U postgres -d chat \
            -c "alter system set log_autovacuum_min_duration = 0" \
            -c "alter system set log_min_duration_statement = 100" \
            -c "select pg_reload_conf()" > /dev/null || true
        for p in "$chat_dir/nginx.pid" "$chat_dir/redis.pid" \
                 "$chat_dir/pg/data/postmaster.pid"; do
            procs+=(--master-pid "$(head -n 1 "$p" | tr -dc 0-9)")
        done
        gen_target=(--proto ngx_chat --port $chat_port
                    --secret "$chat_dir/jwt.secret")
        if [ "$s" = ngx_chat ]; then
            gen_target+=(--path /chat/ws)
        else
            gen_target+=(--path /chat/ws-redis)
        fi
        ;;

    ngx_chat-cluster)
        mkdir -p "$out/cluster"
        taskset -c "$SRV_CPU" "$root/t/lib/backends.sh" cluster-start \
            "$out/cluster" "$cluster_port" 3 0 > "$out/$s.cluster.log" 2>&1 \
            || { cat "$out/$s.cluster.log" >&2; return 1; }
        # the same nginx.conf, on the cluster instead of one Redis
        sed "s|^\( *chat_redis  *\)127.0.0.1:@REDIS_PORT@;|\1cluster \
127.0.0.1:$cluster_port 127.0.0.1:$((cluster_port + 1)) \
127.0.0.1:$((cluster_port + 2));|" "$here/peers/ngx_chat/nginx.conf.in" \
            > "$out/cluster/nginx.conf.in"
        grep -q 'chat_redis  *cluster' "$out/cluster/nginx.conf.in" \
            || { echo "compare.sh: no chat_redis in the conf" >&2; return 1; }
        CHAT_PG_PORT=$chat_pg_port CHAT_REDIS_PORT=$chat_redis_port \
        CHAT_DEMO_CONF=$out/cluster/nginx.conf.in \
            taskset -c "$SRV_CPU" "$root/scripts/stack.sh" up "$chat_dir" \
            > "$out/$s.start.log" 2>&1 \
            || { cat "$out/$s.start.log" >&2; return 1; }
        for p in "$chat_dir/nginx.pid" "$chat_dir/pg/data/postmaster.pid" \
                 "$out/cluster"/node-*/redis.pid; do
            procs+=(--master-pid "$(head -n 1 "$p" | tr -dc 0-9)")
        done
        gen_target=(--proto ngx_chat --port $chat_port --path /chat/ws
                    --secret "$chat_dir/jwt.secret")
        ;;

    nchan)
        taskset -c "$SRV_CPU" "$here/peers/nchan/run.sh" start "$out/nchan" \
            > "$out/nchan.start.log" 2>&1 \
            || { cat "$out/nchan.start.log" >&2; return 1; }
        procs+=(--master-pid "$(sed -n 's/^nginx_master=//p' \
                                "$out/nchan.start.log")")
        procs+=(--master-pid "$(sed -n 's/^redis=//p' "$out/nchan.start.log")")
        gen_target=(--proto nchan --nchan-echo)
        ;;

    sio)
        taskset -c "$SRV_CPU" "$here/peers/socketio/run.sh" start "$out/sio" \
            > "$out/sio.start.log" 2>&1 \
            || { cat "$out/sio.start.log" >&2; return 1; }
        procs+=(--master-pid "$(cat "$out/sio/server.pid")")
        procs+=(--master-pid "$(cat "$out/sio/redis.pid")")
        gen_target=(--proto sio)
        ;;

    limit)
        taskset -c "$SRV_CPU" "$here/peers/limit" --port $limit_port \
            --workers 2 2> "$out/limit.log" &
        limit_pid=$!
        for _ in $(seq 50); do
            (exec 3<>/dev/tcp/127.0.0.1/$((limit_port + 1))) 2>/dev/null \
                && break
            sleep 0.1
        done
        procs+=(--master-pid "$limit_pid")
        gen_target=(--proto limit --port $limit_port --ports 2)
        ;;
    esac
    started=$s
}

gen=(taskset -c "$GEN_CPU" "$here/chat-bench")

# one chat-bench run: its RESULT lines, tagged, into results.txt
bench() {
    local s=$1 run=$2 name=$3
    shift 3
    local cmd=("${gen[@]}" "${gen_target[@]}" --size "$SIZE" "$@"
               "${procs[@]}")
    local f=$out/$s.$name.$run

    echo "\$ ${cmd[*]}" | sed "s|$root/||g" >> "$out/commands.txt"
    printf '  %-15s run %s %-8s ' "$s" "$run" "$name"

    if ! "${cmd[@]}" > "$f.txt" 2> "$f.err"; then
        echo "chat-bench exited $?: $(tail -n 1 "$f.err")"
        echo "RESULT system=$s run=$run name=$name failed=run" >> "$results"
        return 0
    fi

    grep '^RESULT' "$f.txt" \
        | sed "s/^RESULT /RESULT system=$s run=$run name=$name /" \
        >> "$results" || true
    grep '^RESULT' "$f.txt" | awk '
        { for (i = 2; i <= NF; i++) { split($i, kv, "="); r[kv[1]] = kv[2] }
          if (r["scenario"] == "reload-chat")
              next
          if (r["scenario"] == "reload")
              s = s sprintf(" %s back in %ss, peak %s/s, acks lost %s",
                            r["reconnected"], r["back_s"], r["peak_per_s"],
                            r["acks_lost"])
          else if (r["scenario"] == "idle" || r["scenario"] == "connect")
              s = s sprintf(" %s conns, %s/s", r["ready"], r["conn_rate"])
          else
              s = s sprintf(" %s:%s", r["rate"], (r["stopped"] == 1) \
                  ? "stop" : sprintf("%.0fms", r["lat_p99_us"] / 1000))
          # PostgreSQL CPU per message committed, where one is measured
          if ("pg_us_per_msg" in r)
              s = s sprintf("/pg%.0fus", r["pg_us_per_msg"])
          delete r }
        END { print s }'
}

load_scenarios() {
    local s=$1 run=$2

    bench "$s" "$run" fanout --scenario fanout --subs "$FANOUT_SUBS" \
        --rates "$FANOUT_RATES" --duration "$STEP_SECS" --warmup "$WARMUP" \
        --min-msgs "$FANOUT_MIN_MSGS" \
        --drain "$DRAIN" --stop-p99-ms 100 --room-prefix "fo$run"

    if [ "$s" != limit ]; then
        bench "$s" "$run" chat --scenario chat --pairs "$CHAT_PAIRS" \
            --groups "$CHAT_GROUPS" --group-size "$CHAT_GROUP_SIZE" \
            --rates "$CHAT_RATES" --duration "$STEP_SECS" \
            --warmup "$WARMUP" --drain "$DRAIN" --stop-p99-ms 100 \
            --room-prefix "ch$run"
    fi

    # permessage-deflate: the fanout at fixed rates, plain and with every
    # connection offering compression; the store does not matter to it
    if [ "$s" = ngx_chat-redis ]; then
        for z in plain deflate; do
            bench "$s" "$run" "fanout-$z" --scenario fanout \
                --subs "$FANOUT_SUBS" --rates "$DEFLATE_RATES" \
                --size "$DEFLATE_SIZE" --duration "$STEP_SECS" \
                --warmup "$WARMUP" --drain "$DRAIN" --stop-p99-ms 0 \
                --room-prefix "fz$z$run" $([ $z = deflate ] && echo --deflate)
        done
    fi

    # the cluster variant is about fanout across nodes: no connect storm
    [ "$s" = ngx_chat-cluster ] && return 0

    # the users of the idle runs coming back to their rooms, as after a
    # restart of the server
    bench "$s" "$run" connect --scenario connect --conns "$CONNECT_CONNS" \
        --room-prefix "id$run"
}

# ngx_chat's master (nginx.pid) and how many workers it has that are not
# shutting down; "settle": wait until the old ones are gone (30 s at most)
chat_master() { head -n 1 "$chat_dir/nginx.pid" | tr -dc 0-9; }

chat_reload_settle() {
    local master i
    master=$(chat_master)
    kill -HUP "$master"
    for i in $(seq 300); do
        sleep 0.1
        ps -o cmd= --ppid "$master" | grep -q 'shutting down' || return 0
    done
    echo "compare.sh: old nginx workers still there after 30 s" >&2
}

# the reload of ngx_chat under RELOAD_CONNS connections: as configured,
# then with chat_reload_spread 0 (the workers that the reload replaces
# must have it: a reload to it first, and one back at the end)
reload_scenarios() {
    local run=$1 conf=$chat_dir/nginx.conf
    local args=(--scenario reload --pairs $((RELOAD_CONNS / 2))
                --groups $((RELOAD_CONNS >= 1000 ? 10 : 1))
                --group-size $((RELOAD_CONNS >= 1000 ? 50 : 2))
                --reload-pid "$(chat_master)")

    bench ngx_chat "$run" reload "${args[@]}" --room-prefix "rl$run"
    chat_reload_settle

    cp "$conf" "$conf.spread"
    sed -i 's/^http {$/http {\n    chat_reload_spread 0;/' "$conf"
    chat_reload_settle
    bench ngx_chat "$run" reload0 "${args[@]}" --room-prefix "rz$run"
    mv "$conf.spread" "$conf"
    chat_reload_settle
}

# the machine and the versions

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
pkgver() { dpkg-query -W -f '${Version}' "$1" 2>/dev/null || echo none; }

{
    echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "mode=$([ $quick = 1 ] && echo quick || echo full)"
    echo "runs=$runs"
    echo "cpu=${cpu_model:-unknown}"
    echo "cores=$(nproc)"
    echo "mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' \
               /proc/meminfo)"
    echo "kernel=$(uname -sr)"
    echo "ngx_chat=$(git -C "$root" describe --always --dirty 2>/dev/null \
                     || echo unknown)"
    echo "nginx=$(/usr/sbin/nginx -v 2>&1 | sed 's/^nginx version: //')"
    echo "socket.io=$(sed -n '/"node_modules\/socket.io"/,/version/ s/.*"version": "\(.*\)".*/\1/p' \
        "$here/peers/socketio/package-lock.json" | head -n 1)"
    echo "redis_adapter=$(sed -n '/"node_modules\/@socket.io\/redis-adapter"/,/version/ s/.*"version": "\(.*\)".*/\1/p' \
        "$here/peers/socketio/package-lock.json" | head -n 1)"
    echo "redis=$(redis-server --version | sed 's/.* v=\([^ ]*\).*/\1/')"
    echo "postgresql=$(/usr/lib/postgresql/15/bin/postgres --version \
                       | sed 's/.* //')"
    echo "gen_cpu=$GEN_CPU"
    echo "srv_cpu=$SRV_CPU"
    echo "fanout_subs=$FANOUT_SUBS"
    echo "fanout_rates=$FANOUT_RATES"
    echo "chat_shape=$CHAT_PAIRS pairs + $CHAT_GROUPS rooms of $CHAT_GROUP_SIZE"
    echo "chat_rates=$CHAT_RATES"
    echo "connect_conns=$CONNECT_CONNS"
    echo "idle_conns=$IDLE_CONNS"
    echo "reload_conns=$RELOAD_CONNS"
    echo "step_secs=$STEP_SECS"
    echo "fanout_min_msgs=$FANOUT_MIN_MSGS"
    echo "warmup=$WARMUP"
    echo "size=$SIZE"
    echo "deflate_rates=$DEFLATE_RATES"
    echo "deflate_size=$DEFLATE_SIZE"
    echo "command=make bench$([ $quick = 1 ] && echo ' QUICK=1')"
} > "$out/machine.txt"

sed 's/^/  /' "$out/machine.txt"

# Memory is measured on a freshly started server each time: freed memory
# kept by an allocator from an earlier run would hide what connections
# cost.  The load scenarios then share one start.
for s in $systems; do
    echo
    echo "== $s"
    for run in $(seq 1 "$runs"); do
        [ "$s" = ngx_chat-cluster ] && break
        start_system "$s" || die "$s did not start"
        bench "$s" "$run" idle --scenario idle --conns "$IDLE_CONNS" \
            --duration "$IDLE_HOLD" --warmup 1 --room-prefix "id$run" \
            --base-conns $((IDLE_CONNS / 2))
        stop_system "$s"
        started=
    done
    start_system "$s" || die "$s did not start"
    for run in $(seq 1 "$runs"); do
        load_scenarios "$s" "$run"
        if [ "$s" = ngx_chat ]; then
            reload_scenarios "$run"
        fi
    done
    stop_system "$s"
    started=
done

# the peers install what they lack as they start (bench/peers/*/run.sh):
# their versions are known only now
{
    echo "nchan=$(pkgver libnginx-mod-nchan)"
    echo "node=$(node --version 2>/dev/null || echo none)"
} >> "$out/machine.txt"

echo
echo "== $(( $(date +%s) - started_at )) s in all; report"

perl "$here/report.pl" --out "$out" > "$out/report.log"
cat "$out/summary.txt"

if [ $write = 1 ]; then
    mkdir -p "$root/docs/bench"
    cp "$out"/*.png "$root/docs/bench/" 2>/dev/null || true
    perl "$here/report.pl" --out "$out" --update "$root/BENCHMARKS.md"
    echo "BENCHMARKS.md and docs/bench/ updated from ${out#"$root"/}"
fi
