# Presence while Redis is away (protocol.md section 8): GET /presence and
# the presence request answer unavailable at once, and nothing else waits
# for them.  When Redis comes back empty (no persistence), every worker
# writes its users and rooms again: they are online and present as
# before, and the room sees them arrive.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use ChatTest;

my $redis = start_redis();
my $ng = start_nginx(workers => 2, listen => 'reuseport',
                     redis => $redis->addr,
                     http => 'chat_presence_ttl 2s;');
my $room = rand_room('presence-redis');

sub online {
    my $r = api($ng, GET => '/presence?user=alice&user=bob', user => 'x');
    return $r->{status} == 200
        ? join ',', map { "$_->{user}:$_->{state}" } @{ $r->{json}{users} }
        : $r->{status};
}

my $alice = login($ng, 'alice');
my $bob = login($ng, 'bob');
for ($alice, $bob) {
    my $r = $_->request({ type => 'join', room => $room });
    is $r && $r->{type}, 'ok', 'joined';
}
ok wait_until(sub { online() eq 'alice:online,bob:online' }, 2),
    'alice and bob are online';

$redis->stop;
ok wait_until(sub {
    api($ng, GET => '/health')->{json}{redis} eq 'down' }, 5),
    'Redis is down';

my $t = time;
my $r = api($ng, GET => '/presence?user=alice', user => 'x');
is_api_error($r, 503, 'unavailable', 'GET /presence: 503 unavailable');
$r = $alice->request({ type => 'presence', room => $room });
is $r && $r->{code}, 'unavailable', 'the presence request: unavailable';
ok time - $t < 1, '... both at once';
$r = $alice->request({ type => 'ping' });
is $r && $r->{type}, 'pong', 'the connection goes on';
$r = $bob->request({ type => 'send', room => $room, body => 'still here' });
is $r && $r->{type}, 'ok', 'sends go on';

# a new connection meanwhile is counted when Redis is back
my $carol = login($ng, 'carol');
$r = $carol->request({ type => 'join', room => $room });
is $r && $r->{type}, 'ok', 'carol joins while Redis is down';

$redis->start;
ok wait_until(sub { online() eq 'alice:online,bob:online' }, 5),
    'Redis back, empty: alice and bob are online again';
ok wait_until(sub {
    my $p = $alice->request({ type => 'presence', room => $room });
    $p && $p->{users} && join(',', @{ $p->{users} }) eq 'alice,bob,carol';
}, 5), '... present again, with carol who came meanwhile';

close_all($alice, $bob, $carol);
ok wait_until(sub { online() eq 'alice:offline,bob:offline' }, 2),
    'they leave: offline';

is $ng->crashes, 0, 'no worker crashed';
done_testing;
