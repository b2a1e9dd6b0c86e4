-- ngx_chat schema, version 1: rooms with a per-room seq counter, messages,
-- and the batch send used by the gateway's group commit.

create table chat_schema_version (
    version     integer primary key,
    applied_at  timestamptz not null default now()
);

create table rooms (
    id          text primary key,
    kind        text not null default 'channel'
                check (kind in ('channel', 'dm')),
    name        text,
    topic       text,
    private     boolean not null default false,
    created_at  timestamptz not null default now(),
    -- the seq counter: rows are locked in id order by every batch, so
    -- commit order is seq order and batches cannot deadlock
    last_seq    bigint not null default 0,
    last_ts     bigint not null default 0
);

create table messages (
    room_id        text not null,
    seq            bigint not null,
    msg_id         bigint generated always as identity,
    sender         text not null,
    sender_name    text,
    body           text,
    client_msg_id  text,
    reply_to       bigint,
    meta           json,
    ts             bigint not null,
    edited_at      bigint,
    deleted        boolean not null default false,
    primary key (room_id, seq)
);

create unique index messages_msg_id on messages (msg_id);
create unique index messages_idempotency
    on messages (room_id, sender, client_msg_id)
    where client_msg_id is not null;

-- Opens a room for a join: creates it as a public channel if allowed.
-- Returns the room's latest seq, or nothing when it does not exist.
create function chat_room_open(p_room text, p_autocreate boolean)
returns bigint
language plpgsql as $$
declare
    v_seq  bigint;
begin
    select last_seq into v_seq from rooms where id = p_room;
    if found then
        return v_seq;
    end if;
    if not p_autocreate then
        return null;
    end if;
    insert into rooms (id, kind)
        values (p_room, case when p_room like 'dm:%' then 'dm'
                             else 'channel' end)
        on conflict (id) do nothing;
    select last_seq into v_seq from rooms where id = p_room;
    return v_seq;
end $$;

-- Commits a batch of sends in one statement.  p_batch is a JSON array of
-- {"room","from","name","body","cid","reply_to","meta"}; the result has one
-- row per element: i (0-based index), status ('ok', 'dup', 'not_found'),
-- seq, msg_id, ts.  Idempotency: an existing (room, from, cid) or an earlier
-- element of the same batch with the same key answers 'dup' with its seq.
create function chat_send_batch(p_batch jsonb, p_autocreate boolean)
returns table (i integer, status text, seq bigint, msg_id bigint, ts bigint)
language plpgsql as $$
declare
    v_now  bigint := (extract(epoch from clock_timestamp()) * 1000)::bigint;
begin
    if p_autocreate then
        insert into rooms (id, kind)
            select distinct e->>'room',
                   case when e->>'room' like 'dm:%' then 'dm'
                        else 'channel' end
              from jsonb_array_elements(p_batch) e
             order by 1
            on conflict (id) do nothing;
    end if;

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
    stored as (
        select b.i, m.seq, m.msg_id, m.ts
          from b join messages m
            on m.room_id = b.room and m.sender = b.sender
           and m.client_msg_id = b.cid
    ),
    fresh as (
        select b.* from b
         where not exists (select 1 from stored s where s.i = b.i)
           and (b.cid is null
                or b.i = (select min(b2.i) from b b2
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
    )
    select b.i,
           case when s.i is not null then 'dup'
                when n.i is not null then 'ok'
                when d.seq is not null then 'dup'
                else 'not_found' end,
           coalesce(s.seq, n.seq, d.seq),
           coalesce(s.msg_id, ni.msg_id, d.msg_id),
           coalesce(s.ts, case when n.i is not null or d.seq is not null
                               then v_now end)
      from b
      left join stored s on s.i = b.i
      left join numbered n on n.i = b.i
      left join ins ni on ni.room_id = n.room and ni.seq = n.seq
      left join ins d on s.i is null and n.i is null
                     and d.room_id = b.room and d.sender = b.sender
                     and d.client_msg_id = b.cid
     order by b.i;
end $$;

insert into chat_schema_version (version) values (1);
