-- ngx_chat schema, version 8: direct messages, membership, roles and
-- moderation (protocol.md sections 5, 7 and 9).
--
-- Every membership change is a durable "member" event, and a room change
-- a "room" event: each takes the room's next rev under the room row lock
-- and is kept in chat_room_events with its text as published.  Who may do
-- what is decided by one function, chat_may(), for every path.

-- ms since the epoch, as on the wire
create function chat_now_ms() returns bigint
language sql volatile as $$
    select (extract(epoch from clock_timestamp()) * 1000)::bigint
$$;


-- The role p_user acts with in p_room: the JWT roles claim first
-- (p_jwt 'admin' acts as owner, 'moderator' as moderator everywhere),
-- then the membership's role; null for a non-member without such a claim.
create function chat_role_of(p_room text, p_user text, p_jwt text)
returns text
language sql stable as $$
    select case when p_jwt = 'admin' or m.role = 'owner' then 'owner'
                when p_jwt = 'moderator' or m.role = 'moderator'
                     then 'moderator'
                when m.role is not null then 'member' end
      from (select 1) one
      left join members m on m.room_id = p_room and m.user_id = p_user
$$;


-- The table of protocol.md section 9: may an actor of role p_actor (from
-- chat_role_of) do p_action to a user whose room role is p_target (null:
-- not a member)?
create function chat_may(p_action text, p_actor text, p_target text)
returns boolean
language sql immutable as $$
    select coalesce(case
        when p_action in ('kick', 'ban', 'mute', 'unban', 'unmute',
                          'delete')
            then p_actor = 'owner'
                 or (p_actor = 'moderator'
                     and coalesce(p_target, 'member') = 'member')
        when p_action = 'add' then p_actor in ('owner', 'moderator')
        when p_action in ('role', 'room') then p_actor = 'owner'
        when p_action = 'leave' then p_actor is not null
        else false end, false)
$$;


create function chat_banned(p_room text, p_user text, p_now bigint)
returns boolean
language sql stable as $$
    select exists (select 1 from chat_room_bans b
                    where b.room_id = p_room and b.user_id = p_user
                      and (b.until is null or b.until > p_now))
$$;

create function chat_muted_until(p_room text, p_user text, p_now bigint)
returns bigint
language sql stable as $$
    -- a mute without an end answers the largest time there is
    select coalesce(m.until, 9223372036854775807)
      from chat_room_mutes m
     where m.room_id = p_room and m.user_id = p_user
       and (m.until is null or m.until > p_now)
$$;


-- Version 2's access check, refusing a banned user as well.
create or replace function chat_room_check(p_room text, p_user text)
returns rooms
language plpgsql stable as $$
declare
    v_room  rooms;
begin
    select * into v_room from rooms where id = p_room;
    if not found then
        raise exception 'no such room' using errcode = 'P0002';
    end if;
    if v_room.kind = 'dm' then
        if not chat_dm_member(p_room, p_user) then
            raise exception 'not a member of this room'
                using errcode = '42501';
        end if;
    elsif v_room.private and not exists (
            select 1 from members m
             where m.room_id = p_room and m.user_id = p_user)
    then
        raise exception 'not a member of this room' using errcode = '42501';
    end if;
    if chat_banned(p_room, p_user, chat_now_ms()) then
        raise exception 'banned from this room' using errcode = '42501';
    end if;
    return v_room;
end $$;


