#!/usr/bin/env bash
# ngx_chat soak run (make soak): 10 000 WebSocket connections chatting at a
# steady rate for SOAK_MINUTES, with reconnect churn and an nginx reload
# every few minutes; the server's resources sampled every
# SOAK_SAMPLE_SECONDS and judged flat or growing (bench/soak-report.pl).
#
# usage: bench/soak.sh        (settings from the environment, below)
#
# The load is bench/chat-bench --scenario soak (pinned to CPU
# SOAK_GEN_CPU with taskset): SOAK_CONNS connections from 127.0.0.2 and up
# in rooms of 2, 10 rooms of 50 among them, SOAK_RATE messages a second in
# all; what the server closes (a reload's close frames) reconnects after a
# random delay below 2 s, doubling on each failed try; SOAK_CHURN
# connections a second close themselves (1000) and reconnect.
#
# The stack: scripts/stack.sh on SOAK_RUNDIR (default run/, the demo's)
# and CHAT_PG_PORT, CHAT_REDIS_PORT, CHAT_HTTP_PORT.  If its nginx runs,
# it is used as it is (and left running); otherwise it is started with
# conf/demo.conf.in made roomy enough for the connections
# (worker_rlimit_nofile: the hard open-file limit, at most 65536;
# worker_connections 1000 fewer) and stopped at
# the end (SOAK_KEEP=1 leaves it up).  Reloads: "nginx -s reload" every
# SOAK_RELOAD_SECONDS (default a quarter of the run, at most 300 s; 0: none),
# a second after a sample: the old workers close their connections spread
# over chat_reload_spread (5 s) and each client is back within 2 s of
# its close, so that the next sample (SOAK_SAMPLE_SECONDS, 10) finds the
# reload over.
#
# Each sample (a line of samples.csv): the current nginx workers' VmRSS,
# RssAnon and open files, summed; the old workers still shutting down after
# a reload, counted apart with their VmRSS; Redis connected_clients (less
# the sampler's own); PostgreSQL backends of the chat database (less the
# sampler's own); the error log's lines at warn and above since the start,
# by level; ngx_chat_ws_connections from /metrics; the generator's counts
# since the last sample (INTERVAL lines: sends, acks, errors, closes by
# code, churn, reconnects, connect failures, delivery p99).
#
# Output: bench/out/soak-<time>/ (samples.csv, reloads.txt, the
# generator's output, summary.txt, soak.png), and soak.png copied to
# docs/bench/ (SOAK_PLOTS_TO, empty: not copied); gnuplot-nox is
# installed with apt-get when missing (as root).  Exit status: 0 when the
# run completed and every series is flat, 1 otherwise.
#
# Environment: SOAK_MINUTES (30), SOAK_CONNS (10000), SOAK_RATE (500),
# SOAK_CHURN (10), SOAK_RELOAD_SECONDS, SOAK_SAMPLE_SECONDS (10),
# SOAK_STEADY_MINUTE (from when the series must be flat: 5, or 30% of
# runs under 10 minutes), SOAK_RUNDIR, SOAK_KEEP, SOAK_GEN_CPU (1),
# SOAK_SRC_ADDRS (16), SOAK_PLOTS_TO.

set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

case ${1:-} in
-h|--help)
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
    exit 0 ;;
'') ;;
*) echo "soak.sh: no arguments; settings come from the environment" >&2
   exit 2 ;;
esac

: "${SOAK_MINUTES:=30}" "${SOAK_CONNS:=10000}" "${SOAK_RATE:=500}"
: "${SOAK_CHURN:=10}" "${SOAK_SAMPLE_SECONDS:=10}" "${SOAK_GEN_CPU:=1}"
: "${SOAK_SRC_ADDRS:=16}" "${SOAK_KEEP:=0}" "${SOAK_RUNDIR:=run}"
: "${SOAK_PLOTS_TO=$root/docs/bench}"
: "${CHAT_PG_PORT:=25432}" "${CHAT_REDIS_PORT:=26379}" "${CHAT_HTTP_PORT:=8080}"
export CHAT_PG_PORT CHAT_REDIS_PORT CHAT_HTTP_PORT

