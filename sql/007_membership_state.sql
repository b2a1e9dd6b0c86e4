-- ngx_chat schema, version 7: the state that membership, moderation,
-- receipts and presence share.
--
-- Times are milliseconds since the epoch, as on the wire; an "until" that
-- is null lasts until lifted.  Who acted is kept with every ban and mute:
-- moderation is accountable.

-- The delivered cursor beside the read cursor (protocol.md section 4:
-- a read cursor moved moves the delivered cursor to at least the same seq).
alter table members add column delivered_seq bigint not null default 0;
update members set delivered_seq = read_seq where read_seq <> 0;

-- Bans of a user from one room.
create table chat_room_bans (
    room_id  text not null references rooms (id) on delete cascade,
    user_id  text not null,
    until    bigint,
    reason   text,
    by_user  text not null,
    at       bigint not null,
    primary key (room_id, user_id)
);

-- Mutes of a user in one room: they read, but may not post.
create table chat_room_mutes (
    room_id  text not null references rooms (id) on delete cascade,
    user_id  text not null,
    until    bigint,
    by_user  text not null,
    at       bigint not null,
    primary key (room_id, user_id)
);

-- Global bans (POST /users/{user}/ban).
create table chat_user_bans (
    user_id  text primary key,
    until    bigint,
    reason   text,
    by_user  text not null,
    at       bigint not null
);

-- The users the gateway knows of: who has connected (or, with accounts,
-- registered).  A direct-message room needs its other user to be known.
create table chat_users (
    user_id     text primary key,
    name        text,
    first_seen  bigint not null,
    last_seen   bigint not null
);

-- whoever was a member or wrote before this version is known
insert into chat_users (user_id, first_seen, last_seen)
    select u.user_id, 0, 0
      from (select user_id from members
            union select sender from messages) u
    on conflict (user_id) do nothing;

insert into chat_schema_version (version) values (7);
