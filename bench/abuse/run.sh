#!/usr/bin/env bash
# ngx_chat under abuse: does each attack stay bounded in the server's
# memory and CPU, and do other users' latencies stay flat?
#
# usage: bench/abuse/run.sh        (make abuse)
#
# For each scenario: a probe (bench/chat-bench, scenario rooms: a few
# authenticated users chatting at a fixed modest rate, two per room, each
# sending to their own room) runs once on the idle server (baseline), then
# the attacker (bench/abuse/abuse) starts, and once it is at full tilt the
# same probe runs again; then the attack stops.  Printed per scenario:
# the probe's send -> delivery latency p50/p99 and send -> ack p99, idle
# and under attack, and the p99 ratio; the nginx workers' CPU (% of one
# core: the 2 s before, the busiest 1 s during, the 2 s from 1 s after
# the end), their summed RSS and open fds (before, peak, after), and what
# the attack sent and got back (the attacker's counts, and the access
# log's statuses and close codes for the same time).  A worker that died
# (its pid changed) or an alert/crit line in the error log is flagged.
#
# Scenarios (ABUSE_SCENARIOS, space or comma separated; default all):
#   slowloris   2000 upgrades dripping header bytes, one a second each
#   unauth      10 000 upgraded WebSocket connections never authenticating
#   ping        32 connections sending control pings as fast as they can,
#               reading the pongs; one of them never reads
#   fragments   8 connections sending messages of 100 000 empty
#               continuation frames, again and again
#   flood-T     64 authenticated connections (one user each) writing
#               request T as fast as the socket takes it: send, history,
#               join (leave+join), typing, presence, read, edit, ping,
#               junk (malformed frames); flood-rest-rooms, -history,
#               -send, -search: 64 keep-alive REST connections, 16
#               pipelined requests at a time
#   nonreader   one member of the probe's first room and of a busy room
#               (SO_RCVBUF 4 KB) never reads, while 100 users send 2 KB
#               messages to the busy room
#   rest-reset  48 connections POSTing a message and resetting
#               (SO_LINGER 0) mid-header, mid-body, or after the body
#   oversize    a 64 KB header on the upgrade and on REST, a 64 MB REST
#               body, a WebSocket frame announcing 1 GiB
#   bombs       JSON nested 8 000 deep, in WebSocket frames and REST bodies
#
# It uses the demo stack in ABUSE_RUNDIR (the Makefile's RUN, default
# run/), on CHAT_HTTP_PORT (8080), CHAT_PG_PORT and CHAT_REDIS_PORT as
# scripts/stack.sh takes them; if nginx is not running there it starts
# the stack with scripts/stack.sh up and stops it at the end.
#
# Environment: ABUSE_SCENARIOS, ABUSE_SECONDS (the probe's measured
# seconds, 4), ABUSE_PROBE_ROOMS (10), ABUSE_PROBE_RATE (messages/s in
# all, 15: under the default per-user send rate), ABUSE_GEN_CPU (1),
# ABUSE_SETTLE (seconds between scenarios, 3), ABUSE_ARGS (more options
# for every attacker run, e.g. "--conns 500").
#
# The probe and the attacker are pinned to CPU ABUSE_GEN_CPU (taskset);
# the attacker runs at nice 10 so that the probe, at nice 0, is served
# first on that CPU: the probe measures the server, not its neighbour.
# Outputs: bench/out/abuse-<time>/ (table.txt, table.md, one directory
# per scenario).  Exits non-zero only when a tool fails, never on figures.

set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

all="slowloris unauth ping fragments flood-send flood-history flood-join
flood-typing flood-presence flood-read flood-edit flood-ping flood-junk
flood-rest-rooms flood-rest-history flood-rest-send flood-rest-search
nonreader rest-reset oversize bombs"

case ${1:-} in
-h|--help)
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
    exit 0 ;;
esac

: "${ABUSE_SCENARIOS:=$all}" "${ABUSE_SECONDS:=4}" "${ABUSE_PROBE_ROOMS:=10}"
: "${ABUSE_PROBE_RATE:=15}" "${ABUSE_GEN_CPU:=1}" "${ABUSE_SETTLE:=3}"
: "${ABUSE_ARGS:=}" "${ABUSE_RUNDIR:=run}"
port=${CHAT_HTTP_PORT:-8080}
host=127.0.0.1
scenarios=$(echo "$ABUSE_SCENARIOS" | tr ',' ' ')

for s in $scenarios; do
    case " $(echo $all) " in
    *" $s "*) ;;
    *) echo "abuse: unknown scenario $s (known: $(echo $all))" >&2; exit 2 ;;
    esac
done

out=$root/bench/out/abuse-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"

make -C "$root/bench" -s chat-bench
make -C "$here" -s abuse

# the stack

stack() { "$root/scripts/stack.sh" "$@"; }

started=0
sampler=
attacker=