secs=$(awk -v m="$SOAK_MINUTES" 'BEGIN { printf "%d", m * 60 }')
if [ "$secs" -lt 120 ]; then
    echo "soak.sh: SOAK_MINUTES=$SOAK_MINUTES: at least 2 minutes" >&2
    exit 2
fi
if [ -z "${SOAK_RELOAD_SECONDS:-}" ]; then
    SOAK_RELOAD_SECONDS=$((secs / 4 > 300 ? 300 : secs / 4))
fi
if [ -z "${SOAK_STEADY_MINUTE:-}" ]; then
    SOAK_STEADY_MINUTE=$(awk -v m="$SOAK_MINUTES" \
        'BEGIN { print (m >= 10) ? 5 : m * 0.3 }')
fi
pairs=$(((SOAK_CONNS + 1) / 2))
# INTERVAL lines twice a sample: each sample has at least one
gen_interval=$(awk -v s="$SOAK_SAMPLE_SECONDS" \
    'BEGIN { print (s / 2 >= 1) ? s / 2 : 1 }')

out=$here/out/soak-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"

started_stack=0
gen_pid=
rundir=

stop_stack() {
    if [ $started_stack = 1 ] && [ "$SOAK_KEEP" != 1 ]; then
        echo "soak.sh: stopping the stack started for the soak"
        "$root/scripts/stack.sh" down "$SOAK_RUNDIR" || true
        started_stack=0
    fi
}

cleanup() {
    if [ -n "$gen_pid" ] && kill -0 "$gen_pid" 2>/dev/null; then
        kill "$gen_pid" 2>/dev/null || true
        wait "$gen_pid" 2>/dev/null || true
    fi
    stop_stack
}

trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- what the run needs ------------------------------------------------

make -C "$root" -s module
make -C "$here" -s chat-bench

for t in psql redis-cli curl perl taskset; do
    if ! command -v $t >/dev/null 2>&1; then
        echo "soak.sh: $t is missing (make deps)" >&2
        exit 1
    fi
done

# the generator holds every connection in one process
ulimit -n $((SOAK_CONNS + 1000)) 2>/dev/null \
    || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] \
   && [ "$(ulimit -n)" -lt $((SOAK_CONNS + 100)) ]; then
    echo "soak.sh: open-file limit $(ulimit -n) is below the" \
         "$SOAK_CONNS connections (raise the hard limit, or SOAK_CONNS)" >&2
    exit 1
fi

# ---- the stack ---------------------------------------------------------

pidfile_alive() {
    local p
    p=$(head -n 1 "$1" 2>/dev/null | tr -dc 0-9)
    [ -n "$p" ] && kill -0 "$p" 2>/dev/null
}

rundir=$("$root/scripts/stack.sh" rundir "$SOAK_RUNDIR")

if pidfile_alive "$rundir/nginx.pid"; then
    echo "soak.sh: using the running stack in $rundir"
    wc=$(sed -n 's/^ *worker_connections *\([0-9]*\);.*/\1/p' \
         "$rundir/nginx.conf" | head -n 1)
    if [ -n "$wc" ] && [ "$wc" -lt $((SOAK_CONNS + 2000)) ]; then
        echo "soak.sh: warning: its worker_connections $wc leaves one" \
             "worker little room for $SOAK_CONNS connections" >&2
    fi
