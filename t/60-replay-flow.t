# Replies under flow control (issue: replays that a reading client can
# take): a join replay or history pages far larger than
# chat_send_queue_max reach a client that reads, in order and whole;
# only a client that stops reading is closed with 1013.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my $ng = start_nginx(workers => 1, listen => 'sndbuf=32k',
                     loc => 'chat_send_queue_max 64k; chat_send_timeout 1s;');
my $room = rand_room('flow');
my $body = 'b' x 2000;
my $n = 500;

my $s = login($ng, 'sender');

# sends in pipelined bursts of $burst (default 100); while readers are
# joined, bursts stay well inside their 64 KiB queues.  $after->(acks of
# the burst), when given, runs after each burst.
sub send_n {
    my ($count, $tag, $burst, $after) = @_;
    $burst //= 100;
    my @all;
    for (my $i = 1; $i <= $count; $i += $burst) {
        my $last = $i + $burst - 1 > $count ? $count : $i + $burst - 1;
        my @r = $s->pipeline([map { { type => 'send', room => $room,
            body => "$tag$_ $body" } } $i .. $last], 20);
        die "send failed" if grep { !$_ || $_->{type} ne 'ok' } @r;
        push @all, @r;
        $after->(@r) if $after;
    }
    return @all;
}

send_n($n, 'm');

# ---- a replay of ~1 MB through a 64 KiB queue
my $r = login($ng, 'reader');
my $id = next_id();
$r->send_json({ type => 'join', room => $room, since => 0, id => $id });
my @f = $r->recv_until(sub { ($_->{id} // '') eq $id }, 30);
ok $r->{last_until_ok}, 'the join is answered';
my $reply = pop @f;
is $reply && $reply->{type}, 'ok', 'the join succeeds';
is $reply && $reply->{seq}, $n, 'the reply has the latest seq';
ok !($reply && $reply->{truncated}), 'nothing is truncated';
my @m = grep { ($_->{type} // '') eq 'message' } @f;
is_deeply [map { $_->{seq} } @m], [1 .. $n],
    'every message is replayed once, in order, before the reply';
ok $r->is_open, 'the reader is still connected';

# ---- live events after the reply
send_n(3, 'live', 10);
my @live = $r->wait_messages($room, 3, 10);
is_deeply [map { $_->{seq} } @live], [$n + 1 .. $n + 3],
    'live events follow the replay';

# ---- history pages far larger than the queue
my @h = $r->pipeline([map { { type => 'history', room => $room,
    limit => 200, before => $n + 1 - 50 * $_ } } 0 .. 4], 30);
is scalar(grep { $_ && $_->{type} eq 'ok' } @h), 5,
    'five pages of 200 messages (~2 MB) are answered';
# each page stops at chat_reply_max (here the queue's 64 KiB) and says so
ok !grep({ !$_ || !@{ $_->{messages} } || !$_->{has_more} } @h),
    'each page has messages and says more exist';
my $bytes = 0;
$bytes += length Mojo::JSON::encode_json($_) for @h;
cmp_ok $bytes, '>', 4 * 64 * 1024, 'the pages are far more than the queue';
ok $r->is_open, 'the reader is still connected after the pages';
is $r->request({ type => 'ping' })->{type}, 'pong', 'and still served';

# ---- a replay while the room is busy: the replay and the live stream
# meet without a gap or a duplicate
my $r2 = login($ng, 'reader2');
my $id2 = next_id();
$r2->send_json({ type => 'join', room => $room, since => 300, id => $id2 });
# a reader that reads: once its replay is out and it is live, the next
# burst waits until it has the last one (the test's own process is the
# reader, and a loaded machine may starve it past a 64 KiB queue)
my @more = send_n(100, 'busy', 10, sub {
    my $seq = $_[-1]{seq};
    ChatTest::run_loop(sub {
        my @q = @{ $r2->{queue} };
        !grep({ ($_->{id} // '') eq $id2 } @q)
            || grep { ($_->{type} // '') eq 'message'
                      && ($_->{seq} // 0) >= $seq } @q;
    }, 20);
});
my @f2 = $r2->recv_until(sub { ($_->{id} // '') eq $id2 }, 30);
my $reply2 = pop @f2;
is $reply2 && $reply2->{type}, 'ok', 'a join during sends succeeds';
my @seen = map { $_->{seq} } grep { ($_->{type} // '') eq 'message' } @f2;
my $last = $more[-1]{seq};
push @seen, map { $_->{seq} }
    $r2->wait_messages($room, $last - ($reply2->{seq} // 0), 20);
is_deeply \@seen, [301 .. $last],
    'replay then live: every seq once, in order'
    or diag explain { reply => $reply2, close => $r2->{close_code},
                      n => scalar(@seen), last => $last };

# ---- a client that stops reading during its replay is closed with 1013
# once its queue has not moved for chat_send_timeout
my $slow = raw_connect($ng->port, '/chat/ws',
    { Authorization => 'Bearer ' . token(sub => 'slowpoke') }, rcvbuf => 4096);
is $slow->status, 101, 'non-reader upgraded';
$slow->read_json(5);
$slow->send_json({ type => 'join', room => $room, since => 0, id => 1 });
# from here on it reads nothing, while the room goes on
send_n(100, 'flood', 10);
ok ChatTest::run_loop(sub { $ng->error_log =~ /"slowpoke" reads too slowly/ }, 10),
    'the server gives up on the non-reader';
my @frames;
while (my $fr = $slow->read_frame(10)) {
    push @frames, $fr;
}
my $frames = @frames;
ok $slow->{eof}, 'the non-reader is disconnected'
    or diag "still open after $frames frames";
# its peer stopped reading: the close frame itself may not get through
ok !grep({ $_->{opcode} == 8 && unpack('n', $_->{payload}) != 1013 }
         @frames), 'a close frame it got says 1013';
is $r->request({ type => 'ping' })->{type}, 'pong', 'the reader is fine';
my @tail = $r->wait_messages($room, 200, 20);
is scalar(@tail), 200, 'and has every message sent meanwhile';

is_deeply [$ng->crashes], [], 'no worker crashed';
$ng->stop;
done_testing;
