-- Accounts (protocol.md section 10, "chat_accounts on"): users who
-- register with a password, their sessions and refresh tokens, and the
-- login rates, all decided here so that every host agrees.
--
-- Passwords are hashed here, never in an nginx worker: bcrypt (pgcrypto's
-- crypt() with gen_salt('bf', cost)) of the base64 of the password's
-- SHA-256, so that every byte of a long password counts (bcrypt reads 72).
-- Refresh tokens are random, made here, and kept only as their SHA-256.
-- pgcrypto is a trusted extension: the database's owner may create it.

create extension if not exists pgcrypto;

create table chat_accounts (
    user_id     text primary key,
    pass_hash   text not null,
    name        text,
    -- the token's "roles" claim ('{admin}', '{moderator}'), set by an
    -- operator: registration gives none
    roles       text[] not null default '{}',
    created_at  bigint not null
);

-- "Alice" cannot register beside "alice"
create unique index chat_accounts_user_lower on chat_accounts (lower(user_id));

-- a login, renewed by each refresh; revoked by logout or by a refresh
-- token presented twice
create table chat_account_sessions (
    id            text primary key,
    user_id       text not null
                  references chat_accounts on delete cascade,
    generation    integer not null,
    refresh_hash  bytea not null unique,
    created_at    bigint not null,
    expires_at    bigint not null,
    revoked_at    bigint
);

create index chat_account_sessions_user on chat_account_sessions (user_id);

-- refresh tokens already used, until their session goes
create table chat_account_spent (
    hash        bytea primary key,
    session_id  text not null
                references chat_account_sessions on delete cascade
);

create index chat_account_spent_session on chat_account_spent (session_id);

-- GCRA states of the login rates ("user:<id>", "addr:<address>"), in
-- microseconds of this server's clock; a state in the past is a fresh one
create table chat_account_attempts (
    key   text primary key,
    tat   bigint not null
);

create index chat_account_attempts_tat on chat_account_attempts (tat);


create function chat_account_now() returns bigint
language sql volatile as $$
    select (extract(epoch from clock_timestamp()) * 1000)::bigint
$$;


create function chat_account_hash_input(p_password text) returns text
language sql immutable strict as $$
    select encode(digest(p_password, 'sha256'), 'base64')
$$;


-- 32 random bytes, base64url without padding
create function chat_account_token() returns text
language sql volatile as $$
    select rtrim(translate(encode(gen_random_bytes(32), 'base64'),
                           '+/', '-_'), '=')
$$;


-- One attempt against each key, with its interval (us, 0: no limit) and
-- burst: all are charged, or none when one is over its limit.  Returns
-- the wait in seconds (at least 1), or 0.
create function chat_account_take(p_keys text[], p_interval bigint[],
                                  p_burst bigint[])
returns bigint language plpgsql as $$
declare
    v_now   bigint := (extract(epoch from clock_timestamp()) * 1000000)::bigint;
    v_wait  bigint := 0;
    v_tat   bigint;
    i       integer;
begin
    -- a few states that ran out go; a locked one is another login's
    delete from chat_account_attempts
     where key in (select a.key from chat_account_attempts a
                    where a.tat < v_now - 60000000
                    limit 16 for update skip locked);

    for i in 1 .. coalesce(array_length(p_keys, 1), 0) loop
        continue when p_interval[i] <= 0;

        insert into chat_account_attempts as a (key, tat)
             values (p_keys[i], 0)
        on conflict (key) do update set tat = a.tat
        returning a.tat into v_tat;

        v_tat := greatest(v_tat, v_now);
        v_wait := greatest(v_wait,
                           v_tat - v_now - p_interval[i] * p_burst[i]);
    end loop;

    if v_wait > 0 then
        return greatest((v_wait + 999999) / 1000000, 1);
    end if;

    for i in 1 .. coalesce(array_length(p_keys, 1), 0) loop
        continue when p_interval[i] <= 0;

        update chat_account_attempts
           set tat = greatest(tat, v_now) + p_interval[i]
         where key = p_keys[i];
    end loop;

    return 0;
end $$;


-- status: ok, conflict (the id is taken, also by a user known from
-- tokens of another issuer), rate_limited (retry_after in s)
create function chat_account_register(p_user text, p_password text,
    p_name text, p_cost integer, p_addr text, p_interval bigint,
    p_burst bigint)
returns table (status text, retry_after bigint)
language plpgsql as $$
declare
    v_wait  bigint;
    v_now   bigint := chat_account_now();
begin
    v_wait := chat_account_take(array['addr:' || p_addr],
                                array[p_interval], array[p_burst]);

    if v_wait > 0 then
        return query select 'rate_limited'::text, v_wait;
        return;
    end if;

    if exists (select 1 from chat_accounts a
                where lower(a.user_id) = lower(p_user))
       or exists (select 1 from chat_users u where u.user_id = p_user)
    then
        return query select 'conflict'::text, 0::bigint;
        return;
    end if;

    insert into chat_accounts (user_id, pass_hash, name, created_at)
         values (p_user,
                 crypt(chat_account_hash_input(p_password),
                       gen_salt('bf', p_cost)),
                 p_name, v_now)
    on conflict do nothing;

    if not found then
        return query select 'conflict'::text, 0::bigint;
        return;
    end if;

    -- known from now on: a DM may be opened with them
    insert into chat_users (user_id, name, first_seen, last_seen)
         values (p_user, p_name, v_now, v_now)
    on conflict (user_id) do nothing;

    return query select 'ok'::text, 0::bigint;
