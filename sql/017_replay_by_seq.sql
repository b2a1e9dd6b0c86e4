-- ngx_chat schema, version 17: messages keep one b-tree per partition for
-- a room's order, (room_id, seq); the (room_id, rev) index goes.
--
-- The only reader of messages by rev is the replay of a room's log
-- (NGX_CHAT_SQL_LOG in src/ngx_chat_sql.h: a join with since_rev, a
-- catch-up, a resync).  It now walks the seq index over a range that the
-- room's row bounds, read in the same statement (one snapshot):
--
-- - every commit of a room moves its last_seq and last_rev on together,
--   under the room row lock: a message adds one to both, any other
--   durable event (member, edit, delete, room change; chat_room_events)
--   one to last_rev only.  So D = last_rev - last_seq never decreases
--   (version 6 started every room at D = 0: rev = seq);
-- - a message is stored with rev - seq = D at its commit (the k-th send
--   of a batch takes last_seq + k and last_rev + k + the joins of the
--   batch up to it, at most the batch's joins), and its rev and seq never
--   change (an edit or a delete takes a new rev in chat_room_events and
--   records it in changed_rev, version 9);
-- - so with the room's current (last_seq S, last_rev R), a message with
--   rev > r has seq = rev - D_then >= rev - (R - S) > S - (R - r).
--
-- Nothing here needs seq to be gapless: retention, which deletes the
-- oldest months, only removes rows, and a room's rows are scanned in seq
-- order, which is their rev order.  The scan reads at most R - r index
-- entries of the room, fewer than the revs the replay covers.  Inserting
-- a message now updates one b-tree of the room's order instead of two.

-- on the partitioned table: each partition's index goes with it, and
-- chat_month_partition (which attaches a partition made "like messages")
-- no longer creates one
drop index messages_room_rev;

insert into chat_schema_version (version) values (17);
