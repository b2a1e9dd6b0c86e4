-- ngx_chat schema, version 9: edits, deletes and full-text search.
--
-- An edit or a delete is a durable room event (protocol.md 5a): it takes
-- the room's next rev under the room row lock, as a message does, and is
-- kept with its text as published in chat_room_events, so that a replay
-- by rev sends it again.  The message row keeps the rev it was sent with
-- (its place in the room's log: a replay sends the message there, in its
-- current state) and learns the rev of its latest change, which history
-- and search answer as the entry's rev.
--
-- A delete purges the message's content from storage: body and meta go
-- to null, and the stored "edited" events of that message lose their
-- body too ("deleted": true in its place).  What is left is who sent it,
-- when, and its ids: the message keeps its seq.

alter table messages add column changed_rev bigint;

-- the message an event is about, so that a delete finds its edits
alter table chat_room_events add column seq bigint;
create index chat_room_events_seq on chat_room_events (room_id, seq)
    where seq is not null;


-- Search: an expression index on the body's tsvector for one text search
-- configuration.  A query uses it only when it names the same
-- configuration, so chat_search_language and the index go together:
-- 'simple' (no stemming, no stop words: any language) is indexed here;
-- another one is indexed once with chat_search_index().  A deleted
-- message's body is null: it is in no index and matches nothing.
create function chat_search_index(p_lang regconfig)
returns text
language plpgsql as $$
declare
    v_name  text := 'messages_search_' || p_lang::text;
begin
    execute format('create index if not exists %I on messages'
                   ' using gin (to_tsvector(%L::regconfig, body))',
                   v_name, p_lang::text);
    return v_name;
end $$;

select chat_search_index('simple');


-- Edits and deletes of one group commit, in batch order.  p_batch is a
-- JSON array of {"op":"edit"|"delete","room","by","seq","body"?,
-- "roles"} (roles: the JWT's, 1 admin, 2 moderator).  p_autocreate,
-- p_interval and p_burst are the other kinds' (the batch passes them to
-- every kind) and unused.  One row per element: i, status (ok, dup: a
-- delete of a deleted message, not_found, forbidden, conflict), rev,
-- retry_after (null), then edited_at, the event's text as published, and
-- message, the reason of a refusal.
create function chat_change_batch(p_batch jsonb, p_autocreate boolean,
    p_interval bigint, p_burst bigint)
returns table (i integer, status text, rev bigint, retry_after bigint,
               edited_at bigint, event text, message text)
language plpgsql
set jit = off
as $$
declare
    v_now   bigint := (extract(epoch from clock_timestamp()) * 1000)::bigint;
    v_e     record;
begin
    -- in id order, as every batch: concurrent batches cannot deadlock
    perform 1 from rooms r
     where r.id in (select e->>'room' from jsonb_array_elements(p_batch) e)
     order by r.id
       for update;

    for v_e in
        select (o.n - 1)::integer as n, o.e->>'op' as op,
               o.e->>'room' as room, o.e->>'by' as usr,
               (o.e->>'seq')::bigint as seq, o.e->>'body' as body,
               coalesce((o.e->>'roles')::integer, 0) as roles
          from jsonb_array_elements(p_batch) with ordinality as o(e, n)
         order by o.n
    loop
        i := v_e.n;
        retry_after := null;
        edited_at := null;
        event := null;

        select c.status, c.message, c.rev
          into status, message, rev
          from chat_change_check(v_e.room, v_e.usr, v_e.seq, v_e.op,
                                 v_e.roles, v_now) c;

        if status = 'ok' then
            select a.rev, a.edited_at, a.event into rev, edited_at, event
              from chat_change_apply(v_e.room, v_e.usr, v_e.seq, v_e.op,
                                     v_e.body, v_now) a;
        end if;

        return next;
    end loop;
end $$;