-- Appends a durable event to a locked room: takes its next rev, stores
-- the event and answers the rev and the event's text.  A member event
-- has p_user, p_action and those of p_by, p_role, p_until that apply; a
-- room event p_room_row.
create function chat_room_event_add(p_room text, p_user text,
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

    insert into chat_room_events (room_id, rev, kind, event, ts)
        values (p_room, o_rev, case when p_action is null then 'room'
                                    else 'member' end,
                o_event::json, chat_now_ms());
end $$;


-- Opens a room for a join (version 5's chat_room_open): creates it if
-- allowed, checks access, and makes p_user a member; a new member of a
-- public channel is a "joined" event, answered with its rev and text.
create function chat_room_enter(p_room text, p_user text,
    p_autocreate boolean, p_interval bigint, p_burst bigint,
    out o_seq bigint, out o_rev bigint, out o_event text)
language plpgsql as $$
declare
    v_room  rooms;
begin
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

    if v_room.kind = 'channel' then
        -- the room's rev is taken under its row lock
        perform 1 from rooms where id = p_room for update;
    end if;

    insert into members (room_id, user_id) values (p_room, p_user)
        on conflict do nothing;

    if found and v_room.kind = 'channel' then
        select e.o_rev, e.o_event into o_rev, o_event
          from chat_room_event_add(p_room, p_user, 'joined', null, null,
                                   null, null) e;
    end if;

    o_seq := v_room.last_seq;
end $$;


-- Version 6's chat_room_open_batch: banned users are refused (members
-- are never banned: a ban ends the membership), a first join answers its
-- "joined" event, and every join the user's mute in the room.
drop function chat_room_open_batch(jsonb, boolean, bigint, bigint);

create function chat_room_open_batch(p_batch jsonb, p_autocreate boolean,
    p_interval bigint, p_burst bigint)
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
                select en.o_seq, en.o_rev, en.o_event
                  into seq, event_rev, event
                  from chat_room_enter(v_e.room, v_e.usr, p_autocreate,
                                       p_interval, p_burst) en;
                select r.last_seq, r.last_rev into seq, rev
                  from rooms r where r.id = v_e.room;
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
end $$;


-- Version 6's chat_send_batch: a banned or muted sender is refused, and
-- the first message of a new member of a public channel is preceded, in
-- rev, by its "joined" event (answered as joined true).
drop function chat_send_batch_quota(jsonb, boolean, bigint, bigint);
drop function chat_send_batch(jsonb, boolean);

create function chat_send_batch(p_batch jsonb, p_autocreate boolean)
returns table (i integer, status text, seq bigint, msg_id bigint, ts bigint,
               rev bigint, joined boolean)
language plpgsql
set enable_seqscan = off
set jit = off
as $$
declare
    v_now  bigint := chat_now_ms();
begin
    insert into rooms (id, kind, created_by)
        select distinct on (e->>'room') e->>'room',
               case when e->>'room' like 'dm:%' then 'dm' else 'channel' end,
               e->>'from'
          from jsonb_array_elements(p_batch) e
         where case when e->>'room' like 'dm:%'
                    then chat_dm_member(e->>'room', e->>'from')
                    else p_autocreate end
           and not exists (select 1 from rooms r where r.id = e->>'room')
         order by e->>'room'
        on conflict (id) do nothing;

    perform 1 from rooms r
     where r.id in (select e->>'room' from jsonb_array_elements(p_batch) e)
     order by r.id
       for update;

    return query
    with b as (
        select (o.n - 1)::integer as i,
               o.e->>'room' as room, o.e->>'from' as sender,
               o.e->>'name' as name, o.e->>'body' as body,
               o.e->>'cid' as cid, (o.e->>'reply_to')::bigint as reply_to,
               (o.e->>'meta')::json as meta
          from jsonb_array_elements(p_batch) with ordinality as o(e, n)
    ),
    checked as (
        select b.*, r.last_seq, r.last_rev,
               case
               when r.id is null then 'not_found'
               when r.kind = 'dm' and not chat_dm_member(b.room, b.sender)
                    then 'forbidden'
               when r.private and not exists (
                        select 1 from members mb
                         where mb.room_id = b.room and mb.user_id = b.sender)
                    then 'forbidden'
               when chat_banned(b.room, b.sender, v_now) then 'forbidden'
               when chat_muted_until(b.room, b.sender, v_now) is not null
                    then 'forbidden'
               else 'ok' end as verdict,
               r.kind = 'channel' and not exists (
                   select 1 from members mb
                    where mb.room_id = b.room and mb.user_id = b.sender)
                   as newcomer,
               case when b.cid is null then b.i
                    else min(b.i) over (partition by b.room, b.sender, b.cid)
               end as first_i
          from b left join rooms r on r.id = b.room
    ),
    stored as (
        select c.i, m.seq, m.msg_id, m.ts, m.rev
          from checked c
          join messages m on m.room_id = c.room and m.sender = c.sender
                         and m.client_msg_id = c.cid
                         and m.ts >= v_now - 86400000
         where c.verdict = 'ok' and c.cid is not null and c.first_i = c.i
    ),
    counted as (
        select c.i, c.room, c.sender, c.name, c.body, c.cid, c.reply_to,
               c.meta, c.last_seq, c.last_rev,
               row_number() over (partition by c.room order by c.i) as k,
               c.newcomer and row_number() over (
                   partition by c.room, c.sender order by c.i) = 1
                   as joins,
               nextval('chat_msg_id_seq') as msg_id
          from checked c
         where c.verdict = 'ok' and c.first_i = c.i
           and not exists (select 1 from stored s where s.i = c.i)
    ),
    -- the k-th new message of a room takes its k-th seq; its rev comes
    -- after the joined events of the messages up to it
    numbered as (
        select n.*, n.last_seq + n.k as seq,
               n.last_rev + n.k + sum(n.joins::integer) over (
                   partition by n.room order by n.i) as rev
          from counted n
    ),
    ins as (
        insert into messages (room_id, seq, msg_id, sender, sender_name,
                              body, client_msg_id, reply_to, meta, ts, rev)
        select n.room, n.seq, n.msg_id, n.sender, n.name, n.body, n.cid,
               n.reply_to, n.meta, v_now, n.rev
          from numbered n
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
          from (select room, count(*) as n,
                       count(*) filter (where joins) as nj
                  from numbered group by room) c
         where r.id = c.room
        returning 1
    ),
    joined as (
        insert into members as mb (room_id, user_id, read_seq)
        select n.room, n.sender, max(n.seq) from numbered n
         group by n.room, n.sender
        on conflict (room_id, user_id) do update
            set read_seq = greatest(mb.read_seq, excluded.read_seq)
        returning 1
    )
    select c.i,
           case when c.verdict <> 'ok' then c.verdict
                when s.i is not null then 'dup'
                when n.i is not null then
                    case when c.i = c.first_i then 'ok' else 'dup' end
                else 'not_found' end,
           coalesce(s.seq, n.seq),
           coalesce(s.msg_id, n.msg_id),
           coalesce(s.ts, case when n.i is not null then v_now end),
           coalesce(s.rev, n.rev),
           coalesce(n.joins and c.i = c.first_i, false)
      from checked c
      left join stored s on s.i = c.first_i
      left join numbered n on n.i = c.first_i
     order by c.i;
end $$;


-- Version 6's chat_send_batch_quota, answering joined as well.
create function chat_send_batch_quota(p_batch jsonb, p_autocreate boolean,
    p_interval bigint, p_burst bigint)
returns table (i integer, status text, seq bigint, msg_id bigint, ts bigint,
               rev bigint, retry_after bigint, joined boolean)
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
            select sb.i, sb.status, sb.seq, sb.msg_id, sb.ts, sb.rev,
                   null::bigint, sb.joined
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
           sent.seq, sent.msg_id, sent.ts, sent.rev,
           case when kept.bi is null then b.wait end,
           coalesce(sent.joined, false)
      from b
      left join kept on kept.bi = b.bi
      left join sent on sent.i = kept.ki
     order by b.bi;
end $$;


-- The answer to a membership call: {"room","user","role"?}
create function chat_member_reply(p_room text, p_user text, p_role text)
returns text
language sql immutable as $$
    select json_strip_nulls(json_build_object('room', p_room, 'user', p_user,
                                              'role', p_role))::text
$$;


-- Who may do p_act in p_room (protocol.md section 9, with chat_may):
-- raises forbidden or not_found, or answers the role of p_user (null:
-- not a member).
create function chat_member_check(p_room rooms, p_act text, p_by text,
    p_user text, p_jwt text)
returns text
language plpgsql stable as $$
declare
    v_actor   text;
    v_target  text;
begin
    v_actor := chat_role_of(p_room.id, p_by, p_jwt);

    -- a private room tells a non-member nothing but that it is private
    if (p_room.kind = 'dm' and not chat_dm_member(p_room.id, p_by))
       or (p_room.private and v_actor is null)
    then
        raise exception 'not a member of this room' using errcode = '42501';
    end if;

    if p_room.kind = 'dm' then
        raise exception 'a direct-message room has no moderation'
            using errcode = '42501';
    end if;

    if chat_banned(p_room.id, p_by, chat_now_ms()) then
        raise exception 'banned from this room' using errcode = '42501';
    end if;

    if p_user = p_by and p_act not in ('leave', 'room', 'add') then
        raise exception 'not on oneself' using errcode = '42501';
    end if;

    select m.role into v_target from members m
     where m.room_id = p_room.id and m.user_id = p_user;

    if not chat_may(p_act, v_actor, v_target) then
        raise exception 'not allowed in this room (protocol.md section 9)'
            using errcode = '42501';
    end if;

    if p_act in ('leave', 'kick', 'role') and v_target is null then
        raise exception 'not a member of this room' using errcode = 'P0002';
    end if;

    return v_target;
end $$;


-- One membership or moderation action, or a room change, on a locked
-- room.  p_e: {"room","by","jwt"?,"action","user"?,"role"?,"until"?,
-- "reason"?,"name"?,"topic"?}; action is add, role, leave, kick, ban,
-- unban, mute, unmute or room.  Answers the event's rev and text (null
-- when nothing changed) and the call's answer.
create function chat_member_apply(p_e jsonb, out o_rev bigint,
    out o_event text, out o_reply text)