else
    # as many open files as the hard limit lets a worker have (nginx
    # cannot raise it without CAP_SYS_RESOURCE), at most 65536
    nofile=$(ulimit -Hn)
    if [ "$nofile" = unlimited ] || [ "$nofile" -gt 65536 ]; then
        nofile=65536
    fi
    sed -e "s/^worker_rlimit_nofile .*/worker_rlimit_nofile  $nofile;/" \
        -e "s/^\( *\)worker_connections .*/\1worker_connections  $((nofile - 1000));/" \
        "$root/conf/demo.conf.in" > "$out/nginx.conf.in"
    echo "soak.sh: starting the stack in $SOAK_RUNDIR"
    CHAT_DEMO_CONF=$out/nginx.conf.in "$root/scripts/stack.sh" up \
        "$SOAK_RUNDIR" > "$out/stack.log" 2>&1 \
        || { cat "$out/stack.log" >&2; exit 1; }
    started_stack=1
    rundir=$("$root/scripts/stack.sh" rundir "$SOAK_RUNDIR")
fi

master=$(head -n 1 "$rundir/nginx.pid" | tr -dc 0-9)
errlog=$rundir/error.log
errlog_from=$(($(stat -c %s "$errlog" 2>/dev/null || echo 0) + 1))
pg="host=127.0.0.1 port=$CHAT_PG_PORT dbname=chat user=chat"
metrics_url=http://127.0.0.1:$CHAT_HTTP_PORT/metrics

# ---- sampling ----------------------------------------------------------

csv=$out/samples.csv
echo "t_s,minute,workers,rss_kb,anon_kb,fds,old_workers,old_rss_kb,\
redis_clients,pg_conns,log_warn,log_error,log_crit,ws_connections,\
gen_secs,gen_ready,gen_sent,gen_acked,gen_send_errors,gen_errors,\
gen_connect_fail,gen_closes_1001,gen_closes_1012,gen_closes_1006,\
gen_closes_other,gen_churned,gen_reconnects,gen_reconnected,gen_lat_p99_ms,\
gen_ack_p99_ms,reloads" > "$csv"

gen_done=0              # INTERVAL lines already in a sample
reloads_since=0

# "workers rss anon fds old old_rss" of the master's worker processes
sample_workers() {
    local p cmd rss anon fds
    local n=0 r=0 a=0 f=0 o=0 orss=0
    for p in $(ps -o pid= --ppid "$master" 2>/dev/null); do
        cmd=$(tr '\0' ' ' < /proc/"$p"/cmdline 2>/dev/null) || continue
        read -r rss anon < <(awk '/^VmRSS:/ { r = $2 } /^RssAnon:/ { a = $2 }
            END { print r + 0, a + 0 }' /proc/"$p"/status 2>/dev/null) \
            || continue
        case $cmd in
        *"shutting down"*)
            o=$((o + 1)); orss=$((orss + rss)) ;;
        *"worker process"*)
            fds=$(ls /proc/"$p"/fd 2>/dev/null | wc -l)
            n=$((n + 1)); r=$((r + rss)); a=$((a + anon)); f=$((f + fds)) ;;
        esac
    done
    if [ $n = 0 ]; then
        echo "0 NA NA NA $o $orss"      # just after a reload: none yet
    else
        echo "$n $r $a $f $o $orss"
    fi
}

# "warn error crit+" lines of the error log since the start
sample_errlog() {
    tail -c +"$errlog_from" "$errlog" 2>/dev/null | awk '
        / \[warn\] / { w++ } / \[error\] / { e++ }
        / \[(crit|alert|emerg)\] / { c++ }
        END { print w + 0, e + 0, c + 0 }'
}

