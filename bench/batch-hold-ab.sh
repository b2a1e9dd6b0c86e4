#!/bin/bash
# Two builds of the module, or two group commit settings, side by side on
# the chat and fanout scenarios, each step from a fresh chat-bench run:
# PostgreSQL's CPU per message, commits (group commit statements) per
# message from the module's own metrics, and the acknowledgement's and
# delivery's p50 and p99.
#
#   bench/batch-hold-ab.sh OUT SIDE...
#
# Each SIDE is NAME=ROOT[:DIRECTIVES[:SETTINGS]]: ROOT a source tree with
# its module built (build/ngx_chat_module.so), DIRECTIVES added to the
# http block ("chat_batch_hold 0;"), SETTINGS PostgreSQL server settings
# set with alter system before the steps ("commit_delay=1000
# commit_siblings=1").  The sides run in the order given, each on a
# fresh stack (scripts/stack.sh of its ROOT) with the servers pinned to
# CPU 0 and chat-bench to CPU 1, as bench/compare.sh pins them; repeat a
# side to alternate.  Environment: CHAT_PG_PORT, CHAT_REDIS_PORT,
# CHAT_HTTP_PORT (the stack's ports), RATES (chat sends/s,
# 500,1000,2000,3000,4000), FANOUT_RATE (100; 0: no fanout step),
# STEP_SECS (3).
#
# Outputs OUT/results.txt: one line a step, "side run scenario rate
# pg_us_per_msg commits_per_msg batch ack_p50_ms ack_p99_ms p50_ms
# p99_ms held" (held: commits that chat_batch_hold made wait, empty for
# a build without it), and each chat-bench's output beside it.

set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: batch-hold-ab.sh OUT NAME=ROOT[:DIRECTIVES[:SETTINGS]]...}
shift

: "${CHAT_PG_PORT:=23532}" "${CHAT_REDIS_PORT:=23479}" "${CHAT_HTTP_PORT:=23080}"
: "${RATES:=500,1000,2000,3000,4000}" "${FANOUT_RATE:=100}"
: "${STEP_SECS:=3}"
export CHAT_PG_PORT CHAT_REDIS_PORT CHAT_HTTP_PORT

mkdir -p "$out"
make -C "$here" -s chat-bench
psql_run() {
    psql -X -q -t -A -h 127.0.0.1 -p "$CHAT_PG_PORT" -U chat -d chat "$@"
}

# statements sent, the events they held (ngx_chat_commit_batch_size) and
# the commits held (ngx_chat_commits_held_total; -1: not served)
commits() {
    curl -s "http://127.0.0.1:$CHAT_HTTP_PORT/metrics" | awk '
        BEGIN { h = -1 }
        /^ngx_chat_commit_batch_size_count/ { n = $2 }
        /^ngx_chat_commit_batch_size_sum/ { s = $2 }
        /^ngx_chat_commits_held_total/ { h = $2 }
        END { print n + 0, s + 0, h }'
}

# one chat-bench run of one rate, and its line in results.txt
step() {
    local side=$1 run=$2 sc=$3 rate=$4 f c0 c1
    shift 4
    f=$out/$side.$run.$sc.$rate
    c0=$(commits)
    taskset -c 1 "$here/chat-bench" --proto ngx_chat \
        --port "$CHAT_HTTP_PORT" --path /chat/ws --secret "$rundir/jwt.secret" \
        --scenario "$sc" --rates "$rate" --duration "$STEP_SECS" \
        --warmup 1 --drain 2 --stop-p99-ms 0 "$@" \
        --master-pid "$(cat "$rundir/nginx.pid")" \
        --master-pid "$(head -n 1 "$rundir/redis.pid")" \
        --master-pid "$(head -n 1 "$rundir/pg/data/postmaster.pid")" \
        > "$f" 2> "$f.err" || true
    c1=$(commits)
    awk -v side="$side" -v run="$run" -v sc="$sc" -v rate="$rate" \
        -v c0="$c0" -v c1="$c1" '
        /^RESULT/ && /rate=/ {
            for (i = 2; i <= NF; i++) { split($i, kv, "="); r[kv[1]] = kv[2] }
            split(c0, a, " "); split(c1, b, " ")
            n = b[1] - a[1]; m = b[2] - a[2]
            printf "%s %s %s %s %.0f %.3f %.1f %.1f %.1f %.1f %.1f %s\n",
                side, run, sc, rate, r["pg_us_per_msg"], m ? n / m : 0,
                n ? m / n : 0, r["ack_p50_us"] / 1e3, r["ack_p99_us"] / 1e3,
                r["lat_p50_us"] / 1e3, r["lat_p99_us"] / 1e3,
                b[3] < 0 ? "" : b[3] - a[3]
        }' "$f" | tee -a "$out/results.txt"
}

declare -A seen
for spec in "$@"; do
    side=${spec%%=*}
    rest=${spec#*=}
    root=${rest%%:*}
    directives=
    settings=
    [ "$rest" != "$root" ] && directives=${rest#*:}
    case $directives in *:*) settings=${directives#*:}
                             directives=${directives%%:*} ;; esac
    seen[$side]=$(( ${seen[$side]:-0} + 1 ))
    run=${seen[$side]}

    conf=$out/$side.$run.conf.in
    sed -e "s|listen  127.0.0.1:18960|listen  127.0.0.1:@HTTP_PORT@|" \
        -e "s|^http {\$|http {\n    $directives|" \
        -e 's|^        location /chat/api/ {$|        location = /metrics {\n            chat_metrics;\n        }\n\n&|' \
        "$here/peers/ngx_chat/nginx.conf.in" > "$conf"

    rundir=/tmp/batch-hold-ab-$CHAT_HTTP_PORT
    rm -rf "$rundir"
    CHAT_DEMO_CONF=$conf taskset -c 0 "$root/scripts/stack.sh" up "$rundir" \
        > "$out/$side.$run.up.log" 2>&1
    rundir=$("$root/scripts/stack.sh" rundir "$rundir")

    # the rooms a full bench's idle runs leave behind: plans as there
    psql_run -c "insert into rooms (id, kind, created_by)
                 select 'idle-' || g, 'channel', 'x' || 2 * g
                   from generate_series(1, 30000) g" \
             -c "insert into members (room_id, user_id)
                 select 'idle-' || g, 'x' || (2 * g + k)
                   from generate_series(1, 30000) g,
                        generate_series(0, 1) k" > /dev/null

    for kv in $settings; do
        psql -X -q -h 127.0.0.1 -p "$CHAT_PG_PORT" -U postgres -d chat \
            -c "alter system set ${kv%%=*} = '${kv#*=}'" \
            -c "select pg_reload_conf()" > /dev/null
    done

    for rate in ${RATES//,/ }; do
        step "$side" "$run" chat "$rate" --pairs 1000 --groups 20 \
            --group-size 50 --room-prefix "ch$rate"
    done

    if [ "$FANOUT_RATE" != 0 ]; then
        step "$side" "$run" fanout "$FANOUT_RATE" --subs 1000 \
            --min-msgs 250 --room-prefix fo
    fi

    "$root/scripts/stack.sh" down "$rundir" > /dev/null 2>&1
done
