# Slowloris: clients that drip bytes to hold a connection open.  An upgrade
# request whose header comes a byte at a time is closed at
# client_header_timeout, counted from its first byte, not from the last
# one; a client that upgrades and drips its auth frame a byte at a time is
# closed with 4008 at chat_auth_timeout.  Neither gets anything more, and
# another user chats meanwhile.  500 of the first kind at once cost the
# worker what nginx holds for a request being read, nothing of the module
# yet: the request's pool (request_pool_size, 4k), its header buffer
# (client_header_buffer_size, 1k), the connection's pool, about 10 KB
# measured; 16 KB each is asserted.  (A header past 1k moves to
# large_client_header_buffers: at most 4 x 8k by default, the bound an
# operator sets.)  All of them are gone after the timeout.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Select;
use Mojo::JSON qw(encode_json);
use Time::HiRes qw(time sleep);
use ChatTest;

$SIG{PIPE} = "IGNORE";

plan skip_all => 'nginx without the stub_status module'
    unless `$ChatTest::NGINX -V 2>&1` =~ /http_stub_status_module/;

# a header timeout of 4 s: the 500 below must all be open and counted
# before the first of them times out, on a busy machine too
my $ng = start_nginx(workers => 1, http => 'client_header_timeout 4s;',
                     loc => 'chat_auth_timeout 2s;',
                     server => 'location = /status { stub_status; }');
my ($worker) = $ng->worker_pids;
my $room = rand_room('loris');
my $bob = login($ng, 'bob');
is $bob->request({ type => 'join', room => $room })->{type}, 'ok',
    'bob joins';

# Writes $bytes one byte every $gap seconds while the peer keeps the
# connection, and bob sends once per 5 bytes; returns the bytes written
# and the seconds it took the server to close.
my @acks;
sub drip {
    my ($c, $bytes, $gap) = @_;
    my $t0 = time;
    my $sel = IO::Select->new($c->sock);
    my $n = 0;
    for my $i (0 .. length($bytes) - 1) {
        # the server closed: a read returns EOF (or a close frame)
        if ($sel->can_read(0)) {
            my $got = sysread $c->sock, my $d, 4096;
            last if !$got;
            $c->{buf} .= $d;
        }
        last unless defined syswrite $c->sock, substr($bytes, $i, 1);
        $n++;
        if ($i % 5 == 0) {
            push @acks, $bob->request({ type => 'send', room => $room,
                                        body => "tick $i" });
        }
        sleep $gap;
    }
    $c->is_eof(10);
    return ($n, time - $t0);
}

# the upgrade request: its first line at once, then its header at ten
# bytes a second, far faster than the timeout
my $head = "Host: x\r\nUpgrade: websocket\r\n"
    . "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    . 'X-Pad: ' . ('p' x 120) . "\r\n"
    . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    . 'Authorization: Bearer ' . token(sub => 'loris') . "\r\n\r\n";
my $c = raw_connect($ng->port, '/chat/ws', undef,
                    request => "GET /chat/ws HTTP/1.1\r\n", no_response => 1);
my ($n, $secs) = drip($c, $head, 0.1);
diag sprintf 'upgrade: %d of %d bytes written, closed after %.1f s',
    $n, length $head, $secs;
ok $c->{eof}, 'the dripping upgrade is closed';
cmp_ok $n, '<', length $head, '... before its header was complete';
cmp_ok $secs, '<', 8, '... at client_header_timeout (4 s), not per byte';
is $c->{buf}, '', '... with no response';
like $ng->error_log,
    qr/client timed out .* while reading client request headers/,
    'nginx logged the header timeout';
unlike $ng->error_log, qr/user "loris"/, 'no session began';

# upgraded without a token, the auth frame a byte at a time: 4008
my $a = raw_connect($ng->port, '/chat/ws');
is $a->status, 101, 'upgraded without a token';
my $auth = ChatTest::Raw::frame_bytes(1, encode_json({ type => 'auth',
    id => 'a', token => token(sub => 'dripper') }));
($n, $secs) = drip($a, $auth, 0.1);
diag sprintf 'auth frame: %d of %d bytes written, closed after %.1f s',
    $n, length $auth, $secs;
cmp_ok $n, '<', length $auth, 'the auth frame was not complete';
my ($code, $reason) = $a->read_close(5);
is $code, 4008, 'closed with 4008 at chat_auth_timeout';
is $reason, 'authentication timeout', '... "authentication timeout"';
cmp_ok $secs, '<', 8, '... within chat_auth_timeout (2 s) and the close';
ok !grep({ $_->{opcode} == 1 } @{ $a->{skipped} // [] }),
    'no welcome, no answer';

# 500 at once, each with half a header
sub reading {
    my $r = http_get($ng->url . '/status');
    return ($r->{body} // '') =~ /Reading: (\d+)/ ? $1 : -1;
}
my $fd0 = pid_fds($worker);
my $rss0 = pid_rss_kb($worker);
my @many = map {
    raw_connect($ng->port, '/chat/ws', undef, no_response => 1,
                request => "GET /chat/ws HTTP/1.1\r\n" . substr($head, 0, 200))
} 1 .. 500;
ok wait_until(sub { reading() >= 500 }, 10, 0.05),
    '500 upgrades are being read';
my $per = (pid_rss_kb($worker) - $rss0) * 1024 / 500;
diag sprintf '%.0f bytes of worker RSS each', $per;
SKIP: {
    skip 'CHAT_TEST_SANITIZED: the sanitizers\' allocator', 1
        if $ENV{CHAT_TEST_SANITIZED};
    cmp_ok $per, '<', 16 * 1024, '... each costs less than 16 KB';
}
push @acks, $bob->request({ type => 'send', room => $room,
                            body => 'among them' });
ok wait_until(sub { reading() == 0 && pid_fds($worker) <= $fd0 + 1 },
              10, 0.05), '... all closed at client_header_timeout';
ok !grep({ !$_->is_eof(1) || $_->{buf} ne '' } @many),
    '... with no response';

# bob was served all along
cmp_ok scalar(@acks), '>', 4, 'bob sent while they dripped';
is scalar(grep { $_ && $_->{type} eq 'ok' } @acks), scalar(@acks),
    'bob: every send acknowledged';
my @seq = map { $_ && $_->{seq} // 0 } @acks;
is_deeply \@seq, [1 .. @acks], 'bob: in order';

$ng->stop;
done_testing;
