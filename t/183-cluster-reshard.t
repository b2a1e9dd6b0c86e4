# chat_redis cluster while a room's slot moves to another primary (as
# "redis-cli --cluster reshard" does: IMPORTING, MIGRATING, keys moved,
# SETSLOT NODE).  During the move, commands for keys already moved get
# ASK; after it, MOVED.  The module follows both, learns the new slot map,
# and the room's channel, dropped by the old primary (sunsubscribe), is
# subscribed on the new one: receivers on two instances get every message
# once, in order.  (A command to the old owner after the move may not
# meet MOVED: the refused resubscription of the room may fix the map
# first.)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;
use ChatTest::Cluster;

my $c = ChatTest::Cluster->launch(primaries => 3);
my @ng = map { start_nginx(workers => 2, listen => 'reuseport',
                           redis => $c->seeds) } 1 .. 2;
for my $n (@ng) {
    ok wait_until(sub { api($n, 'GET', '/health')->{status} == 200 }, 10),
        'health ok on the cluster';
}

my $room = rand_room('move');
my $slot = $c->slot($room);
my $from = $c->owner($slot);
my ($to) = grep { $_ != $from } ($c->ports)[0 .. 2];
my %id = map { $_ => $c->cli($_, 'cluster', 'myid') } ($c->ports)[0 .. 2];

my @rcv = map { login($ng[$_ % 2], "r$_") } 0 .. 3;
my $s = login($ng[0], 'mover');
my @t = map { login($ng[1], "typist$_") } 0 .. 2;
for (@rcv, $s, @t) {
    my $j = $_->request({ type => 'join', room => $room });
    die 'join failed' unless $j && $j->{type} eq 'ok';
}

sub send_n {
    my ($from_n, $to_n) = @_;
    my @a = $s->pipeline([map { { type => 'send', room => $room,
                                  body => "m$_" } } $from_n .. $to_n], 10);
    return scalar grep { $_ && $_->{type} eq 'ok' } @a;
}
# a typing goes out only once its key is set (SET NX) on the slot's node
sub typing_ok {
    my ($n) = @_;
    my $r = $t[$n]->request({ type => 'typing', room => $room }, 5);
    return $r && $r->{type} eq 'ok'
        && $rcv[0]->wait_for(sub { ($_->{type} // '') eq 'typing'
                                   && ($_->{user} // '') eq "typist$n" }, 5);
}

is send_n(1, 10), 10, 'ten sends before the move';
ok typing_ok(0), 'typing before the move (its key is in the slot)';
ok length($c->cli($from, 'cluster', 'countkeysinslot', $slot)) > 0,
    'the slot is on its first primary';

# ---- the move, half way: the key of typing is on the new node (ASK)
is $c->cli($to, 'cluster', 'setslot', $slot, 'importing', $id{$from}), 'OK',
    'importing';
is $c->cli($from, 'cluster', 'setslot', $slot, 'migrating', $id{$to}), 'OK',
    'migrating';
my @keys = grep { length } split /\n/,
    $c->cli($from, 'cluster', 'getkeysinslot', $slot, 1000);
is $c->cli($from, 'migrate', '127.0.0.1', $to, '', 0, 5000, 'keys', @keys),
    'OK', 'its keys moved' if @keys;
ok typing_ok(1), 'typing while the slot migrates (ASK followed)';
is send_n(11, 15), 5, 'five sends while the slot migrates';

# ---- done: every primary knows the new owner
for my $p (($c->ports)[0 .. 2]) {
    $c->cli($p, 'cluster', 'setslot', $slot, 'node', $id{$to});
}
ok wait_until(sub { ($c->owner($slot) // 0) == $to }, 10),
    'the slot is on the other primary';
ok typing_ok(2), 'typing after the move: the module found the new owner';

ok wait_until(sub {
    grep { $_ eq "chat:room:{$room}" } split /\n/,
        $c->cli($to, 'pubsub', 'shardchannels', 'chat:room:*');
}, 10), 'the room is subscribed on the new primary';
is send_n(16, 25), 10, 'ten sends after the move';

my $good = 0;
for my $r (@rcv) {
    my @m = $r->wait_messages($room, 25, 15);
    $good++ if join(',', map { $_->{seq} } @m) eq join(',', 1 .. 25);
    diag 'got ' . join(',', map { $_->{seq} } @m)
        unless join(',', map { $_->{seq} } @m) eq join(',', 1 .. 25);
}
is $good, 4, 'four receivers on two instances got seq 1..25 once, in order';

is $_->crashes, 0, 'no worker crashed' for @ng;

done_testing;
