#!/usr/bin/env bash
# PostgreSQL's CPU per join of the joins' batch statement alone
# (NGX_CHAT_SQL_ROOM_OPEN_BATCH, chat_room_open_batch), without nginx:
# batches of BATCH first joins of new users to new rooms of two, both
# members of a room in the same batch (the idle and connect scenarios'
# joins), and the backend's CPU (utime + stime, /proc) over BATCHES of
# them in one session.  Two databases side by side (the schema before and
# after a change), so that both see the same load on a shared machine:
# A B B A, ROUNDS (2) times.
#
# usage: bench/pg-join-batch.sh CONN_A CONN_B [BATCH] [BATCHES]
#
#   CONN_*   libpq conninfo of a database at the module's schema; every
#            sample joins rooms and users of its own ("pj<pid>-<n>-...")
#   BATCH    (50) joins a batch
#   BATCHES  (200) batches a sample
set -eu

[ $# -ge 2 ] || { sed -n '2,16s/^# \{0,1\}//p' "$0"; exit 2; }

conn=("$1" "$2")
batch=${3:-50}
batches=${4:-200}
rounds=${ROUNDS:-2}
hz=$(getconf CLK_TCK)
dir=$(mktemp -d /tmp/pg-join-batch.XXXXXX)
trap 'rm -rf "$dir"' EXIT
k=0

# one sample on side $1, rooms and users "pj<pid>-$2-...": the backend's
# user and system CPU ticks over the batches
sample() {
    local s=$1 p="pj$$-$2" b j
    {
        echo "select pg_backend_pid() \\g $dir/pid"
        echo "\\! awk '{ print \$14, \$15 }' /proc/\$(cat $dir/pid)/stat > $dir/t0"
        for ((b = 0; b < batches; b++)); do
            printf "select count(*) from chat_room_open_batch('["
            for ((j = 0; j < batch; j++)); do
                [ "$j" -gt 0 ] && printf ","
                printf '{"room":"%s-%d-%d","user":"%s-%d-%d"}' \
                       "$p" "$b" $((j / 2)) "$p" "$b" "$j"
            done
            echo "]'::jsonb, true, 0, 0);"
        done
        echo "\\! awk '{ print \$14, \$15 }' /proc/\$(cat $dir/pid)/stat > $dir/t1"
    } | psql "${conn[$s]}" -qtAX -v ON_ERROR_STOP=1 >/dev/null
    # user and system ticks
    paste "$dir/t0" "$dir/t1" | awk '{ print $3 - $1, $4 - $2 }'
}

for ((r = 0; r < rounds; r++)); do
    for s in 0 1 1 0; do
        k=$((k + 1))
        read -r u y <<< "$(sample "$s" "$k")"
        db=$(echo "${conn[$s]}" | sed -n 's/.*dbname=\([^ ]*\).*/\1/p')
        awk -v u="$u" -v y="$y" -v hz="$hz" -v n=$((batch * batches)) \
            -v l="$(echo AB | cut -c$((s + 1))) $db" 'BEGIN {
            printf "%-22s %6d joins: backend %6.1f us per join (user"  \
                   " %5.1f, system %5.1f)\n", l, n, (u + y) * 1e6 / hz / n,
                   u * 1e6 / hz / n, y * 1e6 / hz / n }'
    done
done
