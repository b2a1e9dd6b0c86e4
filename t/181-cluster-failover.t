# chat_redis cluster through a failover (README, "Scaling out"): three
# primaries with a replica each, two nginx instances.  Senders go on
# while the primary of one room's slot is killed (kill -9): sends are
# acknowledged (PostgreSQL keeps them), Redis work of that slot answers
# "unavailable" while it has no node, the replica takes over, the module
# finds the new primary by itself (the slot map), subscribes the room
# there, and every receiver on both instances ends with every message
# once, in order (gaps filled from PostgreSQL).  The old primary started
# again rejoins as a replica; a room of another primary flows throughout.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;
use ChatTest::Cluster;

my $c = ChatTest::Cluster->launch(primaries => 3, replicas => 1);
my @ng = map { start_nginx(workers => 2, listen => 'reuseport',
                           redis => $c->seeds) } 1 .. 2;

sub health_up {
    my $h = http_get($ng[$_[0]]->api_url . '/health');
    return $h->{status} == 200 && $h->{body} =~ /"redis":"up"/;
}
ok wait_until(sub { health_up(0) && health_up(1) }, 10),
    'both instances see the cluster up';

# six rooms of one slot (found offline: their ids hash alike), the
# primary of that slot goes; a room of the same primary and one of another
my @batch = map { "cluster-batch-$_" } 0, 9373, 82959, 93918, 142630, 147142;
my $victim = $c->owner($c->slot($batch[0]));
my ($room, $slot);
do { $room = rand_room('fo'); $slot = $c->slot($room) }
    while $c->owner($slot) != $victim;
my $other;
do { $other = rand_room('calm') } while $c->owner($c->slot($other)) == $victim;

my @rcv = map { login($ng[$_ % 2], "r$_") } 0 .. 3;
my $s = login($ng[0], 'sender');
my $t = login($ng[1], 'typist');
for my $cl (@rcv, $s, $t) {
    for my $r ($room, $other) {
        my $j = $cl->request({ type => 'join', room => $r });
        die 'join failed' unless $j && $j->{type} eq 'ok';
    }
}

# sends with a client_msg_id each, sent again until acknowledged
my (%acked, @order);
sub send_batch {
    my ($r, $from, $to) = @_;
    my @want = map { "$r-$_" } $from .. $to;
    for my $try (1 .. 20) {
        my @left = grep { !$acked{$_} } @want;
        last unless @left;
        my @a = $s->pipeline([map { { type => 'send', room => $r,
                                      client_msg_id => $_, body => $_ } }
                              @left], 10);
        for my $i (0 .. $#left) {
            $acked{ $left[$i] } = 1 if $a[$i] && $a[$i]{type} eq 'ok';
        }
    }
    return scalar grep { $acked{$_} } @want;
}

is send_batch($room, 1, 10), 10, 'ten sends acknowledged before';
is send_batch($other, 1, 10), 10, 'ten sends to the other room';

# a receiver of the six rooms of one slot, alone on its worker or not
my $br = login($ng[1], 'batch-reader');
for my $r (@batch) {
    my $j = $br->request({ type => 'join', room => $r });
    die 'join failed' unless $j && $j->{type} eq 'ok';
}

# what the replica is asked, once it has taken over
my $replica = $c->replica_of($victim);
my $monitor = ChatTest::tmpdir() . '/monitor.log';
system("timeout 40 redis-cli -p $replica monitor >$monitor 2>&1 &");
ok wait_until(sub { -s $monitor }, 5), 'watching the replica';
# and the primary of the other room, which keeps its subscriptions
my $calm_node = $c->owner($c->slot($other));
my $calm_log = ChatTest::tmpdir() . '/monitor-calm.log';
system("timeout 40 redis-cli -p $calm_node monitor >$calm_log 2>&1 &");
ok wait_until(sub { -s $calm_log }, 5), 'watching the other primary';

# ---- the primary of the room's slot dies
$c->kill($victim);

# typing needs the slot's node: unavailable until the replica takes over
my $seen_unavailable = wait_until(sub {
    my $r = $t->request({ type => 'typing', room => $room, stop => \1 }, 5);
    $r && $r->{type} eq 'error' && $r->{code} eq 'unavailable';
}, 5);
ok $seen_unavailable, 'typing in the room: unavailable while its slot has'
    . ' no node';

is send_batch($room, 11, 20), 10, 'ten sends acknowledged during the'
    . ' failover';
is send_batch($other, 11, 20), 10, 'the other room takes sends throughout';

ok wait_until(sub { my $o = $c->owner($slot); $o && $o != $victim }, 20),
    'the replica took over the slot';
my $new = $c->owner($slot);

ok wait_until(sub {
    my $r = $t->request({ type => 'typing', room => $room, stop => \1 }, 5);
    $r && $r->{type} eq 'ok';
}, 15), 'typing works again: the module found the new primary';
ok wait_until(sub {
    grep { $_ eq "chat:room:{$room}" } split /\n/,
        $c->cli($new, 'pubsub', 'shardchannels', 'chat:room:*');
}, 10), 'the room is subscribed on the new primary';

# the six rooms of one slot came back with one SSUBSCRIBE
ok wait_until(sub {
    open my $f, '<', $monitor or return 0;
    my $all = 0;
    while (<$f>) {
        next unless /"SSUBSCRIBE"/i;
        my $line = $_;
        $all = 1 if 6 == grep { index($line, "\"chat:room:{$_}\"") >= 0 }
                             @batch;
    }
    return $all;
}, 10), 'the rooms of one slot were subscribed again by one SSUBSCRIBE';
my $bs = login($ng[0], 'batch-sender');
for my $r (@batch) {
    my $a = $bs->request({ type => 'send', room => $r, body => "after-$r" });
    die 'send failed' unless $a && $a->{type} eq 'ok';
}
my $fine = 0;
for my $r (@batch) {
    $fine++ if $br->wait_for(sub { ($_->{type} // '') eq 'message'
                                   && ($_->{body} // '') eq "after-$r" }, 10);
}
is $fine, 6, 'and each of them delivers';

# ---- the old primary comes back, as a replica
$c->start($victim);
ok wait_until(sub { $c->ok }, 20), 'the cluster is whole again';
is send_batch($room, 21, 30), 10, 'ten sends after';
is send_batch($other, 21, 30), 10, 'ten more to the other room';

ok wait_until(sub { health_up(0) && health_up(1) }, 15),
    'both instances see the cluster up again';

for my $r ($room, $other) {
    my $good = 0;
    for my $cl (@rcv) {
        my @m = $cl->wait_messages($r, 30, 20);
        my @body = map { $_->{body} } @m;
        $good++ if join(',', map { $_->{seq} } @m) eq join(',', 1 .. 30)
            && join(',', @body) eq join(',', map { "$r-$_" } 1 .. 30);
        diag "$r: got seq " . join(',', map { $_->{seq} } @m)
            unless join(',', map { $_->{seq} } @m) eq join(',', 1 .. 30);
    }
    is $good, 4, ($r eq $room ? 'the room of the failover'
                              : 'the other room')
        . ': four receivers on two instances got all 30 once, in order';
}

my $again = do {
    open my $f, '<', $calm_log or die "$calm_log: $!";
    grep { /"SSUBSCRIBE"/i && index($_, "\"chat:room:{$other}\"") >= 0 } <$f>;
};
is $again, 0, 'the other room was not subscribed again: its node stayed';

like join('', map { $_->error_log } @ng), qr/slot map changed/,
    'the module logged the new slot map';
is $_->crashes, 0, 'no worker crashed' for @ng;

done_testing;
