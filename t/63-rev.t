# Room revisions (protocol.md section 5a): every durable event carries
# rev, 1 more than the room's last; the send reply and history entries
# carry it; join answers the latest rev; join with since_rev replays what
# follows it, newest first beyond chat_join_replay_max (truncated); since
# and since_rev at once is bad_request; since keeps its meaning.  A
# user's first join of a public channel is a durable member event
# (joined) with its own rev, before the join's reply (protocol.md 5).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my $ng = start_nginx(workers => 2, listen => 'reuseport', server => q{
        location /chat/ws-r5 {
            chat_ws;
            chat_join_replay_max 5;
        }});
my $url5 = 'ws://127.0.0.1:' . $ng->port . '/chat/ws-r5';
my $b = ChatTest::backends();

# join on $c with %a; returns (replayed durable events, reply)
sub join_room {
    my ($c, $room, %a) = @_;
    my ($f, $reply) = $c->join_replay($room, \%a, 10);
    return ([grep { ($_->{type} // '') =~ /^(message|member)$/ } @$f],
            $reply);
}

sub revs { [map { $_->{rev} } @_] }
sub bodies { [map { $_->{body} } grep { $_->{type} eq 'message' } @_] }

my $room = rand_room('rev');
my $alice = login($ng, 'alice');

my ($ev, $reply) = join_room($alice, $room);
is_deeply [@$ev], [], 'nothing replayed';
is $reply && $reply->{rev}, 1,
    "a new room: the join answers rev 1, its user's joined event";
is $reply && $reply->{seq}, 0, '... and seq 0';

# sends: the reply and the event carry rev, one more each time
my @acks = $alice->pipeline([map { { type => 'send', room => $room,
                                     body => "m$_" } } 1 .. 8], 10);
is_deeply [map { $_ && $_->{rev} } @acks], [2 .. 9],
    'send replies carry rev 2 to 9';
is_deeply [map { $_ && $_->{seq} } @acks], [1 .. 8], '... and seq 1 to 8';
my @m = $alice->wait_messages($room, 8, 10);
is_deeply revs(@m), [2 .. 9], 'message events carry rev 2 to 9, in order';
is_deeply [map { $_->{rev} == $_->{seq} + 1 ? 1 : 0 } @m], [(1) x 8],
    'after one member event, messages only: rev equals seq + 1';
is_deeply [map { $_->{msg_id} } @m], [map { $_->{msg_id} } @acks],
    'each event is its acknowledged message';

# a retried send answers the same rev
my $cid = 'retry-' . $$;
my $r1 = $alice->request({ type => 'send', room => $room, body => 'once',
                           client_msg_id => $cid });
my $r2 = $alice->request({ type => 'send', room => $room, body => 'once',
                           client_msg_id => $cid });
is $r1 && $r1->{rev}, 10, 'a send with client_msg_id: rev 10';
is $r2 && $r2->{rev}, 10, 'its retry answers rev 10 again';
@m = $alice->wait_messages($room, 1, 10);
is $m[0] && $m[0]{rev}, 10, 'the event has rev 10';
$alice->settle(0.3);
is_deeply revs($alice->take_messages($room)), [], 'and no other rev';

# what PostgreSQL holds
my $pg = 'host=127.0.0.1 port=' . $b->{pg_port} . ' dbname=chat user=chat';
is psql($pg, "select string_agg(rev::text, ',' order by seq) from messages"
             . " where room_id = '$room'"), join(',', 2 .. 10),
    'the stored messages have rev 2 to 10 in seq order';
is psql($pg, "select last_rev || ',' || last_seq from rooms"
             . " where id = '$room'"), '10,9', 'the room: last_rev 10';
is psql($pg, "select string_agg(rev || ' ' || (event->>'user') || ' '"
             . " || (event->>'action'), ',') from chat_room_events"
             . " where room_id = '$room'"), '1 alice joined',
    'and rev 1 is the member event of alice joining';

# history entries carry rev
my $h = $alice->request({ type => 'history', room => $room });
is_deeply [map { $_->{rev} } @{ $h->{messages} // [] }], [2 .. 10],
    'history entries carry their rev';

# join answers the latest rev; since_rev replays what follows
my $bob = login($ng, 'bob');
($ev, $reply) = join_room($bob, $room);
is_deeply [@$ev], [], 'a plain join replays nothing';
is $reply && $reply->{rev}, 11, 'the join answers rev 11, bob joined';
is $reply && $reply->{seq}, 9, '... and seq 9';

my $carol = login($ng, 'carol');
($ev, $reply) = join_room($carol, $room, since_rev => 4);
is_deeply revs(@$ev), [5 .. 12],
    'since_rev 4 replays rev 5 to 12, in order';
is_deeply bodies(@$ev), [qw(m4 m5 m6 m7 m8 once)],
    '... the messages as they were sent';
is_deeply [map { "$_->{user} $_->{action}" } grep { $_->{type} eq 'member' }
           @$ev], ['bob joined', 'carol joined'],
    '... then bob and carol joining, carol before her reply';
is $reply && $reply->{rev}, 12, 'then the reply: rev 12';
ok $reply && !$reply->{truncated}, 'not truncated';

my $dave = login($ng, 'dave');
($ev, $reply) = join_room($dave, $room, since_rev => 12);
is_deeply revs(@$ev), [13],
    'since_rev at the latest: only his own joined event replayed';
is $reply && $reply->{rev}, 13, 'rev 13';

# since keeps its meaning: messages after a seq
my $erin = login($ng, 'erin');
($ev, $reply) = join_room($erin, $room, since => 6);
is_deeply [map { $_->{seq} } @$ev], [7 .. 9], 'since 6 replays seq 7 to 9';
is_deeply revs(@$ev), [8 .. 10], '... with their rev';
is $reply && $reply->{rev}, 14, 'the reply has rev too (erin joined: 14)';

# both at once
my $e = $erin->request({ type => 'join', room => rand_room('both'),
                         since => 1, since_rev => 1 });
is $e && $e->{code}, 'bad_request', 'since with since_rev: bad_request';

# live events after the replay go on in rev order on every connection
$alice->request({ type => 'send', room => $room, body => 'after' });
my %conn = (alice => $alice, bob => $bob, carol => $carol, dave => $dave,
            erin => $erin);
for my $who (sort keys %conn) {
    my $c = $conn{$who};
    my @l = $c->wait_messages($room, 1, 10);
    $c->settle(0.1);
    push @l, $c->take_messages($room);
    is_deeply revs(@l), [15], "$who gets rev 15, once";
}

# beyond chat_join_replay_max: the newest, truncated
my $capped = login($url5, 'frank');
($ev, $reply) = join_room($capped, $room, since_rev => 0);
is_deeply revs(@$ev), [12 .. 16],
    'since_rev 0 with 16 events, cap 5: 12..16';
is $reply && $reply->{truncated}, 1, 'the reply says truncated';
is $reply && $reply->{rev}, 16, 'and rev 16';
my $capped2 = login($url5, 'frank');
($ev, $reply) = join_room($capped2, $room, since_rev => 11);
is_deeply revs(@$ev), [12 .. 16], 'exactly the cap missed: all replayed';
ok $reply && !$reply->{truncated}, 'not truncated';

# joined already: the same rev again
my $again = $bob->request({ type => 'join', room => $room });
is $again && $again->{rev}, 16,
    'a second join answers rev 16: a member joins once';

is_deeply [$ng->crashes], [], 'no worker crashed';
$ng->stop;
done_testing;
