-- ngx_chat schema, version 5: room creation limited per user.
--
-- Every room a user creates costs from their budget, whichever way it is
-- created (a join or a send that opens a new channel or direct-message
-- room, POST /rooms) and whichever worker or host asks: the budget lives
-- here, next to the rooms, so it holds across the cluster and across
-- restarts, and a creation and its charge commit or roll back together.
-- The gateway passes chat_room_create_rate as an interval (ms per room)
-- and a burst.
--
-- The budget is a generic cell rate algorithm, as the gateway's
-- per-connection request rate: one time per user, the theoretical
-- arrival time (tat) of their next room at the rate.  A creation passes
-- when tat is at most burst intervals ahead of now, and moves tat one
-- interval on; burst + 1 rooms may be created at once, then one per
-- interval.  A refused creation raises RL429 with the milliseconds to
-- wait as its detail, and changes nothing.
--
-- Quota rows are locked in user order before any room row, in every
-- function here: two batches that create rooms for the same users wait
-- for each other in one direction only.

create table chat_room_quota (
    user_id  text primary key,
    tat      bigint not null          -- ms since the epoch
);

-- Locks the quota rows of p_users (in user order), creating missing ones.
create function chat_room_quota_lock(p_users text[])
returns void
language plpgsql as $$
begin
    insert into chat_room_quota (user_id, tat)
        select distinct u, 0 from unnest(p_users) u where u is not null
         order by u
        on conflict do nothing;

    perform 1 from chat_room_quota q
     where q.user_id = any(p_users)
     order by q.user_id
       for update;
end $$;

-- Takes one room from p_user's budget: 0 when taken, else the ms to wait
-- (and nothing changes).  p_interval 0: no limit.
create function chat_room_quota_take(p_user text, p_interval bigint,
    p_burst bigint)
returns bigint
language plpgsql as $$
declare
    v_now  bigint := (extract(epoch from clock_timestamp()) * 1000)::bigint;
    v_tat  bigint;
begin
    if p_interval <= 0 then
        return 0;
    end if;

    perform chat_room_quota_lock(array[p_user]);

    select greatest(q.tat, v_now) into v_tat
      from chat_room_quota q where q.user_id = p_user;

    -- further ahead than any budget allows: the clock went back, or the
    -- rate changed; start afresh
    if v_tat > v_now + (p_burst + 1) * p_interval then
        v_tat := v_now;
    end if;

    if v_tat - v_now > p_burst * p_interval then
        return v_tat - v_now - p_burst * p_interval;
    end if;

    update chat_room_quota set tat = v_tat + p_interval
     where user_id = p_user;

    return 0;
end $$;

-- As chat_room_quota_take, raising RL429 when the budget is spent.
create function chat_room_quota_check(p_user text, p_interval bigint,
    p_burst bigint)
returns void
language plpgsql as $$
declare
    v_wait  bigint;
begin
    v_wait := chat_room_quota_take(p_user, p_interval, p_burst);

    if v_wait > 0 then
        raise exception 'too many new rooms (chat_room_create_rate)'
            using errcode = 'RL429', detail = v_wait::text;
    end if;
end $$;


-- Version 3's chat_room_open, with the creation charged to p_user.
drop function chat_room_open_batch(jsonb, boolean);
drop function chat_room_open(text, text, boolean);

create function chat_room_open(p_room text, p_user text,
    p_autocreate boolean, p_interval bigint, p_burst bigint)
returns bigint
language plpgsql as $$
declare
    v_room    rooms;
    v_member  boolean;
begin
    -- a member already: allowed when the membership was made
    select r.last_seq, m.user_id is not null into v_room.last_seq, v_member
      from rooms r
      left join members m on m.room_id = r.id and m.user_id = p_user
     where r.id = p_room;

    if v_member then
        return v_room.last_seq;
    end if;

    perform set_config('synchronous_commit', 'off', true);

    if ((p_room like 'dm:%' and chat_dm_member(p_room, p_user))
        or (p_room not like 'dm:%' and p_autocreate))
       and not exists (select 1 from rooms r where r.id = p_room)
    then
        perform chat_room_quota_check(p_user, p_interval, p_burst);

        insert into rooms (id, kind, created_by)
            values (p_room,
                    case when p_room like 'dm:%' then 'dm' else 'channel' end,
                    p_user)
            on conflict (id) do nothing;
    end if;

    v_room := chat_room_check(p_room, p_user);

    insert into members (room_id, user_id) values (p_room, p_user)
        on conflict do nothing;

    return v_room.last_seq;
end $$;

-- Version 3's chat_room_open_batch, with the creations charged.  A join
-- refused for its user's budget answers state RL429 and retry_after, the
-- ms to wait.
create function chat_room_open_batch(p_batch jsonb, p_autocreate boolean,
    p_interval bigint, p_burst bigint)
returns table (i integer, seq bigint, state text, message text,
               retry_after bigint)
language plpgsql
set enable_seqscan = off
set jit = off
as $$
declare
    v_e       record;
    v_detail  text;
