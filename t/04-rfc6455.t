# RFC 6455 sections 5 to 8, with a hand-made client.  The echo is the ping
# request: {"type":"ping","id":N} -> {"type":"pong","id":N}, which needs no
# authentication.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Mojo::JSON qw(encode_json);
use ChatTest;

my $ng = start_nginx(loc => "chat_frame_max 256k;\n"
                          . "            chat_message_max 100000;");
my $port = $ng->port;

sub fresh {
    my $r = raw_connect($port, '/chat/ws');
    die "upgrade failed: " . ($r->status_line // 'no answer') . "\n"
        unless $r->status == 101;
    return $r;
}

# a ping request of exactly $len bytes (padded with JSON whitespace)
sub ping_json {
    my ($id, $len) = @_;
    my $j = qq({"type":"ping","id":$id});
    return $j unless defined $len;
    die "too short" if $len < length $j;
    return '{' . (' ' x ($len - length $j)) . substr($j, 1);
}

# next data frame must be a single unfragmented pong for $id
sub expect_pong {
    my ($r, $id, $name) = @_;
    my $f = $r->read_frame(5);
    $f = $r->read_frame(5) while $f && $f->{opcode} == 9;   # server ping
    subtest $name => sub {
        ok $f, 'a frame' or return;
        is $f->{opcode}, 1, 'text frame';
        is $f->{fin}, 1, 'FIN';
        is $f->{rsv}, 0, 'no RSV bits';
        is $f->{masked}, 0, 'server frames are not masked';
        my $m = eval { Mojo::JSON::decode_json($f->{payload}) } // {};
        is $m->{type}, 'pong', 'pong';
        is $m->{id}, $id, 'same id';
    };
}

# the server must send a close frame with $code and then close TCP
sub expect_close {
    my ($r, $code, $name) = @_;
    my ($got) = $r->read_close(5);
    is $got, $code, "$name: close $code";
    ok $r->is_eof(5), "$name: TCP closed";
}

# ---- payload lengths and length encodings
{
    my $r = fresh();
    for my $len (23, 125, 126, 127, 1000, 65535, 65536, 200_000) {
        $r->send_text(ping_json($len, $len));
        expect_pong($r, $len, "payload $len bytes ("
            . ($len < 126 ? 7 : $len < 65536 ? 16 : 64) . '-bit length)');
    }
    $r->send_text('');
    my $m = $r->read_json(5);
    is $m && $m->{code}, 'bad_request', 'payload 0 bytes: bad_request';
    $r->send_text(ping_json(1));
    expect_pong($r, 1, 'still open after the empty frame');
}

# ---- fragmentation with control frames in between
{
    my $r = fresh();
    my $j = ping_json(77, 300);
    my @parts = unpack '(a13)*', $j;
    splice @parts, 3, 0, '';    # an empty continuation frame is valid
    for my $i (0 .. $#parts) {
        $r->send_frame($i ? 0 : 1, $parts[$i], fin => $i == $#parts ? 1 : 0);
        next if $i == $#parts;
        $r->send_frame(9, "p$i");
        my $f = $r->read_frame(5);
        ok $f && $f->{opcode} == 10 && $f->{payload} eq "p$i",
            "ping between fragments $i: pong with the same payload";
    }
    expect_pong($r, 77, "message in " . @parts . " fragments");

    # the same, one byte per fragment, with pongs from the client between
    @parts = split //, ping_json(78);
    for my $i (0 .. $#parts) {
        $r->send_frame($i ? 0 : 1, $parts[$i], fin => $i == $#parts ? 1 : 0);
        $r->send_frame(10, 'unsolicited') if $i % 5 == 0;
    }
    expect_pong($r, 78, 'one byte per fragment, unsolicited pongs between');

    # control frame payloads
    $r->send_frame(9, '');
    my $f = $r->read_frame(5);
    ok $f && $f->{opcode} == 10 && $f->{payload} eq '', 'empty ping: empty pong';
    my $p125 = join '', map { chr(32 + $_ % 90) } 1 .. 125;
    $r->send_frame(9, $p125);
    $f = $r->read_frame(5);
    ok $f && $f->{opcode} == 10 && $f->{payload} eq $p125,
        'ping of 125 bytes: pong with the same payload';
    $r->send_frame(9, "\x00\xff\x80binary");
    $f = $r->read_frame(5);
    ok $f && $f->{payload} eq "\x00\xff\x80binary", 'ping payload is binary-safe';
}

# ---- TCP-level splitting and coalescing
{
    my $r = fresh();
    $r->send_text(ping_json(5), split => 1);
    expect_pong($r, 5, 'frame written one byte at a time');
    $r->send_text(ping_json(6, 300), split => [1, 1, 1, 1, 50]);
    expect_pong($r, 6, 'header split across writes');
    $r->send_raw(join '', map { ChatTest::Raw::frame_bytes(1, ping_json($_)) }
        10 .. 19);
    expect_pong($r, $_, "ten frames in one write: $_") for 10 .. 19;
    my $mixed = ChatTest::Raw::frame_bytes(1, substr(ping_json(20), 0, 5), fin => 0)
        . ChatTest::Raw::frame_bytes(9, 'mid')
        . ChatTest::Raw::frame_bytes(0, substr(ping_json(20), 5));
    $r->send_raw($mixed, split => 3);
    my $f = $r->read_frame(5);
    ok $f && $f->{opcode} == 10 && $f->{payload} eq 'mid', 'pong for mid ping';
    expect_pong($r, 20, 'fragments and ping in three-byte writes');
}

# ---- UTF-8
{
    my $r = fresh();
    my $j = encode_json({ type => 'ping', id => 30, x => "\x{e9}\x{20ac}\x{1F600}" });
    my $i = index($j, "\xf0") + 2;    # in the middle of the 4-byte sequence
    $r->send_frame(1, substr($j, 0, $i), fin => 0);
    $r->send_frame(0, substr($j, $i), fin => 1);
    expect_pong($r, 30, 'valid UTF-8 split inside a character');
}
for my $case (["\xc3", "\x28", 'invalid continuation across fragments'],
              ["\xf0\x9f", "\x98", 'truncated sequence at the end']) {
    my $r = fresh();
    $r->send_frame(1, '{"type":"ping","id":1,"x":"' . $case->[0], fin => 0);
    $r->send_frame(0, $case->[1] . ($case->[2] =~ /end/ ? '' : '"}'), fin => 1);
    expect_close($r, 1007, $case->[2]);
}
for my $bad (["\xc0\xaf", 'overlong'], ["\xed\xa0\x80", 'surrogate'],
             ["\xf4\x90\x80\x80", 'above U+10FFFF'], ["\xff", '0xff'],
             ["\x80", 'lone continuation byte']) {
    my $r = fresh();
    $r->send_frame(1, qq({"type":"ping","id":1,"x":"$bad->[0]"}));
    expect_close($r, 1007, "invalid UTF-8: $bad->[1]");
}

# ---- protocol errors: 1002
my @p1002 = (
    ['unmasked frame', sub { $_[0]->send_frame(1, ping_json(1), mask => 0) }],
    (map { my $rsv = $_;
           ["RSV bits $rsv", sub { $_[0]->send_frame(1, ping_json(1), rsv => $rsv) }] }
         1, 2, 4, 7),
    ['RSV bit on a ping', sub { $_[0]->send_frame(9, 'x', rsv => 4) }],
    (map { my $op = $_;
           ["reserved opcode $op", sub { $_[0]->send_frame($op, 'x') }] }
         3, 4, 5, 6, 7, 11, 12, 13, 14, 15),
    ['ping of 126 bytes', sub { $_[0]->send_frame(9, 'x' x 126) }],
    ['pong of 126 bytes', sub { $_[0]->send_frame(10, 'x' x 126) }],
    ['close of 126 bytes', sub { $_[0]->send_frame(8, pack('n', 1000) . 'x' x 124) }],
    ['fragmented ping', sub { $_[0]->send_frame(9, 'ab', fin => 0);
                              $_[0]->send_frame(0, 'cd') }],
    ['fragmented close', sub { $_[0]->send_frame(8, pack('n', 1000), fin => 0) }],
    ['continuation without start', sub { $_[0]->send_frame(0, ping_json(1)) }],
    ['continuation without start, not final',
     sub { $_[0]->send_frame(0, ping_json(1), fin => 0) }],
    ['new text frame inside a fragmented message',
     sub { $_[0]->send_frame(1, '{"type"', fin => 0);
           $_[0]->send_frame(1, ping_json(1)) }],
    ['binary continuation inside text message',
     sub { $_[0]->send_frame(1, '{"type"', fin => 0);
           $_[0]->send_frame(2, ':"ping"}') }],
    ['close with a 1-byte payload', sub { $_[0]->send_frame(8, "\x03") }],
    (map { my $code = $_;
           ["close with invalid code $code", sub { $_[0]->send_close($code) }] }
         0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535),
);
for my $case (@p1002) {
    my $r = fresh();
    $case->[1]->($r);
    expect_close($r, 1002, $case->[0]);
}

# ---- closing handshake
{
    my $r = fresh();
    $r->send_close(1000, 'bye');
    expect_close($r, 1000, 'close 1000 echoed');
}
{
    my $r = fresh();
    $r->send_close(1000, "bye \xc3\xa9");
    expect_close($r, 1000, 'close 1000 with a UTF-8 reason');
}
{
    my $r = fresh();
    $r->send_close(1000, "bad \xc3\x28");
    expect_close($r, 1007, 'close reason not UTF-8');
}
for my $code (1001, 3000, 4999) {
    my $r = fresh();
    $r->send_close($code);
    my ($got) = $r->read_close(5);
    ok $r->{close}, "close $code: server answers with a close";
    ok !defined $got || ($got != 1002 && $got != 1007),
        "close $code is valid: no protocol error";
    ok $r->is_eof(5), "close $code: TCP closed";
}
{
    my $r = fresh();
    $r->send_frame(8, '');
    my ($got) = $r->read_close(5);
    ok $r->{close}, 'empty close: server answers with a close';
    ok !defined $got || $got == 1000, 'empty close: empty or 1000';
    ok $r->is_eof(5), 'empty close: TCP closed';
}
{
    my $r = fresh();
    $r->send_frame(1, '{"type"', fin => 0);
    $r->send_close(1000);
    expect_close($r, 1000, 'close in the middle of a fragmented message');
}
{
    my $r = fresh();
    $r->send_close(1000);
    $r->send_text(ping_json(1));    # after our close: must be ignored
    my ($got) = $r->read_close(5);
    is $got, 1000, 'close then data: close 1000';
    ok !@{ $r->{skipped} // [] }, 'no reply to data sent after the close';
}

# ---- large server frames (16- and 64-bit lengths from the server)
SKIP: {
    my $room = rand_room('big');
    my $r = raw_connect($port, '/chat/ws',
        { Authorization => 'Bearer ' . token(sub => 'alice') });
    my $w = $r->read_json(5);
    skip 'no welcome', 1 unless $w && ($w->{type} // '') eq 'welcome';
    $r->send_json({ type => 'join', room => $room, id => 1 });
    my $m = $r->read_json(5);
    is $m && $m->{type}, 'ok', 'join';
    for my $len (1000, 70_000) {
        my $body = join '', map { chr(97 + $_ % 26) } 1 .. $len;
        $r->send_json({ type => 'send', room => $room, body => $body,
                        id => "s$len" });
        my ($event, $ok);
        for (1 .. 2) {
            my $f = $r->read_frame(5) or last;
            redo if $f->{opcode} == 9;
            my $j = eval { Mojo::JSON::decode_json($f->{payload}) } // {};
            if (($j->{type} // '') eq 'message') { $event = [$f, $j] }
            else { $ok = $j }
        }
        is $ok && $ok->{type}, 'ok', "send $len bytes: ok";
        ok $event, "send $len bytes: message event";
        if ($event) {
            is $event->[1]{body}, $body, "body of $len bytes intact";
            ok $event->[0]{fin} && !$event->[0]{masked},
                'one unmasked final frame';
        }
    }
}

$ng->stop;
done_testing;
