-- ngx_chat schema, version 4: meta is stored as the client wrote it.
--
-- Until version 3 a message's meta went through jsonb on its way to the
-- json column, and jsonb keeps values, not text: 1e308 came back as 309
-- digits, 4 KB of meta as 114 KB.  The gateway now sends meta as a JSON
-- string holding the client's text, which jansson has checked and the
-- gateway has capped, and the json column keeps that text as it is.

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
               (o.e->>'meta')::json as meta
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


-- Rows stored before version 4 hold jsonb's rendering of their meta.  The
-- ones that it made longer than the 4096 bytes a client may send (numbers
-- written out in full) are written again compactly, each number in the
-- shortest form of its value, so that every stored message fits the
-- bounds replies are built with.  The others keep the text their readers
-- have seen.  Every number came through jansson: an integer fits a
-- bigint and keeps its digits, anything else is a double.
create function chat_meta_compact(p_meta json) returns json
language plpgsql immutable
set extra_float_digits = 1
as $$
begin
    return (select string_agg(
                case when t.m[1] ~ '^-?[0-9]'
                      and (t.m[1] !~ '^-?[0-9]+$'
                           or t.m[1]::numeric not between
                              -9223372036854775808 and 9223372036854775807)
                     then t.m[1]::float8::text
                     else t.m[1] end, '' order by t.n)
              from regexp_matches(p_meta::text,
                                  '"(?:[^"\\]|\\.)*"|-?[0-9][0-9.eE+-]*|\S',
                                  'g') with ordinality as t(m, n))::json;
exception when others then
    return p_meta;
end $$;

update messages set meta = chat_meta_compact(meta)
 where meta is not null and octet_length(meta::text) > 4096;

drop function chat_meta_compact(json);

insert into chat_schema_version (version) values (4);
