# chat_redis cluster (README, "Scaling out"): two nginx instances of two
# workers each on a local Redis Cluster of three primaries.  Rooms whose
# channels land on different primaries fan out to every receiver on both
# instances exactly once, in order; their channels are sharded channels
# of the primary of their slot only; presence events, typing, revocations
# (the users' channel and the keys beside it) and the user's send rate
# (its own slot) work across the cluster.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;
use ChatTest::Cluster;

my $c = ChatTest::Cluster->launch(primaries => 3);
my @primaries = ($c->ports)[0 .. 2];
my @ng = map { start_nginx(workers => 2, listen => 'reuseport',
                           redis => $c->seeds) } 1 .. 2;

# a room on each primary: its channel is "chat:room:{<room>}"
my %room_on;
while (keys %room_on < 3) {
    my $room = rand_room('cl');
    my $owner = $c->owner($c->slot($room));
    $room_on{$owner} //= $room;
}
my @rooms = map { $room_on{$_} } @primaries;

ok wait_until(sub {
    my $h = http_get($ng[0]->api_url . '/health');
    $h->{status} == 200 && $h->{body} =~ /"redis":"up"/;
}, 10), 'health: the cluster is up';

# ---- every room: receivers on both instances, senders on both
my (%rcv, %ids);
for my $room (@rooms) {
    $rcv{$room} = [map { login($ng[$_ % 2], "r$_") } 0 .. 5];
    for (@{ $rcv{$room} }) {
        my $j = $_->request({ type => 'join', room => $room });
        die 'join failed' unless $j && $j->{type} eq 'ok';
    }
}

# the channels: sharded, each on the primary of its slot only
for my $port (@primaries) {
    my %sub = map { $_ => 1 }
        split /\n/, $c->cli($port, 'pubsub', 'shardchannels', 'chat:room:*');
    my @want = grep { $room_on{$port} eq $_ } @rooms;
    is_deeply [sort grep { /\{cl-/ } keys %sub],
        [map { "chat:room:{$_}" } @want],
        "primary $port has the channel of its room only";
}
is_deeply [grep { length } map { split /\n/,
                 $c->cli($_, 'pubsub', 'channels', 'chat:*') } @primaries],
    [], 'no classic channel on any primary';

my $N = 20;
my @snd = map { login($ng[$_ % 2], "s$_") } 0 .. 3;
for my $room (@rooms) {
    for my $s (@snd) {
        my $j = $s->request({ type => 'join', room => $room });
        die 'sender join failed' unless $j && $j->{type} eq 'ok';
    }
}
for my $i (1 .. $N) {
    for my $room (@rooms) {
        my $s = $snd[$i % @snd];
        my $id = next_id();
        push @{ $ids{$room}{$s} }, $id;
        $s->send_json({ type => 'send', room => $room, id => $id,
                        body => "m$i" });
    }
}
for my $room (@rooms) {
    my $acked = 0;
    for my $s (@snd) {
        my @a = $s->collect_replies($ids{$room}{$s} // [], 15);
        $acked += grep { $_ && $_->{type} eq 'ok' } @a;
    }
    is $acked, $N, "room on $_: every send acknowledged"
        for grep { $room_on{$_} eq $room } @primaries;
    my $good = 0;
    for my $r (@{ $rcv{$room} }) {
        my @m = $r->wait_messages($room, $N, 15);
        $good++ if join(',', map { $_->{seq} } @m) eq join(',', 1 .. $N)
            && join(',', sort map { $_->{body} } @m)
               eq join(',', sort map { "m$_" } 1 .. $N);
    }
    is $good, 6, "room $room: six receivers on two instances got seq 1..$N"
        . ' once, in order';
}

# ---- presence: a user coming into a room is seen on the other instance
{
    my $room = $rooms[1];
    my $watcher = $rcv{$room}[1];          # on $ng[1]
    my $p = login($ng[0], 'newcomer');
    my $j = $p->request({ type => 'join', room => $room });
    ok $j && $j->{type} eq 'ok', 'newcomer joined';
    ok $watcher->wait_for(sub {
        ($_->{type} // '') eq 'presence' && ($_->{user} // '') eq 'newcomer'
            && ($_->{state} // '') eq 'online'
    }, 10), 'presence: online seen on the other instance';

    # typing: the room's key on its own slot, the event on its channel
    my $t = $p->request({ type => 'typing', room => $room }, 5);
    is $t && $t->{type}, 'ok', 'typing accepted' or diag explain $t;
    ok $watcher->wait_for(sub {
        ($_->{type} // '') eq 'typing' && ($_->{user} // '') eq 'newcomer'
    }, 10), 'typing seen on the other instance';
    $p->close;
}

# ---- a revocation reaches the other instance (the users' channel)
{
    my $v = login($ng[1], 'victim');
    my $j = $v->request({ type => 'join', room => $rooms[2] });
    ok $j && $j->{type} eq 'ok', 'victim joined';
    my $res = api($ng[0], 'POST', '/users/victim/revoke', user => 'victim');
    is $res->{status}, 204, 'revoked on one instance' or diag explain $res;
    is $v->close_code(10), 4001,
        'the victim on the other instance is closed with 4001';
}

is $_->crashes, 0, 'no worker crashed' for @ng;

done_testing;
