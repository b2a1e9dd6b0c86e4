# Protocol sections 3, 4 and 5: join, leave, send, message events, ids.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use ChatTest;

my $ng = start_nginx();
my $room = rand_room('chat');

my $alice = login($ng, 'alice');
my $bob = login($ng, 'bob');

my $j = $alice->request({ type => 'join', room => $room });
is $j->{type}, 'ok', 'alice joins';
is $j->{room}, $room, 'join reply: room';
is $j->{seq}, 0, 'join reply: seq 0 in a new room';
$j = $bob->request({ type => 'join', room => $room });
is $j->{type}, 'ok', 'bob joins';
is $j->{seq}, 0, 'still 0';

# ---- send, ok, message events
my $t0 = time;
my $ok = $alice->request({ type => 'send', room => $room, body => 'hello bob' });
is $ok->{type}, 'ok', 'send: ok';
is $ok->{room}, $room, 'ok: room';
is $ok->{seq}, 1, 'ok: first seq is 1';
like $ok->{msg_id}, qr/^\d+$/, 'ok: msg_id is an integer';
like $ok->{ts}, qr/^\d+$/, 'ok: ts is an integer';
ok abs($ok->{ts} - $t0 * 1000) < 60_000, 'ts in milliseconds, now';

for my $who ([bob => $bob], [alice => $alice]) {
    my ($m) = $who->[1]->wait_messages($room, 1, 5);
    ok $m, "$who->[0] gets the message";
    is $m->{from}, 'alice', "$who->[0]: from";
    is $m->{body}, 'hello bob', "$who->[0]: body";
    is $m->{seq}, 1, "$who->[0]: seq";
    is $m->{msg_id}, $ok->{msg_id}, "$who->[0]: msg_id as in ok";
    is $m->{ts}, $ok->{ts}, "$who->[0]: ts as in ok";
    is $m->{room}, $room, "$who->[0]: room";
    ok !exists $m->{id}, "$who->[0]: events have no id";
}

# ---- seq increases by exactly 1; replies of one connection in order
my @replies = $bob->pipeline([map { { type => 'send', room => $room,
                                      body => "n$_" } } 1 .. 10]);
is_deeply [map { $_ && $_->{seq} } @replies], [2 .. 11],
    'ten sends from one connection: seq 2..11 in send order';
my %ids = map { ($_ && $_->{msg_id}) => 1 } @replies, $ok;
is scalar keys %ids, 11, 'msg_ids are unique';
for my $who ([alice => $alice], [bob => $bob]) {
    my @m = $who->[1]->wait_messages($room, 10, 5);
    is_deeply [map { $_->{seq} } @m], [2 .. 11], "$who->[0]: seq 2..11 in order";
    is_deeply [map { $_->{body} } @m], [map { "n$_" } 1 .. 10],
        "$who->[0]: bodies";
}

# ---- unicode body, reply_to, meta, client_msg_id in the event
{
    my $body = "gr\x{fc}\x{df}e \x{1F600} \"quoted\" \\ \n new line";
    my $r = $alice->request({ type => 'send', room => $room, body => $body,
                              reply_to => 1, meta => { k => 'v', n => 1 },
                              client_msg_id => 'cid-meta' });
    is $r->{type}, 'ok', 'send with reply_to, meta, client_msg_id';
    my ($m) = $bob->wait_messages($room, 1, 5);
    is $m->{body}, $body, 'UTF-8 body intact';
    is $m->{reply_to}, 1, 'reply_to';
    is_deeply $m->{meta}, { k => 'v', n => 1 }, 'meta';
    is $m->{client_msg_id}, 'cid-meta', 'client_msg_id in the event';
    $alice->wait_messages($room, 1, 5);
}

# ---- client_msg_id: retries are idempotent
{
    my $cid = 'retry-' . int(rand 1e9);
    my $a = $alice->request({ type => 'send', room => $room, body => 'once',
                              client_msg_id => $cid });
    my $b = $alice->request({ type => 'send', room => $room, body => 'once',
                              client_msg_id => $cid });
    is $a->{type}, 'ok', 'first send with client_msg_id';
    is $b->{type}, 'ok', 'retry: ok';
    is $b->{seq}, $a->{seq}, 'retry: same seq';
    is $b->{msg_id}, $a->{msg_id}, 'retry: same msg_id';
    # from another connection of the same user
    my $alice2 = login($ng, 'alice');
    my $c = $alice2->request({ type => 'send', room => $room, body => 'once',
                               client_msg_id => $cid });
    is $c->{seq}, $a->{seq}, 'retry from another connection: same seq';
    is $c->{msg_id}, $a->{msg_id}, 'retry from another connection: same msg_id';
    # the same client_msg_id from another user is another message
    my $d = $bob->request({ type => 'send', room => $room, body => 'bob once',
                            client_msg_id => $cid });
    is $d->{seq}, $a->{seq} + 1, 'same client_msg_id, other user: new seq';
    isnt $d->{msg_id}, $a->{msg_id}, 'other user: new msg_id';
    my $e = $alice->request({ type => 'send', room => $room, body => 'after' });
    is $e->{seq}, $a->{seq} + 2, 'next message follows';
    my @m = $bob->wait_messages($room, 3, 5);
    is_deeply [map { $_->{seq} } @m], [$a->{seq}, $a->{seq} + 1, $a->{seq} + 2],
        'bob got one message per seq: no duplicate for the retries';
    is_deeply [map { $_->{body} } @m], ['once', 'bob once', 'after'], 'bodies';
    $bob->settle(0.2);
    is scalar($bob->take_messages($room)), 0, 'no late duplicate';
    $alice->wait_messages($room, 3, 5);
}

