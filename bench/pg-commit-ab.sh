#!/usr/bin/env bash
# Two variants of the group commit's statement measured side by side, so
# that both see the same load on a shared machine: two pgbench runs at
# once (each one connection, pinned to CPU 0), A and B, each on its own
# database (the same schema, or the variant under test), in its own query
# mode; the CPU of each one's backend (user, system; /proc) between two
# samples taken inside the run, divided by the messages it committed
# meanwhile.  Run it twice with A and B swapped.
#
# usage: bench/pg-commit-ab.sh BATCH CONN_A MODE_A CONN_B MODE_B [SECS]
#
#   CONN_*  libpq conninfo of a database at the module's schema; rooms
#           "pc-p<N>" (2 members) and "pc-g<N>" (50) are created in it
#   MODE_*  pgbench's -M: extended (an unnamed statement each time, as
#           the module sent the commit up to schema 13) or prepared
#   SECS    (20) the run; the window runs from its 3rd second to 2 s
#           before its end (psql is slow on a loaded machine: the
#           samples are taken in the same order at both ends)
#
# Environment: PC_CID (0) 1: every send names a client_msg_id of its own
# (never a retry), as the web client's do.
#
# Prints, per side: messages committed in the window, and the backend's
# user and system CPU per message (the WAL flush is mostly system time).
set -eu

# shellcheck source=bench/pg-commit-lib.sh
. "$(dirname "$0")/pg-commit-lib.sh"

[ $# -ge 5 ] || { sed -n '2,24s/^# \{0,1\}//p' "$0"; exit 2; }

b=$1
conn=("$2" "$4")
mode=("$3" "$5")
secs=${6:-20}

dir=$(mktemp -d /tmp/pg-commit-ab.XXXXXX)
trap 'rm -rf "$dir"' EXIT

q() { psql "$1" -qtAX -v ON_ERROR_STOP=1 -c "$2"; }

for c in "${conn[@]}"; do
    pc_rooms "$c"
done

# 40 batches of b sends, the same for both sides but for their bodies
for s in 0 1; do
    mkdir -p "$dir/$s"
    pc_batches "$dir/$s" "$b" 40
done

tail_out() { tail -n 3 "$dir/0.out" "$dir/1.out" >&2; }

t0=$(date +%s.%N)
for s in 0 1; do
    args=()
    for f in "$dir/$s"/*.sql; do args+=(-f "$f"); done
    PGAPPNAME=pg_commit_ab_$s taskset -c 0 pgbench "${conn[$s]}" -n \
        -M "${mode[$s]}" -T "$secs" "${args[@]}" > "$dir/$s.out" 2>&1 &
    pids[$s]=$!
done

sleep 3

# each client's session (pgbench's first connection, which only looks
# around, may not have ended yet)
for s in 0 1; do
    be[$s]=$(q "${conn[0]}" "select pid from pg_stat_activity
                              where application_name = 'pg_commit_ab_$s'
                              order by backend_start desc limit 1")
    [ -n "${be[$s]}" ] || { echo "no session for side $s" >&2; tail_out;
                            exit 1; }
done

# psql is slow on a loaded machine: both ends sample in the same order
sample() {
    local s
    for s in 0 1; do
        ticks[$s]=$(awk '{ print $14, $15 }' "/proc/${be[$s]}/stat") \
            || return 1
    done
    for s in 0 1; do
        msgs[$s]=$(q "${conn[$s]}" "select sum(last_seq) from rooms
                                     where id like 'pc-%'")
    done
}

sample || { wait; tail_out; exit 1; }
start_ticks=("${ticks[@]}")
start_msgs=("${msgs[@]}")

left=$(awk -v t0="$t0" -v s="$secs" -v now="$(date +%s.%N)" \
           'BEGIN { printf "%.3f", t0 + s - 2 - now }')
case $left in -*|0.000) echo "the run is too short for this machine" >&2
                    wait; exit 1 ;; esac
sleep "$left"
sample || { wait; tail_out; exit 1; }

wait "${pids[@]}" || { tail_out; exit 1; }

hz=$(getconf CLK_TCK)
for s in 0 1; do
    db=$(echo "${conn[$s]}" | sed -n 's/.*dbname=\([^ ]*\).*/\1/p')
    echo "${start_ticks[$s]} ${ticks[$s]} $((msgs[s] - start_msgs[s]))" \
    | awk -v side="$(printf '%s %s' "$(echo AB | cut -c$((s + 1)))" "$db")" \
          -v m="${mode[$s]}" -v b="$b" -v hz="$hz" '{
        u = $3 - $1; k = $4 - $2; n = $5
        printf "%s %-8s batch %3d: %6d messages, backend user %6.1f" \
               " + system %6.1f = %6.1f us per message\n", side, m, b, n,
               u * 1e6 / hz / n, k * 1e6 / hz / n, (u + k) * 1e6 / hz / n }'
done
