#!/usr/bin/env bash
# ngx_chat benchmark: fanout, many small rooms, idle memory.
#
# usage: bench/run.sh [--quick] [--selftest]
#
#   --quick     smaller and shorter runs (about a minute in all)
#   --selftest  run against bench/echo-fanout (a stand-in server, port
#               18999, pinned to CPU 0) instead of the demo stack: checks
#               the generator end to end without the module
#
# Without --selftest it uses the demo stack of "make up" (nginx on
# 127.0.0.1:8080, WebSocket at /chat/ws, run/nginx.pid, run/jwt.secret);
# if that is not running, it runs "make up" and, at the end, "make down"
# (or stops the nginx master it started).  Server CPU and memory are read
# from /proc for the nginx master and its workers, plus any other process
# whose pid file is under run/ (Redis, PostgreSQL), unless BENCH_BACKENDS=0.
#
# The generator is pinned to CPU 1 (taskset -c 1); nothing system-wide is
# changed.  Outputs go to bench/out/<time>/.
#
# Environment overrides: BENCH_HOST, BENCH_PORT, BENCH_PATH, BENCH_GEN_CPU,
# BENCH_BACKENDS, FANOUT_SUBS, FANOUT_RATE, FANOUT_SENDERS, ROOMS_N,
# ROOMS_RATE, IDLE_CONNS, DURATION, WARMUP, SIZE.

set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

quick=0
selftest=0

for a in "$@"; do
    case $a in
    --quick) quick=1 ;;
    --selftest) selftest=1 ;;
    -h|--help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument: $a" >&2; exit 2 ;;
    esac
done

if [ $quick = 1 ]; then
    : "${FANOUT_SUBS:=500}" "${FANOUT_RATE:=100}" "${ROOMS_N:=500}"
    : "${ROOMS_RATE:=2000}" "${IDLE_CONNS:=2000}" "${DURATION:=5}"
    : "${WARMUP:=2}"
else
    : "${FANOUT_SUBS:=1000}" "${FANOUT_RATE:=200}" "${ROOMS_N:=1000}"
    : "${ROOMS_RATE:=5000}" "${IDLE_CONNS:=10000}" "${DURATION:=15}"
    : "${WARMUP:=3}"
fi

: "${FANOUT_SENDERS:=1}" "${SIZE:=64}" "${BENCH_GEN_CPU:=1}"
: "${BENCH_BACKENDS:=1}" "${BENCH_PATH:=/chat/ws}" "${BENCH_HOST:=127.0.0.1}"

out=$here/out/$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"

started_stack=0
stack_pid=
ef_pid=

cleanup() {
    if [ -n "$ef_pid" ]; then
        kill "$ef_pid" 2>/dev/null || true
        wait "$ef_pid" 2>/dev/null || true
    fi

    if [ $started_stack = 1 ]; then
        echo "run.sh: stopping the demo stack started for the benchmark"
        if make -C "$root" -n down >/dev/null 2>&1; then
            make -C "$root" down || true
        elif [ -n "$stack_pid" ]; then
            kill -QUIT "$stack_pid" 2>/dev/null || true
        fi
    fi
}

trap cleanup EXIT
trap 'exit 130' INT TERM

