# Migration 004 and the meta of messages stored before it (issue 8, point
# 4): version 3 sent meta through jsonb, which wrote numbers out in full.
# Rows whose text grew past the 4096 bytes a client may send are written
# again compactly, every number with its value; the others keep the text
# they were served with; new sends store the client's text.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Mojo::JSON qw(decode_json);
use ChatTest;

my $old = ChatTest::Backends::scratch_db('chat_mig');

ChatTest::Backends::migrate($old, 1, 3);
is psql($old, 'select max(version) from chat_schema_version'), 3,
    'a database of version 3';

# stored by version 3's chat_send_batch: meta through jsonb
my $big = '{' . join(',', map { qq("k$_":1e308) } 1 .. 20)
        . ',"i":1234567890123456789,"f":0.10000000000000001,'
        . '"t":-1.5e-300,"s":"a \" : , b","n":[true,null,{}]}';
my $small = '{"b":1e3,"a":[1,2]}';
(my $batch = qq([{"room":"r1","from":"a","body":"big","meta":$big},)
           . qq({"room":"r1","from":"a","body":"small","meta":$small}]))
    =~ s/'/''/g;
psql($old, "select count(*) from chat_send_batch('$batch'::jsonb, true)");
my $before = psql($old, 'select octet_length(meta::text) from messages '
                        . 'where seq = 1');
cmp_ok $before, '>', 4096, "version 3 stored the big meta in $before bytes";
my $small_before = psql($old, 'select meta::text from messages where seq = 2');

ChatTest::Backends::migrate($old, 4, 4);
is psql($old, 'select max(version) from chat_schema_version'), 4,
    'migrated to version 4';

my $after = psql($old, 'select meta::text from messages where seq = 1');
cmp_ok length($after), '<=', 4096,
    'the big meta is within the cap again (' . length($after) . ')';
is_deeply decode_json($after), decode_json($big),
    'and holds the same values';
like $after, qr/"k1":1e\+308,/, 'numbers in their shortest form';
like $after, qr/"i":1234567890123456789,/, 'integers keep their digits';
like $after, qr/"s":"a \\" : , b"/, 'strings are untouched';
is psql($old, 'select meta::text from messages where seq = 2'), $small_before,
    'a meta within the cap keeps its text';

# version 4's chat_send_batch stores meta as given, as a string
my $text = '{ "n" : 1e308 , "u":"\u00e9" }';
(my $new = qq([{"room":"r1","from":"a","body":"new","meta":)
         . Mojo::JSON::encode_json($text) . '}]') =~ s/'/''/g;
psql($old, "select count(*) from chat_send_batch('$new'::jsonb, true)");
is psql($old, 'select meta::text from messages where seq = 3'), $text,
    'a new meta is stored as the client wrote it';

done_testing;
