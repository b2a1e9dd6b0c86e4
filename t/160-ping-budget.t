# Pings cost from chat_request_rate like requests (protocol.md "Pings from
# the client"): each ping is answered, but pings past the budget pause the
# connection like refused requests, and past 64 in a second it is not read
# until the second is over.  A client that pipelines 20 000 pings gets a
# few hundred read in 3 s, not all of them; another user is served
# meanwhile; a JSON request after the pings of a small budget is refused.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use ChatTest;
use ChatTest::Prom qw(prom_scrape prom_num);

my $FRAMES = 'ngx_chat_ws_frames_received_total';
my $LIMITED = 'ngx_chat_rate_limited_total';

my $ng = start_nginx(workers => 1,
                     loc => 'chat_request_rate 2r/s burst=4;',
                     server => 'location = /metrics { chat_metrics; }');
my $metrics = $ng->url . '/metrics';
my $room = rand_room('pb');

sub frames { prom_num(prom_scrape($metrics), $FRAMES) }

# ---- a few pings use the budget up: the JSON request after them waits
{
    my $c = raw_connect($ng->port, '/chat/ws',
        { Authorization => 'Bearer ' . token(sub => 'pb-a') });
    is $c->read_json(5)->{type}, 'welcome', 'a: welcome';
    # in one write, so that the worker reads them at once
    $c->write(join '', (map { ChatTest::Raw::frame_bytes(9, "p$_") } 1 .. 8),
        ChatTest::Raw::frame_bytes(1, Mojo::JSON::encode_json(
            { type => 'join', room => $room, id => 'j' })));
    my ($last, $reply) = ('', undef);
    while (my $f = $c->read_frame(5)) {
        $last = $f->{payload} if $f->{opcode} == 10;
        if ($f->{opcode} == 1) {
            $reply = Mojo::JSON::decode_json($f->{payload});
            last;
        }
    }
    is $last, 'p8', 'the last ping answered';
    ok $reply && $reply->{type} eq 'error'
       && $reply->{code} eq 'rate_limited' && $reply->{id} eq 'j',
        'the join after 8 pings on a budget of 5: rate_limited'
        or diag explain $reply;
    $c->close;
}

# ---- 20 000 pings at once, read by their sender: few are read
my $bob = login($ng, 'pb-bob');
is $bob->request({ type => 'join', room => $room })->{type}, 'ok',
    'bob joins';
my $f0 = frames();
my $c = raw_connect($ng->port, '/chat/ws',
    { Authorization => 'Bearer ' . token(sub => 'pb-flood') });
is $c->read_json(5)->{type}, 'welcome', 'flooder: welcome';
my $all = join '', map { ChatTest::Raw::frame_bytes(9, sprintf '%06d', $_) }
                       1 .. 20_000;
my $t0 = time;
my $sock = $c->sock;
$sock->blocking(0);
my ($off, $pongs) = (0, 0);
while (time - $t0 < 3) {
    my $n = syswrite $sock, $all, length($all) - $off, $off;
    $off += $n if $n;
    # read what comes: pongs
    while (defined(my $k = sysread $sock, my $d, 65536)) {
        last unless $k;
        $pongs += () = $d =~ /\x8a\x06\d{6}/g;
    }
    select undef, undef, undef, 0.01;
}
my $secs = time - $t0;
my $read = frames() - $f0;
diag sprintf "flooder: %d of %d bytes written, %d pongs, %d frames read "
    . "in %.1f s", $off, length $all, $pongs, $read, $secs;
my $bound = 5 + 2 * (int($secs) + 1) + 64 * (int($secs) + 2) + 2;
cmp_ok $read, '<=', $bound, "at most the budget and 64 a second read "
    . "($bound), not the 20 000";
cmp_ok $read, '>', 5, 'more than the burst read: the refused are answered';
cmp_ok $pongs, '>', 0, 'pongs came';
cmp_ok prom_num(prom_scrape($metrics), $LIMITED, limit => 'request'), '>', 0,
    'counted in the rate limits';

my $r = $bob->request({ type => 'send', room => $room, body => 'meanwhile' });
is $r && $r->{type}, 'ok', 'bob is served meanwhile';
$c->close;
is_deeply [$ng->crashes], [], 'no worker crashed';
$ng->stop;
done_testing;
