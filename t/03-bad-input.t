# Protocol sections 3 and 6: bad input gets bad_request / too_large and the
# connection stays open; oversize, invalid UTF-8 and binary frames close it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my $ng = start_nginx(loc => "chat_message_max 100;\n            chat_frame_max 4k;");
my $room = rand_room('bad');
my $c = login($ng, 'alice');    # not joined: no events in its queue

sub alive {
    my ($name) = @_;
    my $p = $c->request({ type => 'ping' });
    is $p && $p->{type}, 'pong', "$name: connection still usable";
}

sub error_is {
    my ($req, $code, $name) = @_;
    my $e = $c->request($req);
    is $e && $e->{type}, 'error', "$name: error";
    is $e && $e->{code}, $code, "$name: $code";
    ok $e && defined $e->{message} && !ref $e->{message}, "$name: message";
    alive($name);
}

# ---- sizes
my $r = $c->request({ type => 'send', room => $room, body => 'x' x 100 });
is $r->{type}, 'ok', 'body of exactly chat_message_max bytes: ok';
$r = $c->request({ type => 'send', room => $room, body => "\x{e9}" x 50 });
is $r->{type}, 'ok', '50 two-byte characters = 100 bytes: ok';
error_is({ type => 'send', room => $room, body => 'x' x 101 }, 'too_large',
    'body of chat_message_max + 1 bytes');
error_is({ type => 'send', room => $room, body => "\x{e9}" x 51 }, 'too_large',
    '51 two-byte characters = 102 bytes (limit is in bytes)');
error_is({ type => 'send', room => $room, body => 'x' x 3000 }, 'too_large',
    'body of 3000 bytes');
error_is({ type => 'send', room => $room, body => '' }, 'bad_request',
    'empty body');

# ---- malformed frames
for my $raw ('{"type":', 'not json', '[1,2,3]', '"ping"', '42', 'null',
             '{"type":"ping"} x', '') {
    $c->send_text($raw);
    my $e = $c->wait_for(sub { ($_->{type} // '') ne 'message' }, 5);
    is $e && $e->{type}, 'error', "malformed '$raw': error";
    is $e && $e->{code}, 'bad_request', "malformed '$raw': bad_request";
    ok !exists $e->{id}, "malformed '$raw': no id";
    alive("malformed '$raw'");
}
$c->send_text('{"type":"join","id":5,"room":}');
my $e = $c->recv(5);
is $e && $e->{code}, 'bad_request', 'invalid JSON with an id: bad_request';

# ---- unknown / missing / mistyped fields
error_is({ type => 'no_such_type' }, 'bad_request', 'unknown type');
error_is({ room => $room }, 'bad_request', 'missing type');
error_is({ type => 42 }, 'bad_request', 'type not a string');
error_is({ type => 'join' }, 'bad_request', 'join without room');
error_is({ type => 'leave' }, 'bad_request', 'leave without room');
error_is({ type => 'send', body => 'x' }, 'bad_request', 'send without room');
error_is({ type => 'send', room => $room }, 'bad_request', 'send without body');
error_is({ type => 'send', room => $room, body => 42 }, 'bad_request',
    'body not a string');
error_is({ type => 'join', room => 42 }, 'bad_request', 'room not a string');
error_is({ type => 'join', room => $room, since => 'abc' }, 'bad_request',
    'since not a number');
error_is({ type => 'send', room => $room, body => 'x',
           client_msg_id => 'c' x 65 }, 'bad_request', 'client_msg_id of 65 bytes');
error_is({ type => 'send', room => $room, body => 'x', client_msg_id => '' },
    'bad_request', 'empty client_msg_id');

# ---- room ids
for my $bad ('', 'a b', 'a/b', 'r#1', 'x' x 65, "caf\x{e9}", "tab\there",
             'semi;colon', '*') {
    (my $show = $bad) =~ s/[^\x20-\x7e]/?/g;
    $show = substr($show, 0, 10) . '...' if length $show > 13;
    error_is({ type => 'join', room => $bad }, 'bad_request',
        "join invalid room '$show'");
    error_is({ type => 'send', room => $bad, body => 'x' }, 'bad_request',
        "send to invalid room '$show'");
}
my $long = join '', map { ('A'..'Z', 'a'..'z', '0'..'9', '_', '.', ':', '@', '-')[$_ % 67] } 0 .. 63;
$r = $c->request({ type => 'join', room => $long });
is $r->{type}, 'ok', 'a 64-byte room id of every allowed character';

# ---- connection-closing input (one connection each)
{
    my $x = login($ng, 'alice');
    $x->send_text('{"type":"ping","id":1,"pad":"' . ('p' x 5000) . '"}');
    is $x->close_code(5), 1009, 'frame larger than chat_frame_max: 1009';
}
{
    my $x = raw_connect($ng->port, '/chat/ws');
    my $chunk = ' ' x 2000;
    $x->send_frame(1, '{"type":"ping",' . $chunk, fin => 0);
    $x->send_frame(0, $chunk, fin => 0);
    $x->send_frame(0, $chunk . '"id":1}', fin => 1);
    my ($code) = $x->read_close(5);
    is $code, 1009, 'fragmented message larger than chat_frame_max: 1009';
}
{
    my $x = login($ng, 'alice');
    $x->send_text(qq({"type":"send","room":"$room","body":"bad \xff\xfe"}));
    is $x->close_code(5), 1007, 'invalid UTF-8 in a text frame: 1007';
}
{
    my $x = login($ng, 'alice');
    $x->send_binary('{"type":"ping","id":1}');
    is $x->close_code(5), 1003, 'binary frame: 1003';
}
{
    my $x = ws_connect($ng->ws_url);
    $x->send_binary("\x00\x01");
    is $x->close_code(5), 1003, 'binary frame before auth: 1003';
}

alive('after all that');
$ng->stop;
done_testing;
