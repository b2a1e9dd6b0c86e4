# PostgreSQL restarts (fast and immediate shutdowns) with the pools'
# connections up, idle or busy: the module drops them without an alert
# (libpq has closed their sockets already), reconnects every pool, and
# sends work again.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my $pg = start_pg();
my $ng = start_nginx(pg => $pg->conninfo);
my $room = rand_room('pgr');

ok wait_until(sub { $ng->pg_ready($pg->conninfo) }, 15, 0.05),
    'every worker has its pool connected';

my $c = login($ng, 'alice');
is $c->request({ type => 'join', room => $room })->{type}, 'ok', 'join';

my $n = 0;
for my $mode (qw(fast immediate fast immediate)) {
    # sends in flight keep some connections busy while it stops
    my @ids = map { "m$mode" . ++$n . "-$_" } 1 .. 10;
    $c->send_json({ type => 'send', room => $room, id => $_, body => $_ })
        for @ids;
    $pg->stop($mode);
    my @r = $c->collect_replies(\@ids, 15);
    is scalar(grep { $_ } @r), 10, "$mode stop: every send answered";
    $pg->start;
    ok wait_until(sub { $ng->pg_ready($pg->conninfo) }, 15, 0.05),
        "$mode stop: every worker's pool is connected again";
    my $r = $c->request({ type => 'send', room => $room, body => 'after' },
                        10);
    is $r && $r->{type}, 'ok', "$mode stop: a send works again";
}

my @bad = grep { /\[alert\]|epoll_ctl/ } split /\n/, $ng->error_log;
is scalar(@bad), 0, 'no alert and no epoll_ctl failure in the error log'
    or diag join "\n", @bad[0 .. ($#bad < 9 ? $#bad : 9)];

$ng->stop;
done_testing;
