#!/bin/bash
# What storing a message costs PostgreSQL at the least, next to what the
# group commit's statement costs: the floor under "PostgreSQL CPU per
# committed message" (BENCHMARKS.md, issue 13's 25 us).
#
#   bench/pg-floor.sh CONNINFO POSTMASTER_PID [SECONDS] [BATCHES]
#
# CONNINFO names a superuser's connection to a PostgreSQL whose postmaster
# is POSTMASTER_PID; the script creates the database pg_floor there (once),
# migrates it with sql/ and seeds the chat scenario's rooms (1000 of 2, 20
# of 50: bench/pg-commit-lib.sh).  For each batch size B of BATCHES
# ("1 40"), one pgbench connection (prepared statements, pinned to CPU 1)
# commits batches of B messages for SECONDS (8) in three ways:
#
#   insert   the B rows straight into messages (the room's seq from a
#            sequence): the table, its b-tree, its search index, the WAL
#            flush, nothing else
#   counted  the same, and each room's row counted (last_seq, last_rev,
#            last_ts) as the statement does: one update per room
#   cursor   the same, and each sender's read cursor moved in the room
#            (members.read_seq) as a send does: one update per sender
#   send     chat_send_batch_quota with the same sends, as the module
#            commits them: checks, numbering, the sender's read cursor
#
# Every way runs with the planner's settings of the send's statement
# (no sequential scans, no hash or merge joins): on this small database
# the planner would read all of rooms and members for each batch, which
# it does not on a deployment's (nor on the bench's, with its 30 000
# idle rooms).
#
# PF_CLIENTS=N (1) runs N pgbench connections at once, as N workers
# commit side by side (they meet on the same rooms' rows).  PF_ROUNDS=N
# (1) runs the four ways N times in turn, so that autovacuum and the
# machine's noise fall on each of them alike.
#
# and prints PostgreSQL's CPU (the postmaster's process tree from /proc,
# children that exited included) per message committed.  CPU time per
# message is meaningful on a shared machine; run it twice anyway.

set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
conninfo=${1:?usage: pg-floor.sh CONNINFO POSTMASTER_PID [SECONDS] [BATCHES]}
pm=${2:?usage: pg-floor.sh CONNINFO POSTMASTER_PID [SECONDS] [BATCHES]}
secs=${3:-8}
clients=${PF_CLIENTS:-1}
rounds=${PF_ROUNDS:-1}
batches=${4:-1 40}

. "$here/pg-commit-lib.sh"

db="$conninfo dbname=pg_floor"
if [ -z "$(psql "$conninfo dbname=postgres" -qtAX \
              -c "select 1 from pg_database where datname = 'pg_floor'")" ]
then
    psql "$conninfo dbname=postgres" -qX -c "create database pg_floor" >/dev/null
fi
"$root/scripts/chat-migrate" "$db" >/dev/null
pc_rooms "$db"
psql "$db" -qX -c "create sequence if not exists pg_floor_seq" >/dev/null

# the postmaster's own CPU, its exited children's, and its live children's
pg_ticks() {
    local t p
    t=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pm/stat")
    for p in $(pgrep -P "$pm"); do
        [ -r "/proc/$p/stat" ] \
            && t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
    done
    echo "$t"
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
hz=$(getconf CLK_TCK)
export PGOPTIONS="${PGOPTIONS:-} -c enable_seqscan=off -c enable_hashjoin=off -c enable_mergejoin=off"

# scripts DIR B: 20 batches of B sends as pc_batches writes them, and the
# same rooms and bodies as plain inserts (insert/), counted inserts
# (counted/) and counted inserts that move their senders' cursors
# (cursor/)
scripts() {
    local dir=$1 b=$2
    mkdir -p "$dir/send" "$dir/insert" "$dir/counted" "$dir/cursor"
    pc_batches "$dir/send" "$b" 20
    perl -e '
        my ($dir) = @ARGV;
        for my $f (glob "$dir/send/s*.sql") {
            my ($n) = $f =~ /s(\d+)\.sql$/;
            open my $i, "<", $f or die;
            my $s = do { local $/; <$i> };
            my @rows = $s =~ /\{"room":"([^"]+)","from":"([^"]+)","body":"([^"]+)"\}/g;
            my (@v, %per, %sender);
            while (my ($room, $from, $body) = splice @rows, 0, 3) {
                push @v, "(\x27$room\x27, nextval(\x27pg_floor_seq\x27), \x27$from\x27, \x27$body\x27)";
                $per{$room}++;
                $sender{"(\x27$room\x27, \x27$from\x27)"} = 1;
            }
            my $ins = "insert into messages (room_id, seq, sender, body, ts, rev)"
                    . " select v.r, v.s, v.f, v.b, (extract(epoch from now()) * 1000)::bigint, v.s"
                    . " from (values " . join(", ", @v) . ") v(r, s, f, b)";
            open my $o, ">", "$dir/insert/s$n.sql" or die;
            print $o "$ins;\n";
            my $upd = "update rooms set last_seq = last_seq + c.n,"
                    . " last_rev = last_rev + c.n, last_ts = 1"
                    . " from (values " . join(", ", map { "(\x27$_\x27, $per{$_})" } sort keys %per)
                    . ") c(id, n) where rooms.id = c.id";
            open $o, ">", "$dir/counted/s$n.sql" or die;
            print $o "with c as ($upd returning 1) $ins;\n";
            my $read = "update members set read_seq = read_seq + 1"
                     . " from (values " . join(", ", sort keys %sender)
                     . ") m(r, u) where members.room_id = m.r"
                     . " and members.user_id = m.u";
            open $o, ">", "$dir/cursor/s$n.sql" or die;
            print $o "with c as ($upd returning 1), m as ($read returning 1) $ins;\n";
        }' "$dir"
}

printf "%-8s %6s %10s %12s\n" way batch messages "pg_us/msg"
for b in $batches; do
    scripts "$work/$b" "$b"
done
for _ in $(seq "$rounds"); do
    for b in $batches; do
        for way in insert counted cursor send; do
            args=()
            for f in "$work/$b/$way"/s*.sql; do args+=(-f "$f"); done
            t0=$(pg_ticks)
            out=$(taskset -c 1 pgbench -n -M prepared -c "$clients" \
                      -j "$clients" -T "$secs" "${args[@]}" "$db" 2>&1)
            sleep 0.3
            t1=$(pg_ticks)
            n=$(awk '/number of transactions actually processed/ { print $NF }' \
                    <<<"$out")
            n=${n%%/*}
            m=$((n * b))
            awk -v w="$way" -v b="$b" -v m="$m" -v t="$((t1 - t0))" \
                -v hz="$hz" 'BEGIN {
                printf "%-8s %6d %10d %12.1f\n", w, b, m, t * 1e6 / hz / m }'
        done
    done
done