# the generator's INTERVAL lines from number $1 + 1 to $2, summed
sample_gen() {
    grep '^INTERVAL' "$out/gen.txt" 2>/dev/null | awk -v from="$1" -v to="$2" '
        NR <= from || NR > to { next }
        {
            delete r
            for (i = 2; i <= NF; i++) {
                j = index($i, "="); r[substr($i, 1, j - 1)] = substr($i, j + 1)
            }
            secs += r["secs"]; ready = r["ready"]; sent += r["sent"]
            acked += r["acked"]; serr += r["send_errors"]
            cf += r["connect_fail"]; ch += r["churned"]
            rc += r["reconnects"]; rd += r["reconnected"]
            if (r["errors"] != "none") {
                k = split(r["errors"], e, ",")
                for (i = 1; i <= k; i++) { split(e[i], kv, ":"); err += kv[2] }
            }
            if (r["closes"] != "none") {
                k = split(r["closes"], e, ",")
                for (i = 1; i <= k; i++) {
                    split(e[i], kv, ":")
                    if (kv[1] == 1001) c1001 += kv[2]
                    else if (kv[1] == 1012) c1012 += kv[2]
                    else if (kv[1] == 1006) c1006 += kv[2]
                    else cother += kv[2]
                }
            }
            if (r["lat_p99_us"] > p99) p99 = r["lat_p99_us"]
            if (r["ack_p99_us"] > a99) a99 = r["ack_p99_us"]
            got = 1
        }
        END {
            if (!got) { print "0,,,,,,,,,,,,,,,"; exit }
            printf "%.1f,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%.2f,%.2f\n",
                secs, ready, sent, acked, serr, err, cf, c1001, c1012, c1006,
                cother, ch, rc, rd, p99 / 1000, a99 / 1000
        }'
}

