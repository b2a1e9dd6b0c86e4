-- ngx_chat schema, version 2: messages partitioned by month for
-- retention, room members with read cursors, room access rules, history
-- paging and read receipts.
--
-- Access errors are raised with their own SQLSTATE so the gateway can
-- answer with the protocol's code: 42501 forbidden, P0002 not_found,
-- 23505 conflict.

-- Members: who joined or wrote to a room, their role and read cursor.
create table members (
    room_id     text not null,
    user_id     text not null,
    role        text not null default 'member'
                check (role in ('owner', 'moderator', 'member')),
    joined_at   timestamptz not null default now(),
    read_seq    bigint not null default 0,
    primary key (room_id, user_id)
);

create index members_user on members (user_id);

alter table rooms add column created_by text;
create index rooms_activity on rooms (last_ts desc);


-- Messages move to a table partitioned by month on ts (milliseconds).
-- A room's seq is unique because it is taken under the room's row lock;
-- a partitioned table cannot enforce it without the partition key.
alter table messages rename to messages_v1;
alter index messages_msg_id rename to messages_v1_msg_id;
alter index messages_idempotency rename to messages_v1_idempotency;

create table messages (
    room_id        text not null,
    seq            bigint not null,
    msg_id         bigint not null,
    sender         text not null,
    sender_name    text,
    body           text,
    client_msg_id  text,
    reply_to       bigint,
    meta           json,
    ts             bigint not null,
    edited_at      bigint,
    deleted        boolean not null default false
) partition by range (ts);

-- a safety net: a send never fails for a missing month
create table messages_default partition of messages default;

create index messages_room_seq on messages (room_id, seq);
create index messages_idempotency on messages (room_id, sender, client_msg_id)
    where client_msg_id is not null;

create sequence chat_msg_id_seq;
select setval('chat_msg_id_seq',
              greatest((select max(msg_id) from messages_v1), 0) + 1, false);
alter table messages alter column msg_id
    set default nextval('chat_msg_id_seq');


-- The month partition holding ts (ms), created when missing.  Rows that
-- landed in the default partition for that month are moved into it.
create function chat_month_partition(p_ts bigint)
returns text
language plpgsql as $$
declare
    v_start  timestamptz;
    v_lo     bigint;
    v_hi     bigint;
    v_name   text;
begin
    v_start := date_trunc('month', to_timestamp(p_ts / 1000.0) at time zone 'UTC')
               at time zone 'UTC';
    v_lo := (extract(epoch from v_start) * 1000)::bigint;
    v_hi := (extract(epoch from v_start + interval '1 month') * 1000)::bigint;
    v_name := 'messages_' || to_char(v_start at time zone 'UTC', 'YYYYMM');

    if to_regclass(v_name) is not null then
        return v_name;
    end if;

    execute format('create table %I (like messages including defaults)',
                   v_name);
    execute format('with moved as (delete from messages_default'
                   ' where ts >= %s and ts < %s returning *)'
                   ' insert into %I select * from moved', v_lo, v_hi, v_name);
    execute format('alter table messages attach partition %I'
                   ' for values from (%s) to (%s)', v_name, v_lo, v_hi);
    return v_name;
end $$;

-- Creates the partitions of this month and the next p_ahead months, and
-- drops the partitions whose whole month is older than p_keep.  Returns
-- one line per action.
create function chat_maintain(p_keep interval, p_ahead integer)
returns setof text
language plpgsql as $$
declare
    v_now     timestamptz := now();
    v_cut     bigint;
    v_name    text;
    v_bound   text;
    v_hi      bigint;
    i         integer;
begin
    for i in 0 .. p_ahead loop
        v_name := chat_month_partition(
            (extract(epoch from v_now + make_interval(months => i)) * 1000)
            ::bigint);
        return next 'partition ' || v_name;
    end loop;

    v_cut := (extract(epoch from v_now - p_keep) * 1000)::bigint;

    -- months that got rows before they had a partition (a missed run)
    for v_hi in
        select distinct (extract(epoch from date_trunc('month',
                   to_timestamp(d.ts / 1000.0) at time zone 'UTC')
                   at time zone 'UTC') * 1000)::bigint
          from messages_default d
         where d.ts >= v_cut
    loop
        return next 'partition ' || chat_month_partition(v_hi);
    end loop;

    for v_name, v_bound in
        select c.relname, pg_get_expr(c.relpartbound, c.oid)
          from pg_inherits i join pg_class c on c.oid = i.inhrelid
         where i.inhparent = 'messages'::regclass
           and c.relname <> 'messages_default'
    loop
        v_hi := substring(v_bound from 'TO \(''?(-?[0-9]+)''?\)')::bigint;
        if v_hi <= v_cut then
            execute format('drop table %I', v_name);
            return next 'dropped ' || v_name;
        end if;
    end loop;

    -- rows older than the cut in the default partition go too
    delete from messages_default where ts < v_cut;
end $$;

