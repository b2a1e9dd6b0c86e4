# Protocol section 6: handshake failures are HTTP answers with the JSON
# error body of section 7; Origin checks; the chat.v1 subprotocol.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;
use MIME::Base64 qw(encode_base64);

my %CODES = map { $_ => 1 } qw(bad_request unauthenticated forbidden
    not_found too_large rate_limited conflict unavailable internal);

my $ng = start_nginx(server => q{
        location /chat/ws-listed {
            chat_ws;
            chat_allowed_origins https://a.example https://b.example;
        }
        location /chat/ws-any {
            chat_ws;
            chat_allowed_origins *;
        }});
my $port = $ng->port;

# checks an HTTP error answer: status, JSON body {"error":{"code","message"}}
sub http_error {
    my ($r, $status, $code, $name) = @_;
    subtest $name => sub {
        is $r->status, $status, "status $status"
            or diag $r->status_line;
        like $r->header('Content-Type') // '', qr{^application/json}i,
            'JSON content type';
        my $j = $r->json;
        ok ref $j eq 'HASH' && ref $j->{error} eq 'HASH',
            'body is {"error":{...}}' or diag $r->body;
        my $e = ref $j eq 'HASH' && ref $j->{error} eq 'HASH' ? $j->{error} : {};
        if (defined $code) {
            is $e->{code}, $code, "code $code";
        } else {
            ok $CODES{ $e->{code} // '' }, 'a section 3 error code'
                or diag explain $e;
        }
        ok defined $e->{message} && !ref $e->{message}
            && length $e->{message}, 'message is a string';
    };
}

sub upgraded {
    my ($r, $name) = @_;
    subtest $name => sub {
        is $r->status, 101, '101 Switching Protocols' or diag $r->status_line
            . "\n" . ($r->body // '');
        is $r->header('Sec-WebSocket-Accept'), $r->expected_accept,
            'Sec-WebSocket-Accept';
        like $r->header('Upgrade') // '', qr/^websocket$/i, 'Upgrade';
        like $r->header('Connection') // '', qr/\bupgrade\b/i, 'Connection';
    };
}

# ---- a valid upgrade
my $r = raw_connect($port, '/chat/ws');
upgraded($r, 'plain upgrade');
ok !defined $r->header('Sec-WebSocket-Protocol'),
    'no subprotocol when none was offered';
$r->send_json({ type => 'ping', id => 1 });
my $m = $r->read_json(5);
is $m->{type}, 'pong', 'the upgraded connection talks the protocol';

# ---- malformed upgrades: 400
http_error(raw_connect($port, '/chat/ws', { 'Sec-WebSocket-Key' => undef }),
    400, 'bad_request', 'no Sec-WebSocket-Key');
http_error(raw_connect($port, '/chat/ws', { 'Sec-WebSocket-Key' => 'abc' }),
    400, 'bad_request', 'Sec-WebSocket-Key not base64 of 16 bytes');
http_error(raw_connect($port, '/chat/ws',
        { 'Sec-WebSocket-Key' => encode_base64('x' x 15, '') }),
    400, 'bad_request', 'Sec-WebSocket-Key of 15 bytes');
http_error(raw_connect($port, '/chat/ws', { 'Content-Length' => 0 },
        method => 'POST'),
    400, 'bad_request', 'POST upgrade');
http_error(raw_connect($port, '/chat/ws', { Upgrade => 'h2c' }),
    400, 'bad_request', 'Upgrade: h2c');

# ---- another version: 426 with Sec-WebSocket-Version: 13
for my $v (8, 14) {
    my $r = raw_connect($port, '/chat/ws', { 'Sec-WebSocket-Version' => $v });
    http_error($r, 426, undef, "version $v");
    is $r->header('Sec-WebSocket-Version'), '13',
        "version $v: Sec-WebSocket-Version: 13";
}

# ---- Origin
http_error(raw_connect($port, '/chat/ws', { Origin => 'https://evil.example' }),
    403, 'forbidden', 'foreign Origin');
http_error(raw_connect($port, '/chat/ws',
        { Origin => 'http://127.0.0.1.evil.example' }),
    403, 'forbidden', 'Origin whose host only starts like Host');
http_error(raw_connect($port, '/chat/ws', { Origin => 'null' }),
    403, 'forbidden', 'Origin: null');
upgraded(raw_connect($port, '/chat/ws', { Origin => "http://127.0.0.1:$port" }),
    'Origin host equals Host');
upgraded(raw_connect($port, '/chat/ws-listed', { Origin => 'https://a.example' }),
    'listed Origin a');
upgraded(raw_connect($port, '/chat/ws-listed', { Origin => 'https://b.example' }),
    'listed Origin b');
http_error(raw_connect($port, '/chat/ws-listed',
        { Origin => 'https://c.example' }),
    403, 'forbidden', 'Origin not in the list');
upgraded(raw_connect($port, '/chat/ws-any', { Origin => 'https://evil.example' }),
    'chat_allowed_origins *');
upgraded(raw_connect($port, '/chat/ws-listed'), 'no Origin (not a browser)');

# ---- subprotocol
$r = raw_connect($port, '/chat/ws', { 'Sec-WebSocket-Protocol' => 'chat.v1' });
upgraded($r, 'chat.v1 offered');
is $r->header('Sec-WebSocket-Protocol'), 'chat.v1', 'chat.v1 echoed';
$r = raw_connect($port, '/chat/ws',
    { 'Sec-WebSocket-Protocol' => 'foo.v9, chat.v1' });
is $r->header('Sec-WebSocket-Protocol'), 'chat.v1',
    'chat.v1 chosen among several';
$r = raw_connect($port, '/chat/ws', { 'Sec-WebSocket-Protocol' => 'foo.v9' });
ok !defined $r->header('Sec-WebSocket-Protocol') || $r->status != 101,
    'an unknown subprotocol is not echoed';
my $c = ws_connect($ng->ws_url, protocols => ['chat.v1']);
ok $c && $c->isa('ChatTest::WS'), 'Mojo client with chat.v1';
is $c && $c->isa('ChatTest::WS') ? $c->protocol : undef, 'chat.v1',
    'Mojo sees chat.v1';

# ---- Authorization header
my $good = token(sub => 'alice');
for my $case (
    ['Bearer not-a-jwt',                       'garbage token'],
    ['Bearer ' . token(sub => 'alice', bad_sig => 1), 'bad signature'],
    ['Bearer ' . token(sub => 'alice', exp => time - 600), 'expired'],
    ['Basic YWxpY2U6c2VjcmV0',                 'Basic scheme'],
    ['Bearer',                                 'Bearer without token'],
    ["Bearer $good$good",                      'two tokens glued'],
) {
    http_error(raw_connect($port, '/chat/ws', { Authorization => $case->[0] }),
        401, 'unauthenticated', "Authorization: $case->[1]");
}
my $res = ws_connect($ng->ws_url, token => token(sub => 'alice', bad_sig => 1));
ok $res && !$res->isa('ChatTest::WS') && $res->code == 401,
    'Mojo: 401 for a bad token';
$r = raw_connect($port, '/chat/ws', { Authorization => "Bearer $good" });
upgraded($r, 'good Authorization header');
$m = $r->read_json(5);
is $m->{type}, 'welcome', 'welcome after header auth';

$ng->stop;
done_testing;
