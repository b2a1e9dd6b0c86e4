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
# Prints, per side: messages committed in the window, and the backend's
# user and system CPU per message (the WAL flush is mostly system time).
set -eu
[ $# -ge 5 ] || { sed -n '2,19s/^# \{0,1\}//p' "$0"; exit 2; }
b=$1; ca=$2; ma=$3; cb=$4; mb=$5; secs=${6:-20}
dir=$(mktemp -d /tmp/pg-commit-ab.XXXXXX)
trap 'rm -rf "$dir"' EXIT
q() { psql "$1" -qtAX -v ON_ERROR_STOP=1 -c "$2"; }
for c in "$ca" "$cb"; do
q "$c" "insert into rooms (id, created_by)
       select 'pc-p' || g, 'u' || 2 * g from generate_series(0, 999) g
    union all select 'pc-g' || g, 'u' || 50 * g from generate_series(0, 19) g
   on conflict do nothing" >/dev/null
q "$c" "insert into members (room_id, user_id)
       select 'pc-p' || u / 2, 'u' || u from generate_series(0, 1999) u
    union all select 'pc-g' || u / 50, 'u' || u from generate_series(0, 999) u
   on conflict do nothing" >/dev/null
done
for side in a b; do
  mkdir -p $dir/$side
  perl -e '
    my ($dir, $b, $k) = @ARGV; srand(13);
    for my $f (1 .. $k) { my @e;
      for (1 .. $b) { my $u = int(rand(2000));
        my $room = ($u < 1000 && rand() < 0.5) ? "pc-g" . int($u / 50) : "pc-p" . int($u / 2);
        push @e, qq({"room":"$room","from":"u$u","body":") . time() . " $f " . ("x" x 48) . q("}); }
      open my $o, ">", "$dir/s$f.sql" or die;
      print $o "select count(*) from chat_send_batch_quota(\x27[" . join(",", @e) . "]\x27::jsonb, true, 6000, 50);\n"; }' "$dir/$side" "$b" 40
done
args() { for f in "$1"/*.sql; do printf -- '-f\n%s\n' "$f"; done; }
mapfile -t aa < <(args $dir/a); mapfile -t ab < <(args $dir/b)
t0=$(date +%s.%N)
PGAPPNAME=ab_a taskset -c 0 pgbench "$ca" -n -M "$ma" -T "$secs" "${aa[@]}" > $dir/a.out 2>&1 &
pa=$!
PGAPPNAME=ab_b taskset -c 0 pgbench "$cb" -n -M "$mb" -T "$secs" "${ab[@]}" > $dir/b.out 2>&1 &
pb=$!
sleep 3
# the client's session (pgbench's first connection, which only looks
# around, may not have ended yet)
pid() { q "$ca" "select pid from pg_stat_activity
                  where application_name = '$1'
                  order by backend_start desc limit 1"; }
ba=$(pid ab_a); bb=$(pid ab_b)
n() { q "$1" "select sum(last_seq) from rooms where id like 'pc-%'"; }
t() { awk '{ print $14, $15 }' /proc/$1/stat; }
[ -n "$ba" ] && [ -n "$bb" ] || { echo "no backend: $ba $bb" >&2; tail -n 3 $dir/a.out $dir/b.out >&2; exit 1; }
read ua0 sa0 < <(t $ba); read ub0 sb0 < <(t $bb); na0=$(n "$ca"); nb0=$(n "$cb")
sleep "$(echo "$t0 + $secs - 2 - $(date +%s.%N)" | bc)"
read ua1 sa1 < <(t $ba) && read ub1 sb1 < <(t $bb) || { sleep 4; tail -n 3 $dir/a.out $dir/b.out >&2; exit 1; }; na1=$(n "$ca"); nb1=$(n "$cb")
wait $pa $pb || { tail -n 3 $dir/a.out $dir/b.out >&2; exit 1; }
hz=$(getconf CLK_TCK)
for s in a b; do
  if [ $s = a ]; then c=$ca; m=$ma; u=$((ua1-ua0)); k=$((sa1-sa0)); nn=$((na1-na0)); else c=$cb; m=$mb; u=$((ub1-ub0)); k=$((sb1-sb0)); nn=$((nb1-nb0)); fi
  db=$(echo "$c" | sed -n 's/.*dbname=\([^ ]*\).*/\1/p')
  awk -v s="$s $db" -v m=$m -v b=$b -v u=$u -v k=$k -v n=$nn -v hz=$hz 'BEGIN {
    printf "%s %-8s batch %3d: %6d msgs, backend user %6.1f sys %6.1f = %6.1f us/msg\n",
      s, m, b, n, u*1e6/hz/n, k*1e6/hz/n, (u+k)*1e6/hz/n }'
done
