# Tiny fragments (protocol.md "Fragments"): a message in 100 000 one-byte
# frames is assembled right while it stays within chat_frame_max; past the
# limit, in bytes or in frames (every frame counts at least one byte), the
# connection is closed with 1009.  A stream of empty continuation frames
# does not hold a message open forever.  Another user chats meanwhile.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Mojo::JSON qw(encode_json);
use ChatTest;

my $ng = start_nginx(workers => 1,
    server => 'location /chat/big { chat_ws; chat_frame_max 128k; }');
my $room = rand_room('frag');

my $bob = login($ng, 'bob');
is $bob->request({ type => 'join', room => $room })->{type}, 'ok',
    'bob joins';

sub raw {
    my ($user, $path) = @_;
    my $c = raw_connect($ng->port, $path // '/chat/ws',
        { Authorization => 'Bearer ' . token(sub => $user) });
    my $w = $c->read_json(5);
    die "no welcome for $user\n" unless $w && $w->{type} eq 'welcome';
    return $c;
}

# a text message as frames of $size bytes (the last may be shorter)
sub fragments {
    my ($text, $size) = @_;
    my @p = unpack "(a$size)*", $text;
    my $b = '';
    for my $i (0 .. $#p) {
        $b .= ChatTest::Raw::frame_bytes($i ? 0 : 1, $p[$i],
                                         fin => $i == $#p ? 1 : 0);
    }
    return $b;
}

sub bob_sends {
    my $what = shift;
    my $r = $bob->request({ type => 'send', room => $room, body => $what });
    return $r && $r->{type} eq 'ok';
}

# a send in one-byte frames, multibyte UTF-8 cut across them
my $alice = raw('alice');
$alice->send_json({ type => 'join', room => $room, id => 'j' });
is $alice->read_json(5)->{type}, 'ok', 'alice joins';
my $body = join ' ', map { "m\x{e9}t\x{e9}o $_" } 1 .. 150;
my $send = encode_json({ type => 'send', id => 's1', room => $room,
                         body => $body });
ok $alice->write(fragments($send, 1)),
    length($send) . ' one-byte frames of a send written';
my $ok;
while (my $j = $alice->read_json(10)) {
    next unless ($j->{id} // '') eq 's1';
    $ok = $j;
    last;
}
is $ok && $ok->{type}, 'ok', 'the send is acknowledged';
my ($m) = $bob->wait_messages($room, 1, 5);
is $m && $m->{body}, $body, 'bob got the body as sent';

# 100 000 one-byte frames: a request padded with blanks, within 128k
my $big = raw('alice', '/chat/big');
my $ping = '{"type":"ping","id":"many"' . (' ' x (100_000 - 27)) . '}';
is length $ping, 100_000, 'a request of 100 000 bytes';
ok $big->write(fragments($ping, 1)), '100 000 one-byte frames written';
ok bob_sends('during the fragments'), 'bob sends meanwhile';
my $pong = $big->read_json(20);
is $pong && $pong->{type}, 'pong', 'the request is assembled and answered';
is $pong && $pong->{id}, 'many', '... with its id';

# past chat_frame_max (16k here) in one-byte frames: 1009
my $over = raw('alice');
my $long = '{"type":"ping","id":"over"' . (' ' x 16_400) . '}';
$over->write(fragments($long, 1));
my ($code) = $over->read_close(10);
is $code, 1009, 'one-byte frames past chat_frame_max: 1009';

# empty continuations: at most chat_frame_max frames in a message
my $empty = raw('eve');
my $cont = ChatTest::Raw::frame_bytes(0, '', fin => 0);
$empty->write(ChatTest::Raw::frame_bytes(1, '{', fin => 0));
my $sent = 0;
for (1 .. 20) {
    last unless $empty->write($cont x 1000);
    $sent += 1000;
}
ok bob_sends('during the empty frames'), 'bob sends meanwhile';
($code, my $reason) = $empty->read_close(10);
diag "$sent empty frames written";
is $code, 1009, 'a stream of empty continuations is closed with 1009';
is $reason, 'too many fragments', '... "too many fragments"';
like $ng->error_log, qr/user "eve": too many fragments, closing with 1009/,
    'the close is logged';
# the request is gone by then: the connection's own log still names the
# client and the listener
like $ng->error_log,
    qr/user "eve": too many fragments, closing with 1009 while chatting, (?#
      )client: 127\.\d+\.\d+\.\d+, server: 127\.0\.0\.1:\d+$/m,
    '... with the address of the client';

# just under the frame count: 16383 empty frames, then the last one
my $edge = raw('alice');
$edge->write(ChatTest::Raw::frame_bytes(1, '{"type":"ping","id":"edge"}',
                                        fin => 0)
             . ($cont x 16_382)
             . ChatTest::Raw::frame_bytes(0, '', fin => 1));
$pong = $edge->read_json(10);
is $pong && $pong->{id}, 'edge',
    'a message of exactly chat_frame_max frames is answered';

ok bob_sends('after'), 'bob sends after';
is_deeply [$ng->crashes], [], 'no worker crashed';

$ng->stop;
done_testing;
