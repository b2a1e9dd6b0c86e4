# 2000 connections that upgrade without a token and never authenticate:
# each costs the worker a few kilobytes, every one is closed with 4008 at
# chat_auth_timeout, and another user's sends are acknowledged meanwhile.
#
# Why a few kilobytes: at the upgrade the HTTP request is freed, its pool
# (request_pool_size, 4k) and its header buffers with it (see
# ngx_chat_session_release_request), so what an unauthenticated connection
# keeps is its nginx connection pool (connection_pool_size), its session
# (a few hundred bytes, the frame reader included; the reader allocates
# only when a message comes in pieces) and its one-slot out queue: about
# 1.2 KB measured.  The bound asserted, 4 KB a connection, leaves room for
# the allocator's rounding; keeping the request (as chat_ws_log_at_close
# does: about 10 KB each) or a read buffer per connection would pass it.
# Under the sanitizers the allocator is theirs: not measured.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use ChatTest;

my $N = 2000;
my $PER_CONN = 4096;

plan skip_all => "needs more than $N + 100 open files"
    unless (`sh -c 'ulimit -n'` // 0) > $N + 100;

my $ng = start_nginx(workers => 1, worker_connections => 4096,
                     main => 'worker_rlimit_nofile 8192;',
                     loc => 'chat_auth_timeout 8s;');
my ($worker) = $ng->worker_pids;
my $room = rand_room('unauth');

sub rss_kb { pid_rss_kb($worker) }

my $bob = login($ng, 'bob');
is $bob->request({ type => 'join', room => $room })->{type}, 'ok',
    'bob joins';

# warm the worker's allocator with a few connections that go away
for (1 .. 50) {
    my $c = raw_connect($ng->port, '/chat/ws');
    $c->close;
}
ok wait_until(sub { $bob->request({ type => 'ping' }) }, 5), 'bob served';
my $rss0 = rss_kb();

my $t0 = time;
my @c;
for my $i (1 .. $N) {
    my $c = raw_connect($ng->port, '/chat/ws');
    last unless $c->status == 101;
    push @c, $c;
}
my $took = time - $t0;
is scalar(@c), $N, "$N connections upgraded without a token";

my @acks = map { $bob->request({ type => 'send', room => $room,
                                 body => "among them $_" }) } 1 .. 20;
is scalar(grep { $_ && $_->{type} eq 'ok' } @acks), 20,
    'bob: every send acknowledged while they are open';

my $rss1 = rss_kb();
my $per = ($rss1 - $rss0) * 1024 / $N;
diag sprintf 'worker RSS %d kB, with %d unauthenticated connections %d kB: '
    . '%.0f bytes each (connected in %.1f s)', $rss0, $N, $rss1, $per,
    $took;
SKIP: {
    # all of them must be open for the measure to mean anything
    skip 'connecting took longer than the auth timeout', 1 if $took > 6;
    skip 'CHAT_TEST_SANITIZED: the sanitizers\' allocator', 1
        if $ENV{CHAT_TEST_SANITIZED};
    cmp_ok $per, '<', $PER_CONN,
        "each unauthenticated connection costs less than $PER_CONN bytes";
}

# every one gets 4008, and nothing before it but the server's pings
my (%codes, $other);
my $end = time + 40;
for my $c (@c) {
    my ($code) = $c->read_close($end - time);
    $codes{$code // 'none'}++;
    $other++ if grep { $_->{opcode} != 9 } @{ $c->{skipped} // [] };
    $c->close;
}
is_deeply \%codes, { 4008 => $N }, "all $N closed with 4008"
    or diag explain \%codes;
ok !$other, 'none got anything else';

my $r = $bob->request({ type => 'send', room => $room, body => 'after' });
is $r && $r->{seq}, 21, 'bob sends after, in order';
is_deeply [$ng->crashes], [], 'no worker crashed';

$ng->stop;
done_testing;
