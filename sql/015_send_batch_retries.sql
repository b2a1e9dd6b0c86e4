-- ngx_chat schema, version 15: a leaner group commit of sends.
--
-- chat_send_batch_quota answers and writes as version 13's did (t/170
-- compares them).  What a commit costs PostgreSQL apart from its rows is
-- mostly starting the executor of the function's statements (a perf
-- profile of a batch of one: 22 % of the backend's CPU for the one big
-- statement; its window aggregates alone 11 %).  Three changes:
--
-- - A batch in which no send names a client_msg_id (the bench's, and
--   any client that does not retry) runs the same statement without the
--   nodes that serve retries only: the lookup of an earlier send with
--   the same client_msg_id (one index scan per month partition) and the
--   two windows that give a repeated client_msg_id in the batch the
--   first one's answer.  A send then answers for itself, and since all
--   the sends of a sender to a room have the same verdict there, a
--   newcomer joins with their first send of the batch: one window (the
--   room's sends in order) numbers seq and rev, where version 13 needed
--   three window aggregates.  The first send is found among the batch's
--   earlier ones, for newcomers only: a newcomer's first sends are few
--   (at worst, 256 first sends of 256 users to one channel in one batch
--   compare 32 640 pairs: 18 ms for that commit instead of 10 here).
-- - The batch is read from its JSON where the statement uses it; the
--   first statement only finds its rooms, whether any is missing and
--   whether any send names a client_msg_id.  Version 13 copied every
--   field into an array first (seven ordered aggregates, each a sort),
--   then read the arrays back.  The senders of rooms that do not exist
--   are gathered only when there are any.
-- - A batch with client_msg_ids looks for earlier sends in the partitions
--   of the last 24 hours only: the lookup had no upper bound on ts, so
--   it also searched the months created ahead and the default partition.

-- The batch send of versions 8 and 13 (answers and rows), as sql/013
-- describes it, with the changes above.
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
    v_ids      text[];
    v_missing  boolean;
    v_retries  boolean;
    v_refused  jsonb := '{}';
begin
    select array_agg(distinct e.room),
           bool_or(not exists (select 1 from rooms r where r.id = e.room)),
           bool_or(e.cid is not null)
      into v_ids, v_missing, v_retries
      from jsonb_to_recordset(p_batch) as e(room text, cid text);

    if v_ids is null then
        return;
    end if;

    if v_missing then
        select array_agg(e.room order by e.n), array_agg(e.sender order by e.n)
          into v_room, v_from
          from rows from (jsonb_to_recordset(p_batch)
                          as (room text, "from" text))
               with ordinality as e(room, sender, n);
        v_refused := chat_send_rooms_create(v_room, v_from, p_autocreate,
                                            p_interval, p_burst);
    end if;

    perform 1 from rooms r where r.id = any(v_ids) order by r.id for update;

    -- No element names a client_msg_id (the common case): no send can be
    -- a retry, and each answers for itself.  The same statement without
    -- the lookup of earlier sends and the windows that pair a retry with
    -- the first of its client_msg_id: fewer plan nodes to start.  Its
    -- writes (ins to entered) are the general statement's, word for word:
    -- a change to one is a change to both (a CTE cannot be shared by two
    -- statements, and a statement of its own would cost the executor
    -- start saved here).
    if not v_retries then
        return query
        with b as (
            select (x.n - 1)::integer as i, x.room, x.sender, x.name, x.body,
                   x.cid, x.reply_to, x.meta::json as meta,
                   (v_refused->>(x.room || E'\n' || x.sender))::bigint as wait
              from rows from (jsonb_to_recordset(p_batch)
                              as (room text, "from" text, name text,
                                  body text, cid text, reply_to bigint,
                                  meta text))
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
                   r.kind = 'channel' and mb.user_id is null as newcomer
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
        ),
        -- every allowed send takes a new seq, the k-th of a room its
        -- k-th, and its rev comes after the joined events of the sends up
        -- to it.  All sends of a sender to a room have the same verdict,
        -- so a newcomer joins with their first send of the batch (looked
        -- for among the batch for newcomers only).
        numbered as (
            select f.*,
                   case when f.fresh then f.last_seq + count(*) filter (
                       where f.fresh) over w end as seq,
                   case when f.fresh then f.last_rev + count(*) filter (
                       where f.fresh) over w + sum(f.joins::integer) over w
                   end as rev,
                   case when f.fresh then nextval('chat_msg_id_seq') end
                       as new_id
              from (select c.*, c.verdict = 'ok' as fresh,
                           c.verdict = 'ok' and c.newcomer
                               and not exists (
                                   select 1 from b e
                                    where e.room = c.room
                                      and e.sender = c.sender and e.i < c.i)
                               as joins
                      from checked c) f
            window w as (partition by f.room order by f.i)
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
        select n.i, n.verdict, n.seq, n.new_id,
               case when n.fresh then v_now end, n.rev, n.wait,
               coalesce(n.joins, false)
          from numbered n
         order by n.i;
        return;
    end if;

    return query
    with b as (
        select (x.n - 1)::integer as i, x.room, x.sender, x.name, x.body,
               x.cid, x.reply_to, x.meta::json as meta,
               (v_refused->>(x.room || E'\n' || x.sender))::bigint as wait
          from rows from (jsonb_to_recordset(p_batch)
                          as (room text, "from" text, name text, body text,
                              cid text, reply_to bigint, meta text))
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
                   -- the upper bound prunes the months ahead and the
                   -- default partition before the statement starts
                   and m.ts >= v_now - 86400000
                   and m.ts <= v_now + 86400000
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

insert into chat_schema_version (version) values (15);
