#!/usr/bin/env bash
# The replay of a room's log by rev (NGX_CHAT_SQL_LOG) on a room with many
# messages: the plan's rows and buffers, and the CPU of the backend per
# replay.  Two databases side by side (the schema before and after a
# change, each with its own statement), so that both see the same load on
# a shared machine: the sides alternate, ROUNDS times each.
#
# usage: bench/pg-replay.sh CONN_A HEADER_A CONN_B HEADER_B [N] [REPS]
#
#   CONN_*    libpq conninfo of a database at the module's schema; the
#             room "pr-big" is made in it (again when N differs)
#   HEADER_*  the src/ngx_chat_sql.h whose NGX_CHAT_SQL_LOG that side
#             runs (e.g. one written by "git show main:src/ngx_chat_sql.h")
#   N         (100000) the room's messages; every 11th rev is an event
#             of chat_room_events instead (a member event), as joins and
#             edits interleave with messages
#   REPS      (2000) executions of each shape per sample
#
# Shapes (since_rev, target, limit, order), R the room's last rev:
#   rejoin    R-20,    R,       501,  desc  (a join with since_rev)
#   resync    R-100,   max,     1000, asc   (a resync of a worker)
#   capped    R-50000, R,       501,  desc  (a long absence: truncated)
#   catchup   R-50000, R,       200,  asc   (the join's catch-up reads)
#
# Prints EXPLAIN (analyze, buffers) of each shape on each side, then per
# shape and side the backend's user + system CPU per replay (/proc).
# ROUNDS (2) samples per side, A B B A order.  PLANS: plan_cache_mode of
# A and B ("force_custom_plan force_custom_plan"; force_custom_plan: a
# plan for each execution, as an unnamed statement gets; auto: as a named
# one, generic after five executions if that costs no more).
set -eu

[ $# -ge 4 ] || { sed -n '2,27s/^# \{0,1\}//p' "$0"; exit 2; }

conn=("$1" "$3")
header=("$2" "$4")
n=${5:-100000}
reps=${6:-2000}
rounds=${ROUNDS:-2}
read -r -a plans <<< "${PLANS:-force_custom_plan force_custom_plan}"

q() { psql "$1" -qtAX -v ON_ERROR_STOP=1 -c "$2"; }

# the statement of a header: its string literals, macros expanded
log_sql() {
    perl -e '
        my ($file, $order) = @ARGV;
        local $/; open my $f, "<", $file or die "$file: $!"; my $h = <$f>;
        sub lit { my $s = shift; join "", $s =~ /"((?:[^"\\]|\\.)*)"/g }
        my ($cols) = $h =~ /#define NGX_CHAT_SQL_MESSAGE_COLUMNS\s+\\\n(.*?)\n\n/s;
        my ($log) = $h =~ /#define NGX_CHAT_SQL_LOG\(order\)\s+\\\n(.*?)\n\n/s;
        die "no NGX_CHAT_SQL_LOG in $file\n" unless $log;
        $cols = lit($cols);
        $log =~ s/NGX_CHAT_SQL_MESSAGE_COLUMNS/"$cols"/g;
        $log =~ s/\border\b(?=\s*")/"$order"/g;
        print lit($log);
    ' "$1" "$2"
}

seed() {
    local c=$1 have
    have=$(q "$c" "select last_seq from rooms where id = 'pr-big'")
    [ "$have" = "$n" ] && return 0
    # schema 18 keeps a join's event as a short row (sql/018)
    local ev="insert into chat_room_events (room_id, rev, kind, event, ts)
    select 'pr-big', r, 'member',
           json_build_object('type', 'member', 'room', 'pr-big',
                             'user', 'bench-' || (r % 50), 'rev', r,
                             'action', 'joined'), 0" t=chat_room_events
    if [ "$(q "$c" "select to_regclass('chat_room_event_rows') is not null")" \
         = t ]
    then
        t=chat_room_event_rows
        ev="insert into $t (room_id, rev, kind, ts, user_id, action)
    select 'pr-big', r, 'member', 0, 'bench-' || (r % 50), 'j'"
    fi
    q "$c" "
delete from messages where room_id = 'pr-big';
delete from $t where room_id = 'pr-big';
delete from rooms where id = 'pr-big';
insert into rooms (id, kind, created_by, last_seq, last_rev, last_ts)
    values ('pr-big', 'channel', 'bench', $n, $n + $n / 10,
            (extract(epoch from clock_timestamp()) * 1000)::bigint);
insert into messages (room_id, seq, rev, sender, body, ts)
    select 'pr-big', r - r / 11, r, 'bench-' || (r % 50),
           'replay message ' || r,
           (extract(epoch from clock_timestamp()) * 1000)::bigint
      from generate_series(1, $n + $n / 10) r where r % 11 <> 0;
$ev
      from generate_series(11, $n + $n / 10, 11) r;
analyze messages; analyze $t;" >/dev/null
}