sample() {
    local t w e g n redis pgc wsc
    t=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    w=$(sample_workers)
    e=$(sample_errlog)
    redis=$(redis-cli -h 127.0.0.1 -p "$CHAT_REDIS_PORT" info clients \
            2>/dev/null | tr -d '\r' \
            | sed -n 's/^connected_clients://p')
    redis=$(( ${redis:-1} - 1 ))
    pgc=$(psql "$pg" -qtAX -c "select count(*) from pg_stat_activity
            where datname = 'chat' and pid <> pg_backend_pid()" 2>/dev/null \
          || echo "")
    wsc=$(curl -s -m 5 "$metrics_url" 2>/dev/null \
          | awk '/^ngx_chat_ws_connections[ {]/ { s += $NF; got = 1 }
                 END { if (got) print s }')
    n=$(grep -c '^INTERVAL' "$out/gen.txt" 2>/dev/null || true)
    g=$(sample_gen "$gen_done" "${n:-0}")
    gen_done=${n:-0}
    echo "$t,$(awk -v t="$t" 'BEGIN { printf "%.2f", t / 60 }'),$(echo "$w" \
         | tr ' ' ',' | sed 's/NA//g'),$redis,$pgc,$(echo "$e" | tr ' ' ','),$wsc,$g,$reloads_since" \
        >> "$csv"
    reloads_since=0
}

# ---- the run -----------------------------------------------------------

gen=(taskset -c "$SOAK_GEN_CPU" "$here/chat-bench" --scenario soak
     --port "$CHAT_HTTP_PORT" --secret "$rundir/jwt.secret"
     --pairs "$pairs" --rate "$SOAK_RATE" --churn "$SOAK_CHURN"
     --duration "$secs" --interval "$gen_interval"
     --src-addrs "$SOAK_SRC_ADDRS" --setup-timeout 120)

{
    echo "== ngx_chat soak $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    perl "$here/soak-report.pl" --machine
    echo "stack     $rundir, nginx master $master, 127.0.0.1:$CHAT_HTTP_PORT"
    echo "load      $SOAK_CONNS connections, $SOAK_RATE msgs/s," \
         "$SOAK_CHURN churn/s, reload every ${SOAK_RELOAD_SECONDS}s," \
         "$SOAK_MINUTES min, samples every ${SOAK_SAMPLE_SECONDS}s," \
         "flat from minute $SOAK_STEADY_MINUTE"
    echo "command   SOAK_MINUTES=$SOAK_MINUTES make soak"
    echo "generator ${gen[*]}" | sed "s|$root/||g"
    echo "loadavg   $(cut -d' ' -f1-3 /proc/loadavg) before"
} | tee "$out/summary.txt"

"${gen[@]}" > "$out/gen.txt" 2> "$out/gen.err" &
gen_pid=$!

# the connections set up: the generator says "measure"
i=0
until grep -q ': measure (ready' "$out/gen.err" 2>/dev/null; do
    if ! kill -0 "$gen_pid" 2>/dev/null; then
        echo "soak.sh: chat-bench ended during its setup:" >&2
        tail -n 5 "$out/gen.err" >&2
        exit 1
    fi
    i=$((i + 1))
    if [ $i -gt 1500 ]; then
        echo "soak.sh: chat-bench did not set up in 150 s" >&2
        exit 1
    fi
    sleep 0.1
done
t0=$(date +%s.%N)
grep ': measure (ready' "$out/gen.err" | sed 's/^chat-bench: /setup     /' \
    | tee -a "$out/summary.txt"

: > "$out/reloads.txt"
next_sample=$SOAK_SAMPLE_SECONDS
# reloads a second after a sample: the spread of the closes is over by the
# next one
next_reload=$(awk -v r="$SOAK_RELOAD_SECONDS" -v s="$SOAK_SAMPLE_SECONDS" \
    'BEGIN { n = int((r + s - 1) / s) * s; print n + 1 }')
sample

while kill -0 "$gen_pid" 2>/dev/null; do
    now=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')

    if [ "$SOAK_RELOAD_SECONDS" -gt 0 ] \
       && awk -v n="$now" -v r="$next_reload" -v e="$secs" \
            'BEGIN { exit !(n >= r && r <= e - 30) }'
    then
        if /usr/sbin/nginx -p "$rundir" -c "$rundir/nginx.conf" \
            -e "$errlog" -s reload 2>>"$out/reload.err"
        then
            echo "$now" >> "$out/reloads.txt"
            reloads_since=$((reloads_since + 1))
            printf 'soak.sh: reload at %.0f s\n' "$now"
        else
            echo "soak.sh: nginx -s reload failed" >&2
            echo "failed $now" >> "$out/reloads.txt"
        fi
        next_reload=$(awk -v a="$next_reload" -v r="$SOAK_RELOAD_SECONDS" \
            -v s="$SOAK_SAMPLE_SECONDS" \
            'BEGIN { n = int((a - 1 + r + s - 1) / s) * s; print n + 1 }')
    fi

    if awk -v n="$now" -v s="$next_sample" 'BEGIN { exit !(n >= s) }'; then
        sample
        next_sample=$((next_sample + SOAK_SAMPLE_SECONDS))
        tail -n 1 "$csv" | awk -F, '{
            printf "soak.sh: %5.1f min  rss %.0f MiB  fds %d  old workers %d",
                $2, $4 / 1024, $6, $7
            printf "  redis %d  pg %d  ready %s  acked/s %s\n", $9, $10, $16,
                ($15 > 0) ? sprintf("%.0f", $18 / $15) : "-" }'
    fi
    sleep 0.5
done

gen_rc=0
wait "$gen_pid" || gen_rc=$?
gen_pid=

sed -n '/^== chat-bench/,$p' "$out/gen.txt" | grep -v '^RESULT' \
    > "$out/gen-report.txt" || true

stop_stack

rc=0
perl "$here/soak-report.pl" --dir "$out" --steady "$SOAK_STEADY_MINUTE" \
    --conns "$SOAK_CONNS" --gen-rc "$gen_rc" \
    | tee -a "$out/summary.txt" || rc=$?

if [ -f "$out/soak.png" ] && [ -n "$SOAK_PLOTS_TO" ]; then
    mkdir -p "$SOAK_PLOTS_TO"
    cp "$out/soak.png" "$SOAK_PLOTS_TO/soak.png"
    echo "plot: ${out#"$root"/}/soak.png, copied to" \
         "${SOAK_PLOTS_TO#"$root"/}/soak.png"
fi
echo "full outputs: ${out#"$root"/}/"

exit $rc
