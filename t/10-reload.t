# nginx reload and quit under traffic: connected clients get close 1012
# (service restart) on a reload and 1001 (going away) on quit (protocol.md
# section 6), every acknowledged message survives, the master exits on
# quit.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use ChatTest;

my $ng = start_nginx(workers => 2, listen => 'reuseport');
my $room = rand_room('reload');

my @rcv = map { login($ng, "r$_") } 1 .. 4;
$_->request({ type => 'join', room => $room }) for @rcv;
my $s = login($ng, 'sender');

my $n = 300;
my @ids = map { "m$_" } 1 .. $n;
$s->send_json({ type => 'send', room => $room, id => "m$_",
                client_msg_id => "m$_", body => "reload $_" }) for 1 .. $n;
# reload in the middle of the stream
ChatTest::run_loop(sub { grep { ($_->{id} // '') eq 'm20' } @{ $s->queue } }, 10);
my $old = [$ng->worker_pids];
my $new = $ng->reload;
ok @$new == 2, 'reload: two new workers';

for my $i (0 .. $#rcv) {
    is $rcv[$i]->close_code(10), 1012, "receiver $i: close 1012 on reload";
}
is $s->close_code(10), 1012, 'sender: close 1012 on reload';
my @r = $s->collect_replies(\@ids, 0.5);
my %acked = map { $_->{seq} => $_ } grep { $_ && $_->{type} eq 'ok' } @r;
my %body = map { my $i = $_; $r[$i] && $r[$i]{type} eq 'ok'
                 ? ($r[$i]{seq} => 'reload ' . ($i + 1)) : () } 0 .. $#r;
ok keys(%acked) >= 20, scalar(keys %acked) . ' sends acked before the reload';
ok wait_until(sub { !grep { ChatTest::pid_alive($_) } @$old }, 10),
    'old workers exited';

# every acked message is there
my $c = login($ng, 'checker');
my $id = next_id();
$c->send_json({ type => 'join', room => $room, since => 0, id => $id });
my @f = $c->recv_until(sub { ($_->{id} // '') eq $id }, 10);
my $reply = pop @f;
is $reply && $reply->{type}, 'ok', 'join since 0 after the reload';
my %have = map { $_->{seq} => $_ } grep { $_->{type} eq 'message' } @f;
my @missing = grep { !$have{$_} || $have{$_}{body} ne $body{$_}
                     || $have{$_}{msg_id} != $acked{$_}{msg_id} } keys %acked;
is scalar(@missing), 0, 'every acked message is in the history'
    or diag "missing: @missing";
is_deeply [sort { $a <=> $b } keys %have], [1 .. ($reply ? $reply->{seq} : 0)],
    'history gapless';

# new connections work with the new workers
is $c->request({ type => 'send', room => $room, body => 'after' })->{type},
    'ok', 'send after the reload';
my ($m) = $c->wait_messages($room, 1, 5);
is $m && $m->{body}, 'after', 'delivery after the reload';

# quit: clients get 1001, the master exits
my @q = map { login($ng, "q$_") } 1 .. 3;
$_->request({ type => 'join', room => $room }) for @q;
ok $ng->stop, 'nginx -s quit: master exits in time';
for my $i (0 .. $#q) {
    is $q[$i]->close_code(5), 1001, "client $i: close 1001 on quit";
}
is $c->close_code(5), 1001, 'checker: close 1001 on quit';
ok !$ng->alive, 'master gone';

# a quitting worker waits for closing handshakes up to the close wait (3 s),
# and not for the ping and auth deadlines of the connections
for my $answer (0, 1) {
    my $q = start_nginx(workers => 1);
    my @c = map {
        raw_connect($q->port, '/chat/ws',
                    $_ ? { Authorization => 'Bearer ' . token(sub => "w$_") }
                       : {})
    } 0 .. 2;
    my ($w) = $q->worker_pids;
    my $t0 = time;
    CORE::kill 'QUIT', $q->pid;
    for my $c (@c) {
        my $f;
        do { $f = $c->read_frame(5) } while ($f && $f->{opcode} != 8);
        ok $f && $c->status == 101, 'close frame on quit';
        next unless $answer && $f;
        $c->send_frame(8, substr($f->{payload}, 0, 2));
        $c->close;
    }
    ok wait_until(sub { !ChatTest::pid_alive($w) }, 10), 'the worker exits';
    my $took = time - $t0;
    if ($answer) {
        cmp_ok $took, '<', 2, sprintf('every client answered: it exited '
                                      . 'after %.1f s', $took);
    } else {
        cmp_ok $took, '>', 2.5, sprintf('no client answered: it exited '
                                        . 'after %.1f s', $took);
        cmp_ok $took, '<', 6, 'the close wait, no longer';
    }
    $q->stop;
}

done_testing;
