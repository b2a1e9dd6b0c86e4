#!/bin/bash
# Where the module's PostgreSQL backends spend their time while a bench
# runs against a stack: pg_stat_activity sampled every INTERVAL ms for
# SECONDS by one backend moved to CPU (taskset) SAMPLER_CPU, away from
# the server's; per backend of the user `chat` and in all, the share of
# samples in each state and wait event ("CPU" is a backend with no wait
# event: running, or waiting for the core).  The sampling is not free:
# the bench's generator shares SAMPLER_CPU with it, and its backend is
# one of PostgreSQL's processes, so the step it ran beside has a higher
# latency and PostgreSQL CPU per message than a step without it; read
# the shares.
#
#   bench/pg-waits.sh PG_PORT [SECONDS] [INTERVAL_MS] [SAMPLER_CPU]
#
# Defaults: 5 s, 10 ms, CPU 1.  docs/durable-commit.md ("Two committing
# workers, or one") has a reading at 6000 sends a second.
set -euo pipefail
export LC_ALL=C
pport=${1:?usage: pg-waits.sh PG_PORT [SECONDS] [INTERVAL_MS] [SAMPLER_CPU]}
secs=${2:-5}
ms=${3:-10}
cpu=${4:-1}
app=pg_waits_$$
P=(psql -X -q -At -F ' ' -h 127.0.0.1 -p "$pport" -U postgres chat)

n=$((secs * 1000 / ms))

# the sampler's backend leaves the server's CPU once it exists
(
    for _ in $(seq 50); do
        pid=$("${P[@]}" -c "select pid from pg_stat_activity
                             where application_name = '$app'")
        if [ -n "$pid" ]; then
            taskset -acp "$cpu" "$pid" >/dev/null
            exit 0
        fi
        sleep 0.1
    done
    echo "pg-waits: the sampler's backend was not found" >&2
) &
mover=$!

PGAPPNAME=$app "${P[@]}" <<SQL
create temp table s (k int, pid int, state text, wt text, we text);
-- time for the sampler to be moved
select pg_sleep(1) \g /dev/null
do \$\$
begin
    for k in 1 .. $n loop
        insert into s
        select k, a.pid, a.state, a.wait_event_type, a.wait_event
          from pg_stat_activity a
         where a.usename = 'chat' and a.backend_type = 'client backend'
           and a.pid <> pg_backend_pid();
        -- each read of pg_stat_activity in a transaction sees its first
        perform pg_stat_clear_snapshot();
        perform pg_sleep($ms / 1000.0);
    end loop;
end \$\$;
\echo backend state wait share_%
select pid, state, coalesce(wt || ':' || we, 'CPU'),
       round(100.0 * count(*) / sum(count(*)) over (partition by pid), 1)
  from s group by 1, 2, 3 order by 1, 4 desc;
\echo all state wait share_%
select 'all', state, coalesce(wt || ':' || we, 'CPU'),
       round(100.0 * count(*) / sum(count(*)) over (), 1)
  from s group by 2, 3 order by 4 desc;
SQL
wait "$mover"
