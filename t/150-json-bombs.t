# JSON nesting bombs (issue: hostile input): deeply nested requests over
# the WebSocket and REST bodies are refused with bad_request (or too_large
# past the frame size), change nothing, and the worker goes on serving the
# same connection and others.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my $ng = start_nginx(workers => 1);
my $room = rand_room('bomb');
my $c = login($ng, 'bomber');
is $c->request({ type => 'join', room => $room })->{type}, 'ok', 'joined';

sub deep_array  { '[' x $_[0] . ']' x $_[0] }
sub deep_object { '{"a":' x $_[0] . '1' . '}' x $_[0] }
sub send_with_meta {
    '{"type":"send","room":"' . $room . '","body":"x","id":"m",'
    . '"meta":{"a":' . $_[0] . '}}';
}

my @cases = (
    ['an array 5000 deep', deep_array(5000)],
    ['an object 2500 deep', deep_object(2500)],
    ['3000 unclosed brackets', '[' x 3000],
    ['a send whose meta is 5000 deep', send_with_meta(deep_array(5000))],
    ['a send whose meta is 2100 objects deep',
     send_with_meta(deep_object(2100))],
);
for my $case (@cases) {
    my ($name, $text) = @$case;
    cmp_ok length $text, '<', 16384, "$name fits in a frame";
    $c->send_text($text);
    my $e = $c->wait_for(sub { ($_->{type} // '') eq 'error' }, 5);
    is $e && $e->{code}, 'bad_request', "$name: bad_request"
        or diag explain $e;
    is $c->request({ type => 'ping' })->{type}, 'pong',
        "$name: the connection is still served";
}

# a frame past chat_frame_max (16 KiB) of nesting: the connection closes
# with 1009, as any oversized frame
my $big = login($ng, 'bomber2');
$big->send_text(deep_array(20000));
is $big->close_code(5), 1009, 'a 40 KB bomb: closed with 1009';

# over REST
for my $case (['a body 5000 deep', deep_array(5000)],
              ['meta 5000 deep',
               '{"body":"x","meta":{"a":' . deep_array(5000) . '}}'])
{
    my ($name, $body) = @$case;
    my $r = api($ng, POST => "/rooms/$room/messages", user => 'bomber',
                body => $body,
                headers => { 'Content-Type' => 'application/json' });
    is_api_error($r, 400, 'bad_request', "REST $name");
}

# nothing was stored, and the room works
my $ok = $c->request({ type => 'send', room => $room, body => 'after' });
is_deeply [$ok->{type}, $ok->{seq}], ['ok', 1],
    'a normal send after the bombs is the room\'s first message';
is_deeply [$ng->crashes], [], 'no worker crashed';
$ng->stop;
done_testing;
