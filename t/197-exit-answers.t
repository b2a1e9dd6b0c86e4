# A worker that exits without a window to spread its closes over (nginx -s
# quit: 1001; a reload with chat_reload_spread 0: 1012) closes its idle
# sessions at once, and a session whose send is in its commit once the
# send's answer is out: the ack of a stored message is never lost to the
# close.  The commit is held behind a row lock of the room, so the send is
# under way when the worker is told to exit; the lock's release lets it
# commit.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;
use ChatTest::Backends qw(row_lock);

my $b = ChatTest::backends();

sub stored {
    my ($room, $body) = @_;
    return psql($b->{conninfo},
        "select count(*) from messages where room_id = '$room' "
        . "and body = '$body'");
}

sub exit_with_send_in_commit {
    my ($name, $signal, $code, $http) = @_;

    my $ng = start_nginx(workers => 1, http => $http);
    my $room = rand_room($name);
    my ($busy, $idle) = map { login($ng, "$name$_") } 1, 2;
    is $_->request({ type => 'join', room => $room })->{type}, 'ok',
        "$name: joined" for $busy, $idle;

    my $release = row_lock($b->{conninfo}, "rooms where id = '$room'");
    my $id = next_id();
    $busy->send_json({ type => 'send', room => $room, id => $id,
                       body => "$name under way" });
    # its pong: the send was read and is in its commit, behind the lock
    is $busy->request({ type => 'ping' })->{type}, 'pong',
        "$name: the send is under way";

    my @workers = $ng->worker_pids;
    CORE::kill $signal, $ng->pid or die "$signal: $!";

    is $idle->close_code(10), $code, "$name: an idle session closes with $code";
    ok $busy->is_open, "$name: the session waiting for its answer stays open";
    ok !grep({ ($_->{id} // '') eq $id } @{ $busy->queue }),
        "$name: its send is not answered yet";

    $release->();
    my ($rep) = $busy->collect_replies([$id], 10);
    is $rep && $rep->{type}, 'ok', "$name: the send is acknowledged"
        or diag explain $rep;
    ok $rep && $rep->{seq}, "$name: with its seq";
    is $busy->close_code(10), $code, "$name: then the session closes with $code";
    is stored($room, "$name under way"), 1, "$name: the message is stored once";

    ok wait_until(sub { !grep { ChatTest::pid_alive($_) } @workers }, 15),
        "$name: the exiting worker is gone";
    return $ng;
}

my $q = exit_with_send_in_commit('quit', 'QUIT', 1001, '');
ok wait_until(sub { !ChatTest::pid_alive($q->pid) }, 10), 'quit: nginx exited';
$q->stop;    # gone already: checks that no worker crashed

my $r = exit_with_send_in_commit('spread0', 'HUP', 1012,
                                 'chat_reload_spread 0;');
my $c = login($r, 'after');
my $room = rand_room('after');
is $c->request({ type => 'join', room => $room })->{type}, 'ok',
    'spread0: a new worker serves a new session';
is $c->request({ type => 'send', room => $room, body => 'x' })->{type}, 'ok',
    'spread0: and commits its send';
unlike $r->error_log, qr/chat: reload: closing/, 'spread0: no spread logged';
$r->stop;

done_testing;
