#!/bin/bash
# PostgreSQL's memory per idle connection, and where it goes: while
# bench/chat-bench --scenario idle holds N connections (one user each,
# rooms of 2) against a running stack (scripts/stack.sh up), the growth
# of every PostgreSQL process's proportional set size split into shared
# memory (shared_buffers, WAL buffers: Pss_Shmem) and each backend's own
# (Pss_Anon), the shared buffers by relation (pg_buffercache, created if
# missing: the stack's superuser is postgres) and the relations' sizes.
# Mapped files (the binaries' pages) are shared with every other process
# that maps them, PostgreSQL instances of other stacks too: their share
# moves with those, not with the connections.
# Run it on a freshly started stack: memory a backend freed is kept.
# chat-bench's own figures (every process group) end the output.
#
#   bench/pg-idle-mem.sh N PG_PORT HTTP_PORT RUNDIR [ROOM_PREFIX]
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
n=${1:?N} pport=${2:?PG_PORT} hport=${3:?HTTP_PORT} rundir=${4:?RUNDIR}
rp=${5:-pm$$}
P=(psql -X -q -At -F ' ' -h 127.0.0.1 -p "$pport" -U postgres chat)

master=$(head -n 1 "$rundir/pg/data/postmaster.pid" | tr -dc 0-9)

# kB summed over the postmaster and its children: Pss Pss_Anon Pss_Shmem
pss() {
    local p
    for p in "$master" $(pgrep -P "$master"); do
        cat "/proc/$p/smaps_rollup" 2>/dev/null || true
    done | awk '/^Pss:/ { t += $2 } /^Pss_Anon:/ { a += $2 }
                /^Pss_Shmem:/ { s += $2 } END { print t + 0, a + 0, s + 0 }'
}

# 8 kB buffers held by each relation, and each relation's size in bytes
buffers() {
    "${P[@]}" -c "select c.relname::text collate \"C\", count(*)
                  from pg_buffercache b
                  join pg_class c on c.relfilenode = b.relfilenode
                  where b.reldatabase = (select oid from pg_database
                                         where datname = current_database())
                  group by 1 order by 1"
}
sizes() {
    "${P[@]}" -c "select c.relname::text collate \"C\", pg_relation_size(c.oid)
                  from pg_class c
                  join pg_namespace s on s.oid = c.relnamespace
                  where s.nspname = 'public' and c.relkind in ('r', 'i')
                  order by 1"
}

"${P[@]}" -c 'create extension if not exists pg_buffercache' >/dev/null 2>&1
b0=$(mktemp) b1=$(mktemp) s0=$(mktemp) s1=$(mktemp) out=$(mktemp)
trap 'rm -f "$b0" "$b1" "$s0" "$s1" "$out"' EXIT
buffers > "$b0"
sizes > "$s0"
read -r t0 a0 m0 < <(pss)
wal0=$("${P[@]}" -c "select pg_current_wal_lsn() - '0/0'::pg_lsn")

"$here/chat-bench" --proto ngx_chat --port "$hport" --path /chat/ws \
    --secret "$rundir/jwt.secret" --scenario idle --conns "$n" \
    --duration 25 --warmup 1 --room-prefix "$rp" \
    --master-pid "$(head -n 1 "$rundir/nginx.pid" | tr -dc 0-9)" \
    --master-pid "$(head -n 1 "$rundir/redis.pid" | tr -dc 0-9)" \
    --master-pid "$master" > "$out" 2>&1 &
bp=$!
# held: the members stop growing
last=-1
for _ in $(seq 1 90); do
    sleep 1
    k=$("${P[@]}" -c "select count(*) from members
                       where room_id like '$rp-%'")
    [ "$k" -gt 0 ] && [ "$k" -eq "$last" ] && break
    last=$k
done
read -r t1 a1 m1 < <(pss)
wal1=$("${P[@]}" -c "select pg_current_wal_lsn() - '0/0'::pg_lsn")
buffers > "$b1"
sizes > "$s1"

awk -v n="$n" -v t="$((t1 - t0))" -v a="$((a1 - a0))" -v m="$((m1 - m0))" \
    -v w="$(( ${wal1%.*} - ${wal0%.*} ))" 'BEGIN {
    printf "conns=%d pss_kb=%+d (%.2f KiB/conn): backends own %+d (%.2f),"   \
           " shared %+d (%.2f), mapped files %+d (%.2f); WAL written %.0f"    \
           " bytes/conn\n", n, t, t / n, a, a / n, m, m / n, t - a - m,      \
           (t - a - m) / n, w / n }'
echo "shared buffers by relation (8 kB pages): before after bytes/conn"
join -a 2 -e 0 -o 0,1.2,2.2 "$b0" "$b1" \
    | awk -v n="$n" '$3 != $2 { printf "  %-40s %6d %6d %+8.1f\n", $1, $2,
                                       $3, ($3 - $2) * 8192 / n }'
echo "relation sizes: bytes/conn"
join -a 2 -e 0 -o 0,1.2,2.2 "$s0" "$s1" \
    | awk -v n="$n" '$3 != $2 { printf "  %-40s %+8.1f\n", $1,
                                       ($3 - $2) / n }'
wait "$bp" || true
grep '^RESULT' "$out" || tail -n 3 "$out"