# ---- a client_msg_id is remembered for 24 hours, not forever
{
    my $aged = rand_room('aged');
    my $cid = 'aged-' . int(rand 1e9);
    my $a = $alice->request({ type => 'send', room => $aged, body => 'old',
                              client_msg_id => $cid });
    is $a->{type}, 'ok', 'a send that will look two days old';
    my $b = $alice->request({ type => 'send', room => $aged, body => 'old',
                              client_msg_id => $cid });
    is $b->{seq}, $a->{seq}, 'retried at once: the same message';
    psql(ChatTest::backends()->{conninfo},
         "update messages set ts = ts - 2 * 86400000"
         . " where room_id = '$aged' and seq = $a->{seq}");
    my $c = $alice->request({ type => 'send', room => $aged, body => 'old',
                              client_msg_id => $cid });
    is $c->{type}, 'ok', 'retried two days later: ok';
    is $c->{seq}, $a->{seq} + 1, 'retried two days later: a new message';
}

# ---- the sender's own connections
{
    my $a2 = login($ng, 'alice');
    $a2->request({ type => 'join', room => $room });
    my $r = $alice->request({ type => 'send', room => $room, body => 'to me' });
    for my $c ([first => $alice], [second => $a2]) {
        my ($m) = $c->[1]->wait_messages($room, 1, 5);
        is $m && $m->{seq}, $r->{seq},
            "the sender's $c->[0] connection gets its own message";
    }
    $bob->wait_messages($room, 1, 5);
}

# ---- send to a room not joined
{
    my $carol = login($ng, 'carol');
    my $r = $carol->request({ type => 'send', room => $room, body => 'drive-by' });
    is $r->{type}, 'ok', 'send to a room not joined: ok';
    my ($m) = $bob->wait_messages($room, 1, 5);
    is $m->{from}, 'carol', 'members get it';
    is $m->{seq}, $r->{seq}, 'seq';
    $carol->settle(0.2);
    is scalar($carol->take_messages), 0, 'the non-member gets no event';
    $alice->wait_messages($room, 1, 5);
    my $new = rand_room('fresh');
    $r = $carol->request({ type => 'send', room => $new, body => 'first' });
    is $r->{type}, 'ok', 'send creates a room';
    is $r->{seq}, 1, 'seq 1 in the new room';
    $j = $alice->request({ type => 'join', room => $new });
    is $j->{seq}, 1, 'join reply: latest seq of that room';
}

# ---- leave stops delivery
{
    my $other = rand_room('other');
    $bob->request({ type => 'join', room => $other });
    my $l = $bob->request({ type => 'leave', room => $room });
    is $l->{type}, 'ok', 'leave: ok';
    my $r1 = $alice->request({ type => 'send', room => $room, body => 'gone?' });
    my ($m) = $alice->wait_messages($room, 1, 5);
    is $m && $m->{seq}, $r1->{seq}, 'alice still gets it';
    my $r2 = $alice->request({ type => 'send', room => $other, body => 'other' });
    ($m) = $bob->wait_messages($other, 1, 5);
    is $m && $m->{body}, 'other', 'bob gets the other room';
    is $bob->request({ type => 'ping' })->{type}, 'pong', 'round trip';
    is scalar($bob->take_messages($room)), 0, 'bob got nothing after leave';
}

# ---- requests without id
{
    my $r = rand_room('noid');
    my $c = login($ng, 'erin');
    is $c->request({ type => 'join', room => $r })->{type}, 'ok', 'join';
    $c->send_json({ type => 'join', room => rand_room('noid2') });
    $c->send_json({ type => 'send', room => $r, body => 'no id' });
    my ($m) = $c->wait_messages($r, 1, 5);
    ok $m, 'send without id works';
    is $c->request({ type => 'ping' })->{type}, 'pong', 'round trip';
    $c->settle(0.2);
    is_deeply [map { $_->{type} } @{ $c->queue }], [],
        'no success reply for requests without id';
    $c->send_json({ type => 'send', body => 'no room' });
    my $e = $c->recv(5);
    is $e->{type}, 'error', 'error for a request without id';
    is $e->{code}, 'bad_request', 'bad_request';
    ok !exists $e->{id}, 'error without id';
    ok defined $e->{message}, 'error has a message';
}

# ---- ids are echoed as given
{
    my $c = login($ng, 'frank');
    for my $id ('abc', 'x-1', 0, 42, 1099511627776) {
        my $r = $c->request({ type => 'ping', id => $id });
        is $r && $r->{id}, $id, "id $id echoed";
    }
    my $r = $c->request({ type => 'join', room => rand_room('s'), id => 'j1' });
    is $r->{id}, 'j1', 'string id on ok';
    $r = $c->request({ type => 'bogus', id => 'b1' });
    is $r->{type}, 'error', 'error';
    is $r->{id}, 'b1', 'string id on error';
}

$ng->stop;
done_testing;