language plpgsql as $$
declare
    v_room    rooms;
    v_act     text := p_e->>'action';
    v_by      text := p_e->>'by';
    v_user    text := coalesce(p_e->>'user', p_e->>'by');
    v_target  text;
    v_until   bigint := (p_e->>'until')::bigint;
    v_now     bigint := chat_now_ms();
    v_ev      text;
    v_evby    text;
    v_role    text;
    v_evuntil bigint;
begin
    select * into v_room from rooms where id = p_e->>'room';

    if not found then
        raise exception 'no such room' using errcode = 'P0002';
    end if;

    v_target := chat_member_check(v_room, v_act, v_by, v_user,
                                  p_e->>'jwt');

    o_reply := chat_member_reply(v_room.id, v_user, null);

    if v_act = 'room' then
        update rooms
           set name = case when p_e ? 'name' then p_e->>'name' else name end,
               topic = case when p_e ? 'topic' then p_e->>'topic'
                            else topic end
         where id = v_room.id
        returning * into v_room;

    elsif v_act = 'add' then
        if chat_banned(v_room.id, v_user, v_now) then
            raise exception 'the user is banned from this room'
                using errcode = '23505';
        end if;
        if v_target is not null then
            o_reply := chat_member_reply(v_room.id, v_user, v_target);
            return;
        end if;
        insert into members (room_id, user_id) values (v_room.id, v_user);
        v_target := 'member';

    elsif v_act = 'role' then
        if v_target = p_e->>'role' then
            o_reply := chat_member_reply(v_room.id, v_user, v_target);
            return;
        end if;
        v_target := p_e->>'role';
        update members set role = v_target
         where room_id = v_room.id and user_id = v_user;

    elsif v_act in ('leave', 'kick') then
        delete from members where room_id = v_room.id and user_id = v_user;

    elsif v_act = 'ban' then
        insert into chat_room_bans (room_id, user_id, until, reason,
                                    by_user, at)
            values (v_room.id, v_user, v_until, p_e->>'reason', v_by, v_now)
            on conflict (room_id, user_id) do update
                set until = excluded.until, reason = excluded.reason,
                    by_user = excluded.by_user, at = excluded.at;
        delete from members where room_id = v_room.id and user_id = v_user;

    elsif v_act = 'unban' then
        delete from chat_room_bans
         where room_id = v_room.id and user_id = v_user;
        if not found then
            return;
        end if;

    elsif v_act = 'mute' then
        insert into chat_room_mutes (room_id, user_id, until, by_user, at)
            values (v_room.id, v_user, v_until, v_by, v_now)
            on conflict (room_id, user_id) do update
                set until = excluded.until, by_user = excluded.by_user,
                    at = excluded.at;

    elsif v_act = 'unmute' then
        delete from chat_room_mutes
         where room_id = v_room.id and user_id = v_user;
        if not found then
            return;
        end if;

    else
        raise exception 'unknown action' using errcode = '22023';
    end if;

    -- the member event of the action (null: a room event)
    v_ev := case v_act when 'add' then 'joined' when 'role' then 'role'
                       when 'leave' then 'left' when 'kick' then 'kicked'
                       when 'ban' then 'banned' when 'unban' then 'unbanned'
                       when 'mute' then 'muted' when 'unmute' then 'unmuted'
                       end;
    v_evby := case when v_act <> 'leave' then v_by end;
    v_evuntil := case when v_act in ('ban', 'mute') then v_until end;
    v_role := case when v_act = 'role' then v_target end;

    select e.o_rev, e.o_event into o_rev, o_event
      from chat_room_event_add(v_room.id, v_user, v_ev, v_evby, v_role,
                               v_evuntil, v_room) e;

    if v_act = 'room' then
        o_reply := json_strip_nulls(json_build_object(
                       'room', v_room.id, 'kind', v_room.kind,
                       'name', v_room.name, 'topic', v_room.topic,
                       'private', v_room.private,
                       'last_seq', v_room.last_seq))::text;
    elsif v_act in ('add', 'role') then
        o_reply := chat_member_reply(v_room.id, v_user, v_target);
    end if;
