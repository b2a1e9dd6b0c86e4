# What presence costs Redis while connections idle: each worker sends one
# script per chat_presence_ttl / 4 (its beat), whatever its number of
# connections and rooms, never one command per connection.  Measured with
# Redis's own counters (INFO commandstats) over a window of idle time.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use ChatTest;

my $N = 300;
my $WORKERS = 2;
my $TTL = 2;                    # a beat every 0.5 s
my $WINDOW = 4;

my $redis = start_redis();
my $ng = start_nginx(workers => $WORKERS, listen => 'reuseport',
                     redis => $redis->addr,
                     http => "chat_presence_ttl ${TTL}s;");

sub stats {
    my %s;
    for (`redis-cli -h 127.0.0.1 -p @{[$redis->port]} info commandstats`) {
        $s{$1} = $2 if /^cmdstat_(\w+):calls=(\d+)/;
    }
    return \%s;
}

# every connection a user of its own, in one of 10 rooms
my @rooms = map { rand_room("cost$_") } 0 .. 9;
my @c;
for my $i (0 .. $N - 1) {
    my $c = login($ng, "cost$i");
    $c->send_json({ type => 'join', room => $rooms[$i % 10], id => 1 });
    push @c, $c;
}
for my $c (@c) {
    my $r = $c->wait_for(sub { ($_->{id} // '') eq '1' }, 10);
    die 'join failed' unless $r && $r->{type} eq 'ok';
}
my $r = api($ng, GET => '/presence?user=cost0&user=cost299', user => 'x');
is_deeply [map { $_->{state} } @{ $r->{json}{users} }], ['online', 'online'],
    "$N connections online";

my $s0 = stats();
my $t0 = time;
run_loop(sub { 0 }, $WINDOW);    # a window of idle time, measured
my $s1 = stats();
my $secs = time - $t0;

# a script goes by EVALSHA once its connection has sent it (by EVAL)
my $evals = 0;
$evals += ($s1->{$_} // 0) - ($s0->{$_} // 0) for qw(eval evalsha);
my $all = 0;
$all += $s1->{$_} - ($s0->{$_} // 0) for keys %$s1;
$all -= 1;                      # the INFO of the first snapshot
my $beats = $WORKERS * $secs / ($TTL / 4);
diag sprintf '%d idle connections, %d workers, %.1f s: %d scripts, %d '
    . 'commands in all (%.1f/s; one beat per worker every %.2f s)',
    $N, $WORKERS, $secs, $evals, $all, $all / $secs, $TTL / 4;

ok $evals >= $beats - 2 * $WORKERS && $evals <= $beats + 2 * $WORKERS,
    sprintf("the workers beat: about %d scripts in the window (got %d)", $beats, $evals);
ok $all <= 8 * ($beats + 2 * $WORKERS),
    "a few commands per beat, not one per connection ($all in all)";

close_all(@c);
is $ng->crashes, 0, 'no worker crashed';
done_testing;
