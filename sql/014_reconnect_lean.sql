-- ngx_chat schema, version 14: a storm of reconnects (every user back to
-- the rooms of which they are members, as after a restart) costs
-- PostgreSQL a few lookups by key per connection.
--
-- The users a worker saw authenticate: nothing is written for a user
-- recorded in the last hour under the same name.  A worker records each
-- user once (ngx_chat_known.c), but every worker starts with an empty
-- record: after a restart the reconnects of every user were one new row
-- version each (and its WAL) for last_seen alone.  Nothing reads
-- chat_users.last_seen but people (presence's last_seen is Redis's): it
-- is now right to the hour.  A user never seen, a name that changed, or
-- a last_seen older than an hour is written as before.
--
-- The joins of members (chat_members_open): the module's statement joined
-- the batch to members and rooms, and the planner, taking the batch for
-- 100 rows, read the whole rooms table for each batch; it also planned
-- the statement again for each batch.  Now each element reaches members,
-- rooms and mutes by their keys, with one plan kept for the session.
--
-- In both, a subquery per element keeps a table from being read whole.

create or replace function chat_users_seen(p_batch jsonb)
returns void
language plpgsql as $$
declare
    v_now  bigint := chat_now_ms();
begin
    perform set_config('synchronous_commit', 'off', true);

    insert into chat_users as u (user_id, name, first_seen, last_seen)
        select distinct on (e->>'user') e->>'user', e->>'name', v_now, v_now
          from jsonb_array_elements(p_batch) e
         where (select k.last_seen <= v_now - 3600000
                       or (e->>'name' is not null
                           and k.name is distinct from e->>'name')
                  from chat_users k
                 where k.user_id = e->>'user') is not false
         order by e->>'user'
        on conflict (user_id) do update
            set last_seen = excluded.last_seen,
                name = coalesce(excluded.name, u.name);
end $$;

-- The members among a batch [{"room":..,"user":..},...]: for each (i,
-- its position from 0), the room's last_seq and last_rev and the end of
-- the member's mute (null: none), of one snapshot, in order of i.
create function chat_members_open(p_batch jsonb)
returns table (o_i integer, o_seq bigint, o_rev bigint, o_muted bigint)
language plpgsql
set plan_cache_mode = force_generic_plan
as $$
begin
    return query
    select (o.n - 1)::integer, x.last_seq, x.last_rev, x.muted
      from jsonb_array_elements(p_batch) with ordinality o(e, n)
     cross join lateral
           (select r.last_seq, r.last_rev,
                   (select coalesce(m.until, 9223372036854775807)
                      from chat_room_mutes m
                     where m.room_id = mb.room_id
                       and m.user_id = mb.user_id
                       and (m.until is null or m.until > chat_now_ms()))
                   as muted
              from members mb
              join rooms r on r.id = mb.room_id
             where mb.room_id = o.e->>'room' and mb.user_id = o.e->>'user'
            offset 0) x
     order by 1;
end $$;

insert into chat_schema_version (version) values (14);
