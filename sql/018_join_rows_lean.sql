-- ngx_chat schema, version 18: a join stores less.
--
-- Every membership of a public channel writes its "joined" event, and the
-- event's row was mostly its JSON (77 of the row's 143 bytes with the
-- bench's ids), which repeats the row's room, rev and kind.  A member
-- event with neither "by", "role" nor "until" (a join, a leave of one's
-- own) is now stored as its user and a one-letter action ('j' joined,
-- 'l' left), with event null: 72 bytes a row, and its WAL.  The readers
-- build the event's text again, the same text as published:
-- NGX_CHAT_SQL_LOG (src/ngx_chat_sql.h) reads the table and builds it in
-- the module, anything else reads chat_room_events, now a view of the
-- table that builds it in SQL.  Rows written before keep their text, and
-- so do the other events (kicks, bans, role changes, room changes, edits
-- and deletes): a row with an event is read as it is.
--
-- The view keeps the old name so that the workers of the previous
-- version, which serve for a few seconds after a reload against this
-- schema, replay the new rows right: their statement reads
-- chat_room_events (PostgreSQL analyses a prepared statement again when
-- a table it names changes, and the name is the view's then).  The
-- functions that write events write the table (restated below: the send
-- functions of versions 15 and 16 and the edits of version 9 with their
-- table's new name and, for the sends, the short "joined" rows).
--
-- A join batch moves a room's last_rev once: chat_room_open_batch takes
-- the revs of a room's joins in the batch itself, under the room row lock
-- that its first join takes, and writes the last one when it leaves the
-- room's joins (they come in room order).  A room created by a join is
-- inserted with the rev of that join's event.  Each rooms update is a
-- row version that stays until pruned: a new room of two left two dead
-- versions, now one, whether its members join in one batch or in two.

alter table chat_room_events rename to chat_room_event_rows;
alter table chat_room_event_rows alter column event drop not null,
    add column user_id text,
    add column action "char";

-- the text a short member row stands for, as chat_room_event_add builds
-- it (the module builds the same in ngx_chat_sql_row_event)
create function chat_member_event_text(p_room text, p_rev bigint,
    p_user text, p_action "char")
returns json
language sql immutable as $$
    select json_strip_nulls(json_build_object(
               'type', 'member', 'room', p_room, 'user', p_user,
               'rev', p_rev,
               'action', case p_action when 'j' then 'joined'
                                       when 'l' then 'left' end))
$$;

create view chat_room_events as
    select room_id, rev, kind,
           coalesce(event, chat_member_event_text(room_id, rev, user_id,
                                                  action)) as event,
           ts, seq
      from chat_room_event_rows;


-- Version 8's chat_room_event_add: a join or a leave of one's own is a
-- short row.
create or replace function chat_room_event_add(p_room text, p_user text,
    p_action text, p_by text, p_role text, p_until bigint,
    p_room_row rooms, out o_rev bigint, out o_event text)
language plpgsql as $$
begin
    update rooms set last_rev = last_rev + 1 where id = p_room
        returning last_rev into o_rev;

    -- the keys in the order of protocol.md section 5
    if p_action is null then
        o_event := json_strip_nulls(json_build_object(
                       'type', 'room', 'room', p_room, 'rev', o_rev,
                       'name', p_room_row.name, 'topic', p_room_row.topic,
                       'private', p_room_row.private))::text;
    else
        o_event := json_strip_nulls(json_build_object(
                       'type', 'member', 'room', p_room, 'user', p_user,
                       'rev', o_rev, 'action', p_action, 'by', p_by,
                       'role', p_role, 'until', p_until))::text;
    end if;

    -- what a durable event commits must survive a crash: joins run with
    -- synchronous_commit off
    perform set_config('synchronous_commit', 'on', true);

    if p_action in ('joined', 'left') and p_by is null and p_role is null
       and p_until is null
    then
        insert into chat_room_event_rows (room_id, rev, kind, ts, user_id,
                                          action)
            values (p_room, o_rev, 'member', chat_now_ms(), p_user,
                    left(p_action, 1)::"char");
    else
        insert into chat_room_event_rows (room_id, rev, kind, event, ts)
            values (p_room, o_rev, case when p_action is null then 'room'
                                        else 'member' end,
                    o_event::json, chat_now_ms());
    end if;
end $$;


-- A join of chat_room_open_batch (version 8's chat_room_enter, which
-- goes): creates the room if allowed, checks access, and makes p_user a
-- member; a new member of a public channel is a "joined" event, answered
-- with its rev and text.  The room's last_rev is left to the caller:
-- p_rev is the room's rev so far in the batch (its row locked by an
-- earlier join), null for the batch's first join of the room, which locks
-- the row and reads it.  Answers the room's last_seq, its rev after the
-- join (o_last_rev) and what its row holds (o_stored_rev; null: as the
-- caller knew it).
create function chat_room_join(p_room text, p_user text,
    p_autocreate boolean, p_interval bigint, p_burst bigint, p_rev bigint,
    out o_seq bigint, out o_rev bigint, out o_event text,
    out o_last_rev bigint, out o_stored_rev bigint)
language plpgsql as $$
declare
    v_room     rooms;
    v_created  boolean := false;
begin
    if ((p_room like 'dm:%' and chat_dm_member(p_room, p_user))
        or (p_room not like 'dm:%' and p_autocreate))
       and not exists (select 1 from rooms r where r.id = p_room)
    then
        perform chat_room_quota_check(p_user, p_interval, p_burst);

        -- a new channel's row holds the rev of its creator's "joined"
        -- event at once
        insert into rooms (id, kind, created_by, last_rev)
            values (p_room,
                    case when p_room like 'dm:%' then 'dm' else 'channel' end,
                    p_user, case when p_room like 'dm:%' then 0 else 1 end)
            on conflict (id) do nothing;

        v_created := found;
    end if;

    v_room := chat_room_check(p_room, p_user);
    o_seq := v_room.last_seq;

    if v_room.kind <> 'channel' then
        o_last_rev := v_room.last_rev;
        o_stored_rev := v_room.last_rev;

    elsif v_created then
        -- nobody else sees the row before the commit
        o_last_rev := 0;
        o_stored_rev := 1;

    elsif p_rev is null then
        -- the room's rev is taken under its row lock
        select r.last_seq, r.last_rev into o_seq, o_last_rev
          from rooms r where r.id = p_room for update;
        o_stored_rev := o_last_rev;

    else
        o_last_rev := p_rev;
    end if;

    insert into members (room_id, user_id) values (p_room, p_user)
        on conflict do nothing;

    if found and v_room.kind = 'channel' then
        o_rev := o_last_rev + 1;
        o_last_rev := o_rev;
        o_event := chat_member_event_text(p_room, o_rev, p_user, 'j')::text;

        -- what a durable event commits must survive a crash: joins run
        -- with synchronous_commit off
        perform set_config('synchronous_commit', 'on', true);

        insert into chat_room_event_rows (room_id, rev, kind, ts, user_id,
                                          action)
            values (p_room, o_rev, 'member', chat_now_ms(), p_user, 'j');

    elsif v_created and v_room.kind = 'channel' then
        -- already a member of a room made anew (its row deleted by hand,
        -- members have no foreign key): no event, so no rev either
        update rooms r set last_rev = 0 where r.id = p_room;
        o_stored_rev := 0;
    end if;
end $$;


-- Version 8's chat_room_open_batch, its joins by chat_room_join: one
-- update of a room's last_rev for all its joins in the batch.
create or replace function chat_room_open_batch(p_batch jsonb,
    p_autocreate boolean, p_interval bigint, p_burst bigint)
returns table (i integer, seq bigint, state text, message text,
               retry_after bigint, rev bigint, event_rev bigint,
               event text, muted_until bigint)
language plpgsql
set enable_seqscan = off
set jit = off
as $$
declare
    v_e       record;
    v_detail  text;
    v_now     bigint := chat_now_ms();
    v_room    text;
    v_rev     bigint;
    v_stored  bigint;
    v_last    bigint;
    v_st      bigint;
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
               o.e->>'user' as usr, r.last_seq, r.last_rev,
               mb.user_id is not null as member
          from jsonb_array_elements(p_batch) with ordinality as o(e, n)
          left join rooms r on r.id = o.e->>'room'
          left join members mb on mb.room_id = r.id
                              and mb.user_id = o.e->>'user'
         order by o.e->>'room', o.n
    loop
        if v_e.room is distinct from v_room then
            -- the joins of the previous room are done
            if v_rev > v_stored then
                update rooms r set last_rev = v_rev where r.id = v_room;
            end if;

            v_room := v_e.room;
            v_rev := null;
            v_stored := null;
        end if;

        i := v_e.n;
        seq := null;
        state := null;
        message := null;
        retry_after := null;
        rev := null;
        event_rev := null;
        event := null;
        muted_until := null;

        if v_e.member then
            seq := v_e.last_seq;
            rev := v_e.last_rev;
        else
            begin
                select en.o_seq, en.o_rev, en.o_event, en.o_last_rev,
                       en.o_stored_rev
                  into seq, event_rev, event, v_last, v_st
                  from chat_room_join(v_e.room, v_e.usr, p_autocreate,
                                      p_interval, p_burst, v_rev) en;

                -- after the select, which an exception leaves undone
                v_rev := v_last;
                v_stored := coalesce(v_st, v_stored);
                rev := v_rev;
            exception when others then
                get stacked diagnostics v_detail = pg_exception_detail;
                state := sqlstate;
                message := sqlerrm;

                if state = 'RL429' then
                    retry_after := v_detail::bigint;
                end if;
            end;
        end if;

        if state is null then
            muted_until := chat_muted_until(v_e.room, v_e.usr, v_now);
        end if;

        return next;
    end loop;

    if v_rev > v_stored then
        update rooms r set last_rev = v_rev where r.id = v_room;
    end if;
end $$;

drop function chat_room_enter(text, text, boolean, bigint, bigint);

-- Version 9's chat_change_apply, on the table's new name.
create or replace function chat_change_apply(p_room text, p_user text,
    p_seq bigint, p_op text, p_body text, p_now bigint)
returns table (rev bigint, edited_at bigint, event text)
language plpgsql as $$
#variable_conflict use_variable
begin
    update rooms r set last_rev = r.last_rev + 1 where r.id = p_room
    returning r.last_rev into rev;

    if p_op = 'edit' then
        edited_at := p_now;

        update messages m set body = p_body, edited_at = p_now,
                              changed_rev = rev
         where m.room_id = p_room and m.seq = p_seq;

        event := format('{"type":"edited","room":%s,"seq":%s,"rev":%s,'
                        '"body":%s,"edited_at":%s,"by":%s}',
                        to_json(p_room), p_seq, rev, to_json(p_body), p_now,
                        to_json(p_user));
    else
        update messages m set body = null, meta = null, deleted = true,
                              changed_rev = rev
         where m.room_id = p_room and m.seq = p_seq;

        -- the message's earlier edits keep no body either
        update chat_room_event_rows ev
           set event = format('{"type":"edited","room":%s,"seq":%s,'
                              '"rev":%s,"edited_at":%s,"by":%s,'
                              '"deleted":true}',
                              to_json(ev.room_id), ev.seq, ev.rev,
                              ev.event->>'edited_at',
                              to_json(ev.event->>'by'))::json
         where ev.room_id = p_room and ev.seq = p_seq
           and ev.kind = 'edited';

        event := format('{"type":"deleted","room":%s,"seq":%s,"rev":%s,'
                        '"by":%s}',
                        to_json(p_room), p_seq, rev, to_json(p_user));
    end if;

    insert into chat_room_event_rows (room_id, rev, kind, event, ts, seq)
        values (p_room, rev,
                case when p_op = 'edit' then 'edited' else 'deleted' end,
                event::json, p_now, p_seq);

    return next;
end $$;


-- Version 15's batch send (chat_send_batch_many since version 16), on the
-- table's new name, its "joined" events as short rows.
create or replace function chat_send_batch_many(p_batch jsonb,
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
            insert into chat_room_event_rows (room_id, rev, kind, ts, user_id,
                                              action)
            select n.room, n.rev - 1, 'member', v_now, n.sender, 'j'
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
        insert into chat_room_event_rows (room_id, rev, kind, ts, user_id,
                                          action)
        select n.room, n.rev - 1, 'member', v_now, n.sender, 'j'
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


-- Version 16's batch send, the same.
create or replace function chat_send_batch_quota(p_batch jsonb,
    p_autocreate boolean, p_interval bigint, p_burst bigint)
returns table (i integer, status text, seq bigint, msg_id bigint, ts bigint,
               rev bigint, retry_after bigint, joined boolean)
language plpgsql
as $$
declare
    v_now      bigint;
    v_e        jsonb;
    v_room     text;
    v_from     text;
    v_cid      text;
    v_kind     text;
    v_private  boolean;
    v_last_seq bigint;
    v_last_rev bigint;
    v_member   boolean;
    v_refused  boolean;
    v_refused_map jsonb;
    v_seq      bigint;
    v_rev      bigint;
    v_id       bigint;
begin
    if jsonb_array_length(p_batch) <> 1 then
        return query select * from chat_send_batch_many(p_batch, p_autocreate,
                                                         p_interval, p_burst);
        return;
    end if;

    -- once a session (see above): a 256 kB chunk freed
    if current_setting('chat.send_one_heap', true) is null then
        perform length(repeat(' ', 262144));
        perform set_config('chat.send_one_heap', 'on', false);
    end if;

    v_now := chat_now_ms();
    v_e := p_batch->0;
    v_room := v_e->>'room';
    v_from := v_e->>'from';
    v_cid := v_e->>'cid';
    i := 0;
    joined := false;

    select r.kind, r.private, r.last_seq, r.last_rev
      into v_kind, v_private, v_last_seq, v_last_rev
      from rooms r where r.id = v_room for update;

    if v_kind is null then
        v_refused_map := chat_send_rooms_create(array[v_room], array[v_from],
                                                p_autocreate, p_interval,
                                                p_burst);
        retry_after := (v_refused_map->>(v_room || E'\n' || v_from))::bigint;

        select r.kind, r.private, r.last_seq, r.last_rev
          into v_kind, v_private, v_last_seq, v_last_rev
          from rooms r where r.id = v_room for update;
    end if;

    -- a retry answers the send stored before with its client_msg_id (the
    -- batch statement looks whatever the verdict: so does this)
    if v_cid is not null then
        select m.seq, m.msg_id, m.ts, m.rev
          into seq, msg_id, ts, rev
          from messages m
         where m.room_id = v_room and m.sender = v_from
           and m.client_msg_id = v_cid
           and m.ts >= v_now - 86400000 and m.ts <= v_now + 86400000
         limit 1;
    end if;

    if retry_after is not null then
        status := 'rate_limited';
        return next;
        return;
    end if;
    if v_kind is null then
        status := 'not_found';
        return next;
        return;
    end if;

    -- membership, ban and mute in one statement (the room row lock,
    -- taken before it, keeps them)
    select exists (select 1 from members mb
                    where mb.room_id = v_room and mb.user_id = v_from),
           exists (select 1 from chat_room_bans bn
                    where bn.room_id = v_room and bn.user_id = v_from
                      and (bn.until is null or bn.until > v_now))
           or exists (select 1 from chat_room_mutes mu
                       where mu.room_id = v_room and mu.user_id = v_from
                         and (mu.until is null or mu.until > v_now))
      into v_member, v_refused;

    if v_refused
       or (v_kind = 'dm' and not chat_dm_member(v_room, v_from))
       or (v_private and not v_member)
    then
        status := 'forbidden';
        return next;
        return;
    end if;

    if seq is not null then
        status := 'dup';
        return next;
        return;
    end if;

    status := 'ok';
    joined := v_kind = 'channel' and not v_member;
    v_seq := v_last_seq + 1;
    v_rev := v_last_rev + 1 + joined::integer;
    v_id := nextval('chat_msg_id_seq');

    insert into messages (room_id, seq, msg_id, sender, sender_name, body,
                          client_msg_id, reply_to, meta, ts, rev)
    values (v_room, v_seq, v_id, v_from, v_e->>'name', v_e->>'body', v_cid,
            (v_e->>'reply_to')::bigint, (v_e->>'meta')::json, v_now, v_rev);

    if joined then
        insert into chat_room_event_rows (room_id, rev, kind, ts, user_id,
                                          action)
        values (v_room, v_rev - 1, 'member', v_now, v_from, 'j');
    end if;

    update rooms r set last_seq = v_seq, last_rev = v_rev, last_ts = v_now
     where r.id = v_room;

    -- a sender's own message is read
    if v_member then
        update members mb set read_seq = v_seq
         where mb.room_id = v_room and mb.user_id = v_from
           and mb.read_seq < v_seq;
    else
        insert into members as mb (room_id, user_id, read_seq)
        values (v_room, v_from, v_seq)
        on conflict (room_id, user_id) do update
            set read_seq = greatest(mb.read_seq, excluded.read_seq);
    end if;

    seq := v_seq;
    rev := v_rev;
    msg_id := v_id;
    ts := v_now;
    return next;
end $$;

insert into chat_schema_version (version) values (18);