declare -A sql
shapes=(rejoin resync capped catchup)
# since, target, limit, order of a shape, with R the room's last rev
shape() {
    case $1 in
    rejoin)  echo "$(($2 - 20)) $2 501 desc" ;;
    resync)  echo "$(($2 - 100)) 9223372036854775807 1000 asc" ;;
    capped)  echo "$(($2 - 50000)) $2 501 desc" ;;
    catchup) echo "$(($2 - 50000)) $2 200 asc" ;;
    esac
}

for s in 0 1; do
    seed "${conn[$s]}"
    last[$s]=$(q "${conn[$s]}" "select last_rev from rooms where id = 'pr-big'")
    for o in asc desc; do
        sql[$s$o]=$(log_sql "${header[$s]}" "$o")
    done
done

side() { echo AB | cut -c$(($1 + 1)); }

for sh in "${shapes[@]}"; do
    for s in 0 1; do
        read -r since target limit order <<< "$(shape "$sh" "${last[$s]}")"
        echo "== $sh, side $(side "$s"): since_rev $since, target $target," \
             "limit $limit, $order"
        psql "${conn[$s]}" -qtAX -v ON_ERROR_STOP=1 <<SQL
prepare log(text, bigint, bigint, bigint) as ${sql[$s$order]};
set plan_cache_mode = ${plans[$s]};
explain (analyze, buffers, costs off, timing off, summary off)
    execute log('pr-big', $since, $target, $limit);
SQL
    done
done

hz=$(getconf CLK_TCK)

# one sample: REPS executions in one session, the backend's CPU read
# from /proc before and after
sample() {
    local s=$1 sh=$2 since target limit order
    read -r since target limit order <<< "$(shape "$sh" "${last[$s]}")"
    {
        echo "prepare log(text, bigint, bigint, bigint) as ${sql[$s$order]};"
        echo "set plan_cache_mode = ${plans[$s]};"
        echo "select pg_backend_pid() \\g $dir/pid"
        echo "\\! awk '{ print \$14 + \$15 }' /proc/\$(cat $dir/pid)/stat > $dir/t0"
        for ((i = 0; i < reps; i++)); do
            echo "execute log('pr-big', $since, $target, $limit);"
        done
        echo "\\! awk '{ print \$14 + \$15 }' /proc/\$(cat $dir/pid)/stat > $dir/t1"
    } | psql "${conn[$s]}" -qtAX -v ON_ERROR_STOP=1 >/dev/null
    echo "$(( $(cat "$dir/t1") - $(cat "$dir/t0") ))"
}

dir=$(mktemp -d /tmp/pg-replay.XXXXXX)
trap 'rm -rf "$dir"' EXIT

for sh in "${shapes[@]}"; do
    for ((r = 0; r < rounds; r++)); do
        for s in 0 1 1 0; do
            t=$(sample "$s" "$sh")
            db=$(echo "${conn[$s]}" | sed -n 's/.*dbname=\([^ ]*\).*/\1/p')
            awk -v t="$t" -v hz="$hz" -v reps="$reps" \
                -v l="$(side "$s") $db $sh" 'BEGIN {
                printf "%-22s %5d replays: backend %7.1f us per replay\n",
                       l, reps, t * 1e6 / hz / reps }'
        done
    done
done
