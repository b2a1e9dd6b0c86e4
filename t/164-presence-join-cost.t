# What a connection and its join cost Redis, whatever the number of live
# workers: the presence script asks a room's hash about every live
# instance in one HMGET (one per room entry added), and never asks the
# instances' sets whether a user is online already when one connects (no
# event depends on it).  Counted with Redis's own counters (INFO
# commandstats) over the connections and joins of users with 4 live
# workers; then the same users' presence is as it was.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my $N = 40;
my $WORKERS = 4;

my $redis = start_redis();
my $ng = start_nginx(workers => $WORKERS, listen => 'reuseport',
                     redis => $redis->addr,
                     http => 'chat_presence_ttl 2s;');

sub redis { my $a = join ' ', @_;
            my $r = `redis-cli -h 127.0.0.1 -p @{[$redis->port]} $a`;
            chomp $r; $r }

sub stats {
    my %s;
    for (`redis-cli -h 127.0.0.1 -p @{[$redis->port]} info commandstats`) {
        $s{$1} = $2 if /^cmdstat_(\w+):calls=(\d+)/;
    }
    return \%s;
}

# every worker is a live instance once it has beaten
ok wait_until(sub { redis('zcard', 'chat:presence:workers') == $WORKERS },
              10), "$WORKERS live instances";

my @rooms = map { rand_room("jc$_") } 0 .. $N / 2 - 1;
my $s0 = stats();
my @c;
for my $i (0 .. $N - 1) {
    my $c = login($ng, "jc$i");
    $c->send_json({ type => 'join', room => $rooms[$i / 2], id => 1 });
    push @c, $c;
}
for my $c (@c) {
    my $r = $c->wait_for(sub { ($_->{id} // '') eq '1' }, 10);
    die 'join failed' unless $r && $r->{type} eq 'ok';
}
my $s1 = stats();
my $r = api($ng, GET => '/presence?user=jc0&user=jc' . ($N - 1),
            user => 'x');
is_deeply [map { $_->{state} } @{ $r->{json}{users} }], ['online', 'online'],
    "$N connections online";

my %d = map { $_ => ($s1->{$_} // 0) - ($s0->{$_} // 0) }
        qw(hexists sismember hmget sadd);
diag join ' ', map { "$_=$d{$_}" } sort keys %d;

is $d{hexists}, 0, 'no HEXISTS per live instance for a room entry';
is $d{sismember}, 0, 'no SISMEMBER per live instance for a user online';
is $d{hmget}, $N, 'one HMGET per room entry added';

# the second of each pair sees its room-mate go offline
my @mates = @c[grep { $_ % 2 } 0 .. $N - 1];
close_all(@c[grep { !($_ % 2) } 0 .. $N - 1]);
for my $i (0 .. $#mates) {
    my $u = 'jc' . (2 * $i);
    my $e = $mates[$i]->wait_for(sub { ($_->{type} // '') eq 'presence'
                                       && $_->{user} eq $u
                                       && $_->{state} eq 'offline' }, 10);
    ok $e, "$u offline in its room" or last;
}
$r = api($ng, GET => '/presence?user=jc0&user=jc1', user => 'x');
is_deeply [map { $_->{state} } @{ $r->{json}{users} }], ['offline', 'online'],
    'who left is offline, who stayed online';

close_all(@mates);
ok wait_until(sub { redis('--scan', '--pattern', "'chat:presence:worker:*'")
                    eq '' }, 10),
    'no instance lists an entry once every connection closed';
is $ng->crashes, 0, 'no worker crashed';
done_testing;
