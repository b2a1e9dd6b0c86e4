#!/bin/bash
# Redis's memory per idle connection: INFO memory used_memory before and
# while bench/chat-bench --scenario idle holds N connections (one user
# each, rooms of 2) against a running stack (scripts/stack.sh up), then
# the keys by kind and MEMORY USAGE of a sample of each.
#
#   bench/redis-idle-mem.sh N REDIS_PORT HTTP_PORT RUNDIR [ROOM_PREFIX]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
n=${1:?N} rport=${2:?REDIS_PORT} hport=${3:?HTTP_PORT} rundir=${4:?RUNDIR}
rp=${5:-rm$$}
R=(redis-cli -p "$rport")
mem() { "${R[@]}" info memory | awk -F: '/^used_memory:/ { print $2 + 0 }'; }

before=$(mem)
keys0=$("${R[@]}" dbsize)
out=$(mktemp)
"$here/chat-bench" --proto ngx_chat --port "$hport" --path /chat/ws \
    --secret "$rundir/jwt.secret" --scenario idle --conns "$n" \
    --duration 25 --warmup 1 --room-prefix "$rp" > "$out" 2>&1 &
bp=$!
# held: the number of keys stops growing
last=-1
for _ in $(seq 1 60); do
    sleep 1
    k=$("${R[@]}" dbsize)
    [ "$k" -gt "$keys0" ] && [ "$k" -eq "$last" ] && break
    last=$k
done
after=$(mem)
echo "conns=$n used_memory_before=$before used_memory_held=$after" \
     "bytes_per_conn=$(( (after - before) / n )) keys=$("${R[@]}" dbsize)"
"${R[@]}" --scan | sed -E 's/[0-9a-f-]{6,}$|[0-9]+$//' | sort | uniq -c \
    | sort -rn | head
"${R[@]}" --scan | awk '{ k = $0; sub(/[^:]*$/, "", k) } !s[k]++' \
    | while read -r key; do
        echo "$key $("${R[@]}" type "$key") $("${R[@]}" object encoding "$key")" \
             "$("${R[@]}" memory usage "$key" samples 0) bytes"
    done
wait "$bp" || true
grep '^RESULT' "$out" || tail -n 3 "$out"
rm -f "$out"
