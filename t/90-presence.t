# Presence (protocol.md section 8) on one nginx of two workers: a user is
# online while a connection of theirs is authenticated (GET /presence,
# with last_seen), present in a room while a connection of theirs has
# joined it (the presence request, presence events online and offline to
# the joined connections of the room's other users).  A second tab of a user, on either
# worker, emits nothing; the last one leaving emits offline.  Bad queries
# are bad requests; a room the user may not read is refused.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use ChatTest;

my $ng = start_nginx(workers => 2, listen => 'reuseport');

sub presence_of { grep { ($_->{type} // '') eq 'presence' } @_ }

# every frame $c gets up to the first presence event of $user
sub until_presence {
    my ($c, $room, $user) = @_;
    my @f = $c->recv_until(sub {
        ($_->{type} // '') eq 'presence' && $_->{room} eq $room
            && $_->{user} eq $user }, 10);
    return ($c->{last_until_ok}, @f);
}

sub joined {
    my ($c, $room, $label) = @_;
    my $r = $c->request({ type => 'join', room => $room });
    is $r && $r->{type}, 'ok', $label;
}

sub get_presence {
    my ($user, @who) = @_;
    my $q = join '&', map { "user=$_" } @who;
    return api($ng, GET => "/presence?$q", user => $user);
}

sub state_of {
    my ($res, $who) = @_;
    my ($u) = grep { $_->{user} eq $who } @{ $res->{json}{users} // [] };
    return $u;
}

# --- online, offline, last_seen -------------------------------------------

my $zed = 'zed' . int(rand 1e9);
my $t0 = int(time * 1000);
my $alice1 = login($ng, 'alice');
my $res = get_presence('bob', 'alice', $zed);
is $res->{status}, 200, 'GET /presence: 200';
is_deeply [map { $_->{user} } @{ $res->{json}{users} }], ['alice', $zed],
    '... a user each, in the order asked';
my $a = state_of($res, 'alice');
is $a->{state}, 'online', 'alice, connected, is online';
ok $a->{last_seen} >= $t0 && $a->{last_seen} <= time * 1000 + 1000,
    '... last seen now';
is_deeply state_of($res, $zed), { user => $zed, state => 'offline',
                                  last_seen => undef },
    'a user never seen: offline, last_seen null';

# --- room presence ---------------------------------------------------------

my $room = rand_room('presence');
my $bob = login($ng, 'bob');
joined($bob, $room, 'bob joins');
joined($alice1, $room, 'alice joins');
my ($ok, @f) = until_presence($bob, $room, 'alice');
ok $ok, 'bob gets the presence event of alice';
is_deeply $f[-1], { type => 'presence', room => $room, user => 'alice',
                    state => 'online' }, '... online';
is scalar(presence_of(@f)), 1, '... and none of his own';

my $r = $bob->request({ type => 'presence', room => $room });
is $r && $r->{type}, 'ok', 'presence request: ok';
is_deeply $r->{users}, ['alice', 'bob'], '... with alice and bob';

# a second tab of alice, on the other worker: nothing more for the room
my $alice2;
for (1 .. 20) {
    my $c = login($ng, 'alice');
    if ((worker_of($ng, $c))[0] ne (worker_of($ng, $alice1))[0]) {
        $alice2 = $c;
        last;
    }
    $c->close;
}
ok $alice2, 'a second connection of alice on the other worker';
joined($alice2, $room, 'alice joins again (second tab)');

# a marker: carol's arrival comes after anything alice's tab caused
my $carol = login($ng, 'carol');
joined($carol, $room, 'carol joins');
($ok, @f) = until_presence($bob, $room, 'carol');
ok $ok, 'bob sees carol arrive';
is scalar(grep { $_->{user} eq 'alice' } presence_of(@f)), 0,
    'the second tab of alice emitted nothing';
for my $c ($alice1, $alice2) {
    ($ok, @f) = until_presence($c, $room, 'carol');
    ok $ok, 'alice sees carol arrive';
    is scalar(grep { $_->{user} eq 'alice' } presence_of(@f)), 0,
        '... and never her own presence';
}

# the first tab leaves: alice is still present
$r = $alice1->request({ type => 'leave', room => $room });
is $r && $r->{type}, 'ok', 'alice leaves on her first tab';
$r = $bob->request({ type => 'presence', room => $room });
is_deeply $r->{users}, ['alice', 'bob', 'carol'],
    '... she is still present (her other tab)';
my $dave = login($ng, 'dave');
joined($dave, $room, 'dave joins');
($ok, @f) = until_presence($bob, $room, 'dave');
is scalar(grep { $_->{user} eq 'alice' } presence_of(@f)), 0,
    'one of two tabs leaving emitted nothing';

# the last one leaves by closing: offline
$alice2->close;
($ok, @f) = until_presence($bob, $room, 'alice');
ok $ok, 'the last tab of alice gone: an event';
is $f[-1]{state}, 'offline', '... offline';
$r = $bob->request({ type => 'presence', room => $room });
is_deeply $r->{users}, ['bob', 'carol', 'dave'], 'alice is no longer present';

# alice1 is still connected: online; once it closes, offline, last seen then
$res = get_presence('bob', 'alice');
is state_of($res, 'alice')->{state}, 'online',
    'alice is online while a connection of hers is';
my $before = int(time * 1000);
close_all($alice1);
my $after;
ok wait_until(sub {
    $res = get_presence('bob', 'alice');
    $after = int(time * 1000);
    (state_of($res, 'alice') // {})->{state} eq 'offline';
}, 1), 'alice closed her last connection: offline within 1 s';
$a = state_of($res, 'alice');
ok $a->{last_seen} >= $before - 1000 && $a->{last_seen} <= $after + 1000,
    '... last seen when she closed it';

# a reader of the room who has not joined it may ask; others may not
my $erin = login($ng, 'erin');
$r = $erin->request({ type => 'presence', room => $room });
is_deeply $r && $r->{users}, ['bob', 'carol', 'dave'],
    'a user who may read the room asks without joining';
$r = $erin->request({ type => 'presence', room => rand_room('none') });
is $r && $r->{code}, 'not_found', 'a room that does not exist: not_found';
$r = $erin->request({ type => 'presence', room => 'dm:bob:carol' });
is $r && $r->{code}, 'forbidden', 'a DM of others: forbidden';
$r = $erin->request({ type => 'presence' });
is $r && $r->{code}, 'bad_request', 'no room: bad_request';

# --- bad queries -------------------------------------------------------------

is_api_error(api($ng, GET => '/presence'), 400, 'bad_request',
    'GET /presence without a user: 400');
is_api_error(get_presence('bob', 'a b'), 400, 'bad_request',
    'an invalid user id: 400');
is get_presence('bob', map { "u$_" } 1 .. 100)->{status}, 200,
    '100 users at once: 200';
is_api_error(get_presence('bob', map { "u$_" } 1 .. 101), 400, 'bad_request',
    '101 users: 400');
is_api_error(api($ng, GET => '/presence?user=bob', no_auth => 1), 401,
    'unauthenticated', 'without a token: 401');

close_all($bob, $carol, $dave, $erin);
is $ng->crashes, 0, 'no worker crashed';

done_testing;
