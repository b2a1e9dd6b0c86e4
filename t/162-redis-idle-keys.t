# What a user costs Redis: while connected and in a room, its count of
# connections (chat_user_connections_max) and its place in the room's
# presence, both small hashes (listpack-encoded, the compact form), and no
# key of its own for being online; once its last connection has closed,
# none of these keys is left.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my $redis = start_redis();
my $ng = start_nginx(workers => 2, listen => 'reuseport',
                     redis => $redis->addr,
                     http => 'chat_user_connections_max 3;');
my $u = sprintf 'ik%d%04x', $$, int rand 65536;
my $room = rand_room('idle-keys');

sub redis {
    my $cmd = join ' ', map { "'$_'" } @_;
    my @out = `redis-cli -h 127.0.0.1 -p @{[$redis->port]} $cmd`;
    chomp @out;
    return wantarray ? @out : $out[0];
}

# the user's keys, by the end of their names
sub keys_of {
    return sort grep { /conns:\Q$u\E$|presence:.*\Q$u\E|presence:.*\Q$room\E$/ }
        redis('--scan', '--pattern', "*$u*"), redis('--scan', '--pattern', "*$room*");
}

wait_until(sub { api($ng, 'GET', '/health')->{status} == 200 }, 10, 0.05);

my @c = map { login($ng, $u) } 1 .. 2;
for my $c (@c) {
    my $r = $c->request({ type => 'join', room => $room });
    is $r && $r->{type}, 'ok', 'a connection joins the room';
}

my @k;
is api($ng, 'GET', "/presence?user=$u", user => 'x')->{json}{users}[0]{state},
    'online', 'the user is online';
ok wait_until(sub { @k = keys_of(); @k == 2 }, 10, 0.05),
    'counted and in the room: two keys' or diag "@k";
like "@k", qr/conns:\Q$u\E/, 'one of them its count of connections';
like "@k", qr/presence:in:.*\Q$room\E/, 'the other the room\'s presence';
for my $k (@k) {
    is redis('type', $k), 'hash', "$k: a hash";
    is redis('object', 'encoding', $k), 'listpack', "$k: listpack-encoded";
}
my ($conns) = grep { /conns:/ } @k;
my $n = 0;
$n += $_ for redis('hvals', $conns);
is $n, 2, 'two connections counted';

$c[0]->close;
$c[0]->closed(3);
ok wait_until(sub {
    my @v = redis('hvals', $conns);
    my $s = 0; $s += $_ for @v;
    $s == 1 && !grep { $_ eq '0' } @v;
}, 5, 0.05), 'one connection counted, no field at zero';

$c[1]->close;
$c[1]->closed(3);
ok wait_until(sub { !keys_of() }, 10, 0.05),
    'the last connection gone: no key of the user is left'
    or diag join ' ', keys_of();
is api($ng, 'GET', "/presence?user=$u", user => 'x')->{json}{users}[0]{state},
    'offline', 'the user is offline';

done_testing;