select chat_month_partition(ts) from (
    select distinct (extract(epoch from date_trunc('month',
               to_timestamp(ts / 1000.0))) * 1000)::bigint as ts
      from messages_v1
) months;
select chat_maintain(interval '100 years', 2);

insert into messages (room_id, seq, msg_id, sender, sender_name, body,
                      client_msg_id, reply_to, meta, ts, edited_at, deleted)
select room_id, seq, msg_id, sender, sender_name, body, client_msg_id,
       reply_to, meta, ts, edited_at, deleted
  from messages_v1;

drop table messages_v1;


-- Is p_user one of the two users of the direct-message room p_room
-- ("dm:" + the two user ids, sorted, joined by ":")?
create function chat_dm_member(p_room text, p_user text)
returns boolean
language sql immutable as $$
    select p_room like 'dm:%'
       and (split_part(p_room, ':', 2) = p_user
            or split_part(p_room, ':', 3) = p_user)
$$;


-- May p_user read the room?  Public channels: anyone.  Direct messages:
-- their two users.  Private rooms: their members.  Raises not_found or
-- forbidden; returns the room row.
create function chat_room_check(p_room text, p_user text)
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
    return v_room;
end $$;


-- Opens a room for a join by p_user: creates it if allowed (a public
-- channel, or the direct-message room of its two users), checks access,
-- and records the membership.  Returns the room's latest seq.
drop function chat_room_open(text, boolean);

create function chat_room_open(p_room text, p_user text,
    p_autocreate boolean)
returns bigint
language plpgsql as $$
declare
    v_room  rooms;
begin
    if (p_room like 'dm:%' and chat_dm_member(p_room, p_user))
       or (p_room not like 'dm:%' and p_autocreate)
    then
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


-- History: one page of a room, ascending seq.  Without after, the newest
-- p_limit messages before p_before (or the newest of all); with after,
-- the oldest p_limit messages after it (and before p_before, if given).
-- The caller asks for p_limit + 1 rows to learn has_more.
create function chat_history(p_room text, p_user text, p_before bigint,
    p_after bigint, p_limit integer)
returns table (seq bigint, msg_id bigint, sender text, sender_name text,
               body text, client_msg_id text, reply_to bigint, meta json,
               ts bigint, deleted boolean, edited_at bigint)
language plpgsql stable
-- With statistics older than a room's growth (or a cached generic plan),
-- the planner guesses a few rows and reads the whole room to sort it.
-- Without a sort, the only plan left walks the (room_id, seq) indexes in
-- order: a page costs the same however large the room is.
set plan_cache_mode = force_custom_plan
set enable_sort = off
as $$
begin
    perform chat_room_check(p_room, p_user);

    if p_after is null then
        return query
            select * from (
                select m.seq, m.msg_id, m.sender, m.sender_name, m.body,
                       m.client_msg_id, m.reply_to, m.meta, m.ts, m.deleted,
                       m.edited_at
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
                   m.edited_at
              from messages m
             where m.room_id = p_room
               and m.seq > p_after
               and m.seq < coalesce(p_before, 9223372036854775807)
             order by m.seq
             limit p_limit;
    end if;
end $$;


-- Moves p_user's read cursor forward to p_seq (at most the room's latest
-- seq).  Returns the new cursor, or null when it did not move.
create function chat_read(p_room text, p_user text, p_seq bigint)
returns bigint
language plpgsql as $$
declare
    v_room  rooms;
    v_seq   bigint;
begin
    v_room := chat_room_check(p_room, p_user);
    v_seq := least(p_seq, v_room.last_seq);

    -- an empty room has nothing to read: no cursor moves
    if v_seq <= 0 then
        return null;
    end if;

    insert into members as mb (room_id, user_id, read_seq)
        values (p_room, p_user, v_seq)
        on conflict (room_id, user_id) do update
            set read_seq = excluded.read_seq
            where mb.read_seq < excluded.read_seq
        returning read_seq into v_seq;

    return v_seq;
end $$;


-- Rooms as the REST API shows them to p_user, each with its cursor and
-- last message (an index lookup per room, no scan): one room when p_room
-- is given (access checked), else the rooms p_user joined or wrote to,
-- latest activity first.
create type chat_room_row as (
    id text, kind text, name text, topic text, private boolean,
    last_seq bigint, last_ts bigint, read_seq bigint, unread bigint,
    role text,
    seq bigint, msg_id bigint, sender text, sender_name text, body text,
    client_msg_id text, reply_to bigint, meta json, ts bigint,
    deleted boolean, edited_at bigint
);