cleanup() {
    local rc=$?
    [ -n "$attacker" ] && kill "$attacker" 2>/dev/null && wait "$attacker"
    [ -n "$sampler" ] && kill "$sampler" 2>/dev/null
    if [ $started = 1 ]; then
        echo "abuse: stopping the demo stack started for the run"
        stack down "$ABUSE_RUNDIR" >/dev/null || true
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rundir=$(stack rundir "$ABUSE_RUNDIR")
pid=$( [ -f "$rundir/nginx.pid" ] && cat "$rundir/nginx.pid" || true)
if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
    echo "abuse: starting the demo stack in $ABUSE_RUNDIR"
    stack up "$ABUSE_RUNDIR" > "$out/stack-up.txt" \
        || { cat "$out/stack-up.txt" >&2; exit 1; }
    started=1
    rundir=$(stack rundir "$ABUSE_RUNDIR")
fi
master=$(cat "$rundir/nginx.pid")
secret=$rundir/jwt.secret

for i in $(seq 1 100); do
    (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null && break
    [ "$i" = 100 ] && { echo "abuse: nothing on $host:$port" >&2; exit 1; }
    sleep 0.1
done

# the rooms the attacks use exist, and hold a first message (edit, read)
token=$("$root/build/chat-token" --alg HS256 --key "$secret" \
    --sub abuse-seed --ttl 600)
for r in abuse-flood abuse-nr; do
    curl -s -o /dev/null -X POST -H "Authorization: Bearer $token" \
        -H 'Content-Type: application/json' -d '{"body":"seed"}' \
        "http://$host:$port/chat/api/rooms/$r/messages"
done

backends=
for f in "$rundir/redis.pid" "$rundir/pg/data/postmaster.pid"; do
    [ -f "$f" ] && backends="$backends $(head -n 1 "$f" | tr -dc 0-9)"
done
# shellcheck disable=SC2086
"$here/sample.pl" "$master" 0.25 $backends > "$out/samples.txt" &
sampler=$!

now() { date +%s.%N; }

probe() {
    taskset -c "$ABUSE_GEN_CPU" "$root/bench/chat-bench" --scenario rooms \
        --rooms "$ABUSE_PROBE_ROOMS" --rate "$ABUSE_PROBE_RATE" \
        --duration "$ABUSE_SECONDS" --warmup 1 --drain 2 \
        --room-prefix abprobe --user-prefix abprobe --src-addrs 1 \
        --setup-timeout 30 --host "$host" --port "$port" \
        --secret "$secret" > "$1" 2>&1 || {
            # under attack, a probe that cannot connect is a figure
            echo "abuse: the probe exited with $?; see $1" >&2
            tail -n 3 "$1" >&2
        }
}

probe_cmd="taskset -c $ABUSE_GEN_CPU bench/chat-bench --scenario rooms"
probe_cmd="$probe_cmd --rooms $ABUSE_PROBE_ROOMS --rate $ABUSE_PROBE_RATE"
probe_cmd="$probe_cmd --duration $ABUSE_SECONDS --warmup 1 --drain 2"
probe_cmd="$probe_cmd --room-prefix abprobe --user-prefix abprobe"

{
    echo "== ngx_chat abuse benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "machine   $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo \
        | head -n 1), $(nproc) cores, Linux $(uname -r)"
    echo "server    nginx master $master ($rundir), port $port"
    echo "probe     $probe_cmd"
    echo "attacker  taskset -c $ABUSE_GEN_CPU nice -n 10 bench/abuse/abuse" \
         "--scenario S $ABUSE_ARGS"
    echo "          (both pinned to CPU $ABUSE_GEN_CPU; the server is not" \
         "pinned)"
    echo "load      $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) before"
} | tee "$out/header.txt"

logsize() { stat -c %s "$1" 2>/dev/null || echo 0; }

for s in $scenarios; do
    d=$out/$s
    mkdir -p "$d"
    echo
    echo "-- $s"

    min=0
    [ "$s" = unauth ] && min=12     # past chat_auth_timeout (10 s)

    probe "$d/base.txt"
    sleep 1
    t_pre=$(now)
    sleep 2

    a0=$(logsize "$rundir/access.log")
    e0=$(logsize "$rundir/error.log")
    t_attack=$(now)
    rm -f "$d/ready"
    # shellcheck disable=SC2086
    taskset -c "$ABUSE_GEN_CPU" nice -n 10 "$here/abuse" --scenario "$s" \
        --host "$host" --port "$port" --secret "$secret" --seconds 120 \
        --min-seconds "$min" --probe-room abprobe-c0 --ready-file "$d/ready" \
        $ABUSE_ARGS > "$d/attack.txt" 2> "$d/attack.err" &
    attacker=$!
    for i in $(seq 1 300); do
        [ -f "$d/ready" ] && break
        kill -0 "$attacker" 2>/dev/null || break
        sleep 0.1
    done
    if ! kill -0 "$attacker" 2>/dev/null; then
        echo "abuse: the attacker exited early; see $d/attack.err" >&2
        cat "$d/attack.err" >&2
        exit 1
    fi
    t_ready=$(now)
    probe "$d/under.txt"
    t_probe_end=$(now)
    kill -TERM "$attacker"
    wait "$attacker" || { echo "abuse: the attacker failed" >&2; exit 1; }
    attacker=
    t_end=$(now)
    sleep "$ABUSE_SETTLE"
    t_after=$(now)

    tail -c +"$((a0 + 1))" "$rundir/access.log" > "$d/access.log" || true
    tail -c +"$((e0 + 1))" "$rundir/error.log" > "$d/error.log" || true
    echo "$t_pre $t_attack $t_ready $t_probe_end $t_end $t_after" > "$d/times"

    "$here/table.pl" --one "$out" "$s"
done

kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true
sampler=

echo
"$here/table.pl" "$out" $scenarios | tee "$out/table.txt"
"$here/table.pl" --markdown "$out" $scenarios > "$out/table.md"
echo
echo "abuse: outputs in ${out#"$root"/}/ (table.txt, table.md)"