end $$;


-- The batch statement of the commit kind "member" (ngx_chat_batch.c):
-- the actions in batch order, each on its room locked (rooms in id order
-- first), each refused alone with its status.
create function chat_member_batch(p_batch jsonb, p_autocreate boolean,
    p_interval bigint, p_burst bigint)
returns table (i integer, status text, rev bigint, retry_after bigint,
               event text, reply text, message text)
language plpgsql as $$
declare
    v_e  record;
begin
    perform 1 from rooms r
     where r.id in (select e->>'room' from jsonb_array_elements(p_batch) e)
     order by r.id
       for update;

    for v_e in
        select (o.n - 1)::integer as n, o.e
          from jsonb_array_elements(p_batch) with ordinality as o(e, n)
         order by o.n
    loop
        i := v_e.n;
        status := 'ok';
        rev := 0;
        retry_after := null;
        event := null;
        reply := null;
        message := null;

        begin
            select a.o_rev, a.o_event, a.o_reply into rev, event, reply
              from chat_member_apply(v_e.e) a;
            rev := coalesce(rev, 0);
        exception when others then
            rev := null;
            message := sqlerrm;
            status := case sqlstate when 'P0002' then 'not_found'
                                    when '42501' then 'forbidden'
                                    when '23505' then 'conflict'
                                    when '22023' then 'bad_request'
                                    else 'internal' end;
        end;

        return next;
    end loop;
