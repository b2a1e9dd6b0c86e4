#!/usr/bin/env bash
# PostgreSQL's CPU per message committed by the group commit's statement
# alone, without nginx: pgbench sends batches of sends as the module
# writes them, and the CPU of the server's whole process tree is read
# from /proc before and after.
#
# usage: bench/pg-commit.sh CONNINFO POSTMASTER_PID [BATCH ...]
#
#   CONNINFO        libpq conninfo of a database at the schema the module
#                   works with ("host=127.0.0.1 port=25432 dbname=chat
#                   user=chat"); rooms "pc-p<N>" (2 members) and
#                   "pc-g<N>" (50) are created in it once
#   POSTMASTER_PID  the server's postmaster (head -1 .../postmaster.pid)
#   BATCH ...       batch sizes (1 10 50)
#
# Environment: PC_CLIENTS (1) pgbench connections, PC_SECS (4) seconds per
# batch size, PC_SCRIPTS (40) different batches, PC_CPU (0) the CPU
# pgbench runs on (taskset), as the module shares the server's core;
# PC_MODE (extended) pgbench's query protocol: "extended" sends the
# statement unnamed each time, as the module did up to schema 13,
# "prepared" prepares it once per connection, as the module does now;
# PC_CID (0) 1: every send names a client_msg_id of its own (never a
# retry), as the web client's do.
#
# Prints, per batch size: messages committed, batches a second, and
# PostgreSQL's CPU per message (utime + stime of the postmaster, its
# children and the children it waited for, in /proc); then its user
# time alone (the kernel's share, mostly the WAL flush, varies with the
# disk's other work: the user time tells statements apart better).

set -eu

# shellcheck source=bench/pg-commit-lib.sh
. "$(dirname "$0")/pg-commit-lib.sh"

[ $# -ge 2 ] || { sed -n '2,23s/^# \{0,1\}//p' "$0"; exit 2; }

conn=$1
pm=$2
shift 2
sizes=${*:-1 10 50}

: "${PC_CLIENTS:=1}" "${PC_SECS:=4}" "${PC_SCRIPTS:=40}" "${PC_CPU:=0}"
: "${PC_MODE:=extended}"

dir=$(mktemp -d /tmp/pg-commit.XXXXXX)
trap 'rm -rf "$dir"' EXIT

q() { psql "$conn" -qtAX -v ON_ERROR_STOP=1 -c "$1"; }

# the rooms of the chat scenario: 1000 of 2, 20 of 50 (users u0..u1999)
pc_rooms "$conn"

# ticks of the postmaster's tree
tree_ticks() {
    { awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pm/stat"
      for p in $(ps -o pid= --ppid "$pm"); do
          awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || true
      done; } | awk '{ s += $1 } END { print s }'
}

# the same, user time only: the statements' own work, without the
# kernel's (the WAL flush, the sockets), which moves with the disk's load
user_ticks() {
    { awk '{ print $14 + $16 }' "/proc/$pm/stat"
      for p in $(ps -o pid= --ppid "$pm"); do
          awk '{ print $14 }' "/proc/$p/stat" 2>/dev/null || true
      done; } | awk '{ s += $1 } END { print s }'
}

committed() {
    q "select coalesce(sum(last_seq), 0) from rooms where id like 'pc-%'"
}

hz=$(getconf CLK_TCK)

for b in $sizes; do
    rm -f "$dir"/*.sql
    # PC_SCRIPTS batches of b sends, each from a user to one of its rooms
    pc_batches "$dir" "$b" "$PC_SCRIPTS"

    args=()
    for f in "$dir"/*.sql; do args+=(-f "$f"); done

    # a backend that just ended is counted again once its postmaster has
    # reaped it (a zombie's /proc entry shows no CPU)
    sleep 1
    n0=$(committed)
    c0=$(tree_ticks)
    s0=$(user_ticks)
    taskset -c "$PC_CPU" pgbench "$conn" -n -c "$PC_CLIENTS" \
        -j "$PC_CLIENTS" -M "$PC_MODE" -T "$PC_SECS" "${args[@]}" > "$dir/out" 2>&1 \
        || { cat "$dir/out" >&2; exit 1; }
    sleep 1
    c1=$(tree_ticks)
    s1=$(user_ticks)
    n1=$(committed)

    tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$dir/out")
    echo "$b $((n1 - n0)) $tps $((c1 - c0)) $((s1 - s0))" | awk -v hz="$hz" '{
        printf "batch %4d: %7d messages, %7.1f batches/s, PostgreSQL %.2f s" \
               " = %.1f us per message (user %.1f)\n", $1, $2, $3,
               $4 / hz, $2 ? $4 * 1e6 / hz / $2 : 0,
               $2 ? $5 * 1e6 / hz / $2 : 0 }'
done
