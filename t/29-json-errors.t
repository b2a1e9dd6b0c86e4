# Only JSON from chat locations: the errors nginx answers itself, before
# the module runs, reach the chat_errors location and come back as the
# section 7 error body.  Query arguments are percent-decoded, and the
# same-origin check compares the scheme too.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my $ng = start_nginx();
my $port = $ng->port;

# a raw request, answered and closed; ->{status}, ->header, ->body, ->json
sub raw {
    my ($req) = @_;
    return raw_connect($port, '/', undef, request => $req, timeout => 10);
}

sub json_error {
    my ($r, $status, $code, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is $r->status, $status, "$name: status $status";
    like $r->header('Content-Type') // '', qr{^application/json},
        "$name: a JSON content type";
    my $j = $r->json;
    ok ref $j eq 'HASH' && ref $j->{error} eq 'HASH'
       && join(',', sort keys %$j) eq 'error',
       "$name: the body is {\"error\":{...}}"
        or diag $r->body;
    is $j && $j->{error}{code}, $code, "$name: code $code";
    ok $j && defined $j->{error}{message} && length $j->{error}{message},
        "$name: a message";
}

my $host = "Host: 127.0.0.1:$port\r\n";
my $tok = token(sub => 'alice');

json_error(raw("GET /chat/api/rooms HTTP/1.1\r\n$host"
               . 'X-Big: ' . ('a' x 40_000) . "\r\n\r\n"),
           431, 'too_large', 'a 40 KB header');

json_error(raw("GET /chat/api/rooms HTTP/1.1\r\n$host"
               . 'Authorization: Bearer ' . ('b' x 100_000) . "\r\n\r\n"),
           431, 'too_large', 'a 100 KB Bearer token');

json_error(raw("GET /chat/ws HTTP/1.1\r\n$host"
               . 'Sec-WebSocket-Protocol: ' . ('c' x 40_000) . "\r\n\r\n"),
           431, 'too_large', 'a 40 KB header to the WebSocket location');

json_error(raw("POST /chat/api/rooms/big/messages HTTP/1.1\r\n$host"
               . "Authorization: Bearer $tok\r\n"
               . "Content-Length: 2000000\r\n\r\n"),
           413, 'too_large', 'a 2 MB body');

json_error(raw('GET /chat/api/rooms/x/messages?q=' . ('q' x 9000)
               . " HTTP/1.1\r\n$host\r\n"),
           414, 'too_large', 'a 9 KB query');

json_error(raw("TRACE /chat/api/health HTTP/1.1\r\n$host\r\n"),
           405, 'bad_request', 'TRACE');

json_error(raw("GET /chat/api/rooms/a%00b HTTP/1.1\r\n$host\r\n"),
           400, 'bad_request', '%00 in the path');

json_error(raw("GET /chat/api/health HTTP/1.1\r\n\r\n"),
           400, 'bad_request', 'HTTP/1.1 without Host');

# the chat_errors location answers only through error_page
json_error(raw("GET /chat/errors HTTP/1.1\r\n$host\r\n"),
           404, 'not_found', 'the error location asked for directly');

# without error_page, the same request gets nginx's own page: the test
# above sees the module's work
{
    my $plain = start_nginx(errors => 0);
    my $r = raw_connect($plain->port, '/', undef, timeout => 10,
        request => "TRACE /chat/api/health HTTP/1.1\r\n"
                   . "Host: 127.0.0.1\r\n\r\n");
    is $r->status, 405, 'without error_page: 405 too';
    like $r->body, qr/<html>/i, 'without error_page: an HTML page';
    $plain->stop;
}

# ---- query arguments are percent-decoded
{
    my $room = rand_room('pct');
    for my $i (1 .. 7) {
        my $r = api($ng, POST => "/rooms/$room/messages",
                    json => { body => "m$i" });
        is $r->{status}, 201, "send $i" or diag $r->{body};
    }
    my $r = api($ng, GET => "/rooms/$room/messages?limit=%35");
    is $r->{status}, 200, 'limit=%35: 200' or diag $r->{body};
    is scalar @{ $r->{json}{messages} // [] }, 5, 'limit=%35 is 5';
    ok $r->{json}{has_more}, 'and there is more';

    $r = api($ng, GET => "/rooms/$room/messages?before=%36&limit=%32");
    is_deeply [map { $_->{seq} } @{ $r->{json}{messages} // [] }], [4, 5],
        'before=%36&limit=%32: seqs 4 and 5';

    for my $q ('limit=%3', 'limit=%zz', 'limit=5%', 'before=%00',
               'limit=%2B5', 'after=%2D1')
    {
        is_api_error(api($ng, GET => "/rooms/$room/messages?$q"),
                     400, 'bad_request', "$q: 400 bad_request");
    }
}

# ---- the same origin has the same scheme
{
    my $same = "http://127.0.0.1:$port";
    my $r = http_get($ng->api_url . '/health', headers => { Origin => $same });
    is $r->{headers}->header('Access-Control-Allow-Origin'), $same,
        'http origin of the same host: CORS';
    $r = http_get($ng->api_url . '/health',
                  headers => { Origin => "https://127.0.0.1:$port" });
    ok !defined $r->{headers}->header('Access-Control-Allow-Origin'),
        'https origin, plain http request: not the same origin';

    my $c = raw_connect($port, '/chat/ws',
                        { Origin => "https://127.0.0.1:$port" });
    is $c->status, 403, 'WebSocket: https origin over http is refused';
    $c = raw_connect($port, '/chat/ws', { Origin => $same });
    is $c->status, 101, 'WebSocket: the http origin is the same';
    $c->close;
}

# and an https request is not the same origin as http://host
SKIP: {
    my $dir = ChatTest::tmpdir();
    system("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=t "
           . "-keyout $dir/tls.key -out $dir/tls.crt >/dev/null 2>&1") == 0
        or skip 'no openssl', 4;
    my $tls = start_nginx(listen => 'ssl',
        http => "ssl_certificate $dir/tls.crt; "
              . "ssl_certificate_key $dir/tls.key;");
    my $p = $tls->port;
    my $acao = sub {
        my $origin = shift;
        my $h = `curl -sk -o /dev/null -D - -H 'Origin: $origin' https://127.0.0.1:$p/chat/api/rooms`;
        my ($status) = $h =~ m{^HTTP/\S+ (\d+)};
        my ($v) = $h =~ /^Access-Control-Allow-Origin:\s*(\S+)/mi;
        return ($status // 0, $v);
    };
    my ($st, $v) = $acao->("https://127.0.0.1:$p");
    is $st, 401, 'https request answered (no token: 401)';
    is $v, "https://127.0.0.1:$p", 'https origin over https: the same';
    ($st, $v) = $acao->("http://127.0.0.1:$p");
    is $st, 401, 'https request with an http origin answered';
    ok !defined $v, 'http origin, https request: not the same origin';
    $tls->stop;
}

$ng->stop;
done_testing;
