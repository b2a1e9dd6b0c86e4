# Presence across hosts (protocol.md section 8): two nginx instances of two
# workers each share Redis.  A user connected to one is online and present
# as seen from the other, over WebSocket and REST; a user's tabs on both
# hosts count together (a second tab emits nothing, the last one leaving
# emits offline).  A host that stops retires its users at once.  A host
# killed with -9 tells nobody: its users stay
# online and present until its entries expire, then the other host
# removes them and the room gets offline events, within chat_presence_ttl
# (3 s here; 30 s by default).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use ChatTest;

my $TTL = 3;
my @ng = map {
    start_nginx(workers => 2, listen => 'reuseport',
                http => "chat_presence_ttl ${TTL}s;")
} 1 .. 2;
my ($A, $B) = @ng;
my $room = rand_room('presence-cluster');

sub until_presence {
    my ($c, $user, $t) = @_;
    my @f = $c->recv_until(sub {
        ($_->{type} // '') eq 'presence' && $_->{room} eq $room
            && $_->{user} eq $user }, $t // 10);
    return ($c->{last_until_ok}, @f);
}

sub others {
    my ($user, @f) = @_;
    return scalar grep { ($_->{type} // '') eq 'presence'
                         && $_->{user} eq $user } @f;
}

sub presence_of {
    my ($ng, $who) = @_;
    my $r = api($ng, GET => "/presence?user=$who", user => 'watcher');
    return $r->{status} == 200 ? $r->{json}{users}[0] : undef;
}

sub joined {
    my ($c, $label) = @_;
    my $r = $c->request({ type => 'join', room => $room });
    is $r && $r->{type}, 'ok', $label;
}

my $bob = login($B, 'bob');
joined($bob, 'bob joins on host B');
my $alice = login($A, 'alice');
my $t = time;
joined($alice, 'alice joins on host A');

my ($ok, @f) = until_presence($bob, 'alice');
ok $ok, 'bob, on B, gets the presence of alice, on A';
ok time - $t < 1, '... within 1 s of her join';
is $f[-1]{state}, 'online', '... online';

my $r = $alice->request({ type => 'presence', room => $room });
is_deeply $r && $r->{users}, ['alice', 'bob'],
    'the presence request on A names bob, on B';
is presence_of($A, 'bob')->{state}, 'online', 'GET /presence on A: bob online';
is presence_of($B, 'alice')->{state}, 'online',
    'GET /presence on B: alice online';

# bob's second tab, on host A: nothing new; its leaving: nothing either
my $bob2 = login($A, 'bob');
joined($bob2, 'bob joins again on host A');
my $carol = login($B, 'carol');
joined($carol, 'carol joins on B');
($ok, @f) = until_presence($alice, 'carol');
ok $ok, 'alice sees carol arrive';
is others('bob', @f), 0, "bob's second tab, on the other host, emitted nothing";

close_all($bob2);
my $dave = login($A, 'dave');
joined($dave, 'dave joins on A');
($ok, @f) = until_presence($alice, 'dave');
ok $ok, 'alice sees dave arrive';
is others('bob', @f), 0, "bob's tab on A gone: he is still present on B";
$r = $alice->request({ type => 'presence', room => $room });
is_deeply $r && $r->{users}, ['alice', 'bob', 'carol', 'dave'],
    '... and listed';

# the last of a user's connections leaving, on the other host: offline
($ok, @f) = until_presence($bob, 'dave');
ok $ok && $f[-1]{state} eq 'online', 'bob, on B, saw dave arrive';
$t = time;
close_all($dave);
($ok, @f) = until_presence($bob, 'dave');
ok $ok && $f[-1]{state} eq 'offline', 'dave gone from A: bob, on B, sees it';
ok time - $t < 1, '... within 1 s';

# --- a host that stops retires its users at once, not after the TTL ---------

my $C = start_nginx(workers => 2, listen => 'reuseport',
                    http => "chat_presence_ttl ${TTL}s;");
my $erin = login($C, 'erin');
joined($erin, 'erin joins on host C');
($ok, @f) = until_presence($alice, 'erin');
ok $ok, 'alice sees erin arrive from C';
$t = time;
kill 'QUIT', $C->pid;
($ok, @f) = until_presence($alice, 'erin');
ok $ok && $f[-1]{state} eq 'offline', 'host C stops: erin goes offline';
ok time - $t < 1.5, sprintf('... at once (%.1f s), not after the TTL',
                            time - $t);
is presence_of($A, 'erin')->{state}, 'offline', 'GET /presence: offline';
$C->stop(quiet => 1);
is_deeply [$C->crashes], [], 'no worker of C crashed';

# --- host B killed -----------------------------------------------------------

my $killed = time;
$B->kill('KILL');
is presence_of($A, 'bob')->{state}, 'online',
    'right after B is killed, nothing told the cluster: bob is online';

# bob and carol expire: their offline events reach alice on A
my %gone;
ok $alice->_await(sub {
    $gone{ $_->{user} } = time if ($_->{type} // '') eq 'presence'
        && $_->{state} eq 'offline' && $_->{user} =~ /^(bob|carol)$/;
    keys %gone == 2;
}, $TTL + 5), 'bob and carol, on the killed host, go offline in the room';
for my $u (sort keys %gone) {
    my $after = $gone{$u} - $killed;
    ok $after <= $TTL + 0.5,
        sprintf('%s: offline %.1f s after the kill (TTL %d s)', $u, $after,
                $TTL);
}

my $p = presence_of($A, 'bob');
is $p->{state}, 'offline', 'GET /presence on A: bob offline';
ok $p->{last_seen} <= $killed * 1000 + 500
   && $p->{last_seen} >= ($killed - $TTL) * 1000,
    '... last seen at the last refresh of his host before it died';
$r = $alice->request({ type => 'presence', room => $room });
is_deeply $r && $r->{users}, ['alice'], 'only alice is present now';

close_all($alice);
is_deeply [$A->crashes], [], 'no worker of A crashed';
$A->stop;
done_testing;
