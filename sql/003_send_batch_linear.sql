-- ngx_chat schema, version 3: the batch send in linear time, and joins
-- that do not wait for the disk and go to PostgreSQL in batches.
--
-- Version 2's chat_send_batch joined its intermediate results with
-- correlated subqueries, and the planner, which cannot see how many rows
-- a CTE holds, ran them as nested loops: the cost of a batch grew with
-- the square of its size, about 130 us of PostgreSQL CPU per message in
-- batches of 100.  Here every message is compared only with itself:
-- duplicates within the batch are found with a window function, msg_id is
-- drawn before the insert so the answer needs no join with it, and the
-- answer is assembled by hash joins on the message's index in the batch.
-- A client_msg_id is looked up among the messages of the last 24 hours
-- only (the month partitions that can hold them), not the whole history.

create or replace function chat_send_batch(p_batch jsonb,
                                           p_autocreate boolean)
returns table (i integer, status text, seq bigint, msg_id bigint, ts bigint)
language plpgsql
-- The planner takes any jsonb array for 100 elements, and against a
-- table of some thousand rooms it would rather hash the whole table than
-- look 100 rooms up: a batch of 3 then reads every room.  Without
-- sequential scans, batches look their rooms up by index.  A plan that
-- had to keep one anyway would cost more than jit_above_cost, and JIT
-- compiling a statement takes longer than running it many times over.
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
    -- statement's snapshot, taken after the locks, sees the latest last_seq
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
    checked as (
        select b.*, r.last_seq,
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
        select c.i, m.seq, m.msg_id, m.ts
          from checked c
          join messages m on m.room_id = c.room and m.sender = c.sender
                         and m.client_msg_id = c.cid
                         -- a retry comes within the day: only the
                         -- partitions of the last 24 hours are searched
                         and m.ts >= v_now - 86400000
         where c.verdict = 'ok' and c.cid is not null and c.first_i = c.i
    ),
    numbered as (
        select c.i, c.room, c.sender, c.name, c.body, c.cid, c.reply_to,
               c.meta,
               c.last_seq + row_number() over (partition by c.room
                                                order by c.i) as seq,
               nextval('chat_msg_id_seq') as msg_id
          from checked c
         where c.verdict = 'ok' and c.first_i = c.i
           and not exists (select 1 from stored s where s.i = c.i)
    ),
    ins as (
        insert into messages (room_id, seq, msg_id, sender, sender_name,
                              body, client_msg_id, reply_to, meta, ts)
        select n.room, n.seq, n.msg_id, n.sender, n.name, n.body, n.cid,
               n.reply_to, n.meta, v_now
          from numbered n
        returning 1
    ),
    bumped as (
        update rooms r set last_seq = r.last_seq + c.n, last_ts = v_now
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
           coalesce(s.ts, case when n.i is not null then v_now end)
      from checked c
      left join stored s on s.i = c.first_i
      left join numbered n on n.i = c.first_i
     order by c.i;
end $$;

-- A join by a member already (a client reconnecting to its rooms) reads
-- one row pair and writes nothing.  Otherwise it writes only to create the
-- room or the membership, and neither is an acknowledged message: a
-- PostgreSQL crash may forget the joins of its last fraction of a second,
-- and the client's next join makes them again.  So a join does not wait
-- for the disk; a connection storm would otherwise queue every join
-- behind a WAL flush.
create or replace function chat_room_open(p_room text, p_user text,
    p_autocreate boolean)
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

-- The joins of one moment (a reconnect storm) in one statement: members
-- already are answered by one join of rooms and members, the others open
-- their room one by one, each failure kept to its own join.  Answers one
-- row per join, with its index in the batch (not in batch order): its
-- room's seq, or the SQLSTATE and message of its failure.  Rooms are
-- opened in id order: two batches creating the same new rooms then wait
-- for each other in one direction only, and cannot deadlock.
create function chat_room_open_batch(p_batch jsonb, p_autocreate boolean)
returns table (i integer, seq bigint, state text, message text)
language plpgsql
-- as chat_send_batch: rooms and members by index, however small the batch
set enable_seqscan = off
set jit = off
as $$
declare
    v_e  record;
begin
    perform set_config('synchronous_commit', 'off', true);

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

        if v_e.member then
            seq := v_e.last_seq;
        else
            begin
                seq := chat_room_open(v_e.room, v_e.usr, p_autocreate);
            exception when others then
                state := sqlstate;
                message := sqlerrm;
            end;
        end if;

        return next;
    end loop;
end $$;

-- chat_history plans without sorts, and its newest page still sorts its
-- 50 rows back into ascending order: that sort's penalty puts the plan's
-- cost above jit_above_cost, and PostgreSQL spent some 250 ms compiling
-- a page it reads in a fraction of a millisecond.
alter function chat_history(text, text, bigint, bigint, integer)
    set jit = off;

insert into chat_schema_version (version) values (3);
