-- ngx_chat schema, version 19: the search index costs every send the same.
--
-- A GIN index with fastupdate (PostgreSQL's default) collects new entries
-- in a pending list and merges them into the index when the list passes
-- gin_pending_list_limit (4 MB): the insert that passes it does the merge
-- itself, inside its transaction.  For messages that insert is a group
-- commit of sends: it held its rooms' rows for the 100-200 ms the merge
-- took (with the bench's bodies, every 13 000 messages or so), and the
-- other workers' commits to the same rooms waited behind it.  Without the
-- pending list each message's entries go into the index as it is stored:
-- no commit waits for the others' entries (PostgreSQL's documentation on
-- GIN: "if consistent response time is more important than update speed,
-- use of pending entries can be disabled").
--
-- A partitioned index takes no storage parameters after it is made, and
-- building it again would lock messages while it reads them all, so the
-- partitions' indexes are set one by one: those there now here, those of
-- months to come in chat_month_partition once attached, and those of
-- another language's index in chat_search_index once made.
--
-- Setting an index locks it until the migration commits, and merging a
-- full list takes 100-200 ms: sends wait about that long per partition
-- whose list is not empty, well within chat_postgres_timeout (10 s).

-- Every GIN index of one table without a pending list, the entries
-- pending so far merged now.  Returns how many indexes it set.
create function chat_search_steady(p_table regclass)
returns integer
language plpgsql as $$
declare
    v_index  regclass;
    v_count  integer := 0;
begin
    for v_index in
        select i.indexrelid::regclass
          from pg_index i
          join pg_class c on c.oid = i.indexrelid
          join pg_am a on a.oid = c.relam
         where i.indrelid = p_table and a.amname = 'gin'
           and c.relkind = 'i'
           and not coalesce('fastupdate=off' = any (c.reloptions), false)
    loop
        execute format('alter index %s set (fastupdate = off)', v_index);
        perform gin_clean_pending_list(v_index);
        v_count := v_count + 1;
    end loop;
    return v_count;
end $$;

-- The functions that make search indexes keep their work and are
-- followed by the setting: chat_search_index's partitioned index keeps
-- PostgreSQL's default, which a month partition made later takes from
-- it, and chat_month_partition sets that partition's index in turn.
alter function chat_search_index(regconfig) rename to chat_search_index_build;

create function chat_search_index(p_lang regconfig)
returns text
language plpgsql as $$
declare
    v_name  text := chat_search_index_build(p_lang);
begin
    perform chat_search_steady(inhrelid::regclass)
       from pg_inherits where inhparent = 'messages'::regclass;
    return v_name;
end $$;

alter function chat_month_partition(bigint) rename to chat_month_partition_attach;

create function chat_month_partition(p_ts bigint)
returns text
language plpgsql as $$
declare
    v_name  text := chat_month_partition_attach(p_ts);
begin
    perform chat_search_steady(v_name::regclass);
    return v_name;
end $$;

select chat_search_steady(inhrelid::regclass)
  from pg_inherits where inhparent = 'messages'::regclass;

insert into chat_schema_version (version) values (19);
