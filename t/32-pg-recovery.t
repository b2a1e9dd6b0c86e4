# Fast recovery: after a PostgreSQL outage of several seconds, a send is
# acknowledged within 1 s of PostgreSQL accepting connections again, on
# every worker.  While it is away, sends get `unavailable` at once.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use ChatTest;

my $OUTAGE = 8;     # long enough for any reconnect backoff to grow
my $BOUND = 1;      # seconds from "accepting connections" to an ack

my $pg = start_pg();
# reuseport spreads the clients over the workers
my $ng = start_nginx(pg => $pg->conninfo, listen => 'reuseport');
my $room = rand_room('pgrec');
ok wait_until(sub { $ng->pg_ready($pg->conninfo) }, 15, 0.05),
    'every worker has its pool connected';

# a client on each worker, the others closed
my @all = spread_clients($ng, 1, sub { login($ng, "u$_[0]") });
my @seen = worker_of($ng, @all);
my (%on, @extra);
for my $i (0 .. $#all) {
    my $pid = $seen[$i];
    if (defined $pid && !$on{$pid}) { $on{$pid} = $all[$i] }
    else                            { push @extra, $all[$i] }
}
close_all(@extra);
my @c = values %on;
is scalar(@c), 2, 'a client on each worker'
    or diag 'workers of the connections: ' . join ' ', map { $_ // 'none' } @seen;
for my $c (@c) {
    is $c->request({ type => 'join', room => $room })->{type}, 'ok', 'join';
}

# sends until one is acked or the deadline passes (a client retrying on
# `unavailable`); returns the reply that ended it and its time
sub send_until_acked {
    my ($c, $deadline, $tag) = @_;
    my $r;
    while (time < $deadline) {
        $r = $c->request({ type => 'send', room => $room, body => $tag,
                           client_msg_id => $tag }, 5);
        return ($r, time) if $r && $r->{type} eq 'ok';
        return ($r, time) if $r && ($r->{code} // '') ne 'unavailable';
        ChatTest::run_loop(sub { 0 }, 0.02);     # pace the retries
    }
    return ($r, time);
}

$pg->stop;

# the outage: every send gets `unavailable`, and promptly
my ($sends, $unavailable, $slowest) = (0, 0, 0);
my $end = time + $OUTAGE;
while (time < $end) {
    for my $c (@c) {
        my $t0 = time;
        my $r = $c->request({ type => 'send', room => $room, body => 'x' }, 5);
        my $dt = time - $t0;
        $slowest = $dt if $dt > $slowest;
        $sends++;
        $unavailable++ if $r && ($r->{code} // '') eq 'unavailable';
    }
    ChatTest::run_loop(sub { 0 }, 0.2);
}
is $unavailable, $sends, "during the outage: $sends sends, all unavailable";
cmp_ok $slowest, '<', 1, 'each answered within 1 s';

$pg->start;
my $up = time;      # pg_ctl start -w returns once it accepts connections
my $i = 0;
for my $c (@c) {
    my ($r, $t) = send_until_acked($c, $up + 10, 'back' . ++$i);
    is $r && $r->{type}, 'ok', "client $i: a send is acked";
    cmp_ok $t - $up, '<', $BOUND,
        sprintf "client $i: acked %.2f s after PostgreSQL is back", $t - $up;
}

my @bad = grep { /\[alert\]/ } split /\n/, $ng->error_log;
is scalar(@bad), 0, 'no alert' or diag join "\n", @bad;

close_all(@c);
$ng->stop;
done_testing;
