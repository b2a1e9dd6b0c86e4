#!/usr/bin/env bash
# ngx_chat benchmark: fanout, many small rooms, idle memory, and the REST
# API (history pages and durable sends).
#
# usage: bench/run.sh [--quick] [--selftest]
#
#   --quick     smaller and shorter runs (a couple of minutes in all)
#   --selftest  run against bench/echo-fanout (a stand-in server, port
#               18999, pinned to CPU 0) instead of the demo stack: checks
#               the generator end to end without the module (no REST runs)
#
# Without --selftest it uses the demo stack of "make up" (nginx on
# 127.0.0.1:8080, WebSocket at /chat/ws, REST under /chat/api/,
# run/nginx.pid, run/jwt.secret, PostgreSQL on 127.0.0.1:25432); if that is
# not running, it runs "make up" and, at the end, "make down" (or stops the
# nginx master it started).  Server CPU and memory are read from /proc for
# the nginx master and its workers, plus any other process whose pid file
# is under run/ (Redis, PostgreSQL), unless BENCH_BACKENDS=0.
#
# The REST runs use wrk (Debian package wrk, installed if missing) with one
# thread, REST_CONNS connections, for REST_DURATION seconds each:
#   rest-new   GET  /chat/api/rooms/bench-history-N/messages?limit=50
#   rest-old   GET  .../messages?after=0&limit=50
#   rest-send  POST /chat/api/rooms/bench-send-<time>/messages {"body":..}
# The history room (HIST_MESSAGES messages) is written with psql once and
# reused while it is intact; each run sends to a fresh room, checks that
# every 201 is in PostgreSQL, then deletes that room (BENCH_KEEP_ROOMS=1
# keeps it).  Any answer other than the expected 200 / 201 (or a full
# page), or any socket error, fails the run: run.sh exits 1 after the
# summary.
#
# The generators are pinned to CPU 1 (taskset -c 1); nothing system-wide
# is changed.  Outputs go to bench/out/<time>/.
#
# Environment overrides: BENCH_HOST, BENCH_PORT, BENCH_PATH, BENCH_GEN_CPU,
# BENCH_BACKENDS, FANOUT_SUBS, FANOUT_RATE, FANOUT_SENDERS, ROOMS_N,
# ROOMS_RATE, IDLE_CONNS, DURATION, WARMUP, SIZE, BENCH_REST (0 skips the
# REST runs), REST_CONNS, REST_DURATION, REST_LIMIT, HIST_MESSAGES,
# BENCH_PG (libpq conninfo of the demo database), BENCH_KEEP_ROOMS,
# BENCH_SEARCH (0 skips the search run over a million messages in the
# database: bench/search.sh, SEARCH_ROWS, SEARCH_QUERIES).

set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

quick=0
selftest=0

for a in "$@"; do
    case $a in
    --quick) quick=1 ;;
    --selftest) selftest=1 ;;
    -h|--help)
        awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' \
            "$0"
        exit 0 ;;
    *) echo "run.sh: unknown argument: $a" >&2; exit 2 ;;
    esac
done

if [ $quick = 1 ]; then
    : "${FANOUT_SUBS:=500}" "${FANOUT_RATE:=100}" "${ROOMS_N:=500}"
    : "${ROOMS_RATE:=2000}" "${IDLE_CONNS:=2000}" "${DURATION:=5}"
    : "${WARMUP:=2}" "${REST_DURATION:=3}" "${HIST_MESSAGES:=20000}"
else
    : "${FANOUT_SUBS:=1000}" "${FANOUT_RATE:=200}" "${ROOMS_N:=1000}"
    : "${ROOMS_RATE:=5000}" "${IDLE_CONNS:=10000}" "${DURATION:=15}"
    : "${WARMUP:=3}" "${REST_DURATION:=10}" "${HIST_MESSAGES:=100000}"
fi