port_open() {
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

wait_port() {
    local i=0
    while ! port_open "$1" "$2"; do
        i=$((i + 1))
        if [ $i -ge "$3" ]; then
            return 1
        fi
        sleep 0.2
    done
}

# build

make -C "$here" -s chat-bench
if [ $selftest = 1 ]; then
    make -C "$here" -s echo-fanout
fi

# the server

procs=()

if [ $selftest = 1 ]; then
    : "${BENCH_PORT:=18999}"
    secret=$out/jwt.secret
    head -c 48 /dev/urandom | base64 > "$secret"

    if port_open "$BENCH_HOST" "$BENCH_PORT"; then
        echo "run.sh: $BENCH_HOST:$BENCH_PORT is already in use" >&2
        exit 1
    fi

    taskset -c 0 "$here/echo-fanout" "$BENCH_PORT" 2>"$out/echo-fanout.log" &
    ef_pid=$!

    if ! wait_port "$BENCH_HOST" "$BENCH_PORT" 50 \
       || ! kill -0 "$ef_pid" 2>/dev/null
    then
        echo "run.sh: echo-fanout did not start" >&2
        exit 1
    fi

    procs+=(--pids "$ef_pid")
    server="bench/echo-fanout (stand-in, pid $ef_pid, pinned to CPU 0)"

else
    : "${BENCH_PORT:=8080}"
    pidfile=$root/run/nginx.pid
    secret=$root/run/jwt.secret

    alive=0
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null \
       && port_open "$BENCH_HOST" "$BENCH_PORT"
    then
        alive=1
    fi

    if [ $alive = 0 ]; then
        echo "run.sh: demo stack not running: make up"
        make -C "$root" up
        started_stack=1
        if ! wait_port "$BENCH_HOST" "$BENCH_PORT" 300; then
            echo "run.sh: nothing listens on $BENCH_HOST:$BENCH_PORT" >&2
            exit 1
        fi
        stack_pid=$(cat "$pidfile")
    fi

    if [ ! -r "$secret" ]; then
        echo "run.sh: no JWT secret at $secret" >&2
        exit 1
    fi

    master=$(cat "$pidfile")
    procs+=(--master-pid "$master")
    server="nginx master $master and its workers"

    if [ "$BENCH_BACKENDS" = 1 ]; then
        seen=" $master "
        for f in "$root"/run/*.pid "$root"/run/*/*.pid \
                 "$root"/run/*/*/postmaster.pid; do
            [ -f "$f" ] || continue
            p=$(head -n 1 "$f" | tr -dc '0-9')
            if [ -n "$p" ] && [ "${seen#* $p }" = "$seen" ] \
               && kill -0 "$p" 2>/dev/null && [ ${#procs[@]} -lt 14 ]
            then
                seen="$seen$p "
                procs+=(--master-pid "$p")
                server="$server; $(cat /proc/"$p"/comm 2>/dev/null) $p"
                server="$server and its children"
            fi
        done
    fi
fi

common=(--host "$BENCH_HOST" --port "$BENCH_PORT" --path "$BENCH_PATH"
        --secret "$secret" --size "$SIZE" "${procs[@]}")

gen=(taskset -c "$BENCH_GEN_CPU" "$here/chat-bench")

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)

{
    echo "== ngx_chat benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "machine   ${cpu_model:-unknown CPU}, $(nproc) cores," \
         "$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' \
            /proc/meminfo), Linux $(uname -r)"
    echo "server    $server"
    echo "generator bench/chat-bench pinned to CPU $BENCH_GEN_CPU" \
         "(taskset); servers not pinned by this script"
    echo "load      $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) before"
    echo "mode      $([ $quick = 1 ] && echo quick || echo full)" \
         "$([ $selftest = 1 ] && echo '(selftest against echo-fanout)')"
} | tee "$out/summary.txt"

results=$out/results.txt
: > "$results"

run_one() {
    local name=$1
    shift

    local cmd=("${gen[@]}" "$@" "${common[@]}")

    echo
    echo "\$ ${cmd[*]}" | sed "s|$root/||g" | tee -a "$out/commands.txt"

    if "${cmd[@]}" > "$out/$name.txt" 2> "$out/$name.err"; then
        :
    else
        echo "run.sh: $name: chat-bench exited with $?;" \
             "see $out/$name.err" >&2
        tail -n 5 "$out/$name.err" >&2
    fi

    sed -n '/^== chat-bench/,$p' "$out/$name.txt" | grep -v '^RESULT' \
        || true
    grep '^RESULT' "$out/$name.txt" | sed "s/^RESULT /RESULT name=$name /" \
        >> "$results" || true

    sleep 2                 # let the closes settle before the next run
}

run_one fanout --scenario fanout --subs "$FANOUT_SUBS" \
    --senders "$FANOUT_SENDERS" --rate "$FANOUT_RATE" \
    --duration "$DURATION" --warmup "$WARMUP"

run_one rooms --scenario rooms --rooms "$ROOMS_N" --rate "$ROOMS_RATE" \
    --duration "$DURATION" --warmup "$WARMUP"

run_one idle --scenario idle --conns "$IDLE_CONNS" --warmup 2

# the table

{
    echo
    echo "== summary (generator pinned to CPU $BENCH_GEN_CPU;" \
         "latency in ms; srv us/dlv = server CPU per delivery;"
    echo "   gen = generator CPU / wall; SERVER-BEHIND: deliveries trail" \
         "the offered load, see machine CPU in the full output)"
    awk '
    function v(k) { return (k in r) ? r[k] : "-" }
    {
        delete r
        for (i = 2; i <= NF; i++) {
            j = index($i, "=")
            r[substr($i, 1, j - 1)] = substr($i, j + 1)
        }
        if (r["scenario"] == "idle") {
            idle[++ni] = sprintf("%-8s %8s %7s %9s %13s %14s %s", \
                r["name"], r["conns"], v("ready"), v("conn_rate"), \
                v("rss_kb_per_conn"), v("sock_kb_per_conn"), \
                v("errors") "/" v("closes"))
            next
        }
        sat = (r["gen_saturated"] == "1") ? " GEN-SATURATED" : ""
        if (r["behind"] == "1") sat = sat " SERVER-BEHIND"
        load[++nl] = sprintf("%-8s %6s %7s %7s %8s %6.2f %6.2f %7.2f %7.2f" \
            " %8s %6s%% %s", \
            r["name"], r["ready"], r["rate"], r["acked_per_s"], \
            r["deliveries_per_s"], r["lat_p50_us"] / 1000, \
            r["lat_p99_us"] / 1000, r["lat_p999_us"] / 1000, \
            r["lat_max_us"] / 1000, v("srv_us_per_delivery"), \
            (r["gen_wall_s"] > 0) ? \
                sprintf("%.0f", 100 * r["gen_cpu_s"] / r["gen_wall_s"]) \
                : "-", \
            "err=" v("errors") " closes=" v("closes") " lost=" v("lost") sat)
    }
    END {
        if (nl) {
            printf "%-8s %6s %7s %7s %8s %6s %6s %7s %7s %8s %7s %s\n", \
                "run", "conns", "offered", "acked/s", "dlv/s", "p50", \
                "p99", "p99.9", "max", "srv us/dlv", "gen", "notes"
            for (i = 1; i <= nl; i++) print load[i]
        }
        if (ni) {
            printf "\n%-8s %8s %7s %9s %13s %14s %s\n", "run", "conns", \
                "ready", "conn/s", "RSS KiB/conn", "sock KiB/conn", \
                "errors/closes"
            for (i = 1; i <= ni; i++) print idle[i]
        }
    }' "$results"
    echo
    echo "commands (from the repository root):"
    sed 's/^/  /' "$out/commands.txt"
    echo
    echo "full outputs: ${out#"$root"/}/"
} | tee -a "$out/summary.txt"
