# Presence with several tabs of a user on one worker (protocol.md section
# 8): the worker tells a user's room presence from the member lists of
# the user's sessions, not from a count of its own.  A second tab joining
# emits nothing, nor does one of two leaving; the last one leaving emits
# offline; a tab in another room keeps that room's presence; when Redis
# comes back empty the worker writes each user and room once again.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my $redis = start_redis();
my $ng = start_nginx(workers => 1, redis => $redis->addr,
                     http => 'chat_presence_ttl 2s;');
my $room = rand_room('tabs');
my $room2 = rand_room('tabs-other');

# the presence events of $room that $c gets up to one of $user, that one
# last; none if it does not come
sub presence_until {
    my ($c, $room, $user) = @_;
    my @p = grep { ($_->{type} // '') eq 'presence' && $_->{room} eq $room }
        $c->recv_until(sub {
            ($_->{type} // '') eq 'presence' && $_->{room} eq $room
                && $_->{user} eq $user }, 10);
    return $c->{last_until_ok} ? @p : ();
}

sub join_ok {
    my ($c, $room, $label) = @_;
    my $r = $c->request({ type => 'join', room => $room });
    ok $r && $r->{type} eq 'ok', $label;
}

sub present {
    my ($c, $room) = @_;
    my $r = $c->request({ type => 'presence', room => $room });
    return $r && $r->{users} ? join ',', @{ $r->{users} } : 'error';
}

sub online {
    my $r = api($ng, GET => '/presence?user=alice', user => 'x');
    return $r->{status} == 200 ? $r->{json}{users}[0]{state} : $r->{status};
}

my $bob = login($ng, 'bob');
join_ok($bob, $room, 'bob joins');
my $alice1 = login($ng, 'alice');
join_ok($alice1, $room, 'alice joins (first tab)');
my @p = presence_until($bob, $room, 'alice');
ok @p && $p[-1]{state} eq 'online', 'bob sees alice online';

my $alice2 = login($ng, 'alice');
join_ok($alice2, $room, 'alice joins again (second tab, same worker)');
my $alice3 = login($ng, 'alice');
join_ok($alice3, $room2, 'a third tab joins another room only');

# a marker: carol's arrival comes after anything alice's tabs caused
my $carol = login($ng, 'carol');
join_ok($carol, $room, 'carol joins');
@p = presence_until($bob, $room, 'carol');
ok @p, 'bob sees carol arrive';
is scalar(grep { $_->{user} eq 'alice' } @p), 0,
    'the second tab of alice emitted nothing';
is present($bob, $room), 'alice,bob,carol', 'present: alice, bob, carol';
is present($alice3, $room2), 'alice', 'the other room: alice';

# Redis comes back empty: written again from the tabs' member lists
$redis->stop;
ok wait_until(sub {
    api($ng, GET => '/health')->{json}{redis} eq 'down' }, 5),
    'Redis is down';
$redis->start;
ok wait_until(sub { present($bob, $room) eq 'alice,bob,carol' }, 5),
    'Redis back, empty: present again';
ok wait_until(sub { present($alice3, $room2) eq 'alice' }, 5),
    '... and in the other room';
is online(), 'online', 'alice is online';

# one of two tabs in the room leaves: she is still present
my $r = $alice1->request({ type => 'leave', room => $room });
is $r && $r->{type}, 'ok', 'alice leaves on her first tab';
is present($bob, $room), 'alice,bob,carol', '... still present';
my $dave = login($ng, 'dave');
join_ok($dave, $room, 'dave joins');
@p = presence_until($bob, $room, 'dave');
ok @p, 'bob sees dave arrive';
is scalar(grep { $_->{user} eq 'alice' && $_->{state} eq 'offline' } @p), 0,
    'one of two tabs leaving emitted no offline';

# the last tab in the room goes: offline there, present in the other room
$alice2->close;
@p = presence_until($bob, $room, 'alice');
ok @p && $p[-1]{state} eq 'offline',
    'the last tab of alice in the room gone: offline';
is present($bob, $room), 'bob,carol,dave', 'alice is no longer present';
is present($alice3, $room2), 'alice', 'the other room still has her';
is online(), 'online', 'alice is online (two tabs left)';

# a tab rejoining after the others left: online again, once
join_ok($alice1, $room, 'her first tab joins again');
@p = presence_until($bob, $room, 'alice');
ok @p && $p[-1]{state} eq 'online', 'online again';

close_all($alice1, $alice3);
ok wait_until(sub { online() eq 'offline' }, 3), 'all tabs closed: offline';
is present($bob, $room), 'bob,carol,dave', 'and not present';

close_all($bob, $carol, $dave);
is $ng->crashes, 0, 'no worker crashed';
done_testing;
