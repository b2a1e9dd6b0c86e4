# chat_reload_spread: after a reload the old workers keep their sessions
# and close them (1012) spread over the window, so that their clients
# reconnect at different times; meanwhile those sessions are served (frames
# in and out, Redis, PostgreSQL commits); reconnecting clients land on the
# new workers; the old workers exit once their sessions are gone.  The
# window is bounded by worker_shutdown_timeout; 0 closes all at once; a
# quit closes with 1001 at once (a session whose send is in its commit,
# once it is answered: t/197).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use Mojo::IOLoop;
use ChatTest;

my $N = 24;
# long enough that, on a busy machine too, sessions are still open a
# second after a new worker's client logged in, joined and sent
my $WINDOW = 6;

# the loop wakes often enough to timestamp each close as it comes
my $beat = Mojo::IOLoop->recurring(0.02 => sub { });

# HUP without leaving the event loop; returns the new workers' pids
sub reload_in_loop {
    my ($ng) = @_;
    my %old = map { $_ => 1 } $ng->worker_pids;
    my @new;
    CORE::kill 'HUP', $ng->pid or die "reload: $!";
    ChatTest::run_loop(sub {
        @new = grep { !$old{$_} } $ng->worker_pids;
        @new >= $ng->{workers};
    }, 10);
    return @new;
}