: "${FANOUT_SENDERS:=1}" "${SIZE:=64}" "${BENCH_GEN_CPU:=1}"
: "${BENCH_BACKENDS:=1}" "${BENCH_PATH:=/chat/ws}" "${BENCH_HOST:=127.0.0.1}"
: "${BENCH_REST:=1}" "${REST_CONNS:=32}" "${REST_LIMIT:=50}"
: "${BENCH_KEEP_ROOMS:=0}" "${BENCH_SEARCH:=1}"
: "${BENCH_PG:=host=127.0.0.1 port=${CHAT_PG_PORT:-25432} dbname=chat user=chat}"

if [ $selftest = 1 ]; then
    BENCH_REST=0
fi

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

# build, and wrk for the REST runs (installed the way scripts/deps.sh
# installs packages)

make -C "$here" -s chat-bench
if [ $selftest = 1 ]; then
    make -C "$here" -s echo-fanout
fi

if [ "$BENCH_REST" = 1 ] && ! command -v wrk >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        sudo=
    elif command -v sudo >/dev/null 2>&1; then
        sudo=sudo
    else
        echo "run.sh: wrk is missing (apt-get install wrk as root," \
             "or BENCH_REST=0)" >&2
        exit 1
    fi
    echo "run.sh: installing wrk"
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends wrk >/dev/null
    if ! command -v wrk >/dev/null 2>&1; then
        echo "run.sh: wrk did not install" >&2
        exit 1
    fi
fi

if [ "$BENCH_REST" = 1 ]; then
    for t in psql curl; do
        if ! command -v $t >/dev/null 2>&1; then
            echo "run.sh: $t is missing (make deps)" >&2
            exit 1
        fi
    done
fi

# the server

procs=()
srv_masters=()          # for the REST runs' server CPU

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
    srv_masters+=("$master")
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
                srv_masters+=("$p")
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
    echo "generator bench/chat-bench$([ "$BENCH_REST" = 1 ] \
         && echo ' and wrk') pinned to CPU $BENCH_GEN_CPU" \
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

# the REST API: history pages and durable sends, with wrk

failed=

fail() {
    echo "run.sh: FAIL: $*" >&2
    failed="$failed
  $*"
}

pg() {
    psql "$BENCH_PG" -qtAX -v ON_ERROR_STOP=1 "$@"
}

clk_tck=$(getconf CLK_TCK)

# "label:pid" for each server master and its children
srv_procs() {
    local m c label
    for m in "${srv_masters[@]}"; do
        label=$(cat /proc/"$m"/comm 2>/dev/null) || continue
        label=${label%-server}
        echo "$label:$m"
        for c in $(ps -o pid= --ppid "$m" 2>/dev/null); do
            echo "$label:$c"
        done
    done
}

# "label pid ticks" (utime + stime) for each "label:pid" given
srv_ticks() {
    local lp s f
    for lp in "$@"; do
        s=$(cat /proc/"${lp#*:}"/stat 2>/dev/null) || continue
        read -r -a f <<< "${s##*) }"
        echo "${lp%%:*} ${lp#*:} $((f[11] + f[12]))"
    done
}

# busy and total ticks of all CPUs
sys_ticks() {
    awk '/^cpu / { t = 0; for (i = 2; i <= 9 && i <= NF; i++) t += $i
                   print t - $5 - $6, t; exit }' /proc/stat
}

