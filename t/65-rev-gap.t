# Room revisions through a Redis outage (protocol.md section 5a): two
# instances on their own Redis; while Redis is down, sends committed on
# one never reach the other through Redis.  When Redis is back, the
# receivers there fill the gap from PostgreSQL: every rev once, in order;
# a receiver that rejoins with since_rev during the outage gets what it
# missed, then the rest, each once.  The four users join first: their
# joined member events take revs 1 to 4, the messages 5 to 24.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my $redis = start_redis();
my @ng = map { start_nginx(workers => 2, listen => 'reuseport',
                           redis => $redis->addr) } 1 .. 2;
my $room = rand_room('revgap');

sub revs { [map { $_->{rev} } @_] }

# receivers on the second instance, a sender on the first
my @rcv = map { login($ng[1], "r$_") } 1 .. 3;
for (@rcv) {
    my $j = $_->request({ type => 'join', room => $room });
    die 'join failed' unless $j && $j->{type} eq 'ok';
}
my $s = login($ng[0], 'sender');
my $sj = $s->request({ type => 'join', room => $room });
die 'join failed' unless $sj && $sj->{type} eq 'ok' && $sj->{rev} == 4;

sub send_n {
    my ($from, $n, $tag) = @_;
    my @a = $s->pipeline([map { { type => 'send', room => $room,
                                  body => "$tag$_" } }
                          $from .. $from + $n - 1], 15);
    return scalar grep { $_ && $_->{type} eq 'ok' } @a;
}

is send_n(1, 5, 'a'), 5, 'rev 5 to 9 sent with Redis up';
my %got = map { $_ => [] } 0 .. $#rcv;
for my $i (0 .. $#rcv) {
    push @{ $got{$i} }, $rcv[$i]->wait_messages($room, 5, 10);
    is_deeply revs(@{ $got{$i} }), [5 .. 9], "receiver $i: rev 5 to 9";
}

# Redis goes away; the sends are committed, their publishes lost
$redis->stop;
is send_n(6, 10, 'b'), 10, 'rev 10 to 19 committed while Redis is down';

# one receiver rejoins with since_rev meanwhile, on a new connection
$rcv[2]->close;
$rcv[2] = login($ng[1], 'r3');
my $id = next_id();
$rcv[2]->send_json({ type => 'join', room => $room, id => $id,
                     since_rev => 9 });
my @f = $rcv[2]->recv_until(sub { ($_->{id} // '') eq $id }, 15);
my $reply = pop @f;
is $reply && $reply->{type}, 'ok',
    'a rejoin with since_rev 9 during the outage';
push @{ $got{2} }, grep { ($_->{type} // '') eq 'message' } @f;
is_deeply revs(@{ $got{2} }), [5 .. 19], '... replays rev 10 to 19';
is $reply && $reply->{rev}, 19, '... and answers rev 19';

# back: the others fill the gap from PostgreSQL, then live events follow
$redis->start;
is send_n(16, 5, 'c'), 5, 'rev 20 to 24 sent after Redis is back';
for my $i (0 .. $#rcv) {
    my $c = $rcv[$i];
    ChatTest::run_loop(sub {
        grep { ($_->{type} // '') eq 'message' && $_->{rev} == 24 }
            @{ $c->queue }
    }, 20);
    $c->settle(0.3);
    push @{ $got{$i} }, $c->take_messages($room);
    is_deeply revs(@{ $got{$i} }), [5 .. 24],
        "receiver $i: every rev once, in order";
    is_deeply [map { $_->{body} } @{ $got{$i} }],
        [(map { "a$_" } 1 .. 5), (map { "b$_" } 6 .. 15),
         (map { "c$_" } 16 .. 20)], "receiver $i: the events as sent";
}

is_deeply [map { $_->crashes } @ng], [], 'no worker crashed';
$_->stop for @ng;
done_testing;