sub got_body {
    my ($c, $body) = @_;
    return scalar grep { ($_->{type} // '') eq 'message'
                         && ($_->{body} // '') eq $body } @{ $c->queue };
}

sub reload_notes {
    my ($ng) = @_;
    return [ $ng->error_log =~ /chat: reload: closing (\d+) sessions over (\d+) ms/g ];
}

my $ng = start_nginx(workers => 2, listen => 'reuseport',
                     http => "chat_reload_spread ${WINDOW}s;");
my $room = rand_room('spread');

my @old = map { login($ng, "o$_") } 1 .. $N;
is $_->request({ type => 'join', room => $room })->{type}, 'ok', 'joined'
    for $old[0];
$_->request({ type => 'join', room => $room }) for @old[1 .. $#old];
my %first = map { $_ => 1 } $ng->worker_pids;
is scalar(grep { $_ && $first{$_} } worker_of($ng, @old)), $N,
    "$N clients on the first workers";

my $t0 = time;
my @new = reload_in_loop($ng);
is scalar(@new), 2, 'reload: two new workers';
my %second = map { $_ => 1 } @new;

# the old clients send: their old worker commits
my %sent;
for my $i (0 .. $#old) {
    next unless $old[$i]->is_open;
    $sent{$i} = next_id();
    $old[$i]->send_json({ type => 'send', room => $room, id => $sent{$i},
                          body => "old $i" });
}
ok keys(%sent) >= 1, scalar(keys %sent) . ' old clients still open send';

# a client of the new workers sends during the window, once every old
# worker with sessions has begun its spread: it closed its listening
# sockets before that, so the connection cannot reach an old worker
my %holding = map { $_ => 1 } grep { $_ } worker_of($ng, @old);
ok ChatTest::run_loop(sub { @{ reload_notes($ng) } / 2 >= keys %holding }, 10),
    'the old workers began their spread';
my $n = login($ng, 'n1');
my ($nw) = worker_of($ng, $n);
ok $nw && $second{$nw}, 'a new connection lands on a new worker';
is $n->request({ type => 'join', room => $room, since => 0 })->{type}, 'ok',
    'it joins the room';
my $r = $n->request({ type => 'send', room => $room, body => 'during' });
is $r && $r->{type}, 'ok', 'a send on a new worker during the window';
my $t_ack = time;

ok ChatTest::run_loop(sub { !grep { $_->is_open } @old }, $WINDOW + 5),
    'every old client is closed';
is scalar(grep { ($_->{close_code} // 0) == 1012 } @old), $N,
    'every close is 1012';

# the closes are spread over the window
my @t = sort { $a <=> $b } map { $_->{close_time} - $t0 } @old;
cmp_ok $t[-1] - $t[0], '>=', $WINDOW / 2,
    sprintf('the closes span %.2f s to %.2f s after the reload', @t[0, -1]);
cmp_ok $t[-1], '<=', $WINDOW + 2.5, 'all within the window and a margin';
my $most = 0;
for my $i (0 .. $#t) {
    my $j = $i;
    $j++ while $j < $#t && $t[$j + 1] - $t[$i] < 0.2;
    $most = $j - $i + 1 if $j - $i + 1 > $most;
}
cmp_ok $most, '<=', $N / 2, "at most half of the closes in any 0.2 s ($most)";

my $notes = reload_notes($ng);
my $told = 0;
$told += $notes->[2 * $_] for 0 .. @$notes / 2 - 1;
is $told, $N, "the old workers logged the spread of their $N sessions";
is_deeply [ sort { $a <=> $b } map { $notes->[2 * $_ + 1] } 0 .. @$notes / 2 - 1 ],
    [ map { $WINDOW * 1000 } 1 .. @$notes / 2 ], 'over the window';

# the send of the new worker reached the old sessions still open
my @late = grep { $_->{close_time} >= $t_ack + 1 } @old;
ok @late >= 1, scalar(@late) . ' old clients closed 1 s or more after the send';
is scalar(grep { !got_body($_, 'during') } @late), 0,
    'each got it before its close';

# the sends of old sessions were committed and reached the new worker
my (%acked, @refused);
for my $i (keys %sent) {
    my ($rep) = grep { ($_->{id} // '') eq $sent{$i} } @{ $old[$i]->queue };
    next unless $rep;
    $rep->{type} eq 'ok' ? ($acked{$i} = $rep) : push @refused, $rep;
}
is scalar(@refused), 0, 'no send of an old session is refused'
    or diag explain \@refused;
ok keys(%acked) >= 1, scalar(keys %acked) . ' sends acked by the old workers';
ok ChatTest::run_loop(sub { !grep { !got_body($n, "old $_") } keys %acked }, 5),
    'each reached the client of the new worker (replayed or live)';
my $h = api($ng, GET => "/rooms/$room/messages?limit=100", user => 'n1');
my %stored = map { ($_->{body} => 1) } @{ $h->{json}{messages} // [] };
is scalar(grep { !$stored{"old $_"} } keys %acked), 0,
    'and each is stored';
# a send the close came before its answer is not stored: no ack is lost
my @unanswered = grep { !$acked{$_} } keys %sent;
is scalar(grep { $stored{"old $_"} } @unanswered), 0,
    scalar(@unanswered) . ' sends unanswered at their close, none stored';

# the clients reconnect: on the new workers
my @back = map { login($ng, "o$_") } 1 .. $N;
is scalar(grep { $_ && $second{$_} } worker_of($ng, @back)), $N,
    'the reconnected clients are on the new workers';
$_->request({ type => 'join', room => $room }) for @back;
ok wait_until(sub { !grep { ChatTest::pid_alive($_) } keys %first }, 10),
    'the old workers exited';
is $n->request({ type => 'send', room => $room, body => 'after' })->{type},
    'ok', 'a send after the old workers are gone';
ok ChatTest::run_loop(sub { !grep { !got_body($_, 'after') } @back }, 5),
    'every reconnected client gets it';

# a quit is no reload: 1001, at once
ok $ng->stop, 'nginx -s quit';
is scalar(grep { ($_->close_code(5) // 0) == 1001 } @back, $n), $N + 1,
    'every client: close 1001 on quit';

# worker_shutdown_timeout bounds the window: it leaves half of 1 s
{
    my $q = start_nginx(workers => 1, main => 'worker_shutdown_timeout 1s;',
                        http => 'chat_reload_spread 5s;');
    my @c = map { login($q, "b$_") } 1 .. 4;
    my $t = time;
    reload_in_loop($q);
    ok ChatTest::run_loop(sub { !grep { $_->is_open } @c }, 5),
        'with worker_shutdown_timeout 1s every client is closed';
    is scalar(grep { ($_->{close_code} // 0) == 1012 } @c), 4, 'with 1012';
    my $last = (sort { $b <=> $a } map { $_->{close_time} - $t } @c)[0];
    cmp_ok $last, '<', 3, sprintf('the last %.2f s after the reload', $last);
    is_deeply reload_notes($q), [4, 500], 'a window of 500 ms';
    $q->stop;
}

# chat_reload_spread 0: all at once, as without the directive's window
{
    my $q = start_nginx(workers => 1, http => 'chat_reload_spread 0;');
    my @c = map { login($q, "z$_") } 1 .. 4;
    reload_in_loop($q);
    ok ChatTest::run_loop(sub { !grep { $_->is_open } @c }, 5),
        'with chat_reload_spread 0 every client is closed';
    is scalar(grep { ($_->{close_code} // 0) == 1012 } @c), 4, 'with 1012';
    is_deeply reload_notes($q), [], 'no spread';
    $q->stop;
}

Mojo::IOLoop->remove($beat);
done_testing;