create function chat_rooms_of(p_user text, p_room text)
returns setof chat_room_row
language plpgsql stable as $$
begin
    if p_room is not null then
        perform chat_room_check(p_room, p_user);
    end if;

    return query
        select r.id, r.kind, r.name, r.topic, r.private, r.last_seq,
               r.last_ts, coalesce(mb.read_seq, 0),
               greatest(r.last_seq - coalesce(mb.read_seq, 0), 0), mb.role,
               lm.seq, lm.msg_id, lm.sender, lm.sender_name, lm.body,
               lm.client_msg_id, lm.reply_to, lm.meta, lm.ts, lm.deleted,
               lm.edited_at
          from rooms r
          left join members mb on mb.room_id = r.id and mb.user_id = p_user
          left join lateral (
                select m.* from messages m
                 where m.room_id = r.id and m.seq = r.last_seq
                 limit 1) lm on true
         where (p_room is null
                and r.id in (select x.room_id from members x
                              where x.user_id = p_user))
            or r.id = p_room
         order by r.last_ts desc, r.id;
end $$;


-- Creates a channel with p_user as its owner (23505 if it exists) and
-- returns it as chat_rooms_of does.
create function chat_room_create(p_room text, p_user text, p_name text,
    p_topic text, p_private boolean)
returns setof chat_room_row
language plpgsql as $$
begin
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


-- The batch send of version 1, with access checks (status 'forbidden'
-- or 'not_found' per element), monthly partitions, and membership: a
-- sender becomes a member and has read what they sent.
drop function chat_send_batch(jsonb, boolean);

create function chat_send_batch(p_batch jsonb, p_autocreate boolean)
returns table (i integer, status text, seq bigint, msg_id bigint, ts bigint)
language plpgsql as $$
declare
    v_now  bigint := (extract(epoch from clock_timestamp()) * 1000)::bigint;
begin
    insert into rooms (id, kind, created_by)
        select distinct on (e->>'room') e->>'room',
               case when e->>'room' like 'dm:%' then 'dm' else 'channel' end,
               e->>'from'
          from jsonb_array_elements(p_batch) e
         where case when e->>'room' like 'dm:%'
                    then chat_dm_member(e->>'room', e->>'from')
                    else p_autocreate end
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
               (o.e->'meta')::json as meta
          from jsonb_array_elements(p_batch) with ordinality as o(e, n)
    ),
    access as (
        select b.i,
               case
               when r.id is null then 'not_found'
               when r.kind = 'dm' and not chat_dm_member(b.room, b.sender)
                    then 'forbidden'
               when r.private and not exists (
                        select 1 from members mb
                         where mb.room_id = b.room and mb.user_id = b.sender)
                    then 'forbidden'
               else 'ok' end as verdict
          from b left join rooms r on r.id = b.room
    ),
    allowed as (
        select b.* from b join access a on a.i = b.i and a.verdict = 'ok'
    ),
    stored as (
        select b.i, m.seq, m.msg_id, m.ts
          from allowed b join messages m
            on m.room_id = b.room and m.sender = b.sender
           and m.client_msg_id = b.cid
    ),
    fresh as (
        select b.* from allowed b
         where not exists (select 1 from stored s where s.i = b.i)
           and (b.cid is null
                or b.i = (select min(b2.i) from allowed b2
                           where b2.room = b.room and b2.sender = b.sender
                             and b2.cid = b.cid))
    ),
    numbered as (
        select f.*, r.last_seq
                    + row_number() over (partition by f.room order by f.i)
                    as seq
          from fresh f join rooms r on r.id = f.room
    ),
    ins as (
        insert into messages (room_id, seq, sender, sender_name, body,
                              client_msg_id, reply_to, meta, ts)
        select n.room, n.seq, n.sender, n.name, n.body, n.cid, n.reply_to,
               n.meta, v_now
          from numbered n
        returning messages.room_id, messages.seq, messages.msg_id,
                  messages.sender, messages.client_msg_id
    ),
    bumped as (
        update rooms r set last_seq = r.last_seq + c.n, last_ts = v_now
          from (select room, count(*) as n from numbered group by room) c
         where r.id = c.room
        returning r.id
    ),
    joined as (
        insert into members as mb (room_id, user_id, read_seq)
        select n.room, n.sender, max(n.seq) from numbered n
         group by n.room, n.sender
        on conflict (room_id, user_id) do update
            set read_seq = greatest(mb.read_seq, excluded.read_seq)
        returning mb.room_id
    )
    select b.i,
           case when a.verdict <> 'ok' then a.verdict
                when s.i is not null then 'dup'
                when n.i is not null then 'ok'
                when d.seq is not null then 'dup'
                else 'not_found' end,
           coalesce(s.seq, n.seq, d.seq),
           coalesce(s.msg_id, ni.msg_id, d.msg_id),
           coalesce(s.ts, case when n.i is not null or d.seq is not null
                               then v_now end)
      from b
      join access a on a.i = b.i
      left join stored s on s.i = b.i
      left join numbered n on n.i = b.i
      left join ins ni on ni.room_id = n.room and ni.seq = n.seq
      left join ins d on s.i is null and n.i is null
                     and d.room_id = b.room and d.sender = b.sender
                     and d.client_msg_id = b.cid
     order by b.i;
end $$;

insert into chat_schema_version (version) values (2);
