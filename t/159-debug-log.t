# With error_log at debug level, nginx's debug lines name each event by the
# fd of the connection in its data: every timer and posted event of the
# module that belongs to no connection must point to one with none, or a
# worker dies (SIGSEGV) at its first such timer.  Two workers at debug
# level chat, join, read history, flood past the request budget (its pause
# timer), send over REST, have presence, read cursors and typing, and
# reload: no worker dies, and the new workers serve.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my $tag = "dl$$" . int(rand 1e6);
my $ng = start_nginx(workers => 2, log_level => 'debug',
                     loc => 'chat_request_rate 5r/s burst=5;',
                     http => 'chat_user_connections_max 10;');
my @workers = sort $ng->worker_pids;
is scalar(@workers), 2, 'two workers at debug level';

my $room = rand_room('dbg');
my $a = login($ng, "${tag}a");
my $b = login($ng, "${tag}b");
is $a->request({ type => 'join', room => $room })->{type}, 'ok', 'a joins';
is $b->request({ type => 'join', room => $room })->{type}, 'ok', 'b joins';
my $r = $a->request({ type => 'send', room => $room, body => 'hello' });
is $r->{type}, 'ok', 'a sends (the group commit timer)';
my ($m) = $b->wait_messages($room, 1, 5);
is $m && $m->{body}, 'hello', 'b gets it';
$b->request({ type => 'typing', room => $room });
$b->request({ type => 'read', room => $room, seq => $r->{seq} });

# past the budget: rate_limited, and the connection paused on a timer
# (sent at once: one after another, a slow machine could refill the budget)
my @codes = map { $_ ? ($_->{code} // $_->{type}) : 'none' }
    $a->pipeline([ map { { type => 'history', room => $room } } 1 .. 8 ]);
ok((grep { $_ eq 'rate_limited' } @codes), 'a history flood is rate limited')
    or diag explain \@codes;

is api($ng, 'POST', "/rooms/$room/messages", user => "${tag}a",
       json => { body => 'over rest' })->{status}, 201, 'a REST send';
is api($ng, 'GET', "/presence?user=${tag}a", user => "${tag}b")->{status},
    200, 'presence';

ok wait_until(sub {
    my $x = $a->request({ type => 'ping' }, 2);
    $x && $x->{type} eq 'pong';
}, 5, 0.2), 'a is served again after its pause';
is_deeply [sort $ng->worker_pids], \@workers, 'the same two workers';

my $new = $ng->reload;
is scalar(@$new), 2, 'a reload at debug level: two new workers';
my $c = login($ng, "${tag}c");
is $c->request({ type => 'join', room => $room })->{type}, 'ok',
    'the new workers serve';
is $c->request({ type => 'send', room => $room, body => 'after' })->{type},
    'ok', 'and commit';

unlike $ng->error_log, qr/exited on signal/, 'no worker died';
like $ng->error_log, qr/\[debug\]/, 'the log is at debug level';
$ng->stop;
done_testing;
