-- ngx_chat schema, version 6: a revision per room.
--
-- Besides seq, which numbers a room's messages, every durable room event
-- (a message now; edits, deletes, membership, moderation and room
-- changes later) takes the room's next rev, under the same room row lock
-- that numbers seq: commit order is rev order, whichever worker or host
-- commits (protocol.md section 5a).  A message keeps its rev in its row;
-- the other kinds keep theirs, with the event as published, in
-- chat_room_events.  A replay by rev reads both in one ordered query on
-- their (room_id, rev) indexes.
--
-- Every event so far was a message: an existing room's last_rev is its
-- last_seq, an existing message's rev its seq.

alter table rooms add column last_rev bigint not null default 0;
update rooms set last_rev = last_seq where last_seq <> 0;

alter table messages add column rev bigint;
update messages set rev = seq;
alter table messages alter column rev set not null;

create index messages_room_rev on messages (room_id, rev);

-- The durable room events that are not messages, each with its rev and
-- the event's text as published (a replay sends it as it is).  A kind
-- that commits here takes its rev as chat_send_batch does: the room row
-- locked in id order, rooms.last_rev moved on in the same statement.
create table chat_room_events (
    room_id  text not null references rooms (id) on delete cascade,
    rev      bigint not null,
    kind     text not null,
    event    json not null,
    ts       bigint not null,
    primary key (room_id, rev)
);


-- Version 4's chat_send_batch, answering each message's rev as well.
drop function chat_send_batch_quota(jsonb, boolean, bigint, bigint);
drop function chat_send_batch(jsonb, boolean);

create function chat_send_batch(p_batch jsonb, p_autocreate boolean)
returns table (i integer, status text, seq bigint, msg_id bigint, ts bigint,
               rev bigint)
language plpgsql
-- as version 3 says: rooms by index however small the batch, and no JIT
set enable_seqscan = off
set jit = off
as $$
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
           and not exists (select 1 from rooms r where r.id = e->>'room')
         order by e->>'room'
        on conflict (id) do nothing;

    -- in id order, so that concurrent batches cannot deadlock; the next
    -- statement's snapshot, taken after the locks, sees the latest
    -- last_seq and last_rev
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
               else 'ok' end as verdict,
               -- a client_msg_id repeated within the batch: the first wins
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
                         -- a retry comes within the day: only the
                         -- partitions of the last 24 hours are searched
                         and m.ts >= v_now - 86400000
         where c.verdict = 'ok' and c.cid is not null and c.first_i = c.i
    ),
    counted as (
        select c.i, c.room, c.sender, c.name, c.body, c.cid, c.reply_to,
               c.meta, c.last_seq, c.last_rev,
               row_number() over (partition by c.room order by c.i) as k,
               nextval('chat_msg_id_seq') as msg_id
          from checked c
         where c.verdict = 'ok' and c.first_i = c.i
           and not exists (select 1 from stored s where s.i = c.i)
    ),
    -- messages are the only kind of this batch: the k-th new message of
    -- a room takes its k-th seq and its k-th rev
    numbered as (
        select n.*, n.last_seq + n.k as seq, n.last_rev + n.k as rev
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
    bumped as (
        update rooms r set last_seq = r.last_seq + c.n,
                           last_rev = r.last_rev + c.n, last_ts = v_now
          from (select room, count(*) as n from numbered group by room) c
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
           coalesce(s.rev, n.rev)
      from checked c
      left join stored s on s.i = c.first_i
      left join numbered n on n.i = c.first_i
     order by c.i;
end $$;


-- Version 5's chat_send_batch_quota, answering rev as well.
create function chat_send_batch_quota(p_batch jsonb, p_autocreate boolean,
    p_interval bigint, p_burst bigint)
returns table (i integer, status text, seq bigint, msg_id bigint, ts bigint,
               rev bigint,
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
            select sb.i, sb.status, sb.seq, sb.msg_id, sb.ts, sb.rev,
                   null::bigint
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
           case when kept.bi is null then b.wait end
      from b
      left join kept on kept.bi = b.bi
      left join sent on sent.i = kept.ki
     order by b.bi;
end $$;


-- Version 5's chat_room_open_batch, answering the room's latest rev with
-- its latest seq, both of one snapshot.
drop function chat_room_open_batch(jsonb, boolean, bigint, bigint);

create function chat_room_open_batch(p_batch jsonb, p_autocreate boolean,
    p_interval bigint, p_burst bigint)
returns table (i integer, seq bigint, state text, message text,
               retry_after bigint, rev bigint)
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

        if v_e.member then
            seq := v_e.last_seq;
            rev := v_e.last_rev;
        else
            begin
                perform chat_room_open(v_e.room, v_e.usr, p_autocreate,
                                       p_interval, p_burst);
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

        return next;
    end loop;
end $$;


-- History entries and the latest message of a room carry their rev: for
-- now the rev of the message itself, later that of its latest change.
drop function chat_history(text, text, bigint, bigint, integer);

create function chat_history(p_room text, p_user text, p_before bigint,
    p_after bigint, p_limit integer)
returns table (seq bigint, msg_id bigint, sender text, sender_name text,
               body text, client_msg_id text, reply_to bigint, meta json,
               ts bigint, deleted boolean, edited_at bigint, rev bigint)
language plpgsql stable
-- as version 2 and 3 say: no sort, and no JIT
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
                       m.edited_at, m.rev
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
                   m.edited_at, m.rev
              from messages m
             where m.room_id = p_room
               and m.seq > p_after
               and m.seq < coalesce(p_before, 9223372036854775807)
             order by m.seq
             limit p_limit;
    end if;
end $$;

alter type chat_room_row add attribute rev bigint;

create or replace function chat_rooms_of(p_user text, p_room text)
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
               lm.edited_at, lm.rev
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

insert into chat_schema_version (version) values (6);
