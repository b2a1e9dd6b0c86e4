# PostgreSQL outage: sends get `unavailable`, /health is 503 with postgres
# down; what was acked survives; sends work again once it is back, without
# restarting nginx.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use ChatTest;

my $pg = start_pg();
my $ng = start_nginx(pg => $pg->conninfo);
my $health = $ng->api_url . '/health';
my $room = rand_room('pg');

my $c = login($ng, 'alice');
is $c->request({ type => 'join', room => $room })->{type}, 'ok', 'join';
my @first = $c->pipeline([map { { type => 'send', room => $room,
                                  body => "pre$_" } } 1 .. 5]);
is scalar(grep { $_ && $_->{type} eq 'ok' } @first), 5, '5 sends acked';

my %acked = map { $_->{seq} => $_ } grep { $_ && $_->{type} eq 'ok' } @first;
my %body = map { $_->{seq} => "pre$_->{seq}" } values %acked;

# a burst in flight, then PostgreSQL stops
my @ids = map { "b$_" } 1 .. 20;
$c->send_json({ type => 'send', room => $room, id => "b$_",
                client_msg_id => "b$_", body => "burst$_" }) for 1 .. 20;
ChatTest::run_loop(sub { grep { ($_->{id} // '') eq 'b3' } @{ $c->queue } }, 5);
$pg->stop;
my @r = $c->collect_replies(\@ids, 20);
is scalar(grep { $_ } @r), 20, 'every send of the burst got a reply';
is scalar(grep { $_ && $_->{type} ne 'ok'
                 && ($_->{code} // '') ne 'unavailable' } @r), 0,
    'each reply is ok or unavailable';
for my $i (0 .. $#r) {
    next unless $r[$i] && $r[$i]{type} eq 'ok';
    $acked{ $r[$i]{seq} } = $r[$i];
    $body{ $r[$i]{seq} } = 'burst' . ($i + 1);
}

my $e = $c->request({ type => 'send', room => $room, body => 'down',
                      id => 'down-1' }, 20);
is $e && $e->{type}, 'error', 'send while PostgreSQL is down: error';
is $e && $e->{code}, 'unavailable', 'unavailable';
is $e && $e->{id}, 'down-1', 'with the id';
is $c->request({ type => 'ping' })->{type}, 'pong', 'connection stays open';

my $h;
wait_until(sub { $h = http_get($health, timeout => 5);
                 ($h->{json}{postgres} // '') eq 'down' }, 15, 0.1);
is $h->{status}, 503, 'health 503';
is $h->{json}{postgres}, 'down', 'health: postgres down';
is $h->{json}{redis}, 'up', 'health: redis up';

$pg->start;

# sends succeed again, without restarting nginx
my ($ok, $tries) = (undef, 0);
my $deadline = time + 30;
while (time < $deadline) {
    $tries++;
    my $r = $c->request({ type => 'send', room => $room, body => 'back',
                          client_msg_id => 'back-1' }, 10);
    if ($r && $r->{type} eq 'ok') { $ok = $r; last }
    last if $r && ($r->{code} // '') ne 'unavailable';
    ChatTest::run_loop(sub { 0 }, 0.2);    # pace the retries
}
ok $ok, "a send succeeds once PostgreSQL is back ($tries tries)";
if ($ok) { $acked{ $ok->{seq} } = $ok; $body{ $ok->{seq} } = 'back' }
# the other worker's pool too: the fresh join below may land there
ok wait_until(sub { $ng->pg_ready($pg->conninfo) }, 15, 0.05),
    "every worker's pool is connected again";
wait_until(sub { $h = http_get($health, timeout => 5);
                 ($h->{json}{postgres} // '') eq 'up' }, 15, 0.1);
is $h->{status}, 200, 'health 200 again';
is $h->{json}{postgres}, 'up', 'health: postgres up';

# the burst sends that failed, retried with their client_msg_id
for my $i (0 .. $#r) {
    next if $r[$i] && $r[$i]{type} eq 'ok';
    my $x = $c->request({ type => 'send', room => $room,
        client_msg_id => 'b' . ($i + 1), body => 'burst' . ($i + 1) }, 10);
    is $x && $x->{type}, 'ok', 'retry of b' . ($i + 1);
    if ($x && $x->{type} eq 'ok') {
        $acked{ $x->{seq} } = $x;
        $body{ $x->{seq} } = 'burst' . ($i + 1);
    }
}

# everything acked is in the history
my $d = login($ng, 'bob');
my $id = next_id();
$d->send_json({ type => 'join', room => $room, since => 0, id => $id });
my @f = $d->recv_until(sub { ($_->{id} // '') eq $id }, 10);
my $reply = pop @f;
is $reply && $reply->{type}, 'ok', 'fresh join since 0';
my %have = map { $_->{seq} => $_ } grep { $_->{type} eq 'message' } @f;
my @missing = grep { !$have{$_} || $have{$_}{body} ne $body{$_}
                     || $have{$_}{msg_id} != $acked{$_}{msg_id} } keys %acked;
is scalar(@missing), 0, scalar(keys %acked) . ' acked messages all in history'
    or diag "missing or different: @missing";
my @seqs = map { $_->{seq} } grep { $_->{type} eq 'message' } @f;
is_deeply \@seqs, [1 .. ($reply ? $reply->{seq} : 0)],
    'history is gapless, in order';
my %bodies;
$bodies{ $_->{body} }++ for grep { $_->{type} eq 'message' } @f;
is scalar(grep { $_ > 1 } values %bodies), 0, 'no message stored twice';

$ng->stop;
done_testing;
