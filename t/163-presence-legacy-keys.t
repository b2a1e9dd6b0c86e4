# Presence keys left by an instance of an earlier version, which kept a
# user's instances and a room's members in sets ("presence:user:<user>",
# "presence:<kind><room>"): whoever retires that instance once it has
# expired removes its members from them too, so nothing is left behind.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my $redis = start_redis();
my $room = rand_room('legacy');
my $u = sprintf 'lg%d%04x', $$, int rand 65536;
my $id = '1-deadbeefdeadbeef';

sub redis {
    my $cmd = join ' ', map { "'$_'" } @_;
    my @out = `redis-cli -h 127.0.0.1 -p @{[$redis->port]} $cmd`;
    chomp @out;
    return wantarray ? @out : $out[0];
}

# an instance that expired a second ago, as an earlier version left it
my $past = int(redis('time') * 1000) - 1000;
redis('zadd', 'chat:presence:workers', $past, $id);
redis('sadd', "chat:presence:worker:$id", "u $u", "r room: $room $u");
redis('sadd', "chat:presence:user:$u", $id);
redis('sadd', "chat:presence:room:$room", "$u $id");
redis('sadd', "chat:presence:room:$room", "someone 2-other");
is redis('exists', "chat:presence:user:$u", "chat:presence:room:$room"), 2,
    'the sets of an earlier version';

my $ng = start_nginx(redis => $redis->addr, http => 'chat_presence_ttl 2s;');

ok wait_until(sub { redis('exists', "chat:presence:user:$u") == 0 }, 10, 0.05),
    'its user\'s set is gone once the instance is retired';
is_deeply [redis('smembers', "chat:presence:room:$room")],
    ['someone 2-other'], 'its member of the room\'s set is gone, not others';
is redis('exists', "chat:presence:worker:$id"), 0, 'its list of entries too';
is redis('zscore', 'chat:presence:workers', $id), '', 'and the instance';
my $r = api($ng, GET => "/presence?user=$u", user => 'x');
is $r->{json}{users}[0]{state}, 'offline', 'its user is offline';
ok $r->{json}{users}[0]{last_seen}, 'with a last_seen';

done_testing;
