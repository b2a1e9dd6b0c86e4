-- ngx_chat schema, version 16: a batch of one send commits with a few
-- simple statements.
--
-- At light load every send commits alone (a batch of one), and what
-- PostgreSQL spends on it is mostly not the row: a perf profile of
-- version 15 at a batch of one has the executor start of the one big
-- statement (windows, sorts, the writing CTEs) at 27 % of the backend's
-- CPU, plus the function's entry with five SET clauses and the first
-- statement over the JSON.  A single send needs none of it: its room's
-- row (locked), one look at membership, ban and mute, and plain writes.
--
-- chat_send_batch_quota keeps its signature and its answers (t/170
-- compares versions 12, 14, 15 and 16, batches of one of every kind
-- included).  It has no SET clauses now: a batch of one is done here by
-- simple statements that find their rows by key under any plan setting;
-- a batch of two or more goes to chat_send_batch_many, version 15's
-- function unchanged (with its SET clauses, which matter for its plan).
--
-- A backend that runs nothing but these small statements made glibc's
-- malloc grow and shrink its heap about three times a commit: a b-tree
-- scan allocates 27 kB on its own (outside the memory contexts' blocks),
-- and free() gives the top of the heap back to the kernel when more than
-- 128 kB is free there.  glibc raises that threshold for good once a
-- chunk larger than 128 kB is freed, which the batch statement's larger
-- allocations do sooner or later, the simple ones never.  Measured on a
-- test cluster: 6 brk calls a commit, and the page faults after them,
-- 130-170 us of the backend's system CPU a commit.  So the first batch of
-- one in a session allocates and frees 256 kB once.

alter function chat_send_batch_quota(jsonb, boolean, bigint, bigint)
    rename to chat_send_batch_many;

create function chat_send_batch_quota(p_batch jsonb, p_autocreate boolean,
    p_interval bigint, p_burst bigint)
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
        insert into chat_room_events (room_id, rev, kind, event, ts)
        values (v_room, v_rev - 1, 'member',
                json_strip_nulls(json_build_object(
                    'type', 'member', 'room', v_room, 'user', v_from,
                    'rev', v_rev - 1, 'action', 'joined')),
                v_now);
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

insert into chat_schema_version (version) values (16);
