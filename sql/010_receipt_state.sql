-- ngx_chat schema, version 10: receipts with a state (protocol.md section
-- 4).  A read moves the read cursor and the delivered cursor to at least
-- the same seq; "delivered" moves the delivered cursor alone.  Cursors
-- never move back.

-- Moves p_user's cursor of p_state ('read' or 'delivered') forward to
-- p_seq (at most the room's latest seq).  Returns the cursor of p_state
-- when it moved, else null.
create function chat_read(p_room text, p_user text, p_seq bigint,
    p_state text)
returns bigint
language plpgsql as $$
declare
    v_room  rooms;
    v_seq   bigint;
    v_moved bigint;
begin
    v_room := chat_room_check(p_room, p_user);
    v_seq := least(p_seq, v_room.last_seq);

    -- an empty room has nothing to read: no cursor moves
    if v_seq <= 0 then
        return null;
    end if;

    if p_state = 'delivered' then
        insert into members as mb (room_id, user_id, delivered_seq)
            values (p_room, p_user, v_seq)
            on conflict (room_id, user_id) do update
                set delivered_seq = excluded.delivered_seq
                where mb.delivered_seq < excluded.delivered_seq
            returning delivered_seq into v_moved;
    else
        insert into members as mb (room_id, user_id, read_seq,
                                   delivered_seq)
            values (p_room, p_user, v_seq, v_seq)
            on conflict (room_id, user_id) do update
                set read_seq = excluded.read_seq,
                    delivered_seq = greatest(mb.delivered_seq,
                                             excluded.read_seq)
                where mb.read_seq < excluded.read_seq
            returning read_seq into v_moved;
    end if;

    return v_moved;
end $$;

-- the three-argument form is a read
create or replace function chat_read(p_room text, p_user text, p_seq bigint)
returns bigint
language sql as $$
    select chat_read(p_room, p_user, p_seq, 'read')
$$;

insert into chat_schema_version (version) values (10);
