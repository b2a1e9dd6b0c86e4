# A rejoin with since on a worker whose room is behind storage (its Redis
# link was down): the reply's seq is never below since, and nothing at or
# below since reaches that connection again, also when the worker
# catches up.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my $redis = start_redis();
my $a = start_nginx(workers => 1, redis => $redis->addr);
my $b = start_nginx(workers => 1, redis => $redis->addr);
my $room = rand_room('behind');

# the room is open on A, held by a watcher there
my $watch = login($a, 'watcher');
is $watch->request({ type => 'join', room => $room })->{type}, 'ok',
    'watcher joined on A';

# A loses Redis; B goes on committing (and delivering locally)
$redis->stop;
my $c = login($b, 'carol');
is $c->request({ type => 'join', room => $room })->{type}, 'ok',
    'carol joined on B';
my $s = login($b, 'sender');
my @acks = $s->pipeline([map { { type => 'send', room => $room,
    body => "m$_" } } 1 .. 20], 10);
is scalar(grep { $_ && $_->{type} eq 'ok' } @acks), 20,
    '20 sends acknowledged while Redis is down';
my @got = $c->wait_messages($room, 20, 10);
is_deeply [map { $_->{seq} } @got], [1 .. 20], 'carol saw 1 to 20 on B';

# carol moves to A and rejoins with since 20 at once
$c->close;
my $c2 = login($a, 'carol');
my $id = next_id();
$c2->send_json({ type => 'join', room => $room, since => 20, id => $id });
my @f = $c2->recv_until(sub { ($_->{id} // '') eq $id }, 10);
my $reply = pop @f;
is $reply && $reply->{type}, 'ok', 'the rejoin on A succeeds';
cmp_ok $reply && $reply->{seq} // -1, '>=', 20,
    "the reply's seq is not below since";
is scalar(grep { ($_->{type} // '') eq 'message' } @f), 0,
    'nothing is replayed';

# Redis comes back: A catches up, the watcher gets 1 to 20, carol nothing
$redis->start;
my @w = $watch->wait_messages($room, 20, 15);
is_deeply [map { $_->{seq} } @w], [1 .. 20], 'the watcher on A caught up';

my $r = $s->request({ type => 'send', room => $room, body => 'after' });
is $r && $r->{seq}, 21, 'a new message';
my @c2m = $c2->wait_messages($room, 1, 10);
$c2->settle(0.3);
push @c2m, $c2->take_messages($room);
is_deeply [map { $_->{seq} } @c2m], [21],
    'carol on A gets only what follows since, once';
my @w2 = $watch->wait_messages($room, 1, 10);
is_deeply [map { $_->{seq} } @w2], [21], 'the watcher gets it too';

is_deeply [$a->crashes, $b->crashes], [], 'no worker crashed';
$_->stop for $a, $b;
done_testing;
