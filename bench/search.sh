#!/usr/bin/env bash
# Search latency over many messages (GET /search's statement, chat_search
# of sql/009), measured in PostgreSQL with pgbench.
#
# usage: bench/search.sh [conninfo]
#
# Loads SEARCH_ROWS messages (default 1000000) into SEARCH_ROOMS rooms
# (default 1000) "bench-search-N" with one generate_series insert, unless
# they are there already; the user "bench-searcher" is a member of them
# all.  Each body has common words and one token "tokN", N < 50000: a
# selective term (SEARCH_ROWS / 50000 matches).  Then, each with
# pgbench, one connection, SEARCH_QUERIES queries (default 1000):
#   selective-all    a random tokN in every room of the user (a page of 20)
#   selective-room   a random tokN with room= one room
#   common-all       a word in 1 body of 20 (the first page of many
#                    matches: the sort is over all of them)
# and prints p50, p99 and max in ms.  SEARCH_DROP=1 deletes the rows at
# the end.  conninfo defaults to BENCH_PG or the demo database.

set -eu

here=$(cd "$(dirname "$0")" && pwd)
conninfo=${1:-${BENCH_PG:-host=127.0.0.1 port=${CHAT_PG_PORT:-25432} dbname=chat user=chat}}
: "${SEARCH_ROWS:=1000000}" "${SEARCH_ROOMS:=1000}" "${SEARCH_QUERIES:=1000}"
: "${SEARCH_LANG:=simple}" "${SEARCH_DROP:=0}"
PGBENCH=${PGBENCH:-$(command -v pgbench || echo /usr/lib/postgresql/15/bin/pgbench)}

pg() {
    psql "$conninfo" -qtAX -v ON_ERROR_STOP=1 "$@"
}

have=$(pg -c "select count(*) from messages
              where room_id like 'bench-search-%'")

if [ "$have" != "$SEARCH_ROWS" ]; then
    echo "search: loading $SEARCH_ROWS messages into $SEARCH_ROOMS rooms" >&2
    start=$(date +%s)
    pg <<SQL
delete from messages where room_id like 'bench-search-%';
delete from members where room_id like 'bench-search-%';
delete from rooms where id like 'bench-search-%';

insert into rooms (id, kind, created_by)
    select 'bench-search-' || r, 'channel', 'bench-searcher'
      from generate_series(0, $SEARCH_ROOMS - 1) r;
insert into members (room_id, user_id)
    select 'bench-search-' || r, 'bench-searcher'
      from generate_series(0, $SEARCH_ROOMS - 1) r;

insert into messages (room_id, seq, msg_id, sender, body, ts, rev)
select g.room, g.seq, nextval('chat_msg_id_seq'), 'bench-sender',
       (array['hello','world','lunch','meeting','deploy','review','coffee',
              'release','budget','travel'])[1 + g.i % 10]
       || ' ' ||
       (array['today','tomorrow','later','soon','again','maybe','please',
              'thanks','agreed','done','sure'])[1 + g.i % 11]
       || ' message ' || g.i || ' about the '
       || (array['plan','code','docs','tests','server','client','build',
                 'design','bug','idea','team','rollout','schema'])
              [1 + g.i % 13]
       || case when g.i % 20 = 0 then ' rarebird' else '' end
       || ' tok' || (g.i % 50000),
       g.ts, g.seq
  from (select i, 'bench-search-' || ((i * 7919) % $SEARCH_ROOMS) as room,
               row_number() over (partition by (i * 7919) % $SEARCH_ROOMS
                                  order by i) as seq,
               (extract(epoch from now()) * 1000)::bigint
                   - ($SEARCH_ROWS - i) as ts
          from generate_series(1::bigint, $SEARCH_ROWS) i) g;

update rooms r set last_seq = c.n, last_rev = c.n, last_ts = c.ts
  from (select room_id, count(*) as n, max(ts) as ts from messages
         where room_id like 'bench-search-%' group by room_id) c
 where r.id = c.room_id;
SQL
    pg -c "vacuum analyze messages" -c "analyze rooms" -c "analyze members"
    echo "search: loaded in $(( $(date +%s) - start )) s" >&2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run NAME QUERIES SQL: pgbench's per-query latencies, as p50/p99/max ms
run() {
    local name=$1 n=$2 sql=$3
    printf '%s\n' "\\set t random(0, 49999)" \
        "\\set r random(0, $((SEARCH_ROOMS - 1)))" "$sql" >"$tmp/$name.sql"
    (cd "$tmp" && "$PGBENCH" -n -c 1 -t "$n" -f "$name.sql" -l \
        --log-prefix="log-$name" "$conninfo" >"$tmp/$name.out" 2>&1) \
        || { cat "$tmp/$name.out" >&2; exit 1; }
    cat "$tmp/log-$name".* | awk '{ print $3 }' | sort -n \
        | awk -v name="$name" -v rows="$SEARCH_ROWS" '
            { v[NR] = $1 }
            END {
                p50 = v[int(NR * 0.50) + (NR * 0.50 > int(NR * 0.50))]
                p99 = v[int(NR * 0.99) + (NR * 0.99 > int(NR * 0.99))]
                printf "search name=%s rows=%d queries=%d p50_ms=%.2f" \
                       " p99_ms=%.2f max_ms=%.2f\n", name, rows, NR,
                       p50 / 1000, p99 / 1000, v[NR] / 1000
            }'
}

pg -c "select 1" >/dev/null
run selective-all "$SEARCH_QUERIES" \
    "select count(*) from chat_search('bench-searcher', 'tok' || :t, null, null, 21, '$SEARCH_LANG');"
run selective-room "$SEARCH_QUERIES" \
    "select count(*) from chat_search('bench-searcher', 'tok' || :t, 'bench-search-' || :r, null, 21, '$SEARCH_LANG');"
run common-all $(( SEARCH_QUERIES / 10 > 0 ? SEARCH_QUERIES / 10 : 1 )) \
    "select count(*) from chat_search('bench-searcher', 'rarebird', null, null, 21, '$SEARCH_LANG');"

if [ "$SEARCH_DROP" = 1 ]; then
    pg -c "delete from messages where room_id like 'bench-search-%'" \
       -c "delete from members where room_id like 'bench-search-%'" \
       -c "delete from rooms where id like 'bench-search-%'"
fi
