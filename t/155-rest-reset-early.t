# REST clients that reset (SO_LINGER 0) in the middle of their request:
# during the header, in the middle of the body, at once (while their token
# is checked with Redis, and a WebSocket upgrade too), and while their send
# waits for PostgreSQL.  The worker keeps nothing of them (its descriptors come
# back to what it had, no request stays in progress) and a send that was
# committed for a client that reset is not stored twice when the client
# sends it again with its client_msg_id.  (t/30 resets 5000 calls that wait
# for PostgreSQL and watches memory and a reload.)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;
use IPC::Open2 qw(open2);
use Mojo::JSON qw(encode_json);
use Socket qw(SOL_SOCKET SO_LINGER);
use ChatTest;

$SIG{PIPE} = 'IGNORE';

plan skip_all => 'nginx without the stub_status module'
    unless `$ChatTest::NGINX -V 2>&1` =~ /http_stub_status_module/;

my $N = 300;
my $fd0;

my $ng = start_nginx(workers => 1,
                     server => 'location = /status { stub_status; }');
my ($worker) = $ng->worker_pids;
my $conninfo = backends()->{conninfo};
my $user = "rst$$";
my $tok = token(sub => $user);
my $room = rand_room('rst');

is api($ng, POST => "/rooms/$room/messages", user => $user,
       json => { body => 'first' })->{status}, 201, 'a first send: 201';

sub in_progress {
    my $r = http_get($ng->url . '/status');
    my ($reading, $writing) = $r->{body} =~ /Reading: (\d+) Writing: (\d+)/
        or return -1;
    return $reading + $writing;
}

sub fds { pid_fds($worker) }

sub send_req {
    my ($body, %o) = @_;
    return "POST /chat/api/rooms/$room/messages HTTP/1.1\r\nHost: x\r\n"
        . "Authorization: Bearer $tok\r\nContent-Type: application/json\r\n"
        . 'Content-Length: ' . ($o{length} // length $body) . "\r\n\r\n"
        . $body;
}

sub open_write {
    my $bytes = shift;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $ng->port, Proto => 'tcp')
        or die "connect: $!";
    syswrite $s, $bytes;
    return $s;
}

sub reset_all {
    for (@_) {
        setsockopt($_, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
        close $_;
    }
}

# every connection closed: a descriptor more at most, if the pool is
# making a connection again at this moment
sub fds_back {
    my $back = wait_until(sub { fds() <= $fd0 + 1 }, 10, 0.05);
    ok $back, '... the worker\'s descriptors are back: ' . fds()
        . ", $fd0 before";
}

sub settled { wait_until(sub { in_progress() == 1 }, 20, 0.05) }

ok settled(), 'nothing in progress';
$fd0 = fds();

# during the header: the request line and half a header
my $req = send_req('{"body":"never"}');
my @s = map { open_write(substr $req, 0, 60) } 1 .. $N;
ok wait_until(sub { in_progress() == $N + 1 }, 10, 0.05),
    "$N requests wait for the rest of their header";
reset_all(@s);
ok settled(), '... reset: none left in progress';
fds_back();

# in the middle of the body: 20 of 1000 bytes
@s = map { open_write(send_req('{"body":"' . ('x' x 10), length => 1000)) }
         1 .. $N;
ok wait_until(sub { in_progress() == $N + 1 }, 10, 0.05),
    "$N requests wait for the rest of their body";
reset_all(@s);
ok settled(), '... reset: none left in progress';
fds_back();

# at once, header and part of the body: the reset comes while the token
# is checked with Redis, and the request ends when that answer comes
for my $cut (0, 11) {
    my $req = send_req('{"body":"never"}');
    my $head = index($req, "\r\n\r\n") + 4;
    reset_all(map { open_write(substr $req, 0, $head + $cut) } 1 .. $N);
    ok settled(), "reset at once with $cut bytes of the body: none left in "
                  . 'progress';
    fds_back();
}

# the same for WebSocket upgrades
my $up = "GET /chat/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
    . "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    . "Authorization: Bearer $tok\r\n\r\n";
reset_all(map { open_write($up) } 1 .. $N);
ok settled(), 'upgrades reset at once: none left in progress';
fds_back();

# while the send waits for PostgreSQL: the rooms table locked
my $lock_pid = open2(my $lock_out, my $lock_in, 'psql', $conninfo, '-qtAX');
print $lock_in "begin;\nlock table rooms in access exclusive mode;\n"
               . "\\echo locked\n";
$lock_in->flush;
like scalar(<$lock_out>) // '', qr/locked/, 'the rooms table is locked';
my $K = 100;
@s = map { open_write(send_req(encode_json({ body => "once $_",
                                             client_msg_id => "cm-$_" })))
         } 1 .. $K;
ok wait_until(sub { in_progress() == $K + 1 }, 10, 0.05),
    "$K sends wait for PostgreSQL";
reset_all(@s);
print $lock_in "commit;\n";
$lock_in->flush;
close $lock_in;
waitpid $lock_pid, 0;
ok settled(), '... reset: none left in progress';
fds_back();

my $committed = psql($conninfo, "select count(*) from messages where "
    . "room_id = '$room' and client_msg_id like 'cm-%'");
diag "$committed of the $K sends committed for clients that reset";

# each client sends again with the same client_msg_id: one message each
my ($ok, %seq) = (0);
for my $i (1 .. $K) {
    my $r = api($ng, POST => "/rooms/$room/messages", user => $user,
                json => { body => "once $i", client_msg_id => "cm-$i" });
    $ok++ if $r->{status} == 200 || $r->{status} == 201;
    $seq{$r->{json}{seq} // 'none'}++;
}
is $ok, $K, "the $K sends again: all answered";
is scalar(keys %seq), $K, '... each with a seq of its own';
is psql($conninfo, "select count(*) || ' ' || count(distinct client_msg_id)"
        . " from messages where room_id = '$room' and client_msg_id like"
        . " 'cm-%'"), "$K $K", 'each stored once';
is psql($conninfo, "select count(*) from messages where room_id = '$room'"
        . " and body = 'never'"), 0, 'nothing of the cut requests stored';

unlike $ng->error_log, qr/\[alert\]|\[crit\]/, 'no alert';
is_deeply [$ng->crashes], [], 'no worker crashed';

$ng->stop;
done_testing;
