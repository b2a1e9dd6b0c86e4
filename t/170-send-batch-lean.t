# The group commit of sends of schema versions 13 (sql/013) and 15
# (sql/015, a batch without client_msg_id takes a statement of its own)
# and 16 (sql/016, a batch of one send takes simple statements): the same
# answers and the same rows as version 12's and 14's (and batches of one
# of every kind as version 15's), batch for batch, and a commit that reaches rooms and memberships by key, whatever
# their number, with the room's update kept on its page (HOT).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my ($latest) = sort { $b <=> $a }
               map { m{/0*(\d+)_[^/]*\.sql$} ? $1 : () }
               glob(ChatTest::repo_root() . '/sql/*.sql');
cmp_ok $latest, '>=', 15, "the newest schema is version 15 or later";

my $old = ChatTest::Backends::scratch_db('chat_lean12');
my $mid = ChatTest::Backends::scratch_db('chat_lean14');
my $new = ChatTest::Backends::scratch_db('chat_lean15');
ChatTest::Backends::migrate($old, 1, 12);
ChatTest::Backends::migrate($mid, 1, 14);
ChatTest::Backends::migrate($new, 1, $latest);

# the same rooms, memberships, bans and mutes in both
my $setup = <<'SQL';
insert into rooms (id, kind, private, created_by) values
    ('pub', 'channel', false, 'a'), ('priv', 'channel', true, 'a');
insert into members (room_id, user_id, role) values
    ('pub', 'a', 'owner'), ('priv', 'a', 'owner'), ('pub', 'banned', 'member'),
    ('pub', 'muted', 'member');
insert into chat_room_bans (room_id, user_id, until, by_user, at) values
    ('pub', 'banned', null, 'a', 0), ('pub', 'exban', 1, 'a', 0);
insert into chat_room_mutes (room_id, user_id, until, by_user, at) values
    ('pub', 'muted', null, 'a', 0), ('pub', 'past', 1, 'a', 0);
SQL
ChatTest::psql($_, $setup) for $old, $mid, $new;

