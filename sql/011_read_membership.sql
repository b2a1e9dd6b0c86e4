-- ngx_chat schema, version 11: a first read of a public channel is a
-- membership like a first join or send (protocol.md section 5: a
-- "joined" event with its rev), and the room list's last message carries
-- the rev of its latest change (section 5: an entry's rev).

-- Moves p_user's cursor of p_state as chat_read does; a user who becomes
-- a member of a public channel by this read gets their "joined" event,
-- answered with its rev and text.
create function chat_read_enter(p_room text, p_user text, p_seq bigint,
    p_state text, out o_cursor bigint, out o_rev bigint, out o_event text)
language plpgsql as $$
declare
    v_room  rooms;
begin
    v_room := chat_room_check(p_room, p_user);

    if v_room.kind = 'channel'
       and not exists (select 1 from members mb
                        where mb.room_id = p_room and mb.user_id = p_user)
    then
        -- the room's rev is taken under its row lock
        perform 1 from rooms where id = p_room for update;

        insert into members (room_id, user_id) values (p_room, p_user)
            on conflict do nothing;

        if found then
            select e.o_rev, e.o_event into o_rev, o_event
              from chat_room_event_add(p_room, p_user, 'joined', null, null,
                                       null, null) e;
        end if;
    end if;

    o_cursor := chat_read(p_room, p_user, p_seq, p_state);
end $$;


-- Version 6's room list, the last message with the rev of its latest
-- change.
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
               lm.edited_at, coalesce(lm.changed_rev, lm.rev)
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

insert into chat_schema_version (version) values (11);