-- May p_user edit (or delete) message p_seq of p_room now?  status ok;
-- dup (an earlier delete, with its rev); or the error code and message.
-- Section 9: the sender edits and deletes; room owners and JWT admins
-- delete any message; room and JWT moderators any but an owner's or
-- another moderator's (by the sender's role in the room now); a ban
-- forbids everything, a mute an edit (a muted user may still delete
-- their own messages: that adds nothing to the room).
create function chat_change_check(p_room text, p_user text, p_seq bigint,
    p_op text, p_roles integer, p_now bigint)
returns table (status text, message text, rev bigint)
language plpgsql stable as $$
declare
    v_room    rooms;
    v_msg     record;
    v_role    text;
    v_srole   text;
begin
    rev := null;

    select * into v_room from rooms r where r.id = p_room;

    if not found then
        status := 'not_found';
        message := 'no such room';
        return next;
        return;
    end if;

    select mb.role into v_role from members mb
     where mb.room_id = p_room and mb.user_id = p_user;

    status := 'forbidden';

    if chat_banned(p_room, p_user, p_now) then
        message := 'banned from this room';
        return next;
        return;
    end if;

    -- JWT admins and moderators act in every channel, private or not;
    -- a direct-message room is its two users' only
    if (v_room.kind = 'dm' and not chat_dm_member(p_room, p_user))
       or (v_room.kind <> 'dm' and v_room.private and v_role is null
           and p_roles = 0)
    then
        message := 'not a member of this room';
        return next;
        return;
    end if;

    select m.sender, m.deleted, m.changed_rev into v_msg
      from messages m where m.room_id = p_room and m.seq = p_seq;

    if not found then
        status := 'not_found';
        message := 'no such message';
        return next;
        return;
    end if;

    if p_op = 'edit' then
        if v_msg.sender <> p_user then
            message := 'only the sender edits a message';

        elsif chat_muted_until(p_room, p_user, p_now) is not null then
            message := 'muted in this room';

        elsif v_msg.deleted then
            status := 'conflict';
            message := 'the message is deleted';

        else
            status := 'ok';
        end if;

        return next;
        return;
    end if;

    -- another's message: section 9's table, as for a kick (chat_may)
    select mb.role into v_srole from members mb
     where mb.room_id = p_room and mb.user_id = v_msg.sender;

    if v_msg.sender <> p_user
       and not chat_may('delete',
                        chat_role_of(p_room, p_user,
                                     case when p_roles & 1 <> 0 then 'admin'
                                          when p_roles & 2 <> 0
                                               then 'moderator' end),
                        v_srole)
    then
        message := case when v_srole in ('owner', 'moderator')
                             and (p_roles & 2 <> 0
                                  or v_role = 'moderator')
                        then 'a moderator does not delete an owner''s or'
                             ' another moderator''s message'
                        else 'not the sender, a moderator or an owner' end;
        return next;
        return;
    end if;

    if v_msg.deleted then
        status := 'dup';
        rev := v_msg.changed_rev;

    else
        status := 'ok';
    end if;

    message := null;
    return next;
end $$;


-- Applies a checked edit or delete under the room row lock: the room's
-- next rev, the message row, the stored event.
create function chat_change_apply(p_room text, p_user text, p_seq bigint,
    p_op text, p_body text, p_now bigint)
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
        update chat_room_events ev
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

    insert into chat_room_events (room_id, rev, kind, event, ts, seq)
        values (p_room, rev,
                case when p_op = 'edit' then 'edited' else 'deleted' end,
                event::json, p_now, p_seq);

    return next;
end $$;


-- History entries carry the rev of their latest change.
create or replace function chat_history(p_room text, p_user text,
    p_before bigint, p_after bigint, p_limit integer)
returns table (seq bigint, msg_id bigint, sender text, sender_name text,
               body text, client_msg_id text, reply_to bigint, meta json,
               ts bigint, deleted boolean, edited_at bigint, rev bigint)