sub elem {
    my ($room, $from, %o) = @_;
    my $e = qq({"room":"$room","from":"$from","body":"b-$from");
    for my $k (sort keys %o) {
        $e .= $k eq 'reply_to' ? qq(,"$k":$o{$k}) : qq(,"$k":"$o{$k}");
    }
    return "$e}";
}

# the batch's JSON array as an SQL literal
sub literal {
    (my $json = '[' . join(',', @_) . ']') =~ s/'/''/g;
    return "'$json'::jsonb";
}

# one batch: each answer as "status,seq,rev,waits,joined" (a refusal's
# wait in ms depends on the clock: only whether there is one)
sub batch {
    my ($db, $params, @elems) = @_;
    return ChatTest::psql($db, "select string_agg(concat_ws(',', status,"
        . " coalesce(seq::text, '-'), coalesce(rev::text, '-'),"
        . " case when retry_after > 0 then 'wait' else '-' end, joined),"
        . " ' ' order by i) from chat_send_batch_quota("
        . literal(@elems) . ", $params)");
}

my @batches = (
    [ 'true, 0, 0',
      elem('pub', 'a'), elem('pub', 'b', name => 'Bee'),
      elem('pub', 'a', cid => 'c1'), elem('pub', 'a', cid => 'c1'),
      elem('new1', 'a', meta => '{\"k\": [1, 2]}'),
      elem('priv', 'b'), elem('priv', 'a', reply_to => 1),
      elem('pub', 'banned'), elem('pub', 'muted'), elem('pub', 'past'),
      elem('pub', 'exban'), elem('dm:a:b', 'a'), elem('dm:a:b', 'c'),
      elem('pub', 'b'), elem('new1', 'c') ],
    # no client_msg_id anywhere: every check, newcomers sending twice,
    # rooms interleaved
    [ 'true, 0, 0',
      elem('pub', 'a'), elem('pub', 'n1'), elem('pub', 'n1', name => 'N'),
      elem('new2', 'a', meta => '{\"k\": 1}'), elem('pub', 'n2'),
      elem('priv', 'b'), elem('priv', 'a', reply_to => 2),
      elem('pub', 'banned'), elem('pub', 'muted'), elem('pub', 'past'),
      elem('pub', 'exban'), elem('dm:a:b', 'a'), elem('dm:a:b', 'c'),
      elem('dm:a:b', 'b'), elem('new2', 'c'), elem('pub', 'n1') ],
    [ 'true, 0, 0', elem('pub', 'a', cid => 'c1'), elem('new1', 'a') ],
    [ 'false, 0, 0', elem('nope', 'a'), elem('pub', 'a') ],
    [ 'true, 60000, 0',
      elem('q1', 'u1'), elem('q2', 'u1'), elem('q2', 'u2'), elem('q3', 'u1'),
      elem('pub', 'u1') ],
    [ 'true, 60000, 0', elem('q3', 'u1'), elem('q1', 'u1') ],
);

for my $k (0 .. $#batches) {
    my ($params, @e) = @{ $batches[$k] };
    my $want = batch($old, $params, @e);
    my $got14 = batch($mid, $params, @e);
    my $got = batch($new, $params, @e);
    is $got14, $want, "batch $k: version 14 answered as version 12 answered";
    is $got, $want, "batch $k: version $latest answered as version 12"
        or diag "version 12: $want";
}

# what was sent, spelled out for the first batch's answers
like batch($new, 'true, 0, 0', elem('pub', 'a', cid => 'c1')),
    qr/^dup,3,4,-,f$/, 'a retry answers its first seq and rev';

my %tables = (
    messages => 'room_id, seq, rev, msg_id, sender, sender_name, body,'
              . ' client_msg_id, reply_to, meta::text, deleted',
    rooms => 'id, kind, private, created_by, last_seq, last_rev',
    members => 'room_id, user_id, role, read_seq, delivered_seq',
    chat_room_events => 'room_id, rev, kind, event::text, seq',
);
for my $t (sort keys %tables) {
    my $q = "select string_agg(r, E'\\n' order by r)"
          . " from (select concat_ws('|', $tables{$t}) as r from $t) x";
    my $want = ChatTest::psql($old, $q);
    is ChatTest::psql($mid, $q), $want,
        "$t: version 14's rows as version 12's";
    is ChatTest::psql($new, $q), $want,
        "$t: version ${latest}'s rows as version 12's";
}

# batches of one of every kind, one after another, in version 15 and the
# newest: each answer in full (status, seq, msg_id, rev, whether there is
# a ts, a wait, joined) and then every row
my $v15 = ChatTest::Backends::scratch_db('chat_one15');
my $v16 = ChatTest::Backends::scratch_db('chat_one16');
ChatTest::Backends::migrate($v15, 1, 15);
ChatTest::Backends::migrate($v16, 1, $latest);
ChatTest::psql($_, $setup) for $v15, $v16;

sub one {
    my ($db, $params, $e) = @_;
    return ChatTest::psql($db, "select concat_ws(',', i, status,"
        . " coalesce(seq::text, '-'), coalesce(msg_id::text, '-'),"
        . " coalesce(rev::text, '-'), case when ts > 0 then 'ts' else '-' end,"
        . " case when retry_after > 0 then 'wait' else '-' end, joined)"
        . " from chat_send_batch_quota(" . literal($e) . ", $params)");
}

my @ones = (
    [ ok => 'true, 0, 0', elem('pub', 'a') ],
    [ 'ok with name, reply_to and meta' => 'true, 0, 0',
      elem('pub', 'a', name => 'A', reply_to => 1, meta => '{\"k\": [1]}') ],
    [ 'a newcomer joining a channel' => 'true, 0, 0', elem('pub', 'n1') ],
    [ 'the newcomer again, now a member' => 'true, 0, 0', elem('pub', 'n1') ],
    [ 'an expired ban' => 'true, 0, 0', elem('pub', 'exban') ],
    [ 'an expired mute' => 'true, 0, 0', elem('pub', 'past') ],
    [ 'a stored send with a client_msg_id' => 'true, 0, 0',
      elem('pub', 'a', cid => 'k1') ],
    [ 'its retry' => 'true, 0, 0', elem('pub', 'a', cid => 'k1') ],
    [ 'the same client_msg_id from another sender' => 'true, 0, 0',
      elem('pub', 'b', cid => 'k1') ],
    [ 'a newcomer with a client_msg_id' => 'true, 0, 0',
      elem('pub', 'n2', cid => 'k2') ],
    [ 'autocreate of a missing channel' => 'true, 0, 0', elem('one1', 'c') ],
    [ 'autocreate refused' => 'false, 0, 0', elem('one2', 'c') ],
    [ 'not_found with a client_msg_id' => 'false, 0, 0',
      elem('one2', 'c', cid => 'k3') ],
    [ 'the first room of the quota' => 'true, 60000, 0', elem('q1', 'u1') ],
    [ rate_limited => 'true, 60000, 0', elem('q2', 'u1') ],
    [ 'rate_limited with a client_msg_id' => 'true, 60000, 0',
      elem('q3', 'u1', cid => 'k4') ],
    [ 'an existing room under the quota' => 'true, 60000, 0',
      elem('q1', 'u1') ],
    [ 'a dm created by its user' => 'true, 0, 0', elem('dm:a:b', 'a') ],
    [ 'the dm\'s other user' => 'true, 0, 0', elem('dm:a:b', 'b') ],
    [ 'forbidden: not a user of the dm' => 'true, 0, 0',
      elem('dm:a:b', 'c') ],
    [ 'not_found: a dm of others' => 'true, 0, 0', elem('dm:d:e', 'c') ],
    [ 'forbidden: private' => 'true, 0, 0', elem('priv', 'b') ],
    [ 'a private room\'s member' => 'true, 0, 0', elem('priv', 'a') ],
    [ 'forbidden: banned' => 'true, 0, 0', elem('pub', 'banned') ],
    [ 'forbidden: muted' => 'true, 0, 0', elem('pub', 'muted') ],
    [ 'a send before a ban' => 'true, 0, 0', elem('pub', 'n3', cid => 'k5') ],
    [ 'ban n3', "insert into chat_room_bans (room_id, user_id, until,"
      . " by_user, at) values ('pub', 'n3', null, 'a', 0)" ],
    [ 'forbidden: the retry of a send stored before the ban' => 'true, 0, 0',
      elem('pub', 'n3', cid => 'k5') ],
    [ 'forbidden: a new send after the ban' => 'true, 0, 0',
      elem('pub', 'n3', cid => 'k6') ],
    [ 'mute n2' => "insert into chat_room_mutes (room_id, user_id, until,"
      . " by_user, at) values ('pub', 'n2', null, 'a', 0)" ],
    [ 'forbidden: the retry of a muted user' => 'true, 0, 0',
      elem('pub', 'n2', cid => 'k2') ],
    [ 'a batch of two after the ones' => 'true, 0, 0',
      elem('pub', 'a'), elem('pub', 'n4') ],
    [ 'and one again' => 'true, 0, 0', elem('pub', 'n4') ],
);
for my $c (@ones) {
    my ($name, $params, @e) = @$c;
    if (!@e) {
        ChatTest::psql($_, $params) for $v15, $v16;
        next;
    }
    my $want = @e == 1 ? one($v15, $params, @e)
                       : batch($v15, $params, @e);
    my $got = @e == 1 ? one($v16, $params, @e) : batch($v16, $params, @e);
    isnt $want, '', "$name: version 15 answered ($want)";
    is $got, $want, "$name: version $latest answered as version 15";
}

# what the answers say, spelled out for a few
like one($v16, 'true, 0, 0', elem('pub', 'a', cid => 'k1')),
    qr/^0,dup,\d+,\d+,\d+,ts,-,f$/, 'a retry of a batch of one: dup';
like one($v16, 'true, 0, 0', elem('pub', 'n5')),
    qr/^0,ok,\d+,\d+,\d+,ts,-,t$/, 'a newcomer of a batch of one: joined';
like one($v16, 'true, 0, 0', elem('pub', 'banned')),
    qr/^0,forbidden,-,-,-,-,-,f$/, 'a banned user: forbidden, nothing else';
like one($v16, 'false, 0, 0', elem('one9', 'c')),
    qr/^0,not_found,-,-,-,-,-,f$/, 'a missing room: not_found';
ChatTest::psql($v15, "select * from chat_send_batch_quota("
    . literal($_) . ", true, 0, 0)")
    for elem('pub', 'a', cid => 'k1'), elem('pub', 'n5'), elem('pub', 'banned');
ChatTest::psql($v15, "select * from chat_send_batch_quota("
    . literal(elem('one9', 'c')) . ", false, 0, 0)");

for my $t (sort keys %tables) {
    my $q = "select string_agg(r, E'\\n' order by r)"
          . " from (select concat_ws('|', $tables{$t}) as r from $t) x";
    my $want = ChatTest::psql($v15, $q);
    isnt $want, '', "$t: rows in version 15";
    is ChatTest::psql($v16, $q), $want,
        "$t: version ${latest}'s rows after batches of one as version 15's";
}

# a session's first batch of one frees a 256 kB chunk once (sql/016: the
# heap's top stays with the backend afterwards); a batch of two does not
is ChatTest::psql($v16, "select count(*) from chat_send_batch_quota("
    . literal(elem('pub', 'a'), elem('pub', 'a')) . ", true, 0, 0);"
    . " select coalesce(current_setting('chat.send_one_heap', true), '-')"),
    "2\n-", 'a batch of two leaves the session as it was';
is ChatTest::psql($v16, "select count(*) from chat_send_batch_quota("
    . literal(elem('pub', 'a')) . ", true, 0, 0);"
    . " select current_setting('chat.send_one_heap', true)"),
    "1\non", 'a batch of one marks the session';

is ChatTest::psql($new, "select read_seq from members"
                        . " where room_id = 'pub' and user_id = 'b'"),
    ChatTest::psql($new, "select max(seq) from messages"
                         . " where room_id = 'pub' and sender = 'b'"),
    "a sender's read cursor is at their last message";

# many rooms and memberships: a commit reaches only its own (the counts
# of index entries read in the transaction)
my @many = map { elem('many-' . (1 + $_ % 5), 'x' . (1 + $_ % 2)) } 0 .. 9;
my $stats = join ', ', map { "pg_stat_get_xact_$_->[0]('$_->[1]'::regclass)" }
    [tuples_returned => 'rooms_pkey'], [tuples_returned => 'members_pkey'],
    [tuples_updated => 'rooms'], [tuples_hot_updated => 'rooms'];
ChatTest::psql($new, <<'SQL');
insert into rooms (id, created_by)
    select 'many-' || g, 'x' from generate_series(1, 20000) g;
insert into members (room_id, user_id)
    select 'many-' || g, 'x' || k
      from generate_series(1, 20000) g, generate_series(1, 2) k;
analyze rooms;
analyze members;
SQL

# one transaction: the statement, then its counts
my $out = ChatTest::psql($new, "select count(*) filter (where status = 'ok')"
    . " from chat_send_batch_quota(" . literal(@many) . ", true, 0, 0);"
    . " select concat_ws(' ', $stats)");
my ($ok, $counts) = split /\n/, $out;
is $ok, 10, 'ten sends to five rooms of 20 000 committed';
my ($rooms, $members, $upd, $hot) = split ' ', $counts // '';
cmp_ok $rooms, '<=', 40, "rooms read: $rooms index entries (of 20 002)";
cmp_ok $rooms, '>=', 5, 'at least the five rooms';
cmp_ok $members, '<=', 60,
    "memberships read: $members index entries (of 40 004)";
is $upd, 5, 'each room updated once';
is $hot, 5, 'and each update stays on its page (HOT)';

is ChatTest::psql($new, "select count(*) from pg_indexes"
                        . " where indexname = 'rooms_activity'"), 0,
    'rooms are not indexed by activity';

# the lookup of earlier sends by client_msg_id: none in a batch without
# any; for each send that names one, the last day's partition (two near
# a month's end), never the months created ahead or the default one
my $lookups = "select coalesce(sum(pg_stat_get_xact_numscans(i.indexrelid)),"
    . " 0) from pg_inherits h join pg_index i on i.indrelid = h.inhrelid"
    . " join pg_class c on c.oid = i.indexrelid"
    . " where h.inhparent = 'messages'::regclass"
    . " and c.relname like '%client\\_msg\\_id%'";
cmp_ok ChatTest::psql($new, "select count(*) from pg_inherits"
                            . " where inhparent = 'messages'::regclass"),
    '>=', 3, 'messages has month partitions ahead and a default one';
for my $case ([ 'without client_msg_id', 0, 0, elem('pub', 'a'),
                elem('pub', 'b'), elem('new1', 'c') ],
              [ 'with two client_msg_ids', 2, 4, elem('pub', 'a', cid => 'l1'),
                elem('pub', 'b', cid => 'l2'), elem('new1', 'c') ],
              [ 'of one without client_msg_id', 0, 0, elem('pub', 'a') ],
              [ 'of one with a client_msg_id', 1, 2,
                elem('pub', 'a', cid => 'l3') ]) {
    my ($name, $min, $max, @e) = @$case;
    my ($n, $scans) = split /\n/, ChatTest::psql($new,
        "select count(*) filter (where status = 'ok')"
        . " from chat_send_batch_quota(" . literal(@e) . ", true, 0, 0);"
        . " $lookups");
    is $n, scalar(@e), "a batch $name: every send stored";
    cmp_ok $scans, '>=', $min, "$name: $scans lookups of earlier sends";
    cmp_ok $scans, '<=', $max, "$name: at most $max";
}

done_testing;