end $$;


-- GET /rooms/{room}/members: who belongs to the room, with their role,
-- cursors and mute; a direct-message room's two users always.
create function chat_room_members(p_room text, p_user text)
returns table (user_id text, role text, read_seq bigint,
               delivered_seq bigint, muted_until bigint)
language plpgsql stable as $$
declare
    v_room  rooms;
    v_now   bigint := chat_now_ms();
begin
    v_room := chat_room_check(p_room, p_user);

    return query
        select u.uid, coalesce(m.role, 'member'),
               coalesce(m.read_seq, 0), coalesce(m.delivered_seq, 0),
               mu.until
          from (select x.user_id as uid from members x
                 where x.room_id = p_room and v_room.kind <> 'dm'
                union
                select split_part(p_room, ':', k)
                  from generate_series(2, 3) k
                 where v_room.kind = 'dm') u
          left join members m on m.room_id = p_room and m.user_id = u.uid
          left join chat_room_mutes mu
                 on mu.room_id = p_room and mu.user_id = u.uid
                and (mu.until is null or mu.until > v_now)
         order by u.uid;
end $$;


-- POST /dm/{user}: the direct-message room of p_user and p_other, made
-- once (true: made now).  The other user must be known to the gateway.
create function chat_dm_open(p_user text, p_other text)
returns boolean
language plpgsql as $$
declare
    v_room  text;
begin
    if not exists (select 1 from chat_users u where u.user_id = p_other)
    then
        raise exception 'no such user' using errcode = 'P0002';
    end if;

    v_room := 'dm:' || least(p_user collate "C", p_other collate "C")
              || ':' || greatest(p_user collate "C", p_other collate "C");

    insert into rooms (id, kind, created_by)
        values (v_room, 'dm', p_user)
        on conflict (id) do nothing;

    if not found then
        return false;
    end if;

    insert into members (room_id, user_id)
        values (v_room, p_user), (v_room, p_other)
        on conflict do nothing;

    return true;
end $$;


-- The users a worker saw authenticate in one loop tick (a JSON array of
-- {"user","name"}).
create function chat_users_seen(p_batch jsonb)
returns void
language plpgsql as $$
declare
    v_now  bigint := chat_now_ms();
begin
    perform set_config('synchronous_commit', 'off', true);

    insert into chat_users as u (user_id, name, first_seen, last_seen)
        select distinct on (e->>'user') e->>'user', e->>'name', v_now, v_now
          from jsonb_array_elements(p_batch) e
         order by e->>'user'
        on conflict (user_id) do update
            set last_seen = excluded.last_seen,
                name = coalesce(excluded.name, u.name);
end $$;

insert into chat_schema_version (version) values (8);