language plpgsql stable
set plan_cache_mode = force_custom_plan
set enable_sort = off
set jit = off
as $$
begin
    perform chat_room_check(p_room, p_user);

    if p_after is null then
        return query
            select * from (
                select m.seq, m.msg_id, m.sender, m.sender_name, m.body,
                       m.client_msg_id, m.reply_to, m.meta, m.ts, m.deleted,
                       m.edited_at, coalesce(m.changed_rev, m.rev)
                  from messages m
                 where m.room_id = p_room
                   and m.seq < coalesce(p_before, 9223372036854775807)
                 order by m.seq desc
                 limit p_limit) page
             order by page.seq;
    else
        return query
            select m.seq, m.msg_id, m.sender, m.sender_name, m.body,
                   m.client_msg_id, m.reply_to, m.meta, m.ts, m.deleted,
                   m.edited_at, coalesce(m.changed_rev, m.rev)
              from messages m
             where m.room_id = p_room
               and m.seq > p_after
               and m.seq < coalesce(p_before, 9223372036854775807)
             order by m.seq
             limit p_limit;
    end if;
end $$;


-- the direct-message rooms of a user, by either of its two users
create index rooms_dm_first on rooms (split_part(id, ':', 2))
    where kind = 'dm';
create index rooms_dm_second on rooms (split_part(id, ':', 3))
    where kind = 'dm';

-- Full-text search (GET /search): the newest p_limit messages matching
-- p_query (websearch_to_tsquery syntax) with msg_id < p_before, in p_room
-- (which p_user must be able to read) or in every room p_user is a member
-- of; never a room p_user is banned from, never another pair's direct
-- messages.  p_lang names the configuration, whose index
-- (chat_search_index) the query's text must match: it is written into
-- the statement as a constant.  Rows: room_id, then history's columns.
create function chat_search(p_user text, p_query text, p_room text,
    p_before bigint, p_limit integer, p_lang text)
returns table (room_id text, seq bigint, msg_id bigint, sender text,
               sender_name text, body text, client_msg_id text,
               reply_to bigint, meta json, ts bigint, deleted boolean,
               edited_at bigint, rev bigint)
language plpgsql stable
set jit = off
as $$
declare
    v_now    bigint := (extract(epoch from clock_timestamp()) * 1000)::bigint;
    v_rooms  text[];
begin
    if p_room is not null then
        perform chat_room_check(p_room, p_user);
        v_rooms := array[p_room];

    else
        -- a direct-message room's two users are its members, whether
        -- or not they have joined it
        select coalesce(array_agg(x.id), '{}') into v_rooms
          from (select mb.room_id as id from members mb
                 where mb.user_id = p_user and mb.room_id not like 'dm:%'
                union
                select r.id from rooms r
                 where r.kind = 'dm'
                   and (split_part(r.id, ':', 2) = p_user
                        or split_part(r.id, ':', 3) = p_user)) x;
    end if;

    if exists (select 1 from chat_room_bans b
                where b.user_id = p_user and b.room_id = any(v_rooms)
                  and (b.until is null or b.until > v_now))
    then
        if p_room is not null then
            raise exception 'banned from this room' using errcode = '42501';
        end if;

        v_rooms := array(select r from unnest(v_rooms) r
                          where not chat_banned(r, p_user, v_now));
    end if;

    return query execute format(
        'select m.room_id, m.seq, m.msg_id, m.sender, m.sender_name,'
        '       m.body, m.client_msg_id, m.reply_to, m.meta, m.ts,'
        '       m.deleted, m.edited_at, coalesce(m.changed_rev, m.rev)'
        '  from messages m'
        ' where to_tsvector(%L::regconfig, m.body)'
        '       @@ websearch_to_tsquery(%L::regconfig, $1)'
        '   and not m.deleted and m.room_id = any($2) and m.msg_id < $3'
        ' order by m.msg_id desc limit $4', p_lang, p_lang)
        using p_query, v_rooms,
              coalesce(p_before, 9223372036854775807), p_limit;
end $$;

insert into chat_schema_version (version) values (9);