end $$;


-- status: ok (a new session), unauthenticated, rate_limited; an unknown
-- user costs one bcrypt as a wrong password does
create function chat_account_login(p_user text, p_password text,
    p_cost integer, p_addr text, p_user_interval bigint,
    p_user_burst bigint, p_addr_interval bigint, p_addr_burst bigint,
    p_ttl bigint)
returns table (status text, retry_after bigint, session_id text,
               generation integer, refresh_token text, name text,
               roles text)
language plpgsql as $$
declare
    v_wait   bigint;
    v_now    bigint;
    v_hash   text;
    v_name   text;
    v_roles  text;
    v_input  text := chat_account_hash_input(p_password);
    v_sid    text;
    v_token  text;
begin
    v_wait := chat_account_take(
                  array['user:' || lower(p_user), 'addr:' || p_addr],
                  array[p_user_interval, p_addr_interval],
                  array[p_user_burst, p_addr_burst]);

    if v_wait > 0 then
        return query select 'rate_limited'::text, v_wait, null::text,
                            null::integer, null::text, null::text,
                            null::text;
        return;
    end if;

    select a.pass_hash, a.name, array_to_string(a.roles, ',')
      into v_hash, v_name, v_roles
      from chat_accounts a where a.user_id = p_user;

    if v_hash is null then
        perform crypt(v_input, gen_salt('bf', p_cost));
    end if;

    if v_hash is null or crypt(v_input, v_hash) <> v_hash then
        return query select 'unauthenticated'::text, 0::bigint, null::text,
                            null::integer, null::text, null::text,
                            null::text;
        return;
    end if;

    v_now := chat_account_now();
    v_sid := encode(gen_random_bytes(16), 'hex');
    v_token := chat_account_token();

    -- the user's sessions that ended go with their spent tokens
    delete from chat_account_sessions s
     where s.user_id = p_user
       and (s.expires_at <= v_now or s.revoked_at <= v_now - 86400000);

    insert into chat_account_sessions (id, user_id, generation,
                                       refresh_hash, created_at, expires_at)
         values (v_sid, p_user, 1, digest(v_token, 'sha256'), v_now,
                 v_now + p_ttl * 1000);

    return query select 'ok'::text, 0::bigint, v_sid, 1, v_token, v_name,
                        v_roles;
end $$;


-- status: ok (the session's next token: the presented one is spent),
-- unauthenticated (unknown, expired, revoked), reused (a spent token:
-- its session is revoked now; user_id and session_id say which)
create function chat_account_refresh(p_token text, p_ttl bigint)
returns table (status text, user_id text, session_id text,
               generation integer, refresh_token text, name text,
               roles text)
language plpgsql as $$
declare
    v_hash   bytea := digest(p_token, 'sha256');
    v_now    bigint := chat_account_now();
    v_sid    text;
    v_user   text;
    v_gen    integer;
    v_token  text;
    v_end    bigint;
    v_gone   bigint;
begin
    select s.id, s.user_id, s.generation, s.expires_at, s.revoked_at
      into v_sid, v_user, v_gen, v_end, v_gone
      from chat_account_sessions s
     where s.refresh_hash = v_hash
       for update;

    if found then
        if v_gone is not null or v_end <= v_now then
            return query select 'unauthenticated'::text, null::text,
                                null::text, null::integer, null::text,
                                null::text, null::text;
            return;
        end if;

        v_token := chat_account_token();

        insert into chat_account_spent (hash, session_id)
             values (v_hash, v_sid);

        update chat_account_sessions s
           set refresh_hash = digest(v_token, 'sha256'),
               generation = s.generation + 1,
               expires_at = v_now + p_ttl * 1000
         where s.id = v_sid;

        return query select 'ok'::text, v_user, v_sid, v_gen + 1, v_token,
                            a.name, array_to_string(a.roles, ',')
                       from chat_accounts a where a.user_id = v_user;
        return;
    end if;

    select s.id, s.user_id into v_sid, v_user
      from chat_account_spent p
      join chat_account_sessions s on s.id = p.session_id
     where p.hash = v_hash;

    if found then
        update chat_account_sessions s
           set revoked_at = coalesce(s.revoked_at, v_now)
         where s.id = v_sid;

        return query select 'reused'::text, v_user, v_sid, null::integer,
                            null::text, null::text, null::text;
        return;
    end if;

    return query select 'unauthenticated'::text, null::text, null::text,
                        null::integer, null::text, null::text, null::text;
end $$;


-- logout: the session ends (its refresh token is refused from now on)
create function chat_account_logout(p_user text, p_session text)
returns boolean language plpgsql as $$
begin
    update chat_account_sessions s
       set revoked_at = coalesce(s.revoked_at, chat_account_now())
     where s.id = p_session and s.user_id = p_user;

    return found;
end $$;


insert into chat_schema_version (version) values (12);