begin
    perform set_config('synchronous_commit', 'off', true);

    if p_interval > 0 then
        perform chat_room_quota_lock(array(
            select o.e->>'user'
              from jsonb_array_elements(p_batch) o(e)
             where not exists (select 1 from rooms r
                                where r.id = o.e->>'room')));
    end if;

    for v_e in
        select (o.n - 1)::integer as n, o.e->>'room' as room,
               o.e->>'user' as usr, r.last_seq,
               mb.user_id is not null as member
          from jsonb_array_elements(p_batch) with ordinality as o(e, n)
          left join rooms r on r.id = o.e->>'room'
          left join members mb on mb.room_id = r.id
                              and mb.user_id = o.e->>'user'
         order by o.e->>'room', o.n
    loop
        i := v_e.n;
        seq := null;
        state := null;
        message := null;
        retry_after := null;

        if v_e.member then
            seq := v_e.last_seq;
        else
            begin
                seq := chat_room_open(v_e.room, v_e.usr, p_autocreate,
                                      p_interval, p_burst);
            exception when others then
                get stacked diagnostics v_detail = pg_exception_detail;
                state := sqlstate;
                message := sqlerrm;

                if state = 'RL429' then
                    retry_after := v_detail::bigint;
                end if;
            end;
        end if;

        return next;
    end loop;
end $$;


-- POST /rooms: version 2's chat_room_create, charged to p_user.  A room
-- that exists is 23505 before any charge.
drop function chat_room_create(text, text, text, text, boolean);

create function chat_room_create(p_room text, p_user text, p_name text,
    p_topic text, p_private boolean, p_interval bigint, p_burst bigint)
returns setof chat_room_row
language plpgsql as $$
begin
    if exists (select 1 from rooms r where r.id = p_room) then
        raise exception 'the room exists' using errcode = '23505';
    end if;

    perform chat_room_quota_check(p_user, p_interval, p_burst);

    begin
        insert into rooms (id, kind, name, topic, private, created_by)
            values (p_room, 'channel', p_name, p_topic, p_private, p_user);
    exception when unique_violation then
        raise exception 'the room exists' using errcode = '23505';
    end;

    insert into members (room_id, user_id, role)
        values (p_room, p_user, 'owner');

    return query select * from chat_rooms_of(p_user, p_room);
end $$;


-- A batch of sends (as chat_send_batch) whose new rooms are charged to
-- their senders first.  A send to a room its sender may not create now
-- answers status 'rate_limited' with retry_after (ms); the other sends
-- of the batch go on.  A batch that creates no room (nearly all) is
-- chat_send_batch's alone.
create function chat_send_batch_quota(p_batch jsonb, p_autocreate boolean,
    p_interval bigint, p_burst bigint)
returns table (i integer, status text, seq bigint, msg_id bigint, ts bigint,
               retry_after bigint)
language plpgsql
set enable_seqscan = off
set jit = off
as $$
declare
    v_rooms    text[];
    v_users    text[];
    v_created  text[] := '{}';
    v_refused  jsonb := '{}';
    v_wait     bigint;
    k          integer;
begin
    if p_interval > 0 then
        -- the rooms the batch would create, each with the senders who
        -- may create it, first sender first
        select array_agg(c.room order by c.room, c.first),
               array_agg(c.usr order by c.room, c.first)
          into v_rooms, v_users
          from (select o.e->>'room' as room, o.e->>'from' as usr,
                       min(o.n) as first
                  from jsonb_array_elements(p_batch) with ordinality o(e, n)
                 where case when o.e->>'room' like 'dm:%'
                            then chat_dm_member(o.e->>'room', o.e->>'from')
                            else p_autocreate end
                   and not exists (select 1 from rooms r
                                    where r.id = o.e->>'room')
                 group by 1, 2) c;
    end if;

    if v_rooms is not null then
        perform chat_room_quota_lock(v_users);

        for k in 1 .. array_length(v_rooms, 1) loop
            continue when v_rooms[k] = any(v_created);

            v_wait := chat_room_quota_take(v_users[k], p_interval, p_burst);

            if v_wait = 0 then
                insert into rooms (id, kind, created_by)
                    values (v_rooms[k],
                            case when v_rooms[k] like 'dm:%' then 'dm'
                                 else 'channel' end,
                            v_users[k])
                    on conflict (id) do nothing;
                v_created := v_created || v_rooms[k];

            else
                v_refused := v_refused
                    || jsonb_build_object(v_rooms[k] || E'\n' || v_users[k],
                                          v_wait);
            end if;
        end loop;
    end if;

    if v_refused = '{}' then
        return query
            select sb.i, sb.status, sb.seq, sb.msg_id, sb.ts, null::bigint
              from chat_send_batch(p_batch, p_autocreate) sb;
        return;
    end if;

    return query
    with b as (
        select (o.n - 1)::integer as bi, o.e,
               (v_refused->>((o.e->>'room') || E'\n' || (o.e->>'from')))
                   ::bigint as wait
          from jsonb_array_elements(p_batch) with ordinality as o(e, n)
    ),
    kept as (
        select b.bi, (row_number() over (order by b.bi) - 1)::integer as ki,
               b.e
          from b
         where b.wait is null or (b.e->>'room') = any(v_created)
    ),
    sent as (
        select * from chat_send_batch(
            coalesce((select jsonb_agg(kept.e order by kept.bi) from kept),
                     '[]'::jsonb),
            p_autocreate)
    )
    select b.bi,
           case when kept.bi is null then 'rate_limited' else sent.status end,
           sent.seq, sent.msg_id, sent.ts,
           case when kept.bi is null then b.wait end
      from b
      left join kept on kept.bi = b.bi
      left join sent on sent.i = kept.ki
     order by b.bi;
end $$;

insert into chat_schema_version (version) values (5);
