# Schema 19 (sql/019_search_index_steady.sql): the search indexes of
# messages keep no pending list, so no group commit of sends merges one
# into the index while it holds its rooms.  The migration sets every
# partition's index and merges what version 18 left pending (searches
# still find those messages); a month partition made afterwards, and the
# index of another language, come without a pending list too.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;
use ChatTest::Backends qw(scratch_db migrate psql);

my $db = scratch_db('chat_steady');
(my $admin = $db) =~ s/user=chat/user=postgres/;
migrate($db, 1, 18);
psql($admin, 'create extension if not exists pgstattuple');

my $t = "st$$";
my $room = "$t-room";

sub send_body {
    my ($user, $body) = @_;
    return psql($db, "select status from chat_send_batch_quota("
                     . "'[{\"room\":\"$room\",\"from\":\"$user\","
                     . "\"body\":\"$body\"}]'::jsonb, true, 0, 0)");
}

# the GIN indexes (c) of messages' partitions
my $partition_gin = " from pg_inherits h"
    . " join pg_index i on i.indrelid = h.inhrelid"
    . " join pg_class c on c.oid = i.indexrelid"
    . " join pg_am a on a.oid = c.relam and a.amname = 'gin'";

# the entries waiting in the pending lists of messages' search indexes
sub pending {
    return psql($admin, "select coalesce(sum(s.pending_tuples), 0)"
        . "$partition_gin, pgstatginindex(c.oid) s"
        . " where h.inhparent = 'messages'::regclass");
}

# partition indexes of messages that are GIN: all, and those that still
# keep a pending list
sub gin_indexes {
    my $rows = psql($db, "select count(*), count(*) filter (where not"
        . " coalesce('fastupdate=off' = any (c.reloptions), false))"
        . "$partition_gin where h.inhparent = 'messages'::regclass");
    return split /\|/, $rows;
}

sub found {
    my ($word) = @_;
    return psql($db, "select count(*) from chat_search('${t}u1', '$word',"
                     . " '$room', null, 10, 'simple')");
}

psql($db, "select count(*) from chat_room_open_batch("
          . "'[{\"room\":\"$room\",\"user\":\"${t}u1\"}]'::jsonb,"
          . " true, 0, 0)");
is send_body("${t}u1", "needle$_ common words"), 'ok', "send $_ stored"
    for 1 .. 20;

my ($all, $keeping) = gin_indexes();
cmp_ok $all, '>', 0, 'version 18: messages has GIN partition indexes';
is $keeping, $all, 'version 18: every one keeps a pending list';
cmp_ok pending(), '>', 0, 'version 18: the sends wait in a pending list';

migrate($db, 19, 19);
is psql($db, 'select max(version) from chat_schema_version'), 19,
    'migrated to version 19';
($all, $keeping) = gin_indexes();
cmp_ok $all, '>', 0, 'the GIN partition indexes are still there';
is $keeping, 0, 'none keeps a pending list';
is pending(), 0, 'what was pending is in the index';
is found('needle7'), 1, 'a message sent before the migration is found';
is found('common'), 10, 'the words all sends share find the newest ten';

is send_body("${t}u1", "haystack after"), 'ok', 'a send after it';
is pending(), 0, 'its entries went straight into the index';
is found('haystack'), 1, 'and it is found at once';

# a month partition made now: 2100-01, far from any bench or test row
my $part = psql($db, 'select chat_month_partition(4102444800000)');
is $part, 'messages_210001', 'a new month partition';
is psql($db, "select count(*) from pg_index i join pg_class c"
             . " on c.oid = i.indexrelid join pg_am a on a.oid = c.relam"
             . " where i.indrelid = '$part'::regclass and a.amname = 'gin'"
             . " and 'fastupdate=off' = any (c.reloptions)"), 1,
    'its search index keeps no pending list';

# another language's index: the partitioned index and its partitions
is psql($db, "select chat_search_index('english')"), 'messages_search_english',
    'an index for english';
my $before = $all;
($all, $keeping) = gin_indexes();
is $all, 2 * $before + 2, 'it has an index in every partition';
is $keeping, 0, 'none of them keeps a pending list';
is psql($db, "select count(*) from chat_search('${t}u1', 'word',"
             . " '$room', null, 10, 'english')"), 10,
    'english search finds "words" by its stem through it';

done_testing;
