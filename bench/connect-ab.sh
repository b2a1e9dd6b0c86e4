#!/bin/bash
# Connect storms of two builds of the module, alternated: what a reconnect
# costs nginx, Redis and PostgreSQL, and how many Redis commands it runs.
#
#   bench/connect-ab.sh RUNDIR MODULE_A MODULE_B [ROUNDS]
#
# Per round and module, as bench/compare.sh's "connect": the stack up with
# bench/peers/ngx_chat/nginx.conf.in (the module's path and the listen
# port replaced), CONNS users seeded in their rooms by an idle run, the
# stack restarted (Redis starts empty), then two storms of the same users
# ("cold": the first after the start, "warm": the second).  Servers on
# CPU SRV_CPU, chat-bench on GEN_CPU.  Each storm prints chat-bench's
# srv_us_per_conn and srv_detail (nginx, Redis, PostgreSQL per
# connection) and, from Redis's INFO commandstats around the storm and
# the close of its connections (until Redis's counters settle), the
# commands run per connection and Redis's CPU (its own, INFO cpu): those a
# script runs count under their own names (hget, sadd...), the scripts
# under evalsha, whose time includes their commands'.
#
# With PERF=1, perf samples the nginx workers (4999 Hz) through each
# storm and the close of its connections: their CPU per connection in
# user space and in the kernel, and libc's and jansson's parts.  User
# space is what the module's own changes move; the kernel's part (TCP
# over loopback) moves with the machine's other load.
#
# Environment: CHAT_PG_PORT CHAT_REDIS_PORT CHAT_HTTP_PORT (the stack's),
# CONNS (5000), SRV_CPU (0), GEN_CPU (1), PERF (0).  The rates are noisy
# on a shared machine; CPU and commands per connection are not.

set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

[ $# -ge 3 ] || { sed -n '2,26s/^# \{0,1\}//p' "$0"; exit 2; }

run=$1 mod_a=$2 mod_b=$3 rounds=${4:-2}
: "${CONNS:=5000}" "${SRV_CPU:=0}" "${GEN_CPU:=1}" "${PERF:=0}"
: "${CHAT_PG_PORT:=25432}" "${CHAT_REDIS_PORT:=26379}"
: "${CHAT_HTTP_PORT:=18960}"
export CHAT_PG_PORT CHAT_REDIS_PORT

mkdir -p "$run.conf"

stack() { "$root/scripts/stack.sh" "$1" "$run" > "$run.conf/stack.log" 2>&1; }

rcli() { redis-cli -h 127.0.0.1 -p "$CHAT_REDIS_PORT" "$@"; }

# "name calls usec" of every command Redis counted, and "cpu 0 usec":
# Redis's own CPU time (getrusage, finer than /proc's 10 ms ticks)
stats() {
    rcli info commandstats \
        | sed -n 's/^cmdstat_\([a-z|]*\):calls=\([0-9]*\),usec=\([0-9]*\),.*/\1 \2 \3/p'
    rcli info cpu | tr -d '\r' | awk -F: '
        /^used_cpu_(sys|user):/ { t += $2 }
        END { printf "cpu 0 %.0f\n", t * 1e6 }'
}

# until the closes of the storm's connections are done: nothing counted
# changes in half a second
settled() {
    local a b i
    b=$(stats | grep -v -e '^info ' -e '^cpu ')
    for i in $(seq 40); do
        sleep 0.5
        a=$b
        b=$(stats | grep -v -e '^info ' -e '^cpu ')
        [ "$a" = "$b" ] && return 0
    done
}

# perf's samples of the workers by library: CPU per connection
perf_report() {
    perf report -i "$run.conf/perf.data" --no-children --sort dso -n \
        --stdio 2>/dev/null | grep '%' | grep -v '^#' \
        | awk -v n="$CONNS" '
            { c = $2; d = $3; all += c
              if (d ~ /kernel/) k += c
              if (d ~ /^libc/) l += c
              if (d ~ /jansson/) j += c }
            END { f = 1e6 / 4999 / n
                  printf "    nginx perf: user %.1f us/conn, kernel %.1f " \
                         "(libc %.1f, jansson %.1f)\n",
                         (all - k) * f, k * f, l * f, j * f }'
}

gen() {
    taskset -c "$GEN_CPU" "$here/chat-bench" --proto ngx_chat \
        --port "$CHAT_HTTP_PORT" --path /chat/ws --secret "$run/jwt.secret" \
        --size 64 "$@"
}

storm() {
    local tag=$1 s0 s1 procs=() p

    for p in "$run/nginx.pid" "$run/redis.pid" "$run/pg/data/postmaster.pid"
    do
        procs+=(--master-pid "$(head -n 1 "$p" | tr -dc 0-9)")
    done

    if [ "$PERF" = 1 ]; then
        perf record -q -F 4999 -o "$run.conf/perf.data" \
            -p "$(pgrep -P "$(head -n 1 "$run/nginx.pid")" | paste -sd,)" \
            > /dev/null 2>&1 &
        perf_pid=$!
        sleep 0.5
    fi

    s0=$(stats)
    gen --scenario connect --conns "$CONNS" --room-prefix ab \
        "${procs[@]}" > "$run.conf/storm.txt" 2>&1
    settled
    s1=$(stats)

    if [ "$PERF" = 1 ]; then
        kill -INT "$perf_pid"
        wait "$perf_pid" || true
    fi

    grep '^RESULT' "$run.conf/storm.txt" | tr ' ' '\n' \
        | grep -E '^(conn_rate|srv_us_per_conn|srv_detail|srv_busy)=' \
        | tr '\n' ' ' | sed "s/^/$tag /"
    echo

    # the INFO of the first snapshot counts once
    join <(echo "$s0" | sort) <(echo "$s1" | sort) -a 2 -e 0 -o 0,1.2,1.3,2.2,2.3 \
        | awk -v n="$CONNS" '
            { c = $4 - $2; u = $5 - $3; if ($1 == "info") c--
              if ($1 == "cpu") { cpu = u; next }
              if (c <= 0) next
              # a script'"'"'s time holds its commands'"'"' own
              if ($1 ~ /^eval/) { sc += c; su += u } else t += c
              printf "    %-14s %6.2f/conn %7.2f us/call\n", $1, c / n, u / c }
            END { printf "    commands %.2f/conn, scripts %.2f/conn, " \
                         "%.1f us/conn in scripts, Redis CPU %.1f us/conn\n",
                         t / n, sc / n, su / n, cpu / n }'

    if [ "$PERF" = 1 ]; then
        perf_report
    fi
}

for r in $(seq 1 "$rounds"); do
    for m in "$mod_a" "$mod_b"; do
        sed -e "s|@ROOT@/build/ngx_chat_module.so|$m|" \
            -e "s|127.0.0.1:18960|127.0.0.1:$CHAT_HTTP_PORT|" \
            "$here/peers/ngx_chat/nginx.conf.in" > "$run.conf/nginx.conf.in"
        export CHAT_DEMO_CONF=$run.conf/nginx.conf.in

        stack down || true
        taskset -c "$SRV_CPU" "$root/scripts/stack.sh" up "$run" \
            > "$run.conf/stack.log" 2>&1
        gen --scenario idle --conns "$CONNS" --duration 1 --warmup 1 \
            --room-prefix ab > "$run.conf/idle.txt" 2>&1
        stack down
        taskset -c "$SRV_CPU" "$root/scripts/stack.sh" up "$run" \
            > "$run.conf/stack.log" 2>&1

        echo "== round $r: $m"
        storm cold
        storm warm
    done
done

stack down
