-- ngx_chat schema, version 13: the group commit of sends costs PostgreSQL
-- the same whatever the number of rooms and members.
--
-- Version 8's statements joined the batch to rooms and members with plans
-- that read every room and every membership (hash and merge joins over
-- whole indexes: the batch's size is unknown to the planner), so each
-- commit cost time in proportion to the whole database.  Every table is
-- now reached by its key, element by element, and the batch is read from
-- its JSON once.  What a send does is unchanged.

-- Nothing reads rooms by last_ts through an index (a user's room list
-- sorts that user's rooms), and the index made every commit's update of
-- the room row a new row version in every index of rooms: without it the
-- update stays on the row's page (HOT).
drop index rooms_activity;


-- Creates the rooms of a batch that do not exist, as version 6's
-- chat_send_batch_quota did before its sends: a direct-message room for
-- one of its two users, a channel when p_autocreate; with p_interval,
-- each charged to the first of its senders whose budget allows it
-- (chat_room_quota_take).  Answers the sends refused: "room\nuser" to the
-- ms to wait, for the users whose budget did not allow a room that no one
-- else created.
create function chat_send_rooms_create(p_rooms text[], p_users text[],
    p_autocreate boolean, p_interval bigint, p_burst bigint)
returns jsonb
language plpgsql as $$
declare
    v_rooms    text[];
    v_users    text[];
    v_created  text[] := '{}';
    v_refused  jsonb := '{}';
    v_wait     bigint;
    k          integer;
begin
    select array_agg(c.room order by c.room, c.first),
           array_agg(c.usr order by c.room, c.first)
      into v_rooms, v_users
      from (select x.room, x.usr, min(x.n) as first
              from unnest(p_rooms, p_users) with ordinality as x(room, usr, n)
             where case when x.room like 'dm:%'
                        then chat_dm_member(x.room, x.usr)
                        else p_autocreate end
               and not exists (select 1 from rooms r where r.id = x.room)
             group by 1, 2) c;

    if v_rooms is null then
        return v_refused;
    end if;

    if p_interval > 0 then
        perform chat_room_quota_lock(v_users);
    end if;

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

    -- a room another user of the batch created takes everyone's sends
    return coalesce((select jsonb_object_agg(e.key, e.value)
                       from jsonb_each(v_refused) e
                      where split_part(e.key, E'\n', 1) <> all(v_created)),
                    '{}');
end $$;


-- Version 8's batch send, answering as it did: per element in batch
-- order, i, status (ok, dup, not_found, forbidden, rate_limited), seq,
-- msg_id, ts, rev, retry_after (ms, when rate_limited) and joined (the
-- first message of a new member of a public channel comes after its
-- "joined" event, in rev).
--
-- The batch is read once into arrays; rooms that do not exist go through
-- chat_send_rooms_create only when there are any; the rooms are locked in
-- id order; then one statement checks, numbers and writes, reaching every
-- table by key (no hash or merge join: a batch is a few rows against
-- tables of any size) and the batch's own rows through window functions
-- (no join of them with themselves, which would cost the square of the
-- batch).  Each statement is planned once per connection
-- (force_generic_plan): a plan made for the batch at hand, as the plan
-- cache would otherwise go on doing, costs more than the batch.  A sender's read cursor moves to their last
-- message: an update of the membership, an insert only for a user who is
-- not a member yet.
create or replace function chat_send_batch_quota(p_batch jsonb,
    p_autocreate boolean, p_interval bigint, p_burst bigint)
returns table (i integer, status text, seq bigint, msg_id bigint, ts bigint,
               rev bigint, retry_after bigint, joined boolean)
language plpgsql
set enable_seqscan = off
set enable_hashjoin = off
set enable_mergejoin = off
set jit = off
set plan_cache_mode = force_generic_plan
as $$
declare
    v_now      bigint := chat_now_ms();
    v_room     text[];
    v_from     text[];
    v_name     text[];
    v_body     text[];
    v_cid      text[];
    v_reply    bigint[];
    v_meta     text[];
    v_ids      text[];
    v_missing  boolean;
    v_refused  jsonb := '{}';
begin
    select array_agg(e.room order by e.n), array_agg(e.sender order by e.n),
           array_agg(e.name order by e.n), array_agg(e.body order by e.n),
           array_agg(e.cid order by e.n), array_agg(e.reply_to order by e.n),
           array_agg(e.meta order by e.n),
           array_agg(distinct e.room),
           bool_or(not exists (select 1 from rooms r where r.id = e.room))
      into v_room, v_from, v_name, v_body, v_cid, v_reply, v_meta, v_ids,
           v_missing
      from rows from (jsonb_to_recordset(p_batch)
                      as (room text, "from" text, name text, body text,
                          cid text, reply_to bigint, meta text))
           with ordinality
           as e(room, sender, name, body, cid, reply_to, meta, n);

    if v_room is null then
        return;
    end if;

    if v_missing then
        v_refused := chat_send_rooms_create(v_room, v_from, p_autocreate,
                                            p_interval, p_burst);
    end if;

    perform 1 from rooms r where r.id = any(v_ids) order by r.id for update;

    return query
    with b as (
        select (x.n - 1)::integer as i, x.room, x.sender, x.name, x.body,
               x.cid, x.reply_to, x.meta::json as meta,
               (v_refused->>(x.room || E'\n' || x.sender))::bigint as wait
          from unnest(v_room, v_from, v_name, v_body, v_cid, v_reply, v_meta)
               with ordinality
               as x(room, sender, name, body, cid, reply_to, meta, n)
    ),
    checked as (
        select b.*, r.last_seq, r.last_rev,
               case
               when b.wait is not null then 'rate_limited'
               when r.id is null then 'not_found'
               when r.kind = 'dm' and not chat_dm_member(b.room, b.sender)
                    then 'forbidden'
               when r.private and mb.user_id is null then 'forbidden'
               when bn.user_id is not null then 'forbidden'
               when mu.user_id is not null then 'forbidden'
               else 'ok' end as verdict,
               mb.user_id is not null as member,
               r.kind = 'channel' and mb.user_id is null as newcomer,
               case when b.cid is null then b.i
                    else min(b.i) over (partition by b.room, b.sender, b.cid)
               end as first_i,
               s.seq as s_seq, s.msg_id as s_msg_id, s.ts as s_ts,
               s.rev as s_rev
          from b
          left join rooms r on r.id = b.room
          left join members mb on mb.room_id = b.room
                              and mb.user_id = b.sender
          left join chat_room_bans bn on bn.room_id = b.room
                                     and bn.user_id = b.sender
                                     and (bn.until is null
                                          or bn.until > v_now)
          left join chat_room_mutes mu on mu.room_id = b.room
                                      and mu.user_id = b.sender
                                      and (mu.until is null
                                           or mu.until > v_now)
          -- stored before: a retry of a send with its client_msg_id
          left join lateral (
                select m.seq, m.msg_id, m.ts, m.rev
                  from messages m
                 where b.cid is not null and m.room_id = b.room
                   and m.sender = b.sender and m.client_msg_id = b.cid
                   and m.ts >= v_now - 86400000
                 limit 1) s on true
    ),
    -- fresh: a send that takes a new seq (allowed, the first of its
    -- client_msg_id in the batch, not stored before); the k-th fresh send
    -- of a room takes its k-th seq
    counted as (
        select f.*,
               count(*) filter (where f.fresh)
                   over (partition by f.room order by f.i) as k,
               f.fresh and f.newcomer
                   and count(*) filter (where f.fresh) over (
                       partition by f.room, f.sender order by f.i) = 1
                   as joins,
               case when f.fresh then nextval('chat_msg_id_seq') end
                   as new_id
          from (select c.*,
                       c.verdict = 'ok' and c.first_i = c.i
                           and c.s_seq is null as fresh
                  from checked c) f
    ),
    -- its rev comes after the joined events of the sends up to it
    numbered as (
        select n.*,
               case when n.fresh then n.last_seq + n.k end as seq,
               case when n.fresh then n.last_rev + n.k + sum(
                   n.joins::integer) over (partition by n.room order by n.i)
               end as rev
          from counted n
    ),
    ins as (
        insert into messages (room_id, seq, msg_id, sender, sender_name,
                              body, client_msg_id, reply_to, meta, ts, rev)
        select n.room, n.seq, n.new_id, n.sender, n.name, n.body, n.cid,
               n.reply_to, n.meta, v_now, n.rev
          from numbered n
         where n.fresh
        returning 1
    ),
    events as (
        insert into chat_room_events (room_id, rev, kind, event, ts)
        select n.room, n.rev - 1, 'member',
               json_strip_nulls(json_build_object(
                   'type', 'member', 'room', n.room, 'user', n.sender,
                   'rev', n.rev - 1, 'action', 'joined')),
               v_now
          from numbered n
         where n.joins
        returning 1
    ),
    bumped as (
        update rooms r set last_seq = r.last_seq + c.n,
                           last_rev = r.last_rev + c.n + c.nj,
                           last_ts = v_now
          from (select n.room, count(*) as n,
                       count(*) filter (where n.joins) as nj
                  from numbered n where n.fresh group by n.room) c
         where r.id = c.room
        returning 1
    ),
    -- a sender's own messages are read: the membership a send finds (the
    -- room row lock keeps it) is updated; a first send inserts one
    moved as (
        update members mb set read_seq = c.seq
          from (select n.room, n.sender, max(n.seq) as seq
                  from numbered n where n.fresh and n.member
                 group by n.room, n.sender) c
         where mb.room_id = c.room and mb.user_id = c.sender
           and mb.read_seq < c.seq
        returning 1
    ),
    entered as (
        insert into members as mb (room_id, user_id, read_seq)
        select n.room, n.sender, max(n.seq) from numbered n
         where n.fresh and not n.member
         group by n.room, n.sender
        on conflict (room_id, user_id) do update
            set read_seq = greatest(mb.read_seq, excluded.read_seq)
        returning 1
    )
    -- a send answers as the first of its client_msg_id in the batch
    select a.i,
           case when a.verdict <> 'ok' then a.verdict
                when a.f_s_seq is not null then 'dup'
                when a.f_fresh then
                    case when a.i = a.first_i then 'ok' else 'dup' end
                else 'not_found' end,
           coalesce(a.f_s_seq, a.f_seq),
           coalesce(a.f_s_msg_id, a.f_new_id),
           coalesce(a.f_s_ts, case when a.f_fresh then v_now end),
           coalesce(a.f_s_rev, a.f_rev),
           a.wait,
           coalesce(a.joins and a.i = a.first_i, false)
      from (select n.i, n.first_i, n.verdict, n.wait, n.joins,
                   first_value(n.fresh) over w as f_fresh,
                   first_value(n.seq) over w as f_seq,
                   first_value(n.new_id) over w as f_new_id,
                   first_value(n.rev) over w as f_rev,
                   first_value(n.s_seq) over w as f_s_seq,
                   first_value(n.s_msg_id) over w as f_s_msg_id,
                   first_value(n.s_ts) over w as f_s_ts,
                   first_value(n.s_rev) over w as f_s_rev
              from numbered n
            window w as (partition by n.first_i order by n.i)) a
     order by a.i;
end $$;

-- The batch send without a room creation budget, as version 8 answered
-- it: the same statement.
create or replace function chat_send_batch(p_batch jsonb,
    p_autocreate boolean)
returns table (i integer, status text, seq bigint, msg_id bigint, ts bigint,
               rev bigint, joined boolean)
language sql as $$
    select q.i, q.status, q.seq, q.msg_id, q.ts, q.rev, q.joined
      from chat_send_batch_quota(p_batch, p_autocreate, 0, 0) q
$$;

insert into chat_schema_version (version) values (13);
