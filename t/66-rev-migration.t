# Migration 006 (room revisions) on a database of version 5 that holds
# messages: every message gets rev = seq, every room last_rev = last_seq,
# and the batch send goes on numbering both from there, in one statement.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my $old = ChatTest::Backends::scratch_db('chat_revmig');

sub send_batch {
    my ($json) = @_;
    (my $q = $json) =~ s/'/''/g;
    return psql($old, "select string_agg(concat_ws(',', status, seq, rev),"
                      . " ' ' order by i) from chat_send_batch_quota("
                      . "'$q'::jsonb, true, 0, 0)");
}

ChatTest::Backends::migrate($old, 1, 5);
is psql($old, 'select max(version) from chat_schema_version'), 5,
    'a database of version 5';

# version 5's batch send: rooms r1 (3 messages) and r2 (2); r3 empty
psql($old, "select count(*) from chat_send_batch_quota('["
           . join(',', map { qq({"room":"$_->[0]","from":"a",)
                             . qq("body":"$_->[1]"}) }
                  [r1 => 'x'], [r2 => 'y'], [r1 => 'z'], [r1 => 'w'],
                  [r2 => 'v'])
           . "]'::jsonb, true, 0, 0)");
psql($old, "insert into rooms (id) values ('r3')");
is psql($old, "select string_agg(room_id || ':' || seq, ' '"
              . " order by room_id, seq) from messages"),
    'r1:1 r1:2 r1:3 r2:1 r2:2', 'messages stored by version 5';

ChatTest::Backends::migrate($old, 6, 6);
is psql($old, 'select max(version) from chat_schema_version'), 6,
    'migrated to version 6';
is psql($old, "select count(*) from messages where rev is distinct from seq"),
    0, 'every message has rev = seq';
is psql($old, "select string_agg(id || ':' || last_seq || ':' || last_rev,"
              . " ' ' order by id) from rooms"),
    'r1:3:3 r2:2:2 r3:0:0', 'every room has last_rev = last_seq';
is psql($old, "select count(*) from pg_indexes where tablename = 'messages'"
              . " and indexdef like '%(room_id, rev)%'"), 1,
    'messages are indexed by (room_id, rev)';
is psql($old, "select count(*) from chat_room_events"), 0,
    'the table of the other durable events is there, empty';

# the batch send of version 6: rev goes on from last_rev, per room, in
# batch order; a retry answers the rev it had
is send_batch('[{"room":"r1","from":"a","body":"n1"},'
              . '{"room":"r3","from":"a","body":"n2"},'
              . '{"room":"r1","from":"b","body":"n3","cid":"c1"},'
              . '{"room":"r1","from":"b","body":"n3","cid":"c1"}]'),
    'ok,4,4 ok,1,1 ok,5,5 dup,5,5', 'new sends take the next revs';
is send_batch('[{"room":"r1","from":"b","body":"n3","cid":"c1"}]'),
    'dup,5,5', 'a retry later answers its rev';
is psql($old, "select last_rev from rooms where id = 'r1'"), 5,
    'the room counts its revs';

# a join's check answers the room's rev with its seq
is psql($old, "select seq || ',' || rev from chat_room_open_batch("
              . "'[{\"room\":\"r1\",\"user\":\"a\"}]'::jsonb, true, 0, 0)"),
    '5,5', 'a join reads the latest seq and rev';

# history entries have their rev
is psql($old, "select string_agg(seq || ':' || rev, ' ' order by seq)"
              . " from chat_history('r1', 'a', null, null, 10)"),
    '1:1 2:2 3:3 4:4 5:5', 'history has the rev of each message';

done_testing;
