# Ping floods (RFC 6455 section 5.5.3, protocol.md "Pings from the
# client"): a pong waiting in a connection's queue takes the payload of a
# newer ping, so a client that sends megabytes of pings without reading
# makes the worker hold one or two pongs.  It is not closed with 1013 for
# its pings, the worker's memory does not grow with the flood, and another
# user chats meanwhile.  A client that reads gets a pong for every ping
# answered, in order, the last ping always answered.  (Pings cost from
# chat_request_rate like requests, t/160: here the budget is large enough
# for the whole flood.)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX ();
use ChatTest;
use ChatTest::Prom qw(prom_scrape prom_scrape_until prom_num);

my $PINGS = 40_000;     # 125-byte payloads: 5.2 MB on the wire

# one worker: the flood and the other user share it; a send queue of 64k
# that 500 queued pongs would pass
my $ng = start_nginx(workers => 1, listen => 'sndbuf=32k',
                     loc => 'chat_send_queue_max 64k; '
                          . 'chat_request_rate 100000r/s burst=100000;',
                     server => 'location = /metrics { chat_metrics; }');
my $metrics = $ng->url . '/metrics';
my $FRAMES = 'ngx_chat_ws_frames_received_total';
my ($worker) = $ng->worker_pids;
my $room = rand_room('pings');

sub rss_kb { pid_rss_kb($worker) }

sub payload { sprintf('%08d', $_[0]) . ('p' x 117) }

my $bob = login($ng, 'bob');
is $bob->request({ type => 'join', room => $room })->{type}, 'ok',
    'bob joins a room';

# the flooder: a raw socket with a small receive buffer that reads nothing
my $flooder = raw_connect($ng->port, '/chat/ws',
    { Authorization => 'Bearer ' . token(sub => 'pinger') }, rcvbuf => 4096);
is $flooder->status, 101, 'flooder upgraded';
my $w = $flooder->read_json(5);
is $w && $w->{type}, 'welcome', 'flooder: welcome';

# a first flood, so that the allocator's pools are warm before measuring
my $warm = join '', map { ChatTest::Raw::frame_bytes(9, payload($_)) }
                        1 .. 2000;
ok $flooder->write($warm), 'flooder: 2000 pings written';
ok wait_until(sub {
        $bob->request({ type => 'send', room => $room, body => 'warm' })
    }, 10), 'bob is served after the first pings';
my $rss0 = rss_kb();
my $frames0 = prom_num(prom_scrape($metrics), $FRAMES);

# the flood, from a process of its own while bob sends
my $pid = fork // die "fork: $!";
if (!$pid) {
    my $chunk = '';
    for my $i (2001 .. 2000 + $PINGS) {
        $chunk .= ChatTest::Raw::frame_bytes(9, payload($i));
        if (length $chunk > 65536 || $i == 2000 + $PINGS) {
            $flooder->write($chunk) or POSIX::_exit(1);
            $chunk = '';
        }
    }
    POSIX::_exit(0);
}

my @acks;
for my $i (1 .. 50) {
    push @acks, $bob->request({ type => 'send', room => $room,
                                body => "during $i" }, 20);
}
waitpid $pid, 0;
is $?, 0, "flooder: $PINGS more pings written without reading";
is scalar(grep { $_ && $_->{type} eq 'ok' } @acks), 50,
    'bob: every send during the flood acknowledged';
my @seqs = map { $_ && $_->{seq} // 0 } @acks;
is_deeply \@seqs, [sort { $a <=> $b } @seqs], 'bob: in order';

# a JSON request behind the pings, answered when the flooder reads; the
# worker has read the whole flood once it counts that frame
$flooder->send_json({ type => 'ping', id => 'behind' });
my $want = $frames0 + $PINGS + 50 + 1;
my $m = prom_scrape_until($metrics,
    sub { prom_num($_[0], $FRAMES) >= $want }, 30);
cmp_ok prom_num($m, $FRAMES), '>=', $want,
    'the worker read every ping of the flood';
my $rss1 = rss_kb();
my $grew = $rss1 - $rss0;
diag "worker RSS: $rss0 kB before the flood, $rss1 kB after ($grew kB)";
# one pong per ping queued would be 5 MB; 1 MB leaves room for the
# allocator and bob's messages
SKIP: {
    skip 'CHAT_TEST_SANITIZED: the sanitizers\' allocator', 1
        if $ENV{CHAT_TEST_SANITIZED};
    cmp_ok $grew, '<', 1024, 'the worker did not keep the flood (< 1 MB)';
}

unlike $ng->error_log, qr/user "pinger" reads too slowly/,
    'the flooder was not closed with 1013 for its pings';

# now it reads: pongs in the order of their pings, far fewer than pings,
# the last ping answered, and then the answer to its request
my ($pongs, $last, $ordered, $reply) = (0, -1, 1, undef);
while (my $f = $flooder->read_frame(10)) {
    if ($f->{opcode} == 10) {
        my ($n) = $f->{payload} =~ /^(\d{8})p{117}\z/ or $ordered = 0;
        $ordered = 0 unless defined $n && $n > $last;
        $last = $n // $last;
        $pongs++;
    } elsif ($f->{opcode} == 1) {
        $reply = eval { Mojo::JSON::decode_json($f->{payload}) };
        last;
    } elsif ($f->{opcode} == 8) {
        diag 'close ' . unpack('n', $f->{payload});
        last;
    }
}
diag "flooder: $pongs pongs for " . (2000 + $PINGS) . ' pings';
ok $ordered, 'every pong carries a ping payload, in the order sent';
is $last + 0, 2000 + $PINGS, 'the last ping was answered';
cmp_ok $pongs, '<', (2000 + $PINGS) / 4,
    'the pongs not sent in time were replaced by newer ones';
is $reply && $reply->{type}, 'pong', 'flooder: its request answered';
is $reply && $reply->{id}, 'behind', '... the one behind the pings';

# a client that reads gets one pong per ping, each with its payload
my $reader = raw_connect($ng->port, '/chat/ws',
    { Authorization => 'Bearer ' . token(sub => 'reader') });
is $reader->read_json(5)->{type}, 'welcome', 'reader: welcome';
my @got;
for my $i (1 .. 20) {
    $reader->send_frame(9, "ping $i");
    my $f = $reader->read_frame(5);
    push @got, $f && $f->{opcode} == 10 ? $f->{payload} : 'none';
}
is_deeply \@got, [map { "ping $_" } 1 .. 20],
    'reader: a pong with the payload of each ping';
$reader->send_frame(9, '');
my $f = $reader->read_frame(5);
ok $f && $f->{opcode} == 10 && $f->{payload} eq '', 'an empty ping too';

# the room and the server are fine
my $r = $bob->request({ type => 'send', room => $room, body => 'after' });
is $r && $r->{type}, 'ok', 'bob sends after the flood';
is_deeply [$ng->crashes], [], 'no worker crashed';

$ng->stop;
done_testing;