# value of key $2 in the RESULT line in file $1
kv() {
    sed -n 's/^RESULT //p' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

rest_token_cmd="build/chat-token --alg HS256 --key ${secret#"$root"/}"
rest_token_cmd="$rest_token_cmd --sub bench-rest --ttl 3600"
rest_token=
rest_base=http://$BENCH_HOST:$BENCH_PORT/chat/api

# run_rest NAME SCRIPT URL [ROOM]: one wrk run; with ROOM (sends), checks
# that PostgreSQL holds every acknowledged send
run_rest() {
    local name=$1 script=$2 url=$3 room=${4:-}
    local cmd=(taskset -c "$BENCH_GEN_CPU" wrk -t1 -c"$REST_CONNS"
               -d"${REST_DURATION}s" --timeout 5s --latency
               -s "$here/$script" "$url")
    local procs0 rc seq0=0 seq1 n1 db='' t0 t1 gen_cpu wall
    local s0 s1 tmp=$out/$name.cpu

    echo
    echo "\$ CHAT_TOKEN=\$($rest_token_cmd) BODY_SIZE=$SIZE" \
         "${cmd[*]:0:${#cmd[@]}-1} '$url'" | sed "s|$root/||g" \
        | tee -a "$out/commands.txt"

    if [ -n "$room" ]; then
        seq0=$(pg -c "select last_seq from rooms where id = '$room'")
    fi

    mapfile -t procs0 < <(srv_procs)
    srv_ticks "${procs0[@]}" > "$tmp.0"
    s0=$(sys_ticks)
    t0=$(date +%s.%N)

    rc=0
    (
        CHAT_TOKEN=$rest_token BODY_SIZE=$SIZE "${cmd[@]}" \
            > "$out/$name.txt" 2> "$out/$name.err"
        rc=$?
        times > "$out/$name.times"
        exit $rc
    ) || rc=$?

    t1=$(date +%s.%N)
    s1=$(sys_ticks)
    srv_ticks "${procs0[@]}" > "$tmp.1"

    grep -v '^RESULT' "$out/$name.txt" || true
    sed 's/^/wrk: /' "$out/$name.err" >&2

    if [ $rc != 0 ] || ! grep -q '^RESULT' "$out/$name.txt"; then
        fail "$name: wrk exited with $rc and no result; see $out/$name.err"
        return 0
    fi

    # the generator's CPU: wrk is the only child of the subshell
    gen_cpu=$(sed -n 2p "$out/$name.times" | awk '{
        t = 0
        for (i = 1; i <= 2; i++) {
            split($i, a, /[ms]/); t += a[1] * 60 + a[2]
        }
        printf "%.2f", t }')
    wall=$(echo "$t0 $t1" | awk '{ printf "%.2f", $2 - $1 }')

    local req ok non2xx bad sock statuses srv k
    req=$(kv "$out/$name.txt" requests)
    ok=$(kv "$out/$name.txt" expected)
    non2xx=$(kv "$out/$name.txt" non2xx)
    bad=$(kv "$out/$name.txt" bad_body)
    statuses=$(kv "$out/$name.txt" statuses)
    sock=0
    for k in err_connect err_read err_write err_timeout; do
        sock=$((sock + $(kv "$out/$name.txt" $k)))
    done

    # server CPU per request, by process group and in all
    srv=$(awk -v tck="$clk_tck" -v n="$req" '
        NR == FNR { a[$2] = $3; next }
        ($2 in a) {
            if (!($1 in d)) o[++k] = $1
            d[$1] += $3 - a[$2]; all += $3 - a[$2]
        }
        END {
            if (n <= 0) { print "- -"; exit }
            s = ""
            for (i = 1; i <= k; i++)
                s = s (i > 1 ? "," : "") o[i] ":" \
                    sprintf("%.1f", d[o[i]] * 1e6 / tck / n)
            printf "%.1f %s\n", all * 1e6 / tck / n, s
        }' "$tmp.0" "$tmp.1")
    rm -f "$tmp.0" "$tmp.1"

    local busy
    busy=$(echo "$s0 $s1" | awk '{ d = $4 - $2
        printf "%.0f", (d > 0) ? 100 * ($3 - $1) / d : 0 }')

    echo "server CPU ${srv%% *} us per request (${srv#* });" \
         "machine CPU ${busy}% busy; wrk CPU ${gen_cpu} s in ${wall} s"
    echo "answers: $statuses; not as expected $((req - ok))" \
         "(non-2xx $non2xx, bad page $bad); socket errors $sock"

    if [ -n "$room" ]; then
        sleep 1             # sends still in flight when wrk stopped
        read -r seq1 n1 <<< "$(pg -F ' ' -c "select r.last_seq,
            (select count(*) from messages m where m.room_id = r.id)
            from rooms r where r.id = '$room'")"
        db=$((seq1 - seq0))
        echo "PostgreSQL: $db messages committed to $room during the run" \
             "(last_seq $seq0 -> $seq1, $n1 rows); wrk saw $ok 201s"
        if [ "$n1" != "$seq1" ]; then
            fail "$name: $room has $n1 rows but last_seq $seq1"
        fi
        if [ "$db" -lt "$ok" ]; then
            fail "$name: $ok sends acknowledged but only $db committed"
        elif [ "$db" -gt $((req + REST_CONNS)) ]; then
            fail "$name: $db committed, more than the $req sends made"
        fi
    fi

    local status=ok
    if [ "$req" -eq 0 ]; then
        fail "$name: no request completed"
        status=FAILED
    fi
    if [ "$non2xx" -gt 0 ] || [ "$ok" != "$req" ] || [ "$sock" -gt 0 ]; then
        fail "$name: $((req - ok)) of $req answers not as expected" \
             "($non2xx non-2xx, $bad bad pages; statuses $statuses)," \
             "$sock socket errors"
        status=FAILED
    fi

    echo "RESULT name=$name scenario=rest $(sed -n 's/^RESULT //p' \
        "$out/$name.txt") conns=$REST_CONNS secs=$REST_DURATION" \
        "srv_us_per_req=${srv%% *} srv_detail=${srv#* }" \
        "gen_cpu_s=$gen_cpu gen_wall_s=$wall machine_busy=$busy" \
        "sock_errors=$sock db_committed=${db:--} status=$status" \
        >> "$results"

    sleep 2
}

# the history room: HIST_MESSAGES messages of SIZE bytes, seq 1..N,
# written once with psql and reused while it is intact
seed_history() {
    local room=$1 n=$2 have t0

    have=$(pg -F ' ' -c "select r.last_seq,
        (select count(*) from messages m where m.room_id = r.id),
        r.private from rooms r where r.id = '$room'")
    if [ "$have" = "$n $n f" ]; then
        echo "history room $room: $n messages, reused"
        return 0
    fi

    t0=$(date +%s.%N)
    pg <<SQL
begin;
delete from messages where room_id = '$room';
delete from members where room_id = '$room';
delete from rooms where id = '$room';
insert into rooms (id, kind, created_by, last_seq, last_rev, last_ts)
    values ('$room', 'channel', 'bench-seed', $n, $n,
            (extract(epoch from clock_timestamp()) * 1000)::bigint);
insert into messages (room_id, seq, rev, sender, sender_name, body, ts)
    select '$room', g, g, 'bench-seed-' || (g % 100), 'Seed ' || (g % 100),
           rpad('history message ' || g || ' ', $SIZE, 'x'),
           (extract(epoch from clock_timestamp()) * 1000)::bigint
      from generate_series(1, $n) g;
commit;
analyze messages;
SQL
    echo "history room $room: wrote $n messages with psql in" \
         "$(echo "$t0 $(date +%s.%N)" | awk '{ printf "%.1f", $2 - $1 }') s"
}

# one page by curl before the run: its status and seq range
check_page() {
    local name=$1 url=$2 first=$3 last=$4 code seqs
    code=$(curl -sS -o "$out/$name.page.json" -w '%{http_code}' \
           -H "Authorization: Bearer $rest_token" "$url") || code=000
    seqs=$(grep -o '"seq":[0-9]*' "$out/$name.page.json" | cut -d: -f2 \
           | sed -n '1p;$p' | tr '\n' ' ')
    if [ "$code" != 200 ] || [ "$seqs" != "$first $last " ] \
       || ! grep -q '"has_more":true}' "$out/$name.page.json"
    then
        fail "$name: GET $url answered $code with seqs ${seqs:-none}" \
             "(expected 200, $first..$last, has_more); see $out/$name.page.json"
        return 1
    fi
}

if [ "$BENCH_REST" = 1 ]; then
    echo
    echo "== REST API: wrk, 1 thread, $REST_CONNS connections," \
         "${REST_DURATION} s per run, pinned to CPU $BENCH_GEN_CPU"

    rest_token=$("$root/build/chat-token" --alg HS256 --key "$secret" \
                 --sub bench-rest --ttl 3600)

    hist_room=bench-history-$HIST_MESSAGES
    seed_history "$hist_room" "$HIST_MESSAGES"

    url_new="$rest_base/rooms/$hist_room/messages?limit=$REST_LIMIT"
    url_old="$rest_base/rooms/$hist_room/messages?after=0&limit=$REST_LIMIT"

    if check_page rest-new "$url_new" \
        $((HIST_MESSAGES - REST_LIMIT + 1)) "$HIST_MESSAGES"
    then
        run_rest rest-new rest-history.lua "$url_new"
    fi

    if check_page rest-old "$url_old" 1 "$REST_LIMIT"; then
        run_rest rest-old rest-history.lua "$url_old"
    fi

    send_room=bench-send-$(date +%Y%m%d-%H%M%S)-$$
    pg -c "insert into rooms (id, kind, created_by)
           values ('$send_room', 'channel', 'bench-rest')"
    run_rest rest-send rest-send.lua "$rest_base/rooms/$send_room/messages" \
        "$send_room"

    if [ "$BENCH_KEEP_ROOMS" != 1 ]; then
        pg -c "delete from messages where room_id = '$send_room';
               delete from members where room_id = '$send_room';
               delete from rooms where id = '$send_room'"
    fi
fi

# search over SEARCH_ROWS messages (bench/search.sh), in the database

if [ "$BENCH_SEARCH" != 0 ] && [ $selftest = 0 ]; then
    echo "== search (bench/search.sh)"
    echo "bench/search.sh" >>"$out/commands.txt"
    if "$here/search.sh" "$BENCH_PG" >"$out/search.txt"; then
        cat "$out/search.txt"
    else
        fail "search (bench/search.sh)"
    fi
fi

# the table

{
    echo
    echo "== summary (generator pinned to CPU $BENCH_GEN_CPU;" \
         "latency in ms; srv us/dlv = server CPU per delivery;"
    echo "   gen = generator CPU / wall; SERVER-BEHIND: deliveries trail" \
         "the offered load, see machine CPU in the full output;"
    echo "   REST rows: wrk closed loop, each connection sends its next" \
         "request when the answer arrives; srv us/req = server CPU per"
    echo "   request; cpu = both cores busy; db+ = sends committed in" \
         "PostgreSQL during the run)"
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
        if (r["scenario"] == "rest") {
            rest[++nr] = sprintf("%-9s %5s %4s %8.0f %6.2f %6.2f %7.2f" \
                " %7.2f %10s %4s%% %4s%% %s", \
                r["name"], r["conns"], r["secs"], r["rps"], \
                r["lat_p50_us"] / 1000, r["lat_p99_us"] / 1000, \
                r["lat_p999_us"] / 1000, r["lat_max_us"] / 1000, \
                v("srv_us_per_req"), \
                (r["gen_wall_s"] > 0) ? \
                    sprintf("%.0f", 100 * r["gen_cpu_s"] / r["gen_wall_s"]) \
                    : "-", \
                v("machine_busy"), \
                "non2xx=" v("non2xx") " sockerr=" v("sock_errors") \
                (v("db_committed") != "-" ? \
                    " db+=" r["db_committed"] : "") \
                (r["status"] != "ok" ? " FAILED" : ""))
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
                "ready", "conn/s", "PSS KiB/conn", "sock KiB/conn", \
                "errors/closes"
            for (i = 1; i <= ni; i++) print idle[i]
        }
        if (nr) {
            printf "\n%-9s %5s %4s %8s %6s %6s %7s %7s %10s %5s %5s %s\n", \
                "run", "conns", "secs", "req/s", "p50", "p99", "p99.9", \
                "max", "srv us/req", "gen", "cpu", "notes"
            for (i = 1; i <= nr; i++) print rest[i]
        }
    }' "$results"
    echo
    echo "commands (from the repository root):"
    sed 's/^/  /' "$out/commands.txt"
    echo
    if [ -s "$out/search.txt" ]; then
        echo "search (chat_search in PostgreSQL, pgbench, 1 connection;" \
             "ms):"
        sed 's/^/  /' "$out/search.txt"
        echo
    fi
    echo "full outputs: ${out#"$root"/}/"
} | tee -a "$out/summary.txt"

if [ -n "$failed" ]; then
    { echo; echo "run.sh: FAILED:$failed"; } | tee -a "$out/summary.txt" >&2
    exit 1
fi
